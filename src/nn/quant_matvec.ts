// Integer dot products for a few rows of activations against Q8_0 / Q4_0 weights (decode), as
// llama.cpp computes them: each activation row is quantized once per block of 32 (int16 here, a
// scale max|x| / 32767, so the rounding is ~1.5e-5 of the block's largest value, below llama.cpp's
// int8), then a weight block's 32 products are summed exactly in integers and one float multiply by
// (weight scale x activation scale) per lane and block adds them in.
//
// The kernel is a custom kernel in UOps: for each output, a reduce over blocks b and over 16 lanes
// l, each lane summing two products, int32(w) * int32(x), of the pair of elements it owns. The pair
// is chosen so both operands are two adjacent 16-bit values in memory or in a register: Q8_0's
// elements 2l and 2l+1 (adjacent bytes), Q4_0's l and l + 16 (the low and high nibble of byte l);
// the activation quantizer writes x in the same pair order. The C renderer's vector loop turns a
// lane's two products into one multiply-add of 16-bit pairs (vpmaddwd, c_vector.ts); every other
// backend runs the same UOps as scalar code (the same integers, the same sums).
import { type DType, dtypes } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import { Ops, UOp } from '../uop/ops.js'
import { Tensor } from '../tensor/index.js'
import type { GGMLType } from './gguf_quant.js'

/** Activation rows quantized for `quantMatvec`: int16 values in the weight type's pair order, float32 scales. */
export interface QuantizedRows {
  /** (rows, K) int16 */
  q: Tensor
  /** (rows, K / 32) float32: x ~ q * scale per block */
  scale: Tensor
  /** the weight type whose pair order `q` follows */
  type: 'Q8_0' | 'Q4_0'
}

const ROUND_MAGIC = 1.5 * 2 ** 23
const ROUND_MAGIC_BITS = 0x4b400000

/** The GGML types with an integer matvec here. */
export const INT_DOT_TYPES: ReadonlySet<string> = new Set(['Q8_0', 'Q4_0'])

/**
 * x (rows, K) float32 quantized per block of 32 to int16 (round half to even, scale max|x| / 32767;
 * a zero block has scale 0), in the pair order of `type`'s kernel.
 */
export function quantizeRows(x: Tensor, type: 'Q8_0' | 'Q4_0'): QuantizedRows {
  const [R, K] = x.shape as [number, number]
  if (x.ndim !== 2 || K % 32 !== 0)
    throw new TsgradError(
      `quantizeRows: expected x (rows, K) with K a multiple of 32, got ${JSON.stringify(x.shape)}`,
    )
  const xb = x.cast('float32').reshape([R, K / 32, 32])
  const scale = xb.abs().max(-1, { keepdim: true }).div(32767).realize()
  const inv = scale.eq(0).where(0, scale.reciprocal())
  // round half to even by adding 1.5 * 2^23: the integer lands in the low mantissa bits (|v| <=
  // 32767 < 2^22), read by a bitcast; Tensor.round's general form costs a libm fmodf per element
  const v = xb.mul(inv).add(ROUND_MAGIC).bitcast('int32').sub(ROUND_MAGIC_BITS)
  let q = v.cast('int16')
  // Q4_0: lane l owns elements l and l + 16 (the nibbles of byte l), stored side by side
  if (type === 'Q4_0') q = q.reshape([R, K / 32, 2, 16]).permute(0, 1, 3, 2)
  return { q: q.reshape([R, K]).realize(), scale: scale.reshape([R, K / 32]), type }
}

const bitcast = (u: UOp, dt: DType): UOp => UOp.new(Ops.BITCAST, dt, [u])

/** Element pair (g = 0, 1) of lane l of block (n, b) as int32, from the raw weight bytes. */
function weightPair(type: 'Q8_0' | 'Q4_0', load: (i: UOp) => UOp, base: UOp, l: UOp, g: number): UOp {
  const i32 = dtypes.int32
  if (type === 'Q8_0') return bitcast(load(base.add(2).add(l.mul(2)).add(g)), dtypes.int8).cast(i32)
  const byte = load(base.add(2).add(l))
  const nib = g === 0 ? byte.and(byte.constLike(15)) : byte.alu(Ops.SHR, byte.constLike(4))
  return nib.cast(i32).sub(8)
}

/** The float16 at byte `i` of `load`'s buffer (little-endian) as float32. */
function f16At(load: (i: UOp) => UOp, i: UOp): UOp {
  const u16: DType = dtypes.uint16
  const lo = load(i).cast(u16)
  const hi = load(i.add(1)).cast(u16)
  return bitcast(lo.alu(Ops.OR, hi.alu(Ops.SHL, hi.constLike(8))), dtypes.float16).cast(dtypes.float32)
}

/**
 * y (rows, N) = x @ W.T for W (N, K) given as the raw GGML blocks of `type` (uint8, N * K / 32 *
 * typeSize) and x as `quantizeRows(x, type)`.
 */
export function quantMatvec(x: QuantizedRows, blocks: Tensor, type: GGMLType, N: number): Tensor {
  const [R, K] = x.q.shape as [number, number]
  if (type.name !== x.type)
    throw new TsgradError(`quantMatvec: activations quantized for ${x.type}, weights are ${type.name}`)
  const NB = K / 32
  const bs = type.typeSize
  if (blocks.dtype.name !== 'uint8' || blocks.ndim !== 1 || blocks.shape[0] !== N * NB * bs)
    throw new TsgradError(
      `quantMatvec: expected ${type.name} blocks uint8 (${N * NB * bs}) for W (${N}, ${K}), got ${blocks.dtype.name} ${JSON.stringify(blocks.shape)}`,
    )
  const t = x.type
  const [y] = Tensor.customKernel({
    name: `qmv_${t.toLowerCase()}`,
    inputs: [blocks, x.q, x.scale],
    outputs: [{ shape: [R, N] }],
    body: (c) => {
      const [wb, qb, sb] = [c.inputs[0]!, c.inputs[1]!, c.inputs[2]!]
      const out = c.outputs[0]!
      // the weight rows outermost: the loop that threads split
      const n = c.range(N)
      const r = c.range(R)
      const b = c.range(NB, 'reduce')
      const l = c.range(16, 'reduce')
      const idt = c.indexDType
      const base = n
        .cast(idt)
        .mul(NB * bs)
        .add(b.cast(idt).mul(bs))
      const wload = (i: UOp) => wb.load(i)
      const xrow = r.cast(idt).mul(K).add(b.cast(idt).mul(32)).add(l.cast(idt).mul(2))
      const pair = (g: number) =>
        weightPair(t, wload, base, l.cast(idt), g).mul(qb.load(xrow.add(g)).cast(dtypes.int32))
      const dot = pair(0).add(pair(1))
      const s = f16At(wload, base).mul(sb.load(sb.at(r, b)))
      return c.sink(out.store(out.at(r, n), c.reduce('ADD', dot.cast(dtypes.float32).mul(s), b, l)))
    },
  })
  return y!
}
