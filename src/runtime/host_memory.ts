// Native host memory for the CPU device's large buffers: anonymous mappings (2 MiB aligned, with
// transparent huge pages) kept in a size-class cache. A fresh ArrayBuffer of 64 MB costs a page
// fault and a kernel zero fill per 4 KiB on first write (~30 ms against a ~4 ms elementwise
// kernel); a mapping that a freed buffer gave back is reused warm and is never zero filled.
//
// Safety: a mapping is unmapped (or reused under a new ArrayBuffer) only when its ArrayBuffer is
// unreachable (a FinalizationRegistry on the ArrayBuffer itself): every TypedArray over it keeps it
// alive, so no view can ever reach unmapped memory. A buffer handed back (dispose, a schedule's
// temporaries, a collected Buffer) goes to the cache with its ArrayBuffer and is reused as the pool
// of plain ArrayBuffers always was; `data()` results are native copies that come back when the
// user drops them.
//
// Bounded: buffers that become unreachable come back through the FinalizationRegistry of
// runtime/buffer.ts, whose callbacks run only when the event loop turns (a loop that awaits
// `data()` turns it), and only after a full collection (V8's scavenges keep registered objects
// alive). A loop that never yields cannot give them back, so once it has mapped `limit` fresh bytes
// without the loop turning (TURN_LIMIT: 16 MiB), allocations fall back to heap blocks
// (heap_buffers.ts), which the GC frees by itself, inside the loop: with the old limit of 1 GiB a
// plain loop of 4-16 MiB matmul outputs mapped, faulted and zero filled a fresh mapping at every
// call. What stays mapped across turns (a model's weights, loaded with awaits between reads)
// counts against `hardLimit` only: counted against `limit` too, a 0.94 GB LLM left its prefill
// ~130 MB, and every 64 MB temporary after that became a fresh, zero-filled ArrayBuffer held until
// the next GC (a third of the step's peak RSS).
import { getEnv } from '../helpers.js'
import { nodeBuiltins } from './node.js'

type Ptr = bigint
interface Libc {
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): Ptr | null
  munmap(addr: Ptr, len: number): number
  madvise(addr: Ptr, len: number, advice: number): number
}
interface Mapping {
  ptr: Ptr
  len: number
}
type Koffi = {
  load(path: string): { func(decl: string): (...args: unknown[]) => unknown }
  view(ptr: Ptr, len: number): ArrayBuffer
  address(ab: ArrayBuffer): Ptr
}

/**
 * The most bytes freshly mapped between two turns of the event loop (the first mapping of a turn
 * is granted whatever its size): past it a loop that does not yield gets heap blocks instead.
 */
export const TURN_LIMIT = 16 << 20
/**
 * Below a huge page, storage is a heap block or pooled ArrayBuffer (cpu_storage.ts): a fresh mapping
 * that small faults per 4 KiB page (~17 us each on the reference VM: 4.3 ms of CPU per MiB, against
 * 0.13 ms for a 2 MiB huge-page fault), and a plain loop got one per call (matmul 512's 1 MiB output,
 * 256 faults: 4.4-6.9 ms calls against a 1.5 ms kernel), while heap blocks share the heap's huge pages
 * and come back to malloc on a scavenge inside the loop.
 */
export const NATIVE_MIN_BYTES = 2 << 20
const PAGE = 4096
const HUGE = 2 << 20
// Linux x86-64/arm64 values
const PROT_READ_WRITE = 3
const MAP_PRIVATE_ANONYMOUS = 0x22
const MADV_HUGEPAGE = 14
const MADV_NOHUGEPAGE = 15
const MAP_FAILED = (1n << 64n) - 1n

/**
 * The bytes actually mapped for a request: four classes per power of two (at most 25% over),
 * whole pages, whole huge pages from 2 MiB. Requests of one class share cached mappings.
 */
export function sizeClass(bytes: number): number {
  const step = 2 ** Math.floor(Math.log2(Math.max(bytes, PAGE))) / 4
  const c = Math.ceil(bytes / step) * step
  const unit = c >= HUGE ? HUGE : PAGE
  return Math.ceil(c / unit) * unit
}

export class HostMemory {
  /**
   * Free mappings by size class: an ArrayBuffer given back (views of it may still exist, so it is
   * kept, not unmapped) or a mapping whose ArrayBuffer was collected (nothing can reach it).
   */
  private readonly cache = new Map<number, (ArrayBuffer | Mapping)[]>()
  /** the ArrayBuffers this allocator made (a plain one given back goes elsewhere) */
  private readonly native = new WeakSet<ArrayBuffer>()
  private readonly collected: FinalizationRegistry<Mapping>
  /** bytes mapped now: live buffers, cached ones and dropped ones the GC has not reclaimed yet */
  mapped = 0
  /** bytes in the cache */
  cached = 0
  /** bytes freshly mapped since the event loop last turned */
  private fresh = 0
  private freshReset = false
  /** allocations served from the cache, freshly mapped, and sent to plain ArrayBuffers by the limit */
  readonly counts = { reused: 0, mapped: 0, overLimit: 0 }

  constructor(
    private readonly libc: Libc,
    private readonly view: (ptr: Ptr, len: number) => ArrayBuffer,
    /** the most bytes freshly mapped between two turns of the event loop */
    readonly limit: number,
    /** the most bytes the cache keeps */
    readonly cacheLimit = limit / 2,
    /** the most bytes mapped at once */
    readonly hardLimit = limit,
    /** the address of an ArrayBuffer's memory (for `adviseSmallPages`; none: that does nothing) */
    private readonly address?: (ab: ArrayBuffer) => Ptr,
  ) {
    // an ArrayBuffer nothing reaches any more: no view of its memory exists, so the mapping is
    // reused (a data() result the user dropped) or unmapped
    this.collected = new FinalizationRegistry<Mapping>((m) => {
      if (this.cached + m.len <= this.cacheLimit && this.mapped <= this.hardLimit) this.put(m)
      else this.unmap(m)
    })
  }

  /** An ArrayBuffer of at least `bytes` (contents undefined), or undefined: use a plain one. */
  alloc(bytes: number): ArrayBuffer | undefined {
    if (bytes < NATIVE_MIN_BYTES) return undefined
    const cls = sizeClass(bytes)
    const warm = this.cache.get(cls)?.pop()
    if (warm) {
      this.cached -= cls
      this.counts.reused++
      return warm instanceof ArrayBuffer ? warm : this.wrap(warm)
    }
    if (this.mapped + cls > this.hardLimit) {
      // the cache's other classes go; this allocation falls back
      this.dropCache()
      this.counts.overLimit++
      return undefined
    }
    // a loop that does not yield: its outputs go to storage the GC frees without the event loop
    // (the first mapping of a turn is always granted, however large: a model's weight)
    if (this.fresh > 0 && this.fresh + cls > this.limit) {
      this.counts.overLimit++
      return undefined
    }
    const m = this.map(cls, bytes)
    if (m) this.countFresh(cls)
    const ab = m && this.wrap(m)
    if (ab) this.counts.mapped++
    return ab
  }

  /** Whether `ab` is native memory of this allocator. */
  owns(ab: ArrayBuffer): boolean {
    return this.native.has(ab)
  }

  /** Take back storage from `alloc` for reuse; false when it is not native memory (the caller keeps it). */
  release(ab: ArrayBuffer): boolean {
    if (!this.native.has(ab)) return false
    if (this.cached + ab.byteLength > this.cacheLimit) this.dropCache()
    this.put(ab)
    return true
  }

  /**
   * Empty the cache: mappings no ArrayBuffer is over are unmapped now, the others when the GC finds
   * their ArrayBuffer unreachable.
   */
  dropCache(): void {
    for (const list of this.cache.values())
      for (const e of list) if (!(e instanceof ArrayBuffer)) this.unmap(e)
    this.cache.clear()
    this.cached = 0
  }

  /**
   * Ask for small pages under `view` (its whole pages): for storage written from its front over a
   * long time (a KV cache), where a huge page makes 2 MiB resident at the first write into it. Both
   * this allocator's mappings and heap blocks are advised for huge pages, so a LLaMA-1B f16 cache
   * (2 MiB per layer's keys or values) was wholly resident after a prompt's first token. Untouched
   * memory only: pages already resident stay as they are. Returns whether the advice was taken.
   */
  adviseSmallPages(view: ArrayBufferView): boolean {
    if (!this.address) return false
    const start = this.address(view.buffer as ArrayBuffer) + BigInt(view.byteOffset)
    const from = ((start + BigInt(PAGE) - 1n) / BigInt(PAGE)) * BigInt(PAGE)
    const to = ((start + BigInt(view.byteLength)) / BigInt(PAGE)) * BigInt(PAGE)
    if (to <= from) return false
    return this.libc.madvise(from, Number(to - from), MADV_NOHUGEPAGE) === 0
  }

  /** Count `len` fresh bytes until the event loop turns (a macrotask: finalizers may have run). */
  private countFresh(len: number): void {
    this.fresh += len
    if (this.freshReset || typeof setImmediate !== 'function') return
    this.freshReset = true
    const reset = setImmediate(() => {
      this.fresh = 0
      this.freshReset = false
    })
    // the reset alone must not keep a process alive
    reset.unref?.()
  }

  private put(e: ArrayBuffer | Mapping): void {
    const len = e instanceof ArrayBuffer ? e.byteLength : e.len
    const list = this.cache.get(len)
    if (list) list.push(e)
    else this.cache.set(len, [e])
    this.cached += len
  }

  private unmap(m: Mapping): void {
    this.libc.munmap(m.ptr, m.len)
    this.mapped -= m.len
  }

  /** A mapping of `len` bytes for a request of `bytes`: huge pages only where the request reaches. */
  private map(len: number, bytes: number): Mapping | undefined {
    const { libc } = this
    // over-map by a huge page and trim, so the mapping starts on a 2 MiB boundary (THP needs it)
    const extra = len >= HUGE ? HUGE : 0
    const raw = libc.mmap(null, len + extra, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0)
    if (raw === null || raw === MAP_FAILED || raw === 0n || raw === -1n) return undefined
    let ptr = raw
    if (extra) {
      const head = Number((BigInt(HUGE) - (raw % BigInt(HUGE))) % BigInt(HUGE))
      ptr = raw + BigInt(head)
      if (head) libc.munmap(raw, head)
      if (extra - head) libc.munmap(ptr + BigInt(len), extra - head)
      // advice only: without THP it is plain pages. Not on the class's slack past the request:
      // a huge page there is resident as a whole once the request's last bytes touch it (a
      // 2.25 MiB Q4_0 weight kept 4 MiB, 115 MB over a LLaMA-1B file's 699 MB)
      const whole = Math.floor(bytes / HUGE) * HUGE
      if (whole > 0) libc.madvise(ptr, whole, MADV_HUGEPAGE)
    }
    this.mapped += len
    return { ptr, len }
  }

  /** A new ArrayBuffer over `m`, which the mapping now belongs to until the GC collects it. */
  private wrap(m: Mapping): ArrayBuffer | undefined {
    let ab: ArrayBuffer
    try {
      ab = this.view(m.ptr, m.len)
    } catch {
      this.unmap(m) // a runtime without external ArrayBuffers
      return undefined
    }
    this.native.add(ab)
    this.collected.register(ab, m)
    return ab
  }
}

let instance: HostMemory | null | undefined

/**
 * The process's native host memory, or null where there is none (not Linux, no libc to load, no
 * external ArrayBuffers, or TSGRAD_NATIVE_BUFFERS=0): callers then use plain ArrayBuffers.
 */
export function hostMemory(koffi: () => Koffi): HostMemory | null {
  if (instance !== undefined) return instance
  const n = nodeBuiltins()
  instance = null
  if (!n || process.platform !== 'linux' || getEnv('TSGRAD_NATIVE_BUFFERS') === '0') return instance
  try {
    const k = koffi()
    const lib = k.load('libc.so.6')
    const libc: Libc = {
      mmap: lib.func(
        'void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)',
      ) as Libc['mmap'],
      munmap: lib.func('int munmap(void *addr, size_t len)') as Libc['munmap'],
      madvise: lib.func('int madvise(void *addr, size_t len, int advice)') as Libc['madvise'],
    }
    // fresh mappings per turn of the event loop: 16 MiB (a loop that never yields is then served
    // from heap_buffers.ts, which the GC gives back inside the loop); the cache keeps a
    // sixteenth of the machine's memory, at most 512 MiB; at most half the machine is mapped
    const cacheLimit = Math.min(n.os.totalmem() / 16, 2 ** 29)
    const mem = new HostMemory(
      libc,
      (p, len) => k.view(p, len),
      TURN_LIMIT,
      cacheLimit,
      n.os.totalmem() / 2,
      (ab) => k.address(ab),
    )
    // probe once: a runtime may refuse external ArrayBuffers
    const probe = mem.alloc(NATIVE_MIN_BYTES)
    if (!probe) return instance
    mem.release(probe)
    instance = mem
  } catch {
    instance = null
  }
  return instance
}
