// The NULL device: renders and "compiles" kernels but runs nothing. For schedule and codegen tests
// without a backend. Reads return zeros.
import { type DType, storageArray, type TypedArray } from '../dtype.js'
import { JSRenderer } from '../renderer/js.js'
import { type CompiledDevice, Device } from './device.js'

export function createNullDevice(name: string): CompiledDevice<{ size: number }, string> {
  return {
    name,
    allocator: {
      alloc: (size: number) => ({ size }),
      free: () => {},
      collectable: true,
      copyin: () => {},
      copyout: (_b, size: number, dtype: DType): TypedArray => storageArray(dtype, size),
    },
    renderer: new JSRenderer(),
    compiler: { key: 'null', compile: (src: string) => src },
    runtime: () => () => {},
    synchronize: () => {},
  }
}

Device.register('NULL', createNullDevice)
