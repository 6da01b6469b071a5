// Device buffers: allocated lazily, freed when unreachable (FinalizationRegistry) or on dispose().
// Tensors that are views of a buffer count as its handles (the storage is freed on dispose() of the
// last one); a jit capture pins the buffers its launches use (dispose() of a pinned buffer defers
// the free until the capture is dropped, so a replay never writes storage handed out again).
import type { DType, TypedArray } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import { type BufferRef, INTERN_USERS } from '../uop/ops.js'
import { viz } from '../trace.js'
import { Device } from './device.js'

// What the registry keeps of an unreachable buffer: only its size where the GC reclaims the memory
// itself (`Allocator.collectable`; a number needs no extra object: until the event loop turns, a
// collected buffer costs only the registry's cell), else also the raw allocation to free.
// The registries watch a small token the Buffer holds, not the Buffer: V8's young-generation
// collections (scavenges) keep every registered target alive, so a registered Buffer and its storage
// outlived the scavenges and waited for a full mark-compact (every 64 MB of external memory: in a
// loop of 4 MiB outputs, 16 fresh, page-faulting outputs per collection). The token is reachable only
// through its Buffer, so its death still means the Buffer's.
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
/** Counts writes of existing buffers (ASSIGN, jit replays); lazy graphs compare against it. */
export const writeClock = { now: 0 }
/** Record one in-place write of `bufs` (an ASSIGN schedule or a jit replay) on the clock. */
export function markWritten(bufs: ReadonlySet<Buffer>): void {
  if (!bufs.size) return
  const t = ++writeClock.now
  for (const b of bufs) b.writtenAt = t
}

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
  /** the GC reclaims the storage by itself (see `Allocator.collectable`): only its size is registered */
  private collectable = false
  /** what the registries watch for this buffer's death (see above) */
  private watch: object | undefined
  private _disposed = false
  /** live tensors whose value is this buffer (Tensor keeps the count; dispose frees at the last) */
  handles = 0
  /** jit captures whose launches use this buffer's storage */
  private pins = 0
  /** `writeClock.now` when this buffer was last overwritten in place (0: never) */
  writtenAt = 0;
  /** the graph nodes on this buffer (uop/ops.ts interning; declared so every Buffer has one shape) */
  [INTERN_USERS]: unknown = undefined

  constructor(
    readonly device: string,
    readonly size: number,
    readonly dtype: DType,
  ) {}

  get disposed(): boolean {
    return this._disposed
  }
  /** "float32 x 4 on CPU", for error messages */
  describe(): string {
    return `${this.dtype.name} x ${this.size} on ${this.device}`
  }

  get isAllocated(): boolean {
    return this._raw !== undefined
  }
  get nbytes(): number {
    return this.size * this.dtype.itemsize
  }

  /** the device allocation, allocated on first use */
  get raw(): unknown {
    if (this._disposed)
      throw new TsgradError(
        `buffer ${this.id} (${this.describe()}) was disposed and cannot be used; dispose() a tensor only after everything computed from it has been realized`,
      )
    if (this._raw === undefined) {
      const allocator = Device.get(this.device).allocator
      try {
        // (no closure for explainRangeError: this runs once per eager op's output)
        this._raw = allocator.alloc(this.size, this.dtype)
      } catch (e) {
        explainRangeError('allocate', this.device, this.size, this.dtype, () => {
          throw e
        })
      }
      this.collectable = allocator.collectable === true && !allocator.needsFree?.(this._raw)
      const w = (this.watch = {})
      if (this.collectable) countingRegistry(this.device).register(w, this.nbytes, w)
      else freeing.register(w, { device: this.device, raw: this._raw, nbytes: this.nbytes }, w)
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

  /** Keep the storage while a jit capture may launch with it (see dispose). */
  pin(): void {
    this.pins++
  }
  unpin(): void {
    if (--this.pins === 0 && this._disposed) this.free()
  }

  /** free now (deterministic release; deferred while pinned); the buffer must not be used afterwards */
  dispose(): void {
    if (this._disposed) return
    this._disposed = true
    if (this.pins === 0) this.free()
  }

  private free(): void {
    if (this._raw !== undefined) {
      const allocator = Device.get(this.device).allocator
      const w = this.watch!
      if (this.collectable) countingRegistry(this.device).unregister(w)
      else freeing.unregister(w)
      this.watch = undefined
      allocator.free(this._raw)
      uncount(this.device, this.nbytes)
      this._raw = undefined
    }
  }
}
