// The WASM device's memory: one WebAssembly.Memory holding every buffer, and an allocator of our
// own over it. Sizes are rounded up to size classes (powers of two up to 4 KiB, then four classes
// per doubling), freed blocks wait in a free list per class and are handed out again (not zeroed,
// like the CPU device's pool); new blocks come from the top, growing the memory when needed.
// Buffers are byte offsets into the memory: views are made at each use, since growing a
// non-shared memory detaches its old ArrayBuffer.
import { TsgradError } from '../helpers.js'
import { MAX_FOLDED_OFFSET } from '../renderer/wasm_ops.js'

export const PAGE = 65536
/** Block alignment: a SIMD vector, and no two buffers share a cache line's worth of 64 bytes. */
const ALIGN = 64

/** A buffer on the WASM device. */
export interface WasmBuffer {
  /** byte offset in the memory */
  readonly ptr: number
  /** bytes in use (the block may be larger) */
  readonly bytes: number
  /** the block's size class */
  readonly block: number
}

/** The size class (block bytes) for a request of `bytes`. */
export function sizeClass(bytes: number): number {
  const n = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN)
  if (n <= 4096) return 2 ** Math.ceil(Math.log2(n))
  const step = 2 ** (Math.floor(Math.log2(n - 1)) - 2)
  return Math.ceil(n / step) * step
}

export class WasmHeap {
  readonly memory: WebAssembly.Memory
  // the low bytes are never a buffer: kernels fold constant index terms smaller than this into
  // memarg offsets, exact only when no buffer starts below them
  private top = MAX_FOLDED_OFFSET
  private readonly free = new Map<number, number[]>()
  /** bytes in blocks handed out or waiting in free lists */
  reserved = 0

  constructor(
    readonly shared: boolean,
    readonly maxPages: number,
  ) {
    this.memory = new WebAssembly.Memory(
      shared ? { initial: 16, maximum: maxPages, shared: true } : { initial: 16, maximum: maxPages },
    )
  }

  alloc(bytes: number): WasmBuffer {
    const block = sizeClass(bytes)
    const reused = this.free.get(block)?.pop()
    if (reused !== undefined) return { ptr: reused, bytes, block }
    const ptr = this.top
    const end = ptr + block
    const have = this.memory.buffer.byteLength
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE)
      // grow by at least a quarter of the current size: fewer, larger steps
      const want = Math.min(this.maxPages - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 4)))
      try {
        this.memory.grow(Math.max(pages, want))
      } catch {
        throw new TsgradError(
          `WASM device: out of memory allocating ${bytes} bytes (the memory has ${have} bytes, at most ${this.maxPages * PAGE})`,
        )
      }
    }
    this.top = end
    this.reserved += block
    return { ptr, bytes, block }
  }

  release(b: WasmBuffer): void {
    const list = this.free.get(b.block)
    if (list) list.push(b.ptr)
    else this.free.set(b.block, [b.ptr])
  }

  /** bytes of the memory (a fresh view each time: growth replaces the buffer) */
  u8(b: WasmBuffer): Uint8Array {
    return new Uint8Array(this.memory.buffer, b.ptr, b.bytes)
  }
}
