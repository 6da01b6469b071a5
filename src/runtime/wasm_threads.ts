// Threads for the WASM device (Node): worker_threads that instantiate the same kernel modules over
// the shared memory and take chunks of a kernel's THREAD loop (the kernel takes its thread index
// and count first). A launch writes the kernel id and arguments into a small shared control block,
// opens it, bumps a generation counter and wakes the workers (Atomics.notify); the calling thread
// runs the kernel itself, closes the launch and then waits (Atomics.wait) until every worker that
// joined it has counted itself done (wasm_control.ts).
// Modules reach the workers by postMessage on a port each one drains synchronously
// (receiveMessageOnPort) when a launch names a kernel it has not seen yet. Kernels that import
// JS helpers (log, sin, half-float conversions) run on the calling thread only.
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
import { nodeBuiltins } from './node.js'

type WorkerThreads = typeof import('node:worker_threads')
export type Kernel = (...args: number[]) => void

/** A pool of threads running threaded kernels (`kt(tid, nthreads, ...)`) with the calling thread. */
export interface WasmThreads {
  /** the calling thread and the workers */
  readonly threads: number
  /** resolves when the workers have started */
  readonly ready: Promise<void>
  /** launches that ran on the workers too (not only on the calling thread) */
  readonly launches: number
  launcher(m: WebAssembly.Module, main: Kernel): (args: number[]) => void
}

/** The worker's loop (source for `eval`; CommonJS or ESM alike, no loaders: plain JS). */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads')
const { ctl, port, memory, tid } = workerData
const kernels = new Map()
let gen = 0
for (;;) {
  Atomics.wait(ctl, ${GEN}, gen)
  gen = Atomics.load(ctl, ${GEN})
  // join the launch, unless it was closed (its chunks are done) or is not this generation's
  Atomics.add(ctl, ${PENDING}, 1)
  if (Atomics.load(ctl, ${OPEN}) === gen) {
    const id = ctl[${KERNEL}]
    while (!kernels.has(id)) {
      const m = receiveMessageOnPort(port)
      if (m) kernels.set(m.message.id, new WebAssembly.Instance(m.message.module, { env: { mem: memory }, js: {} }).exports.kt)
    }
    const args = [tid, ctl[${NTHREADS}]]
    for (let i = 0; i < ctl[${NARGS}]; i++) args.push(ctl[${ARGS} + i])
    try {
      kernels.get(id)(...args)
    } catch (e) {
      Atomics.store(ctl, ${FAILED}, 1)
    }
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING})
}
`

function workerThreads(): WorkerThreads | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  return p?.getBuiltinModule?.('node:worker_threads') as WorkerThreads | undefined
}

/** How many threads kernels may use: WASM_THREADS, else the cores (at most 16); 1 without workers. */
export function wasmThreadCount(env: string): number {
  if (!workerThreads() || !nodeBuiltins()) return 1
  const n = Number(env)
  if (env !== '' && Number.isInteger(n) && n >= 1) return Math.min(n, 64)
  const os = nodeBuiltins()!.os
  return Math.max(1, Math.min(16, os.availableParallelism?.() ?? os.cpus().length))
}

/** Whether this is Node with worker_threads (the browser has wasm_threads_web.ts). */
export function nodeThreadsAvailable(): boolean {
  return workerThreads() !== undefined && nodeBuiltins() !== null
}

export class WasmThreadPool implements WasmThreads {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS))
  /** worker_threads start in the background; launches signal them through the control block */
  readonly ready = Promise.resolve()
  private readonly ports: { postMessage(m: unknown): void }[] = []
  private readonly ids = new Map<WebAssembly.Module, number>()

  /** `workers` threads besides the calling one */
  constructor(
    memory: WebAssembly.Memory,
    readonly workers: number,
  ) {
    const wt = workerThreads()
    if (!wt) throw new TsgradError('WASM device: threads need node:worker_threads')
    for (let i = 0; i < workers; i++) {
      const { port1, port2 } = new wt.MessageChannel()
      const w = new wt.Worker(WORKER_SOURCE, {
        eval: true,
        // not the parent's flags: a loader or --input-type=module would change how this source runs
        execArgv: [],
        workerData: { ctl: this.ctl, port: port2, memory, tid: i + 1 },
        transferList: [port2],
      })
      w.unref()
      port1.unref()
      this.ports.push(port1)
    }
  }

  /** launches that ran on the workers too */
  launches = 0

  get threads(): number {
    return this.workers + 1
  }

  /** A launcher for a threaded kernel module (its export `kt` takes thread index and count first). */
  launcher(m: WebAssembly.Module, main: Kernel): (args: number[]) => void {
    let id = this.ids.get(m)
    if (id === undefined) {
      id = this.ids.size
      this.ids.set(m, id)
      for (const p of this.ports) p.postMessage({ id, module: m })
    }
    const kid = id
    return (args) => {
      if (args.length > MAX_ARGS) {
        main(0, 1, ...args)
        return
      }
      this.launches++
      launchOnControl(this.ctl, kid, args, this.threads, main, true)
    }
  }
}
