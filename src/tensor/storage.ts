// Host data <-> storage arrays: dtype of a TypedArray, nested JS arrays flattened with their
// shape, and the conversions for dtypes stored as raw bits (float16, bfloat16) or BigInt (int64).
import {
  bf16BitsToF32,
  type DType,
  dtypes,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  storageArray,
  type TypedArray,
} from '../dtype.js'
import { TsgradError } from '../helpers.js'

/** Nested JS data as given to the Tensor constructor. */
export type NestedArray = number | boolean | NestedArray[]

export function typedDType(d: TypedArray): DType {
  if (d instanceof Float32Array) return dtypes.float32
  if (d instanceof Float64Array) return dtypes.float64
  if (d instanceof Int32Array) return dtypes.int32
  if (d instanceof Int16Array) return dtypes.int16
  if (d instanceof Int8Array) return dtypes.int8
  if (d instanceof Uint8Array) return dtypes.uint8
  if (d instanceof Uint16Array) return dtypes.uint16
  if (d instanceof Uint32Array) return dtypes.uint32
  return dtypes.int64
}

export function flattenNested(data: NestedArray): { values: (number | boolean)[]; shape: number[] } {
  const shape: number[] = []
  let probe: NestedArray = data
  while (Array.isArray(probe)) {
    shape.push(probe.length)
    probe = probe[0] as NestedArray
    if (probe === undefined) break
  }
  const values: (number | boolean)[] = []
  const stack: [NestedArray, number][] = [[data, 0]]
  while (stack.length) {
    const [x, depth] = stack.pop()!
    if (Array.isArray(x)) {
      if (depth >= shape.length || x.length !== shape[depth])
        throw new TsgradError(
          `Tensor: ragged nested array (expected length ${shape[depth]} at depth ${depth})`,
        )
      for (let i = x.length - 1; i >= 0; i--) stack.push([x[i]!, depth + 1])
    } else {
      if (depth !== shape.length) throw new TsgradError('Tensor: ragged nested array')
      if (typeof x !== 'number' && typeof x !== 'boolean')
        throw new TsgradError(`Tensor: expected numbers or booleans, got ${typeof x}`)
      values.push(x)
    }
  }
  return { values, shape }
}

/** Convert JS values into the storage array of `dt`. */
export function toStorage(values: ArrayLike<number | boolean | bigint>, dt: DType): TypedArray {
  const out = storageArray(dt, values.length)
  const n = values.length
  if (dt === dtypes.float16) for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(Number(values[i]))
  else if (dt === dtypes.bfloat16) for (let i = 0; i < n; i++) out[i] = f32ToBf16Bits(Number(values[i]))
  else if (dt === dtypes.int64)
    for (let i = 0; i < n; i++) {
      const v = values[i]!
      out[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))
    }
  else for (let i = 0; i < n; i++) out[i] = Number(values[i])
  return out
}

/** Storage array -> user-facing array (float16/bfloat16 decoded to Float32Array). */
export function fromStorage(raw: TypedArray, dt: DType): TypedArray {
  if (dt === dtypes.float16) return Float32Array.from(raw as Uint16Array, f16BitsToF32)
  if (dt === dtypes.bfloat16) return Float32Array.from(raw as Uint16Array, bf16BitsToF32)
  return raw
}
