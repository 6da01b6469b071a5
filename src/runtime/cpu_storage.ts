// The CPU device's buffer storage: host memory in three ranges by size, every buffer 64-byte aligned
// (vector loads that straddle cache lines run at half speed).
// - At most SLAB_MAX bytes: views into shared slabs. A fresh ArrayBuffer cost ~6 us (V8 zero fills
//   it and tracks it as external memory) and the FFI call that finds its address for the alignment
//   ~5 us more, while the kernel of a 1,000-element elementwise op runs in ~1 us. A slab is one
//   ArrayBuffer, aligned once, cut into views; the GC frees it when no view of it is left, so a view
//   that lives long keeps at most SLAB_BYTES alive.
// - Up to NATIVE_MIN_BYTES: one ArrayBuffer each, reused. A fresh one costs a zero fill (or page
//   faults) and counts as V8 external memory, and every 64 MB of that makes V8 run a full
//   mark-compact: ~20 us of a 256x256 matmul's output plus its share of those collections, in a
//   plain loop (`y = f(x)`, nothing disposed) whose results nobody gives back. So buffers freed by
//   dispose and buffers whose Buffer the GC collected (`needsFree`: the Buffer's FinalizationRegistry
//   holds the storage and gives it to `free`) go to a pool by dtype and length, and the next buffer
//   of that kind is taken from there: warm, not zero filled, no new external memory. A new one is
//   a heap block (heap_buffers.ts: not zero filled, and given back to malloc by the scavenge that
//   finds it dead, inside a loop that never yields).
// - From NATIVE_MIN_BYTES: native mappings in a size-class cache (host_memory.ts); past the turn
//   limit of fresh mappings (a loop that does not yield), heap blocks.
import { type DType, storageArray, type TypedArray } from '../dtype.js'
import { getEnv } from '../helpers.js'
import type { HeapBuffers } from './heap_buffers.js'
import { type HostMemory, NATIVE_MIN_BYTES } from './host_memory.js'
import { TurnBudget } from './turn_budget.js'

type ArrayCtor = new (b: ArrayBuffer, off: number, n: number) => TypedArray

/** Cache-line (64-byte) aligned storage. */
const ALIGN = 64
const SLAB_BYTES = 1 << 18
export const SLAB_MAX = 1 << 14
/** the most bytes the pool keeps */
const POOL_LIMIT = 1 << 30
/**
 * The most bytes of collected buffers the pool takes: a loop's outputs come back in batches (each
 * full collection finds up to 64 MB of them dead), and more than a batch would only sit in the pool.
 */
export const RECYCLE_POOL_LIMIT = 64 << 20
/**
 * The most bytes of recycled storage handed out between two turns of the event loop: a collected
 * buffer's storage is held until its callback runs, which a synchronous loop never lets happen.
 */
export const RECYCLE_TURN_LIMIT = 64 << 20

export class CpuStorage {
  private readonly pool = new Map<string, TypedArray[]>()
  private pooledBytes = 0
  /** medium buffers the GC gives back through `free` (the Buffer's registry holds them meanwhile) */
  private readonly recycled = new WeakSet<TypedArray>()
  private readonly turn = new TurnBudget(RECYCLE_TURN_LIMIT)
  /** NORECYCLE=1: collected buffers are not taken back (A/B runs); read once, not per allocation */
  private readonly recycle = getEnv('NORECYCLE') === ''
  private readonly ctors = new Map<DType, ArrayCtor>()
  private slab: ArrayBuffer | undefined
  private slabNext = 0
  private slabEnd = 0
  /** medium buffers taken from the pool and made fresh (tests, benchmarks) */
  readonly counts = { pooled: 0, fresh: 0 }
  /** plain ArrayBuffers only, no native mappings or heap blocks (`preferPlainBuffers`) */
  private plainOnly = false

  constructor(
    /** the address of an ArrayBuffer's storage (koffi) */
    private readonly address: (ab: ArrayBuffer) => bigint,
    /** native memory for large buffers, or null */
    private readonly native: () => HostMemory | null,
    /** uninitialized heap blocks the GC frees by itself, or null */
    private readonly heap: () => HeapBuffers | null = () => null,
  ) {}

  alloc(size: number, dtype: DType): TypedArray {
    const Ctor = this.arrayCtor(dtype)
    const bytes = size * dtype.itemsize
    if (bytes <= SLAB_MAX) return this.slabAlloc(Ctor, size, bytes)
    const native = bytes >= NATIVE_MIN_BYTES ? this.nativeAlloc(bytes) : undefined // page aligned
    if (native) return new Ctor(native, 0, size)
    let buf = this.pool.get(`${Ctor.name}:${size}`)?.pop()
    if (buf) {
      this.pooledBytes -= buf.byteLength
      this.counts.pooled++
    } else {
      const ab = this.fresh(bytes + ALIGN)
      const off = (ALIGN - Number(this.address(ab) % BigInt(ALIGN))) % ALIGN
      buf = new Ctor(ab, off, size)
      this.counts.fresh++
    }
    if (bytes < NATIVE_MIN_BYTES && this.recycle && this.turn.take(bytes)) this.recycled.add(buf)
    else this.recycled.delete(buf)
    return buf
  }

  /** Storage given back (dispose, a schedule's temporaries, a collected Buffer of `needsFree`). */
  free(buf: TypedArray): void {
    // a slab's view is not pooled: it would keep the whole slab while it waits
    if (buf.byteLength <= SLAB_MAX) return
    if (this.native()?.release(buf.buffer as ArrayBuffer)) return
    const limit = this.recycled.has(buf) ? RECYCLE_POOL_LIMIT : POOL_LIMIT
    if (this.pooledBytes + buf.byteLength > limit) return
    const k = `${buf.constructor.name}:${buf.length}`
    const list = this.pool.get(k)
    if (list) list.push(buf)
    else this.pool.set(k, [buf])
    this.pooledBytes += buf.byteLength
  }

  /** Whether `buf` must come back through `free` when its Buffer is collected (native or recycled). */
  needsFree(buf: TypedArray): boolean {
    if (buf.byteLength <= SLAB_MAX) return false
    if (buf.byteLength < NATIVE_MIN_BYTES) return this.recycled.has(buf)
    return this.native()?.owns(buf.buffer as ArrayBuffer) ?? false
  }

  /**
   * A copy the caller owns: a large one native memory too, reused once the caller drops it, or a
   * heap block (the GC frees it by itself).
   */
  copyOut(buf: TypedArray): TypedArray {
    const Ctor = buf.constructor as ArrayCtor
    if (buf.byteLength < NATIVE_MIN_BYTES) return buf.slice()
    const ab = this.nativeAlloc(buf.byteLength) ?? this.fresh(buf.byteLength)
    const out = new Ctor(ab, 0, buf.length)
    out.set(buf as never)
    return out
  }

  /**
   * From now on new buffers are plain ArrayBuffers (malloc's, zero filled), not native mappings or
   * heap blocks, and the native cache is emptied: for a process whose large buffers live long and
   * whose temporaries are disposed (an LLM). Both of those keep memory for the plain path's outputs
   * that the garbage collector frees in batches, advised for huge pages (which khugepaged fills in
   * whole from one resident page): a LLaMA-1B Q4_0 process peaked 116 MB higher with them.
   */
  preferPlainBuffers(): void {
    this.plainOnly = true
    this.native()?.dropCache()
  }

  /** bytes in the pool */
  get pooled(): number {
    return this.pooledBytes
  }

  private nativeAlloc(bytes: number): ArrayBuffer | undefined {
    return this.plainOnly ? undefined : this.native()?.alloc(bytes)
  }

  /** A new ArrayBuffer of `bytes`: a heap block (not zero filled), else a plain one. */
  private fresh(bytes: number): ArrayBuffer {
    const heap = this.plainOnly ? null : this.heap()
    if (heap)
      try {
        return heap.alloc(bytes)
      } catch {
        // (out of heap: a plain ArrayBuffer reports it with the engine's own error)
      }
    return new ArrayBuffer(bytes)
  }

  private arrayCtor(dtype: DType): ArrayCtor {
    let c = this.ctors.get(dtype)
    if (!c) this.ctors.set(dtype, (c = storageArray(dtype, 0).constructor as ArrayCtor))
    return c
  }

  private slabAlloc(Ctor: ArrayCtor, size: number, bytes: number): TypedArray {
    const need = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN)
    if (this.slab === undefined || this.slabNext + need > this.slabEnd) {
      this.slab = new ArrayBuffer(SLAB_BYTES + ALIGN)
      this.slabNext = (ALIGN - Number(this.address(this.slab) % BigInt(ALIGN))) % ALIGN
      this.slabEnd = this.slabNext + SLAB_BYTES
    }
    const a = new Ctor(this.slab, this.slabNext, size)
    this.slabNext += need
    return a
  }
}
