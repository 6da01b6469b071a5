// Integer dot products for a few rows of activations against Q8_0 / Q4_0 weights (decode), as
// llama.cpp computes them: each activation row is quantized once per block of 32 (int8 as llama.cpp's
// q8_0, scale max|x| / 127, or int16 with scale max|x| / 32767 for ~250x less rounding), then a
// weight block's 32 products are summed exactly in integers and one float multiply by (weight scale
// x activation scale) per lane and block adds them in.
//
// The kernel is a custom kernel in UOps: for each output, a reduce over blocks b and over lanes l,
// each lane summing the products of the elements it owns, int32(w) * int32(x). Which elements a lane
// owns is chosen so both operands sit side by side in memory or in a register, and the activation
// quantizer writes x in that order:
//   int16: 16 lanes of two products (a pair): Q8_0's elements 2l and 2l+1 (adjacent bytes), Q4_0's
//          l and l + 16 (the low and high nibble of byte l). The C renderer turns a lane into one
//          multiply-add of 16-bit pairs (vpmaddwd, c_dot_pairs.ts).
//   int8:  8 lanes of four products (a quad): Q8_0's elements 4l..4l+3 (adjacent bytes), Q4_0's
//          2l, 2l + 16, 2l + 1, 2l + 17 (both nibbles of bytes 2l and 2l + 1). The C renderer turns
//          the 8 lanes into one 256-bit multiply-add of byte quads (vpdpbusd, c_dot_quads.ts): a
//          block's unpacking and products are ~6 single-width vector ops instead of ~10 double-width.
//          Q4_0's nibbles are the weight + 8: a lane's sum (w + 8 - 8) x = (w + 8) x - 8 x sum(x)
//          needs a second dot product per block (the lane's x times 8s), the same in every row.
//          With `laneOffsets` the quantizer writes each lane's -8 x sum(x) once and the matvec's
//          lanes start their sums from it (vpdpbusd adds into it): llama.cpp's q8_1 keeps a
//          block's sum instead, which would change the float sums; per lane, the integers are the
//          same ones in the same order, so the results are bit for bit those without. Q8_0 the
//          same way: vpdpbusd takes unsigned bytes, so an int8 weight is its byte ^ 0x80 (w + 128)
//          and the lane's sum needs -128 x sum(x), also read from the quantizer's offsets.
// Every other backend runs the same UOps as scalar code (the same integers, the same sums).
import { type DType, dtypes } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import { Ops, UOp } from '../uop/ops.js'
import { Tensor } from '../tensor/index.js'
import type { GGMLType } from './gguf_quant.js'

/** Activation rows quantized for `quantMatvec`: int8/int16 values in the weight type's lane order, float32 scales. */
export interface QuantizedRows {
  /** (rows, K) int8 or int16 */
  q: Tensor
  /** (rows, K / 32) float32: x ~ q * scale per block */
  scale: Tensor
  /** the weight type whose pair order `q` follows */
  type: 'Q8_0' | 'Q4_0'
  /** (rows, K / 32) int32: each block's sum of q (with `sums`) */
  sum?: Tensor
  /**
   * (rows, K / 4) int32, int8 lanes only (with `laneOffsets`): -8 (Q4_0) or -128 (Q8_0) x the sum
   * of each lane's four q, the offset of the weights' unsigned form (Q4_0's stored nibbles, Q8_0's
   * bytes ^ 0x80), which the matvec starts each lane's dot product from
   */
  laneOffset?: Tensor
}

const ROUND_MAGIC = 1.5 * 2 ** 23
const ROUND_MAGIC_BITS = 0x4b400000

/** The GGML types with an integer matvec here. */
export const INT_DOT_TYPES: ReadonlySet<string> = new Set(['Q8_0', 'Q4_0'])

/** The activations' integer type: int8 (llama.cpp's q8_0) or int16. */
export type ActivationBits = 8 | 16

/**
 * Where the element at position p (0..31) of a quantized block comes from in x's block: the lane
 * order of `type`'s kernel for `bits`-bit activations (see the top of the file).
 */
function sourceOf(type: 'Q8_0' | 'Q4_0', bits: ActivationBits, p: UOp): UOp {
  if (type === 'Q8_0') return p
  const h = p.and(p.constLike(1))
  // int16: p = 2l + h <- 16h + l; int8: p = 4l + 2k + h <- 16h + 2l + k
  if (bits === 16) return h.mul(16).add(p.alu(Ops.SHR, p.constLike(1)))
  const k = p.alu(Ops.SHR, p.constLike(1)).and(p.constLike(1))
  return h
    .mul(16)
    .add(p.alu(Ops.SHR, p.constLike(2)).mul(2))
    .add(k)
}

/** An RMS norm of each row before it is quantized: x * rsqrt(mean(x^2) + eps) * weight, as `Tensor.rmsnorm` then `mul`. */
export interface RowNorm {
  /** (K) */
  weight: Tensor
  eps: number
}

/**
 * x (rows, K) float32 quantized per block of 32 to int8 or int16 (round half to even, scale
 * max|x| / 127 or / 32767; a zero block has scale 0), in the lane order of `type`'s kernel. One
 * kernel: a block's max is reduced once and shared by its 32 stores (an upcast range). With `norm`,
 * the rows are RMS-normalized first in the same kernel (a decode step's norm was a launch of its own
 * before each quantizer: 32 per LLaMA-1B token).
 */
export function quantizeRows(
  x: Tensor,
  type: 'Q8_0' | 'Q4_0',
  bits: ActivationBits = 16,
  sums = false,
  laneOffsets = false,
  norm?: RowNorm,
): QuantizedRows {
  const [R, K] = x.shape as [number, number]
  if (x.ndim !== 2 || K % 32 !== 0)
    throw new TsgradError(
      `quantizeRows: expected x (rows, K) with K a multiple of 32, got ${JSON.stringify(x.shape)}`,
    )
  if (bits !== 8 && bits !== 16)
    throw new TsgradError(`quantizeRows: bits must be 8 or 16, got ${String(bits)}`)
  if (norm && !(norm.weight.ndim === 1 && norm.weight.shape[0] === K))
    throw new TsgradError(
      `quantizeRows: the norm's weight must be (${K}) for x ${JSON.stringify(x.shape)}, got ${JSON.stringify(norm.weight.shape)}`,
    )
  if (laneOffsets && bits !== 8)
    throw new TsgradError(`quantizeRows: lane offsets are for 8-bit activations, got ${type} with ${bits}`)
  const top = bits === 8 ? 127 : 32767
  const NB = K / 32
  const qdt = bits === 8 ? dtypes.int8 : dtypes.int16
  const outs = [
    ...(sums ? [{ shape: [R, NB], dtype: dtypes.int32 }] : []),
    ...(laneOffsets ? [{ shape: [R, K / 4], dtype: dtypes.int32 }] : []),
  ]
  const [q, scale, ...more] = Tensor.customKernel({
    name: `quant_rows_i${bits}${sums ? '_sums' : ''}${laneOffsets ? '_lanes' : ''}${norm ? '_norm' : ''}`,
    inputs: [x.cast('float32'), ...(norm ? [norm.weight.cast('float32')] : [])],
    outputs: [{ shape: [R, K], dtype: qdt }, { shape: [R, NB], dtype: dtypes.float32 }, ...outs],
    body: (c) => {
      const [qo, so] = [c.outputs[0]!, c.outputs[1]!]
      const xb = c.inputs[0]!
      const r = c.range(R)
      const b = c.range(NB)
      const j = c.range(32, 'reduce')
      // the matmul's rows (with sums; natural order for Q8_0): a loop, which the C renderer writes
      // as vectors (32 upcast stores took 5x an elementwise pass); a matvec's: an upcast
      const p = c.range(32, sums ? 'global' : 'upcast')
      const idt = c.indexDType
      const raw = (e: UOp) => xb.load(r.cast(idt).mul(K).add(b.cast(idt).mul(32)).add(e.cast(idt)))
      let at = raw
      if (norm) {
        // the row's mean square (one reduce over the row, shared by its blocks), then x * rsqrt * w
        const wn = c.inputs[1]!
        const k = c.range(K, 'reduce')
        const xk = xb.load(r.cast(idt).mul(K).add(k.cast(idt)))
        const ms = c.reduce('ADD', xk.mul(xk), k).fdiv(c.const(K))
        const rs = ms.add(c.const(norm.eps)).alu(Ops.SQRT).alu(Ops.RECIP)
        at = (e: UOp) =>
          raw(e)
            .mul(rs)
            .mul(wn.load(b.cast(idt).mul(32).add(e.cast(idt))))
      }
      const xj = at(j)
      const amax = c.reduce('MAX', xj.max(xj.neg()), j)
      const sc = amax.fdiv(c.const(top))
      const inv = sc.eq(c.const(0)).where(c.const(0), c.const(1).fdiv(sc))
      // round half to even by adding 1.5 * 2^23: the integer lands in the low mantissa bits (|v|
      // <= 32767 < 2^22), read by a bitcast; a libm rint per element would cost more
      const rounded = (v: UOp): UOp =>
        bitcast(v.mul(inv).add(c.const(ROUND_MAGIC)), dtypes.int32).sub(
          c.const(ROUND_MAGIC_BITS, dtypes.int32),
        )
      const qv = rounded(at(sourceOf(type, bits, p))).cast(qdt)
      const stores = [qo.store(qo.at(r, b.mul(32).add(p)), qv), so.store(so.at(r, b), sc)]
      if (sums) {
        // the block's sum of its rounded values (an integer matmul's correction for unsigned weights)
        const j2 = c.range(32, 'reduce')
        stores.push(c.outputs[2]!.store(c.outputs[2]!.at(r, b), c.reduce('ADD', rounded(at(j2)), j2)))
      }
      if (laneOffsets) {
        // lane l's four values (positions 4l..4l+3), summed and times the weights' offset (an upcast: no reduce)
        const lo = c.outputs[sums ? 3 : 2]!
        const l = c.range(8, 'upcast')
        const v = (k: number) => rounded(at(sourceOf(type, bits, l.mul(4).add(k))))
        const lane = v(0)
          .add(v(1))
          .add(v(2).add(v(3)))
        const offset = type === 'Q4_0' ? -8 : -128
        stores.push(lo.store(lo.at(r, b.mul(8).add(l)), lane.mul(c.const(offset, dtypes.int32))))
      }
      return c.sink(...stores)
    },
  })
  const sum = sums ? more[0] : undefined
  const laneOffset = laneOffsets ? more[sums ? 1 : 0] : undefined
  return { q: q!, scale: scale!, type, ...(sum && { sum }), ...(laneOffset && { laneOffset }) }
}

const bitcast = (u: UOp, dt: DType): UOp => UOp.new(Ops.BITCAST, dt, [u])

/**
 * Element g of lane l of block (n, b) as int32, from the raw weight bytes: g < 2 (pairs, 16 lanes)
 * or g < 4 (quads, 8 lanes), in the lane order documented at the top. Without `offset`, the
 * unsigned form: Q4_0's nibble as stored (the weight plus 8), Q8_0's weight plus 128.
 */
function weightAt(
  type: 'Q8_0' | 'Q4_0',
  per: 2 | 4,
  load: (i: UOp) => UOp,
  base: UOp,
  l: UOp,
  g: number,
  offset = true,
): UOp {
  const i32 = dtypes.int32
  if (type === 'Q8_0') {
    const w = bitcast(load(base.add(2).add(l.mul(per)).add(g)), dtypes.int8).cast(i32)
    // without the offset: the unsigned form w + 128 (the byte ^ 0x80 in a quad, c_dot_quads.ts)
    return offset ? w : w.add(128)
  }
  // pairs: byte l, nibble g; quads: byte 2l + (g >> 1), nibble g & 1
  const byte =
    per === 2
      ? load(base.add(2).add(l))
      : load(
          base
            .add(2)
            .add(l.mul(2))
            .add(g >> 1),
        )
  const nib = g % 2 === 0 ? byte.and(byte.constLike(15)) : byte.alu(Ops.SHR, byte.constLike(4))
  return offset ? nib.cast(i32).sub(8) : nib.cast(i32)
}

/** The float16 at byte `i` of `load`'s buffer (little-endian) as float32. */
export function f16At(load: (i: UOp) => UOp, i: UOp): UOp {
  const u16: DType = dtypes.uint16
  const lo = load(i).cast(u16)
  const hi = load(i.add(1)).cast(u16)
  return bitcast(lo.alu(Ops.OR, hi.alu(Ops.SHL, hi.constLike(8))), dtypes.float16).cast(dtypes.float32)
}

/**
 * Elementwise work on the product in the matvec's kernel (what a float matmul would fuse): `fn`
 * maps y and the values of `inputs` (each (rows, N)) at the same element to the output.
 */
export interface MatvecEpilogue {
  inputs: readonly Tensor[]
  fn: (y: UOp, values: readonly UOp[]) => UOp
}

/**
 * y (rows, N) = x @ W.T for W (N, K) given as the raw GGML blocks of `type` (uint8, N * K / 32 *
 * typeSize) and x as `quantizeRows(x, type)`, then `epilogue` on each element.
 */
export function quantMatvec(
  x: QuantizedRows,
  blocks: Tensor,
  type: GGMLType,
  N: number,
  epilogue?: MatvecEpilogue,
): Tensor {
  const [R, K] = x.q.shape as [number, number]
  if (type.name !== x.type)
    throw new TsgradError(`quantMatvec: activations quantized for ${x.type}, weights are ${type.name}`)
  const NB = K / 32
  const bs = type.typeSize
  if (blocks.dtype.name !== 'uint8' || blocks.ndim !== 1 || blocks.shape[0] !== N * NB * bs)
    throw new TsgradError(
      `quantMatvec: expected ${type.name} blocks uint8 (${N * NB * bs}) for W (${N}, ${K}), got ${blocks.dtype.name} ${JSON.stringify(blocks.shape)}`,
    )
  const extra = (epilogue?.inputs ?? []).map((e) => e.cast('float32').expand([R, N]).contiguous())
  const t = x.type
  // int8 activations: 8 lanes of 4 products; int16: 16 lanes of 2
  const per = x.q.dtype.name === 'int8' ? 4 : 2
  const lanes = 32 / per
  // int8 x with its lanes' offsets: each lane's dot product of the weights' unsigned form (Q4_0's
  // stored nibbles, Q8_0's w + 128) starts from -8 or -128 x its sum of x (read, not computed per
  // row: the same for every row of W)
  const offs = per === 4 ? x.laneOffset : undefined
  const [y] = Tensor.customKernel({
    name: `qmv_${t.toLowerCase()}${offs ? '_lanes' : ''}`,
    inputs: [blocks, x.q, x.scale, ...extra, ...(offs ? [offs] : [])],
    outputs: [{ shape: [R, N] }],
    body: (c) => {
      const [wb, qb, sb] = [c.inputs[0]!, c.inputs[1]!, c.inputs[2]!]
      const out = c.outputs[0]!
      // the weight rows outermost: the loop that threads split
      const n = c.range(N)
      const r = c.range(R)
      const b = c.range(NB, 'reduce')
      const l = c.range(lanes, 'reduce')
      const idt = c.indexDType
      const base = n
        .cast(idt)
        .mul(NB * bs)
        .add(b.cast(idt).mul(bs))
      const wload = (i: UOp) => wb.load(i)
      const xrow = r.cast(idt).mul(K).add(b.cast(idt).mul(32)).add(l.cast(idt).mul(per))
      const prod = (g: number) =>
        weightAt(t, per, wload, base, l.cast(idt), g, !offs).mul(qb.load(xrow.add(g)).cast(dtypes.int32))
      // (p0 + p1) + (p2 + p3): a quad is two pairs side by side
      const quad = (): UOp =>
        prod(0)
          .add(prod(1))
          .add(prod(2).add(prod(3)))
      const ob = c.inputs[3 + extra.length]
      const dot =
        per === 2 ? prod(0).add(prod(1)) : ob ? ob.load(ob.at(r, b.mul(lanes).add(l))).add(quad()) : quad()
      const s = f16At(wload, base).mul(sb.load(sb.at(r, b)))
      const y = c.reduce('ADD', dot.cast(dtypes.float32).mul(s), b, l)
      const at = out.at(r, n)
      const vals = extra.map((_, i) => c.inputs[3 + i]!.load(at))
      return c.sink(out.store(at, epilogue ? epilogue.fn(y, vals) : y))
    },
  })
  return y!
}
