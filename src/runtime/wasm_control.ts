// The control block a WASM kernel launch shares with its worker threads (Int32Array indices), the
// same in Node (wasm_threads.ts) and in a browser (wasm_threads_web.ts).
import { TsgradError } from '../helpers.js'

export const GEN = 0
export const PENDING = 1
export const FAILED = 2
export const KERNEL = 3
export const NARGS = 4
export const NTHREADS = 5
/** the generation of the launch workers may still join (0: closed) */
export const OPEN = 6
export const ARGS = 7
export const MAX_ARGS = 250
/** Int32 words in the block */
export const CONTROL_WORDS = ARGS + MAX_ARGS

/**
 * One launch over the control block: publish the kernel and its arguments, open the launch and wake
 * the workers, run thread 0 here, close the launch, then wait until every worker that joined is
 * done (`block`: Atomics.wait is allowed on this thread; a page's main thread spins). A worker joins
 * by counting itself in PENDING and then finding the launch still open; one that wakes after the
 * close counts itself out again at once: kernels take their THREAD loop in chunks from a shared
 * counter (renderer/wasm.ts), so the threads that came did all the work, and a late or descheduled
 * worker no longer holds up the launch (it did: every launch waited for every worker to wake).
 * Throws thread 0's error, else one if a worker failed.
 */
export function launchOnControl(
  ctl: Int32Array,
  kernel: number,
  args: readonly number[],
  threads: number,
  main: (tid: number, nthreads: number, ...args: number[]) => unknown,
  block: boolean,
): void {
  ctl[KERNEL] = kernel
  ctl[NARGS] = args.length
  ctl[NTHREADS] = threads
  for (let i = 0; i < args.length; i++) ctl[ARGS + i] = args[i]!
  Atomics.store(ctl, FAILED, 0)
  // only this thread writes GEN; 0 means closed, so a wrapped generation skips it
  const gen = (Atomics.load(ctl, GEN) + 1) | 0 || 1
  Atomics.store(ctl, OPEN, gen)
  Atomics.store(ctl, GEN, gen)
  Atomics.notify(ctl, GEN)
  let error: unknown
  try {
    main(0, threads, ...args)
  } catch (e) {
    error = e
  }
  // (a worker counts itself in, then reads OPEN; this thread closes, then reads PENDING: with
  // sequentially consistent atomics one of the two sees the other)
  Atomics.store(ctl, OPEN, 0)
  for (let p = Atomics.load(ctl, PENDING); p !== 0; p = Atomics.load(ctl, PENDING))
    if (block) Atomics.wait(ctl, PENDING, p)
  if (error) throw error
  if (Atomics.load(ctl, FAILED)) throw new TsgradError('WASM device: a kernel failed on a worker thread')
}
