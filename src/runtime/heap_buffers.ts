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
//   can no longer fault as one huge page.
import { getEnv } from '../helpers.js'
import { MMAP_THRESHOLD } from './malloc_tuning.js'

type Koffi = { load(path: string): { func(decl: string): (...args: unknown[]) => unknown } }
interface Libc {
  mallopt(param: number, value: number): number
  madvise(addr: bigint, len: number, advice: number): number
  sbrk(increment: number): number | bigint
}

const M_MMAP_MAX = -4
/** glibc's default M_MMAP_MAX */
const DEFAULT_MMAP_MAX = 65536
const MADV_HUGEPAGE = 14
const HUGE = 2n << 20n
const PAGE = 4096n

export class HeapBuffers {
  /** blocks handed out (tests, benchmarks) */
  readonly counts = { blocks: 0 }
  /** the heap is advised for huge pages up to here (it only ever grows past it) */
  private advisedTo = 0n

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
    this.advise(this.address(ab))
    this.counts.blocks++
    return ab
  }

  /** Advise huge pages from the block at `p` to the heap's top, where not done yet. */
  private advise(p: bigint): void {
    const top = BigInt(this.libc.sbrk(0))
    // trimmed below what was advised: what grows back there is a new, unadvised mapping
    if (top < this.advisedTo) this.advisedTo = top
    if (p >= top) return // (not the main heap: a thread's arena)
    // from the block's first whole huge page: rounding down could reach below the heap's start
    let from = ((p + HUGE - 1n) / HUGE) * HUGE
    if (from < this.advisedTo) from = (this.advisedTo / PAGE) * PAGE
    if (from >= top) return
    this.libc.madvise(from, Number(top - from), MADV_HUGEPAGE)
    this.advisedTo = top
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
    const libc: Libc = {
      mallopt: lib.func('int mallopt(int param, int value)') as Libc['mallopt'],
      madvise: lib.func('int madvise(void *addr, size_t len, int advice)') as Libc['madvise'],
      sbrk: lib.func('intptr_t sbrk(intptr_t increment)') as Libc['sbrk'],
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
