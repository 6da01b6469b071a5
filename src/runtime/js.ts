// The JS device: kernels are JavaScript functions built with `new Function` over TypedArrays,
// compiled once per source. Always available; the reference backend.
import {
  bf16BitsToF32,
  type DType,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  storageArray,
  type TypedArray,
} from '../dtype.js'
import { JSRenderer } from '../renderer/js.js'
import { type CompiledDevice, Device, maxTypedArrayLength, type Program } from './device.js'

type KernelFn = (...args: (TypedArray | number)[]) => void

const bitcastView = new DataView(new ArrayBuffer(8))

/** Helpers available to generated kernels as `H`. */
export const kernelHelpers = {
  h2f: f16BitsToF32,
  f2h: f32ToF16Bits,
  b2f: bf16BitsToF32,
  f2b: f32ToBf16Bits,
  r16: (v: number): number => f16BitsToF32(f32ToF16Bits(v)),
  rbf16: (v: number): number => bf16BitsToF32(f32ToBf16Bits(v)),
  i64: (v: number): number => (Number.isFinite(v) ? Math.trunc(v) : 0),
  and64: (a: number, b: number): number => Number(BigInt(a) & BigInt(b)),
  or64: (a: number, b: number): number => Number(BigInt(a) | BigInt(b)),
  xor64: (a: number, b: number): number => Number(BigInt(a) ^ BigInt(b)),
  bitcast(v: number, from: string, to: string): number {
    const d = bitcastView
    if (from === 'float32') d.setFloat32(0, v, true)
    else if (from === 'int32') d.setInt32(0, v, true)
    else if (from === 'uint32') d.setUint32(0, v, true)
    else if (from === 'float16') d.setUint16(0, f32ToF16Bits(v), true)
    else if (from === 'uint16') d.setUint16(0, v, true)
    else if (from === 'int16') d.setInt16(0, v, true)
    else if (from === 'uint8') d.setUint8(0, v)
    else if (from === 'int8') d.setInt8(0, v)
    else throw new Error(`bitcast from ${from} not supported`)
    if (to === 'float32') return d.getFloat32(0, true)
    if (to === 'int32') return d.getInt32(0, true)
    if (to === 'uint32') return d.getUint32(0, true)
    if (to === 'float16') return f16BitsToF32(d.getUint16(0, true))
    if (to === 'uint16') return d.getUint16(0, true)
    if (to === 'int16') return d.getInt16(0, true)
    if (to === 'uint8') return d.getUint8(0)
    if (to === 'int8') return d.getInt8(0)
    throw new Error(`bitcast to ${to} not supported`)
  },
}

export function createJSDevice(name: string): CompiledDevice<TypedArray, KernelFn> {
  return {
    name,
    allocator: {
      alloc: (size: number, dtype: DType) => storageArray(dtype, size),
      free: () => {},
      maxElements: maxTypedArrayLength(),
      collectable: true,
      copyin: (buf, src) => {
        buf.set(src as never)
      },
      copyout: (buf) => buf.slice(),
      hostView: (buf) => buf,
    },
    renderer: new JSRenderer(),
    compiler: {
      key: 'js-new-function',
      compile: (src: string, kname: string) =>
        new Function('H', `"use strict";\n${src}\nreturn ${kname};`)(kernelHelpers) as KernelFn,
    },
    runtime:
      (fn: KernelFn): Program<TypedArray> =>
      (bufs, vals) => {
        if (vals?.length) fn(...vals, ...bufs)
        else fn(...bufs)
      },
    synchronize: () => {},
  }
}

Device.register('JS', createJSDevice)
