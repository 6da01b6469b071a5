// Threads for the WASM device in a browser: Web Workers (from a Blob URL) that instantiate the same
// kernel modules over the shared memory, the counterpart of wasm_threads.ts's worker_threads.
// Used only where the page is cross-origin isolated (SharedArrayBuffer and shared memories exist)
// and Atomics.waitAsync does. The control block protocol is the same as in Node; the differences:
// - a worker cannot drain its message port synchronously, so it never blocks: it waits with
//   Atomics.waitAsync, and leaves a launch naming a module that has not arrived yet to the other
//   threads (they take all of its chunks);
// - workers start only after the creating thread's event loop turns, so the pool counts its
//   workers in (`ready`) and launches run single-threaded until all have started;
// - a page's main thread may not Atomics.wait: there the launching thread spins until the workers
//   are done (in a worker, the usual place for training, it waits).
import { TsgradError } from '../helpers.js'
import {
  ARGS,
  CONTROL_WORDS,
  FAILED,
  GEN,
  KERNEL,
  launchOnControl,
  MAX_ARGS,
  NARGS,
  NTHREADS,
  OPEN,
  PENDING,
} from './wasm_control.js'
import type { Kernel, WasmThreads } from './wasm_threads.js'

const WORKER_SOURCE = `
let ctl, memory, tid, gen = 0
const kernels = new Map()
function wake() {
  gen = Atomics.load(ctl, ${GEN})
  // join the launch, unless it was closed or is not this generation's; a kernel whose module has
  // not arrived yet is left to the other threads (they take every chunk of its THREAD loop)
  Atomics.add(ctl, ${PENDING}, 1)
  const id = ctl[${KERNEL}]
  if (Atomics.load(ctl, ${OPEN}) === gen && kernels.has(id)) {
    const args = [tid, ctl[${NTHREADS}]]
    for (let i = 0; i < ctl[${NARGS}]; i++) args.push(ctl[${ARGS} + i])
    try { kernels.get(id)(...args) } catch (e) { Atomics.store(ctl, ${FAILED}, 1) }
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING})
  arm()
}
function arm() {
  const r = Atomics.waitAsync(ctl, ${GEN}, gen)
  if (r.async) r.value.then(wake)
  else wake()
}
onmessage = (e) => {
  const m = e.data
  if (m.init) {
    ctl = m.ctl; memory = m.memory; tid = m.tid
    gen = Atomics.load(ctl, ${GEN})
    arm()
    postMessage('ready')
    return
  }
  kernels.set(m.id, new WebAssembly.Instance(m.module, { env: { mem: memory }, js: {} }).exports.kt)
}
`

interface WebWorker {
  postMessage(m: unknown): void
  onmessage: ((e: { data: unknown }) => void) | null
  onerror: ((e: { message?: string }) => void) | null
}
type WorkerCtor = new (url: string) => WebWorker

function webWorkerCtor(): WorkerCtor | undefined {
  return (globalThis as { Worker?: WorkerCtor }).Worker
}

/** Whether this browser context can run kernels on Web Workers over a shared memory. */
export function webThreadsAvailable(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; URL?: { createObjectURL?: unknown } }
  return (
    g.crossOriginIsolated === true &&
    webWorkerCtor() !== undefined &&
    typeof g.URL?.createObjectURL === 'function' &&
    typeof (Atomics as { waitAsync?: unknown }).waitAsync === 'function'
  )
}

/** The cores the browser reports (at most 16). */
export function webThreadCount(env: string): number {
  const n = Number(env)
  if (env !== '' && Number.isInteger(n) && n >= 1) return Math.min(n, 64)
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency
  return Math.max(1, Math.min(16, hc ?? 1))
}

export class WebWasmThreadPool implements WasmThreads {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS))
  private readonly workerList: WebWorker[] = []
  private readonly ids = new Map<WebAssembly.Module, number>()
  private started = 0
  private failure: string | undefined
  /** resolves when every worker has started (launches run on the calling thread until then) */
  readonly ready: Promise<void>
  /** a page's main thread may not block in Atomics.wait */
  private readonly canBlock = typeof (globalThis as { document?: unknown }).document === 'undefined'

  /** `workers` threads besides the calling one */
  constructor(
    memory: WebAssembly.Memory,
    readonly workers: number,
  ) {
    const W = webWorkerCtor()
    if (!W) throw new TsgradError('WASM device: threads in a browser need Web Workers')
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }))
    this.ready = new Promise((resolve) => {
      for (let i = 0; i < workers; i++) {
        let w: WebWorker
        try {
          w = new W(url)
        } catch (e) {
          // a page whose Content-Security-Policy forbids blob: workers: one thread, not an error
          this.failure = `workers cannot start here (${(e as Error).message})`
          resolve()
          return
        }
        w.onmessage = () => {
          if (++this.started === workers) resolve()
        }
        w.onerror = (e) => {
          // one worker that cannot start leaves the pool single-threaded, not hung
          this.failure ??= e.message ?? 'a worker failed to start'
          resolve()
        }
        w.postMessage({ init: true, ctl: this.ctl, memory, tid: i + 1 })
        this.workerList.push(w)
      }
    })
  }

  /** launches that ran on the workers too */
  launches = 0

  get threads(): number {
    return this.workers + 1
  }

  private get running(): boolean {
    return this.started === this.workers && this.failure === undefined
  }

  /** A launcher for a threaded kernel module (its export `kt` takes thread index and count first). */
  launcher(m: WebAssembly.Module, main: Kernel): (args: number[]) => void {
    return (args) => {
      if (!this.running || args.length > MAX_ARGS) {
        main(0, 1, ...args)
        return
      }
      let id = this.ids.get(m)
      if (id === undefined) {
        id = this.ids.size
        this.ids.set(m, id)
        for (const w of this.workerList) w.postMessage({ id, module: m })
      }
      this.launches++
      launchOnControl(this.ctl, id, args, this.threads, main, this.canBlock)
    }
  }
}
