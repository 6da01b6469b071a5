// Data types and the promotion lattice.
import { TsgradError } from './helpers.js'
//
// Promotion (documented in docs/architecture.md): bool < integers < floats by category. Within a
// category the wider type wins; signed/unsigned mixes go to the next signed type wide enough
// (uint8+int8 -> int16, uint32+int32 -> int64, uint64 does not exist). float16 + bfloat16 -> float32.
// A plain JS number adopts the tensor's dtype when the categories match (3 * int32 -> int32,
// 0.5 * float16 -> float16); a float number with an int/bool tensor gives the default float.

export type DTypeKind = 'bool' | 'int' | 'uint' | 'float'

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array

export class DType {
  constructor(
    readonly name: string,
    readonly itemsize: number,
    readonly kind: DTypeKind,
    /** bits of the value (for ints) or of the storage (for floats) */
    readonly bits: number,
  ) {}
  get isFloat(): boolean {
    return this.kind === 'float'
  }
  get isInt(): boolean {
    return this.kind === 'int' || this.kind === 'uint'
  }
  get isUnsigned(): boolean {
    return this.kind === 'uint'
  }
  get isBool(): boolean {
    return this.kind === 'bool'
  }
  toString(): string {
    return `dtypes.${this.name}`
  }
}

export const dtypes = {
  bool: new DType('bool', 1, 'bool', 1),
  int8: new DType('int8', 1, 'int', 8),
  int16: new DType('int16', 2, 'int', 16),
  int32: new DType('int32', 4, 'int', 32),
  int64: new DType('int64', 8, 'int', 64),
  uint8: new DType('uint8', 1, 'uint', 8),
  uint16: new DType('uint16', 2, 'uint', 16),
  uint32: new DType('uint32', 4, 'uint', 32),
  float16: new DType('float16', 2, 'float', 16),
  bfloat16: new DType('bfloat16', 2, 'float', 16),
  float32: new DType('float32', 4, 'float', 32),
  float64: new DType('float64', 8, 'float', 64),
  /** pointer to global memory; only appears in kernel IR */
  ptr: new DType('ptr', 8, 'uint', 64),
  /** no value (stores, sinks, loops) */
  void: new DType('void', 0, 'uint', 0),
} as const

export const defaultFloat = dtypes.float32
export const defaultInt = dtypes.int32

const byName = new Map<string, DType>(Object.values(dtypes).map((d) => [d.name, d]))

export function toDType(d: DType | string): DType {
  if (d instanceof DType) return d
  const r = byName.get(d)
  if (!r || r === dtypes.ptr || r === dtypes.void)
    throw new TsgradError(
      `unknown dtype '${String(d)}' (expected one of ${[...byName.keys()].filter((k) => k !== 'ptr' && k !== 'void').join(', ')})`,
    )
  return r
}

const intOrder = [dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64]
const uintOrder = [dtypes.uint8, dtypes.uint16, dtypes.uint32]
const floatOrder = [dtypes.float16, dtypes.float32, dtypes.float64]

/** The smallest dtype both a and b convert to without losing their category. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a
  if (a.isBool) return b
  if (b.isBool) return a
  if (a.isFloat || b.isFloat) {
    if (!a.isFloat) return b
    if (!b.isFloat) return a
    if ((a === dtypes.bfloat16 && b === dtypes.float16) || (a === dtypes.float16 && b === dtypes.bfloat16))
      return dtypes.float32
    if (a === dtypes.bfloat16) return floatOrder.indexOf(b) >= 1 ? b : dtypes.float32
    if (b === dtypes.bfloat16) return floatOrder.indexOf(a) >= 1 ? a : dtypes.float32
    return floatOrder[Math.max(floatOrder.indexOf(a), floatOrder.indexOf(b))]!
  }
  if (a.kind === b.kind) {
    const order = a.kind === 'int' ? intOrder : uintOrder
    return order[Math.max(order.indexOf(a), order.indexOf(b))]!
  }
  const [s, u] = a.kind === 'int' ? [a, b] : [b, a]
  // a signed type that holds the unsigned one
  const need = Math.max(s.bits, u.bits * 2)
  return intOrder.find((d) => d.bits >= need) ?? dtypes.int64
}

/** The exact range of an integer dtype: [lo, hi] (int64's bounds as doubles: hi is exclusive there). */
function intBounds(dt: DType): [number, number] {
  if (dt.isUnsigned) return [0, 2 ** dt.bits - 1]
  return [-(2 ** (dt.bits - 1)), 2 ** (dt.bits - 1) - 1]
}

/** Whether `v` is stored exactly by integer or bool dtype `dt` (always true for float dtypes). */
export function fitsDType(v: number | bigint | boolean, dt: DType): boolean {
  if (!dt.isInt || typeof v === 'boolean') return true
  const [lo, hi] = intBounds(dt)
  if (typeof v === 'bigint') return v >= BigInt(lo) && v <= BigInt(hi)
  if (!Number.isInteger(v)) return false
  return dt.bits === 64 ? v >= lo && v < 2 ** 63 : v >= lo && v <= hi
}

/**
 * Throw unless `v` is stored exactly by `dt`: an integer dtype never wraps or truncates a value
 * silently. `where` says which element (e.g. ' at index 3').
 */
export function checkFitsDType(op: string, v: number | bigint | boolean, dt: DType, where = ''): void {
  if (fitsDType(v, dt)) return
  const [lo, hi] = intBounds(dt)
  const range = dt.bits === 64 ? '-2^63..2^63-1' : `${lo}..${hi}`
  const what =
    typeof v === 'number' && !Number.isInteger(v)
      ? `is not an integer (${dt.name} holds integers ${range}; round it first or use a float dtype)`
      : `does not fit ${dt.name} (integers ${range}; use a wider dtype)`
  throw new TsgradError(`${op}: value ${v}${where} ${what}`)
}

/**
 * The dtype a plain JS number takes when combined with a tensor of dtype `t`. An integer that the
 * tensor's integer dtype cannot hold promotes to the smallest signed integer dtype that holds it
 * (int32 + 1e10 -> int64, uint8 + -1 -> int16), beyond int64 to the default float: never a
 * wrapped constant.
 */
export function scalarDType(value: number | boolean, t: DType): DType {
  if (typeof value === 'boolean') return t
  if (!Number.isInteger(value)) return t.isFloat ? t : defaultFloat
  if (t.isFloat) return t
  const base = t.isBool ? defaultInt : t
  if (fitsDType(value, base)) return base
  const wider = (d: DType) => (base.isUnsigned ? d.bits > base.bits : d.bits >= base.bits)
  return intOrder.find((d) => wider(d) && fitsDType(value, d)) ?? defaultFloat
}

/** Storage typed array constructor per dtype (float16/bfloat16 are stored as raw 16-bit patterns). */
export function storageArray(dt: DType, n: number): TypedArray {
  switch (dt.name) {
    case 'float32':
      return new Float32Array(n)
    case 'float64':
      return new Float64Array(n)
    case 'int8':
      return new Int8Array(n)
    case 'int16':
      return new Int16Array(n)
    case 'int32':
      return new Int32Array(n)
    case 'int64':
      return new BigInt64Array(n)
    case 'uint8':
    case 'bool':
      return new Uint8Array(n)
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n)
    case 'uint32':
      return new Uint32Array(n)
  }
  throw new Error(`no storage for dtype ${dt.name}`)
}

// ---- float16 / bfloat16 bit conversions (round to nearest even) ----

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

export function f32ToF16Bits(v: number): number {
  f32[0] = v
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  let e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    let r = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    if (rem > half || (rem === half && r & 1)) r++
    return sign | r
  }
  let r = mant >>> 13
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++
    if (r === 0x400) {
      r = 0
      e++
      if (e >= 0x1f) return sign | 0x7c00
    }
  }
  return sign | (e << 10) | r
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

export function f32ToBf16Bits(v: number): number {
  f32[0] = v
  const x = u32[0]!
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40
  const r = x + 0x7fff + ((x >>> 16) & 1)
  return (r >>> 16) & 0xffff
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16
  return f32[0]!
}

/** Round a JS number to what `dt` can hold (used for constants and host-side conversion). */
export function roundToDType(v: number, dt: DType): number {
  switch (dt.name) {
    case 'float64':
      return v
    case 'float32':
      return Math.fround(v)
    case 'float16':
      return f16BitsToF32(f32ToF16Bits(v))
    case 'bfloat16':
      return bf16BitsToF32(f32ToBf16Bits(v))
    case 'bool':
      return v ? 1 : 0
    case 'int8':
      return (v << 24) >> 24
    case 'int16':
      return (v << 16) >> 16
    case 'int32':
      return v | 0
    case 'uint8':
      return v & 0xff
    case 'uint16':
      return v & 0xffff
    case 'uint32':
      return v >>> 0
    case 'int64':
      return Math.trunc(v)
  }
  return v
}

/** Smallest/largest finite values, used for reduce identities. */
export function dtypeMin(dt: DType): number {
  if (dt.isFloat) return Number.NEGATIVE_INFINITY
  if (dt.isBool || dt.isUnsigned) return 0
  return dt.bits >= 53 ? Number.MIN_SAFE_INTEGER : -(2 ** (dt.bits - 1))
}
export function dtypeMax(dt: DType): number {
  if (dt.isFloat) return Number.POSITIVE_INFINITY
  if (dt.isBool) return 1
  if (dt.isUnsigned) return 2 ** dt.bits - 1
  return dt.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** (dt.bits - 1) - 1
}
