// Device buffers: allocated lazily, freed when unreachable (FinalizationRegistry) or on dispose().
import type { DType, TypedArray } from '../dtype.js'
import type { BufferRef } from '../uop/ops.js'
import { viz } from '../trace.js'
import { Device } from './device.js'

// What the registry keeps of an unreachable buffer: only its size where the GC reclaims the memory
// itself (`Allocator.collectable`; a number needs no extra object: until the event loop turns, a
// collected buffer costs only the registry's cell), else also the raw allocation to free.
interface Held {
  device: string
  raw: unknown
  nbytes: number
}
const freeing = new FinalizationRegistry<Held>((h) => {
  Device.get(h.device).allocator.free(h.raw)
  uncount(h.device, h.nbytes)
})
const counting = new Map<string, FinalizationRegistry<number>>()
function countingRegistry(device: string): FinalizationRegistry<number> {
  let r = counting.get(device)
  if (!r) counting.set(device, (r = new FinalizationRegistry<number>((n) => uncount(device, n))))
  return r
}
function uncount(device: string, nbytes: number): void {
  memory.inUse -= nbytes
  viz?.mem(device, -nbytes)
}

/** Bytes currently allocated per device (explicit dispose and GC both decrement). */
export const memory = { inUse: 0, peak: 0 }

let nextId = 0

export class Buffer implements BufferRef {
  readonly id = nextId++
  private _raw: unknown = undefined
  private disposed = false

  constructor(
    readonly device: string,
    readonly size: number,
    readonly dtype: DType,
  ) {}

  get isAllocated(): boolean {
    return this._raw !== undefined
  }
  get nbytes(): number {
    return this.size * this.dtype.itemsize
  }

  /** the device allocation, allocated on first use */
  get raw(): unknown {
    if (this.disposed) throw new Error(`buffer ${this.id} was disposed`)
    if (this._raw === undefined) {
      const allocator = Device.get(this.device).allocator
      this._raw = allocator.alloc(this.size, this.dtype)
      if (allocator.collectable) countingRegistry(this.device).register(this, this.nbytes, this)
      else freeing.register(this, { device: this.device, raw: this._raw, nbytes: this.nbytes }, this)
      memory.inUse += this.nbytes
      memory.peak = Math.max(memory.peak, memory.inUse)
      viz?.mem(this.device, this.nbytes)
    }
    return this._raw
  }

  copyin(src: TypedArray): this {
    Device.get(this.device).allocator.copyin(this.raw, src)
    return this
  }
  copyout(): TypedArray | Promise<TypedArray> {
    return Device.get(this.device).allocator.copyout(this.raw, this.size, this.dtype)
  }
  hostView(): TypedArray | undefined {
    return Device.get(this.device).allocator.hostView?.(this.raw)
  }

  /** free now (deterministic release); the buffer must not be used afterwards */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    if (this._raw !== undefined) {
      const allocator = Device.get(this.device).allocator
      if (allocator.collectable) countingRegistry(this.device).unregister(this)
      else freeing.unregister(this)
      allocator.free(this._raw)
      uncount(this.device, this.nbytes)
      this._raw = undefined
    }
  }
}
