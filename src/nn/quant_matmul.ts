// Integer matrix products for many rows of activations against Q8_0 / Q4_0 weights (a prompt's
// prefill), as llama.cpp's repacked GEMMs compute them: x rounded to int8 per block of 32, the
// weights' bytes made unsigned and laid out so one vector holds 16 output columns, and per block
// one int32 dot product per (row, column) summed exactly, then one float multiply-add by (weight
// scale x activation scale) per row and 16 columns.
//
// Two custom kernels in UOps:
//   - `quantPanels` unpacks the raw blocks of W (N, K) into panels of 16 columns: per column
//     group g, block b, quad j (k = 32b + 4j .. 4j + 3) and column c, the four unsigned bytes
//     w + 8 (Q4_0's nibbles) or w + 128 (Q8_0's int8), and each block's scale as float32. The
//     bytes are laid out so the 16 columns of one quad are 64 contiguous bytes.
//   - `quantMatmul` sums, for output (r, n), over blocks b of s_w * s_x * (sum over 8 quads of the
//     four byte products u * x, plus c * sum(x of the block)), c = -8 or -128 (u = w - c). Rows
//     and the 16 columns of a group are upcast: the C renderer turns the quad loop of each row into
//     one 512-bit `vpdpbusd` per quad whose lanes are the 16 columns (renderer/c_dot_cols.ts).
// Every other backend runs the same UOps as scalar code (the same integers, the same sums).
import { dtypes } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import { Ops, type UOp } from '../uop/ops.js'
import { Tensor } from '../tensor/index.js'
import type { GGMLType } from './gguf_quant.js'
import {
  f16At,
  INT_DOT_TYPES,
  type MatvecEpilogue,
  type QuantizedRows,
  quantizeRows,
  quantMatvec,
} from './quant_matvec.js'

/** Output columns per panel (one 512-bit vector of int32). */
export const PANEL_COLS = 16
/** Rows of x per register tile. */
const TILE_ROWS = 4

/** W's unsigned bytes in 16-column panels and its block scales (see the top of the file). */
export interface QuantPanels {
  /** (N / 16, K / 32, 8, 16, 4) uint8: w - offset */
  bytes: Tensor
  /** (N / 16, K / 32, 16) float32 */
  scale: Tensor
  /** what the bytes hold minus the weight: w = u + offset (Q4_0 -8, Q8_0 -128) */
  offset: number
  type: 'Q8_0' | 'Q4_0'
}

/** Whether `quantMatmul` takes weights of `type` with N outputs. */
export const quantMatmulFits = (type: string, N: number): boolean =>
  (type === 'Q8_0' || type === 'Q4_0') && N % PANEL_COLS === 0

/** The panels of W (N, K) given as the raw GGML blocks of `type` (uint8, N * K / 32 * typeSize). */
export function quantPanels(blocks: Tensor, type: GGMLType, N: number, K: number): QuantPanels {
  const t = type.name
  if (!quantMatmulFits(t, N) || K % 32 !== 0)
    throw new TsgradError(
      `quantPanels: expected Q8_0 or Q4_0 weights with N a multiple of ${PANEL_COLS} and K of 32, got ${t} (${N}, ${K})`,
    )
  const NB = K / 32
  const bs = type.typeSize
  if (blocks.dtype.name !== 'uint8' || blocks.ndim !== 1 || blocks.shape[0] !== N * NB * bs)
    throw new TsgradError(
      `quantPanels: expected ${t} blocks uint8 (${N * NB * bs}) for W (${N}, ${K}), got ${blocks.dtype.name} ${JSON.stringify(blocks.shape)}`,
    )
  const G = N / PANEL_COLS
  const [bytes, scale] = Tensor.customKernel({
    name: `qpanel_${t.toLowerCase()}`,
    inputs: [blocks],
    outputs: [
      { shape: [G, NB, 8, PANEL_COLS, 4], dtype: dtypes.uint8 },
      { shape: [G, NB, PANEL_COLS], dtype: dtypes.float32 },
    ],
    body: (c) => {
      const [po, so] = [c.outputs[0]!, c.outputs[1]!]
      const wb = c.inputs[0]!
      // a block's k = 16h + 4j + e: h (Q4_0's low or high nibbles) a loop of its own, so a big
      // panel has the iterations to be threaded; a column's 16 values of one h are upcast
      const g = c.range(G)
      const col = c.range(PANEL_COLS)
      const b = c.range(NB)
      const h = c.range(2)
      const j = c.range(4, 'upcast')
      const e = c.range(4, 'upcast')
      const idt = c.indexDType
      const base = g
        .cast(idt)
        .mul(PANEL_COLS)
        .add(col.cast(idt))
        .mul(NB * bs)
        .add(b.cast(idt).mul(bs))
      const k = j.cast(idt).mul(4).add(e.cast(idt))
      let u: UOp
      if (t === 'Q8_0') {
        // int8 w + 128: the byte with its top bit flipped
        const byte = wb.load(base.add(2).add(h.cast(idt).mul(16)).add(k))
        u = byte.alu(Ops.XOR, byte.constLike(128))
      } else {
        const byte = wb.load(base.add(2).add(k))
        u = byte.alu(Ops.SHR, h.mul(4).cast(dtypes.uint8)).and(byte.constLike(15))
      }
      const d = f16At(wb.load.bind(wb), base)
      return c.sink(po.store(po.at(g, b, h.mul(4).add(j), col, e), u), so.store(so.at(g, b, col), d))
    },
  })
  return { bytes: bytes!, scale: scale!, offset: t === 'Q8_0' ? -128 : -8, type: t as QuantPanels['type'] }
}

/**
 * y (rows, N) = x @ W.T for x as `quantizeRows(x, 'Q8_0', 8, true)` (int8 in natural order, with
 * per-block sums) and W as `quantPanels`, then `epilogue` on each element.
 */
export function quantMatmul(x: QuantizedRows, w: QuantPanels, epilogue?: MatvecEpilogue): Tensor {
  const [R, K] = x.q.shape as [number, number]
  const [G, NB] = w.bytes.shape as [number, number]
  const N = G * PANEL_COLS
  if (x.q.dtype.name !== 'int8' || x.type !== 'Q8_0' || !x.sum)
    throw new TsgradError(
      `quantMatmul: expected x quantized to int8 in natural order with block sums (quantizeRows(x, 'Q8_0', 8, true)), got ${x.q.dtype.name} for ${x.type}`,
    )
  if (NB * 32 !== K) throw new TsgradError(`quantMatmul: x has K = ${K}, the panels ${NB * 32}`)
  if (R % TILE_ROWS !== 0)
    throw new TsgradError(`quantMatmul: rows (${R}) must be a multiple of ${TILE_ROWS} (pad x)`)
  // (a custom kernel's inputs are buffers: the scheduler realizes a view that is none, reads a
  // reshaped kernel output in place)
  const extra = (epilogue?.inputs ?? []).map((e) => e.cast('float32').expand([R, N]))
  const [y] = Tensor.customKernel({
    name: `qmm_${w.type.toLowerCase()}`,
    inputs: [w.bytes, w.scale, x.q, x.scale, x.sum, ...extra],
    outputs: [{ shape: [R, N] }],
    body: (c) => {
      const [pb, ps, qb, sb, xs] = [c.inputs[0]!, c.inputs[1]!, c.inputs[2]!, c.inputs[3]!, c.inputs[4]!]
      const out = c.outputs[0]!
      // the column groups outermost (the loop threads split), a group's panel stays in cache
      // while every row tile passes it
      const g = c.range(G)
      const ro = c.range(R / TILE_ROWS)
      const ri = c.range(TILE_ROWS, 'upcast')
      const col = c.range(PANEL_COLS, 'upcast')
      const b = c.range(NB, 'reduce')
      const j = c.range(8, 'reduce')
      const idt = c.indexDType
      const r = ro.cast(idt).mul(TILE_ROWS).add(ri.cast(idt))
      const wAt = g
        .cast(idt)
        .mul(NB * 512)
        .add(b.cast(idt).mul(512))
        .add(j.cast(idt).mul(64))
        .add(col.cast(idt).mul(4))
      const xAt = r.mul(K).add(b.cast(idt).mul(32)).add(j.cast(idt).mul(4))
      const i32 = dtypes.int32
      const prod = (e: number) =>
        pb
          .load(wAt.add(e))
          .cast(i32)
          .mul(qb.load(xAt.add(e)).cast(i32))
      const quad = prod(0)
        .add(prod(1))
        .add(prod(2).add(prod(3)))
      const dot = c.reduce('ADD', quad, j).add(xs.load(xs.at(r, b)).mul(w.offset))
      const s = ps.load(ps.at(g, b, col)).mul(sb.load(sb.at(r, b)))
      const y = c.reduce('ADD', dot.cast(dtypes.float32).mul(s), b)
      const n = g.cast(idt).mul(PANEL_COLS).add(col.cast(idt))
      const at = out.at(r, n)
      const vals = extra.map((_, i) => c.inputs[5 + i]!.load(at))
      return c.sink(out.store(at, epilogue ? epilogue.fn(y, vals) : y))
    },
  })
  return y!
}

/**
 * Rows of x (R, K) quantized for `quantRowsLinear` over weights of `type`: for the matmul (N a
 * multiple of 16), int8 in natural order with block sums, rows padded with zeros to the register
 * tile; else in `type`'s matvec lane order.
 */
export function quantizeForLinear(x: Tensor, type: 'Q8_0' | 'Q4_0', N: number): QuantizedRows {
  if (!quantMatmulFits(type, N)) return quantizeRows(x, type, 8)
  const R = x.shape[0]!
  const pad = (TILE_ROWS - (R % TILE_ROWS)) % TILE_ROWS
  return quantizeRows(pad ? x.pad([[0, pad], null]) : x, 'Q8_0', 8, true)
}

/** The key under which `quantizeForLinear`'s rows can be shared between weights. */
export const linearRowsKey = (type: string, N: number): string => (quantMatmulFits(type, N) ? 'matmul' : type)

/**
 * y (R, N) = x @ W.T with the integer products of llama.cpp (x rounded to int8 per block of 32),
 * for x as `quantizeForLinear` of R rows and W the raw GGML blocks of a Q8_0/Q4_0 weight: the
 * matmul over 16-column panels, or for N not a multiple of 16 the matvec kernel over every row.
 * `epilogue` inputs are (R, N) or (1, N). `panels`: W's `quantPanels` made already (a prompt in
 * chunks unpacks each weight once, not once per chunk).
 */
export function quantRowsLinear(
  xq: QuantizedRows,
  R: number,
  blocks: Tensor,
  type: GGMLType,
  N: number,
  epilogue?: MatvecEpilogue,
  panels?: QuantPanels,
): Tensor {
  if (!INT_DOT_TYPES.has(type.name))
    throw new TsgradError(`quantRowsLinear: expected Q8_0 or Q4_0 weights, got ${type.name}`)
  if (!quantMatmulFits(type.name, N)) return quantMatvec(xq, blocks, type, N, epilogue)
  const [Rp, K] = xq.q.shape as [number, number]
  const padded = epilogue && {
    ...epilogue,
    inputs: epilogue.inputs.map((e) => (e.shape[0] === R && Rp > R ? e.pad([[0, Rp - R], null]) : e)),
  }
  const y = quantMatmul(xq, panels ?? quantPanels(blocks, type, N, K), padded)
  return Rp > R ? y.shrink([[0, R], null]) : y
}
