// CPU buffers from malloc's heap, for a loop that does not yield. Native mappings (host_memory.ts)
// come back only through a FinalizationRegistry, whose callbacks wait for the event loop to turn, so
// a synchronous loop (`f(x).realize()` again and again) got a fresh mapping per call: a zero fill of
// every byte and, on the reference VM, 8-30 ms of system time per 4-16 MiB output. An ArrayBuffer's
// own memory goes back to malloc inside the collection that finds it dead, which runs in the loop
// (V8 scavenges for every 32 MiB of new ArrayBuffers), and malloc hands that warm memory to the next
// output. What makes that hold for large blocks:
// - malloc would mmap a block of 2 MiB or more (malloc_tuning.ts's threshold; glibc caps it at
//   32 MiB) and munmap it when freed, so the next one faults every page again: mmap is switched off
//   (M_MMAP_MAX 0) for the moment of our allocation, which puts the block on the heap;
// - uninitialized memory (Node's `Buffer.allocUnsafe`; a kernel writes every byte of its output):
//   calloc would zero fill it;
// - the heap kept mapped when freed, and grown in large steps (malloc_tuning.ts's trim threshold and
//   top pad);
// - transparent huge pages from the block to the heap's top: fresh heap memory faults per 2 MiB,
//   not per 4 KiB (a 4 KiB fault cost ~15 us on the reference VM: 15 ms per fresh 4 MiB block,
//   against ~4 ms advised). Advised ahead of the block, up to the top, because malloc writes the next
//   chunk's header past the block before we see it, and a 2 MiB range with one 4 KiB page in it
//   can no longer fault as one huge page;
// - the heap's top faulted ahead on another thread: memory the process never had is cold on the
//   reference VM (the host backs it on first touch: ~5 ms of system time per 2 MiB huge page, ~4.3 ms
//   per MiB in 4 KiB pages, against ~0.13 ms for a huge page freed and reused inside the process), and
//   a plain loop's outputs take fresh memory past the top until a collection frees them: matmul 512
//   (1 MiB outputs) paid ~4.5 ms every second call, matmul 256 every eighth. So the first POPULATE_AHEAD
//   past the highest block is populated (MADV_POPULATE_WRITE: faulted writable, contents untouched)
//   by koffi's asynchronous call, one request at a time, off the thread the loop runs on. A request
//   is over when its last page is resident (mincore): a loop that never yields sees no callback.
import { getEnv } from '../helpers.js'
import { MMAP_THRESHOLD } from './malloc_tuning.js'

type KoffiFn = ((...args: unknown[]) => unknown) & { async?: (...args: unknown[]) => void }
type Koffi = { load(path: string): { func(decl: string): KoffiFn } }
interface Libc {
  mallopt(param: number, value: number): number
  madvise(addr: bigint, len: number, advice: number): number
  sbrk(increment: number): number | bigint
  /** madvise on another thread; `done` runs when the event loop next turns after it returned */
  madviseAsync?(addr: bigint, len: number, advice: number, done: () => void): void
  /** whether the page at `addr` is resident */
  resident?(addr: bigint): boolean
}

const M_MMAP_MAX = -4
/** glibc's default M_MMAP_MAX */
const DEFAULT_MMAP_MAX = 65536
const MADV_HUGEPAGE = 14
/** Linux 5.14: fault the range in writable without writing it (EINVAL before: nothing happens) */
const MADV_POPULATE_WRITE = 23
/** How far past the highest heap block the heap is faulted ahead (a request goes out at half of it left). */
export const POPULATE_AHEAD = 16n << 20n
/** requests whose callback has not run (koffi refuses calls past its queue of 256) */
const MAX_OUTSTANDING = 8
const HUGE = 2n << 20n
const PAGE = 4096n

export class HeapBuffers {
  /** blocks handed out, and bytes of the heap's top asked to be faulted ahead (tests, benchmarks) */
  readonly counts = { blocks: 0, populated: 0 }
  /** the heap is advised for huge pages up to here (it only ever grows past it) */
  private advisedTo = 0n
  /** the end of the highest block handed out: the heap past it is memory no block has had */
  private highest = 0n
  /** the heap is faulted ahead (or asked to be) up to here */
  private populatedTo = 0n
  /** the last page of the request out to fault ahead, or undefined */
  private populating: bigint | undefined
  /** requests whose callback has not run yet */
  private outstanding = 0

  constructor(
    private readonly libc: Libc,
    private readonly allocUnsafe: (bytes: number) => Uint8Array,
    /** the address of an ArrayBuffer's memory */
    private readonly address: (ab: ArrayBuffer) => bigint,
  ) {}

  /** An ArrayBuffer of `bytes` from the heap, contents undefined; the GC frees it by itself. */
  alloc(bytes: number): ArrayBuffer {
    const { libc } = this
    let u8: Uint8Array
    if (bytes < MMAP_THRESHOLD) u8 = this.allocUnsafe(bytes)
    else {
      libc.mallopt(M_MMAP_MAX, 0)
      try {
        u8 = this.allocUnsafe(bytes)
      } finally {
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
      }
    }
    // (a small one would be a view into Node's shared pool, not an ArrayBuffer of its own)
    if (u8.byteOffset !== 0 || u8.buffer.byteLength !== bytes) return new ArrayBuffer(bytes)
    const ab = u8.buffer as ArrayBuffer
    this.advise(this.address(ab), bytes)
    this.counts.blocks++
    return ab
  }

  /** Advise huge pages from the block at `p` to the heap's top, where not done yet; fault ahead. */
  private advise(p: bigint, bytes: number): void {
    const top = BigInt(this.libc.sbrk(0))
    // trimmed below what was advised: what grows back there is a new, unadvised mapping
    if (top < this.advisedTo) this.advisedTo = top
    if (top < this.populatedTo) this.populatedTo = top
    if (p >= top) return // (not the main heap: a thread's arena)
    // from the block's first whole huge page: rounding down could reach below the heap's start
    let from = ((p + HUGE - 1n) / HUGE) * HUGE
    if (from < this.advisedTo) from = (this.advisedTo / PAGE) * PAGE
    if (from < top) {
      this.libc.madvise(from, Number(top - from), MADV_HUGEPAGE)
      this.advisedTo = top
    }
    this.populateAhead(p + BigInt(bytes), top)
  }

  /** Ask for the heap past the highest block (`end` may raise it) to be faulted in on another thread. */
  private populateAhead(end: bigint, top: bigint): void {
    if (end > this.highest) this.highest = end
    const { madviseAsync, resident } = this.libc
    if (!madviseAsync || !resident || this.populatedTo >= this.highest + POPULATE_AHEAD / 2n) return
    if (this.populating !== undefined) {
      if (!resident(this.populating)) return
      this.populating = undefined
    }
    if (this.outstanding >= MAX_OUTSTANDING) return
    let from = this.highest
    if (from < this.populatedTo) from = this.populatedTo
    from = (from / PAGE) * PAGE
    let to = this.highest + POPULATE_AHEAD
    if (to > top) to = top
    to = (to / PAGE) * PAGE
    if (to <= from) return
    const last = to - PAGE
    this.populating = last
    this.populatedTo = to
    this.counts.populated += Number(to - from)
    this.outstanding++
    madviseAsync(from, Number(to - from), MADV_POPULATE_WRITE, () => {
      this.outstanding--
      // (a request that failed part way, or whose last page the kernel took back, is over too)
      if (this.populating === last) this.populating = undefined
    })
  }
}

let instance: HeapBuffers | null | undefined

/**
 * The process's heap buffers, or null (not Linux with glibc, not Node, malloc not tuned by
 * malloc_tuning.ts, or TSGRAD_HEAP_BUFFERS=0): callers then use plain ArrayBuffers.
 */
export function heapBuffers(
  koffi: () => Koffi & { address(ab: ArrayBuffer): bigint },
  tuned: boolean,
): HeapBuffers | null {
  if (instance !== undefined) return instance
  instance = null
  const g = globalThis as {
    process?: { platform?: string }
    Buffer?: { allocUnsafe(n: number): Uint8Array }
  }
  const NodeBuffer = g.Buffer
  if (!tuned || g.process?.platform !== 'linux' || !NodeBuffer || getEnv('TSGRAD_HEAP_BUFFERS') === '0')
    return instance
  try {
    const k = koffi()
    const lib = k.load('libc.so.6')
    const madvise = lib.func('int madvise(void *addr, size_t len, int advice)')
    const libc: Libc = {
      mallopt: lib.func('int mallopt(int param, int value)') as Libc['mallopt'],
      madvise: madvise as Libc['madvise'],
      sbrk: lib.func('intptr_t sbrk(intptr_t increment)') as Libc['sbrk'],
    }
    const async = madvise.async?.bind(madvise)
    const mincore = lib.func('int mincore(void *addr, size_t len, _Out_ uint8_t *vec)')
    const vec = new Uint8Array(1)
    if (async) {
      libc.madviseAsync = (addr, len, advice, done) => async(addr, len, advice, () => done())
      libc.resident = (addr) => mincore(addr, 4096, vec) === 0 && (vec[0]! & 1) === 1
    }
    instance = new HeapBuffers(
      libc,
      (n) => NodeBuffer.allocUnsafe(n),
      (ab) => k.address(ab),
    )
  } catch {
    // (another libc)
  }
  return instance
}
