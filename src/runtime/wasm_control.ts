// The control block a WASM kernel launch shares with its worker threads (Int32Array indices), the
// same in Node (wasm_threads.ts) and in a browser (wasm_threads_web.ts).
import { TsgradError } from '../helpers.js'

export const GEN = 0
export const PENDING = 1
export const FAILED = 2
export const KERNEL = 3
export const NARGS = 4
export const NTHREADS = 5
export const ARGS = 6
export const MAX_ARGS = 250
/** Int32 words in the block */
export const CONTROL_WORDS = ARGS + MAX_ARGS

/**
 * One launch over the control block: publish the kernel and its arguments, wake the workers, run
 * thread 0 here, then wait until every worker is done (`block`: Atomics.wait is allowed on this
 * thread; a page's main thread spins). Throws thread 0's error, else one if a worker failed.
 */
export function launchOnControl(
  ctl: Int32Array,
  kernel: number,
  args: readonly number[],
  threads: number,
  workers: number,
  main: (tid: number, nthreads: number, ...args: number[]) => unknown,
  block: boolean,
): void {
  ctl[KERNEL] = kernel
  ctl[NARGS] = args.length
  ctl[NTHREADS] = threads
  for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i]!
  Atomics.store(ctl, FAILED, 0)
  Atomics.store(ctl, PENDING, workers)
  Atomics.add(ctl, GEN, 1)
  Atomics.notify(ctl, GEN)
  let error: unknown
  try {
    main(0, threads, ...args)
  } catch (e) {
    error = e
  }
  for (let p = Atomics.load(ctl, PENDING); p !== 0; p = Atomics.load(ctl, PENDING))
    if (block) Atomics.wait(ctl, PENDING, p)
  if (error) throw error
  if (Atomics.load(ctl, FAILED)) throw new TsgradError('WASM device: a kernel failed on a worker thread')
}
