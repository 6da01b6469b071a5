// GGML tensor types: their block layouts, the dequantization of each quantized type as a lazy
// graph over the raw block bytes, and the reference quantizers for Q8_0 and Q4_0.
//
// A quantized tensor stays a uint8 buffer of its blocks. Its float values are a graph of
// movement ops (reshape the bytes to (blocks, blockBytes), shrink out each field) and integer
// ALU ops (nibbles by AND/SHR, 16-bit scales by OR of two bytes then BITCAST to float16, signed
// quants by BITCAST to int8), so the graph fuses into whatever consumes it: `x @ W.T` over a
// Q8_0 `W` is one kernel that reads each weight byte once. The float ops are those of llama.cpp's
// reference dequantization (gguf-py's numpy port), and every product there is exact in float32
// (an 11-bit f16 mantissa times integers of at most 12 bits), so values match it bit for bit
// whatever the backend contracts or reorders.
import { f32ToF16Bits } from '../dtype.js'
import { Tensor } from '../tensor/index.js'

export interface GGMLType {
  readonly name: string
  readonly id: number
  /** elements per block (1 for plain types) */
  readonly blockSize: number
  /** bytes per block */
  readonly typeSize: number
  /** the dtype a plain type is stored as (its bytes are the tensor's buffer) */
  readonly dtype?: string
  /** the float32 values of raw blocks (nblocks, typeSize) uint8, as (nblocks, blockSize) */
  readonly dequant?: (blocks: Tensor) => Tensor
}

const QK_K = 256

/** Bytes [a, b) of every block: (nblocks, b - a). */
const field = (blocks: Tensor, a: number, b: number): Tensor => blocks.shrink([null, [a, b]])

// Per-block values (scales, mins) are broadcast over their elements as raw bytes, before any
// arithmetic: the scheduler realizes computed values that a reduce reads through a wide
// broadcast (a matmul prologue), but a broadcast of buffer bytes is plain index math, so the
// whole dequantization stays inside the consuming kernel.

/** (nblocks, k) bytes broadcast to `shape` = (nblocks, k, m), or for k = 1 any (nblocks, ...). */
function spread(bytes: Tensor, shape: readonly number[]): Tensor {
  const [nb, k] = bytes.shape as [number, number]
  const to = k === 1 ? shape.map((_, i) => (i === 0 ? nb : 1)) : [nb, k, 1]
  return bytes.reshape(to).expand([...shape])
}

/** The little-endian float16 at byte `off` of every block, as float32 broadcast to `shape`. */
function f16At(blocks: Tensor, off: number, shape: readonly number[]): Tensor {
  const lo = spread(field(blocks, off, off + 1), shape).cast('uint16')
  const hi = spread(field(blocks, off + 1, off + 2), shape).cast('uint16')
  return lo.bitwiseOr(hi.lshift(8)).bitcast('float16').cast('float32')
}

/**
 * `(x >> s) & mask` for each shift s, on a new axis before the last: (..., n) -> (..., k, n).
 * The bytes are broadcast to every plane and each plane is picked by its index (a select),
 * not concatenated (a cat pads, so every load would be gated): the consuming kernel loads each
 * byte unconditionally once and its inner loop vectorizes.
 */
function planes(x: Tensor, shifts: readonly number[], mask: number): Tensor {
  const k = shifts.length
  const n = x.shape[x.ndim - 1]!
  const xs = x.unsqueeze(x.ndim - 1).expand([...x.shape.slice(0, -1), k, n])
  const plane = Tensor.arange(k, undefined, 1, { dtype: 'int32', device: x.device }).reshape([k, 1])
  const at = (s: number): Tensor => (s === 0 ? xs : xs.rshift(s)).bitwiseAnd(mask)
  let out = at(shifts[0]!)
  for (let i = 1; i < k; i++) out = plane.eq(i).where(at(shifts[i]!), out)
  return out
}

/** Low nibbles then high nibbles: (nblocks, n) -> (nblocks, 2n) (llama.cpp's order). */
const nibbles = (qs: Tensor): Tensor => planes(qs, [0, 4], 0x0f).reshape([qs.shape[0]!, -1])

/** Bit i of the little-endian 32-bit field at `off`, for i in 0..31: (nblocks, 32) uint8. */
function highBits(blocks: Tensor, off: number): Tensor {
  const nb = blocks.shape[0]!
  const bytes = field(blocks, off, off + 4).reshape([nb, 4, 1])
  return planes(bytes, [0, 1, 2, 3, 4, 5, 6, 7], 1).reshape([nb, 32])
}

const f32 = (t: Tensor): Tensor => t.cast('float32')
const row = (b: Tensor): number[] => [b.shape[0]!, 32]

function q8_0(b: Tensor): Tensor {
  return f32(field(b, 2, 34).bitcast('int8')).mul(f16At(b, 0, row(b)))
}
function q4_0(b: Tensor): Tensor {
  return f16At(b, 0, row(b)).mul(f32(nibbles(field(b, 2, 18))).sub(8))
}
function q4_1(b: Tensor): Tensor {
  return f16At(b, 0, row(b))
    .mul(f32(nibbles(field(b, 4, 20))))
    .add(f16At(b, 2, row(b)))
}
function q5_0(b: Tensor): Tensor {
  const q = nibbles(field(b, 6, 22)).bitwiseOr(highBits(b, 2).lshift(4))
  return f16At(b, 0, row(b)).mul(f32(q).sub(16))
}
function q5_1(b: Tensor): Tensor {
  const q = nibbles(field(b, 8, 24)).bitwiseOr(highBits(b, 4).lshift(4))
  return f16At(b, 0, row(b))
    .mul(f32(q))
    .add(f16At(b, 2, row(b)))
}

/**
 * The 8 six-bit scales and mins of a Q4_K/Q5_K block from its 12 scale bytes at `off`, each
 * broadcast over its 32 elements: (nblocks, 8, 32). Bytes 0-3 hold scales 0-3 (low 6 bits) and
 * the top 2 bits of scales 4-7, bytes 4-7 the same for the mins, bytes 8-11 the low 4 bits of
 * scales 4-7 (low nibble) and of mins 4-7 (high nibble).
 */
function kScaleMin(b: Tensor, off: number): [Tensor, Tensor] {
  const nb = b.shape[0]!
  const at = (a: number) => spread(field(b, off + a, off + a + 4), [nb, 4, 32])
  const [d, m, md] = [at(0), at(4), at(8)]
  const sc = Tensor.cat([d.bitwiseAnd(0x3f), md.bitwiseAnd(0x0f).bitwiseOr(d.rshift(2).bitwiseAnd(0x30))], 1)
  const mn = Tensor.cat([m.bitwiseAnd(0x3f), md.rshift(4).bitwiseOr(m.rshift(2).bitwiseAnd(0x30))], 1)
  return [sc, mn]
}

/** d * sc * q - dmin * m over 8 sub-blocks of 32: q is (nblocks, 8, 32). */
function kCombine(b: Tensor, q: Tensor): Tensor {
  const shape = [b.shape[0]!, 8, 32]
  const [sc, mn] = kScaleMin(b, 4)
  const d = f16At(b, 0, shape).mul(f32(sc))
  const dm = f16At(b, 2, shape).mul(f32(mn))
  return d.mul(f32(q)).sub(dm).reshape([b.shape[0]!, QK_K])
}

/** Q4_K/Q5_K low nibbles: 4 chunks of 32 bytes, each giving 32 low then 32 high nibbles. */
const kLow = (b: Tensor, off: number): Tensor =>
  planes(field(b, off, off + 128).reshape([b.shape[0]!, 4, 32]), [0, 4], 0x0f).reshape([b.shape[0]!, 8, 32])

function q4_k(b: Tensor): Tensor {
  return kCombine(b, kLow(b, 16))
}
function q5_k(b: Tensor): Tensor {
  // bit s of qh[i] is the fifth bit of element 32 s + i
  const qh = planes(field(b, 16, 48), [0, 1, 2, 3, 4, 5, 6, 7], 1)
  return kCombine(b, kLow(b, 48).bitwiseOr(qh.lshift(4)))
}
function q6_k(b: Tensor): Tensor {
  const nb = b.shape[0]!
  // element 128 h + 64 k + i: low 4 bits from ql[64 h + i] >> 4k; 32 s + i within a half: qh[32 h + i] >> 2s
  const ql = planes(field(b, 0, 128).reshape([nb, 2, 64]), [0, 4], 0x0f).reshape([nb, 8, 32])
  const qh = planes(field(b, 128, 192).reshape([nb, 2, 32]), [0, 2, 4, 6], 0x03).reshape([nb, 8, 32])
  const q = f32(ql.bitwiseOr(qh.lshift(4)))
    .sub(32)
    .reshape([nb, 16, 16])
  const shape = [nb, 16, 16]
  const scales = f32(spread(field(b, 192, 208), shape).bitcast('int8'))
  return f16At(b, 208, shape).mul(scales).mul(q).reshape([nb, QK_K])
}

const plain = (name: string, id: number, size: number, dtype: string): GGMLType => ({
  name,
  id,
  blockSize: 1,
  typeSize: size,
  dtype,
})
const quant = (
  name: string,
  id: number,
  blockSize: number,
  typeSize: number,
  dequant: (b: Tensor) => Tensor,
) => ({
  name,
  id,
  blockSize,
  typeSize,
  dequant,
})

/** The types read and written here, by GGML type id. */
export const GGML_TYPES: ReadonlyMap<number, GGMLType> = new Map(
  [
    plain('F32', 0, 4, 'float32'),
    plain('F16', 1, 2, 'float16'),
    quant('Q4_0', 2, 32, 18, q4_0),
    quant('Q4_1', 3, 32, 20, q4_1),
    quant('Q5_0', 6, 32, 22, q5_0),
    quant('Q5_1', 7, 32, 24, q5_1),
    quant('Q8_0', 8, 32, 34, q8_0),
    quant('Q4_K', 12, QK_K, 144, q4_k),
    quant('Q5_K', 13, QK_K, 176, q5_k),
    quant('Q6_K', 14, QK_K, 210, q6_k),
    plain('I8', 24, 1, 'int8'),
    plain('I16', 25, 2, 'int16'),
    plain('I32', 26, 4, 'int32'),
    plain('I64', 27, 8, 'int64'),
    plain('F64', 28, 8, 'float64'),
    plain('BF16', 30, 2, 'bfloat16'),
  ].map((t) => [t.id, t]),
)

/** Names of GGML types this module does not read, for error messages. */
export const GGML_UNSUPPORTED: Readonly<Record<number, string>> = {
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  15: 'Q8_K',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  20: 'IQ4_NL',
  21: 'IQ3_S',
  22: 'IQ2_S',
  23: 'IQ4_XS',
  29: 'IQ1_M',
  34: 'TQ1_0',
  35: 'TQ2_0',
  39: 'MXFP4',
}

export function ggmlTypeByName(name: string): GGMLType | undefined {
  for (const t of GGML_TYPES.values()) if (t.name === name) return t
  return undefined
}

/** The float32 tensor of `shape` whose blocks are the bytes of `raw` (uint8, nblocks * typeSize). */
export function dequantize(type: GGMLType, raw: Tensor, shape: readonly number[]): Tensor {
  const nblocks = raw.shape[0]! / type.typeSize
  return type.dequant!(raw.reshape([nblocks, type.typeSize])).reshape([...shape])
}

// ---- reference quantizers (llama.cpp's quantize_row_q8_0_ref / q4_0_ref, in float32) ----------

const fr = Math.fround

/** Round half away from zero as gguf-py's np_roundf does it (floor plus the doubled fraction). */
function roundf(n: number): number {
  const a = Math.abs(n)
  const fl = Math.floor(a)
  const b = fr(fl + Math.floor(fr(2 * fr(a - fl))))
  return n > 0 ? b : n < 0 ? -b : 0
}

/** Q8_0 blocks of `x` (length a multiple of 32). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32
  const out = new Uint8Array(nb * 34)
  for (let b = 0; b < nb; b++) {
    let amax = 0
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!))
    const d = fr(amax / 127)
    const id = d === 0 ? 0 : fr(1 / d)
    const h = f32ToF16Bits(d)
    out[b * 34] = h & 0xff
    out[b * 34 + 1] = h >> 8
    for (let j = 0; j < 32; j++) out[b * 34 + 2 + j] = roundf(fr(x[b * 32 + j]! * id)) & 0xff
  }
  return out
}

/** Q4_0 blocks of `x` (length a multiple of 32): d = -max/8 by the largest magnitude, q = x/d + 8. */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32
  const out = new Uint8Array(nb * 18)
  const q = new Uint8Array(32)
  for (let b = 0; b < nb; b++) {
    // the first element of largest magnitude, sign (and the sign of a zero) included
    let max = x[b * 32]!
    let amax = Math.abs(max)
    for (let j = 1; j < 32; j++) {
      const v = x[b * 32 + j]!
      if (Math.abs(v) > amax) {
        amax = Math.abs(v)
        max = v
      }
    }
    const d = fr(max / -8)
    const id = d === 0 ? 0 : fr(1 / d)
    for (let j = 0; j < 32; j++) {
      const t = Math.trunc(fr(fr(x[b * 32 + j]! * id) + 8.5))
      q[j] = Math.min(15, Math.max(0, t))
    }
    const h = f32ToF16Bits(d)
    out[b * 18] = h & 0xff
    out[b * 18 + 1] = h >> 8
    for (let j = 0; j < 16; j++) out[b * 18 + 2 + j] = q[j]! | (q[j + 16]! << 4)
  }
  return out
}
