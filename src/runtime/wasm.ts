// The WASM device: kernels rendered straight to WebAssembly modules (renderer/wasm.ts), compiled
// once per module (cached by its bytes), instantiated over one WebAssembly.Memory that holds every
// buffer (runtime/wasm_memory.ts). Buffers are offsets into that memory; `data()` copies out.
import { type DType, storageArray, type TypedArray } from '../dtype.js'
import { DEBUG, getEnv, now, TsgradError } from '../helpers.js'
import { fromBase64, WASM_SRC_PREFIX, WasmRenderer } from '../renderer/wasm.js'
import { THREAD_COUNTER, WASM_IMPORTS } from '../renderer/wasm_ops.js'
import { ThreadChoice } from './thread_choice.js'
import { type CompiledDevice, Device, type Program } from './device.js'
import { type WasmBuffer, WasmHeap } from './wasm_memory.js'
import { wasmFeatures } from './wasm_features.js'
import { nodeThreadsAvailable, type WasmThreads, WasmThreadPool, wasmThreadCount } from './wasm_threads.js'
import { WebWasmThreadPool, webThreadCount, webThreadsAvailable } from './wasm_threads_web.js'

/** A buffer: its block in the memory, element count and dtype (for typed views). */
export interface WasmRaw extends WasmBuffer {
  readonly size: number
  readonly dtype: DType
}

type Kernel = (...args: number[]) => void

/** 4 GiB: all a 32-bit memory can address. */
const MAX_PAGES = 65536

function typedView(heap: WasmHeap, b: WasmRaw): TypedArray {
  const ctor = storageArray(b.dtype, 0).constructor as new (
    buf: ArrayBufferLike,
    off: number,
    n: number,
  ) => TypedArray
  return new ctor(heap.memory.buffer, b.ptr, b.size)
}

/** Why the WASM device cannot run here, or undefined when it can. */
export function wasmUnavailableReason(): string | undefined {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.Module !== 'function')
    return 'this JavaScript runtime has no WebAssembly'
  return undefined
}

export interface WasmDevice extends CompiledDevice<WasmRaw, WebAssembly.Module> {
  /** threads kernels may use (the calling one and the workers) */
  readonly threads: number
  /** resolves when the worker threads have started (launches run on one thread until then) */
  readonly threadsReady: Promise<void>
  /** kernel launches that ran on the worker threads too */
  threadedLaunches(): number
}

export function createWasmDevice(name: string): WasmDevice {
  const why = wasmUnavailableReason()
  if (why) throw new TsgradError(`WASM device: ${why}`)
  const features = wasmFeatures()
  // threads: a shared memory and workers, where the environment has both (Node's worker_threads;
  // Web Workers in a cross-origin-isolated page)
  const env = getEnv('WASM_THREADS')
  const web = !nodeThreadsAvailable() && webThreadsAvailable()
  const threads = !features.sharedMemory ? 1 : web ? webThreadCount(env) : wasmThreadCount(env)
  const heap = new WasmHeap(threads > 1, MAX_PAGES)
  let pool: WasmThreads | undefined
  if (threads > 1)
    pool = web
      ? new WebWasmThreadPool(heap.memory, threads - 1)
      : new WasmThreadPool(heap.memory, threads - 1)
  if (DEBUG() >= 1)
    console.log(
      `WASM device: simd ${features.simd}, relaxed simd ${features.relaxed}, ${threads} thread${threads > 1 ? 's' : ''}`,
    )
  const renderer = new WasmRenderer({
    simd: features.simd,
    relaxed: features.relaxed,
    shared: threads > 1,
    maxPages: MAX_PAGES,
  })
  const modules = new Map<string, WebAssembly.Module>()
  const imports: Record<string, Record<string, unknown>> = { env: { mem: heap.memory }, js: {} }
  for (const [n, f] of Object.entries(WASM_IMPORTS)) imports.js![n] = f.fn
  return {
    name,
    threads,
    threadsReady: pool?.ready ?? Promise.resolve(),
    threadedLaunches: () => pool?.launches ?? 0,
    allocator: {
      alloc: (size: number, dtype: DType): WasmRaw => ({ ...heap.alloc(size * dtype.itemsize), size, dtype }),
      free: (b: WasmRaw) => heap.release(b),
      maxElements: (MAX_PAGES * 65536) / 8,
      copyin: (b: WasmRaw, src: TypedArray) => {
        heap.u8(b).set(new Uint8Array(src.buffer, src.byteOffset, Math.min(src.byteLength, b.bytes)))
      },
      copyout: (b: WasmRaw) => typedView(heap, b).slice(),
      hostView: (b: WasmRaw) => typedView(heap, b),
    },
    renderer,
    compiler: {
      key: `wasm-${features.simd ? 'simd' : 'scalar'}${features.relaxed ? '-relaxed' : ''}`,
      compile: (src: string): WebAssembly.Module => {
        let m = modules.get(src)
        if (!m) {
          if (!src.startsWith(WASM_SRC_PREFIX))
            throw new Error('WASM device: not a rendered WebAssembly kernel')
          const b64 = src.slice(src.indexOf(':', WASM_SRC_PREFIX.length) + 1)
          modules.set(src, (m = new WebAssembly.Module(fromBase64(b64) as Uint8Array<ArrayBuffer>)))
        }
        return m
      },
    },
    runtime: (m: WebAssembly.Module): Program<WasmRaw> => {
      const exports = new WebAssembly.Instance(m, imports as WebAssembly.Imports).exports
      const argsOf = (bufs: WasmRaw[], vals?: readonly number[]): number[] => {
        const args: number[] = vals ? [...vals] : []
        for (const b of bufs) args.push(b.ptr)
        return args
      }
      const threaded = exports.kt as Kernel | undefined
      if (threaded) {
        // its THREAD loop's chunk counter starts at 0 (before any worker is woken)
        const counter = new Int32Array(heap.memory.buffer, THREAD_COUNTER, 1)
        // kernels that call JS helpers stay on this thread (the workers have none)
        const usesJs = WebAssembly.Module.imports(m).some((i) => i.module === 'js')
        if (usesJs || !pool)
          return (bufs, vals) => {
            Atomics.store(counter, 0, 0)
            threaded(0, 1, ...argsOf(bufs, vals))
          }
        const launch = choosingThreads(
          pool.threads,
          (args) => threaded(0, 1, ...args),
          pool.launcher(m, threaded),
        )
        return (bufs, vals) => {
          Atomics.store(counter, 0, 0)
          launch(argsOf(bufs, vals))
        }
      }
      const fn = exports.k as Kernel
      return (bufs, vals) => fn(...argsOf(bufs, vals))
    },
    synchronize: () => {},
  }
}

/**
 * A threaded kernel's launcher that runs each launch on one thread (`one`) or on all (`all`),
 * whichever has lately been faster for this kernel (thread_choice.ts, as the CPU
 * device's OpenMP kernels): a launch ends only when every worker that took a chunk is done, and on
 * a busy machine a descheduled worker holds it for a scheduler slice while a page's main thread
 * spins (matmul 512 in a page at load ~10: 24-86 ms a launch on 2 threads, ~10 on one).
 */
export function choosingThreads(
  threads: number,
  one: (args: number[]) => void,
  all: (args: number[]) => void,
): (args: number[]) => void {
  const choice = new ThreadChoice(threads)
  return (args) => {
    const n = choice.next()
    const t0 = now()
    if (n === 1) one(args)
    else all(args)
    choice.record(n, now() - t0)
  }
}

/** Resolves when the WASM device's worker threads have started (at once where there are none). */
export function wasmReady(): Promise<void> {
  return (Device.get('WASM') as WasmDevice).threadsReady
}

Device.register('WASM', createWasmDevice, wasmUnavailableReason)
