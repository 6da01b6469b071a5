// Device buffers: allocated lazily, freed when unreachable (FinalizationRegistry) or on dispose().
import type { DType, TypedArray } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import type { BufferRef } from '../uop/ops.js'
import { viz } from '../trace.js'
import { Device } from './device.js'

interface Held {
  device: string
  raw: unknown
  nbytes: number
}
const registry = new FinalizationRegistry<Held>((h) => {
  Device.get(h.device).allocator.free(h.raw)
  memory.inUse -= h.nbytes
  viz?.mem(h.device, -h.nbytes)
})

/** Bytes currently allocated per device (explicit dispose and GC both decrement). */
export const memory = { inUse: 0, peak: 0 }

let nextId = 0

/** Run `f`, turning the engine's bare RangeError (out of memory, too long) into one that says what. */
function explainRangeError<T>(what: string, device: string, size: number, dtype: DType, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (!(e instanceof RangeError)) throw e
    const bytes = size * dtype.itemsize
    throw new TsgradError(
      `cannot ${what} a buffer of ${size} ${dtype.name} elements (${bytes} bytes) on ${device}: ${e.message}`,
    )
  }
}

export class Buffer implements BufferRef {
  readonly id = nextId++
  private _raw: unknown = undefined
  private held: Held | undefined
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
      this._raw = explainRangeError('allocate', this.device, this.size, this.dtype, () =>
        Device.get(this.device).allocator.alloc(this.size, this.dtype),
      )
      this.held = { device: this.device, raw: this._raw, nbytes: this.nbytes }
      registry.register(this, this.held, this)
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
    const raw = this.raw
    return explainRangeError('read back', this.device, this.size, this.dtype, () =>
      Device.get(this.device).allocator.copyout(raw, this.size, this.dtype),
    )
  }
  hostView(): TypedArray | undefined {
    return Device.get(this.device).allocator.hostView?.(this.raw)
  }

  /** free now (deterministic release); the buffer must not be used afterwards */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    if (this._raw !== undefined) {
      registry.unregister(this)
      Device.get(this.device).allocator.free(this._raw)
      memory.inUse -= this.nbytes
      viz?.mem(this.device, -this.nbytes)
      this._raw = undefined
    }
  }
}
