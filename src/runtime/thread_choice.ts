// How many threads a threaded kernel launches with (the CPU device's OpenMP kernels, the WASM
// device's worker threads), chosen by measuring it. A parallel loop ends
// when every worker has had a core: on a machine whose other cores are busy (other processes), a
// 256x256 matmul took a median 3.5 ms on 2 threads against 0.37 ms on one (2 cores, load ~35; the
// kernel alone is ~0.3 ms), while on an idle machine 2 threads nearly halve it. The heuristics
// (codegen/heuristics.ts) decide which kernels may be threaded; at run time each threaded kernel
// keeps its last launch times with one thread and with all, launches with the faster count, and
// now and then tries the other count, so it follows the machine's load: after 8 launches, then
// twice as many each time the try confirms the choice (up to 256: a try on a busy machine costs
// ~3 ms); a try that beats the choice is repeated at once, so the other count's times are fresh
// and the choice changes within a few launches. A kernel's first launch is not kept: it pays for
// binding the entry point and the first touch of its pages (a decode step's 8192-row matvec: 3.3
// ms on 2 threads, then 0.37; its 128256-row head: 22.6, then 4.4), which made one thread look
// faster and kept a kernel launched once per token on one thread for its next 8 tokens.

/** Launch times kept per thread count (the median of them is compared). */
const KEEP = 5
const EXPLORE_FIRST = 8
const EXPLORE_MAX = 256

/** Counters for benches and DEBUG: launches on one thread and on all, tries of the other count, and changes of the choice. */
export const threadChoiceStats = { one: 0, all: 0, tries: 0, changes: 0 }

export class ThreadChoice {
  /** recent launch times (ms) with one thread [0] and with all threads [1] */
  private readonly times: [number[], number[]] = [[], []]
  /** launches until the next try of the other count, and the interval after it */
  private untilTry = EXPLORE_FIRST
  private interval = EXPLORE_FIRST
  private choseOne: boolean | undefined
  /** the launch in flight tries the count not chosen */
  private trying = false
  /** the first launch (a warm-up, not kept) has been recorded */
  private warm = false

  constructor(readonly maxThreads: number) {}

  /** Threads for the next launch: each count until it has a time (all first), then the faster one's median. */
  next(): number {
    const [one, all] = this.times
    if (all.length === 0) return this.maxThreads
    if (one.length === 0) return 1
    const fasterIsOne = median(one) < median(all)
    if (this.choseOne !== undefined && fasterIsOne !== this.choseOne) {
      this.untilTry = this.interval = EXPLORE_FIRST
      threadChoiceStats.changes++
    }
    this.choseOne = fasterIsOne
    this.trying = --this.untilTry <= 0
    if (!this.trying) return fasterIsOne ? 1 : this.maxThreads
    threadChoiceStats.tries++
    this.untilTry = this.interval
    this.interval = Math.min(2 * this.interval, EXPLORE_MAX)
    return fasterIsOne ? this.maxThreads : 1
  }

  /** Record a launch's wall time with `threads` threads. */
  record(threads: number, ms: number): void {
    if (threads === 1) threadChoiceStats.one++
    else threadChoiceStats.all++
    if (!this.warm) {
      this.warm = true
      return
    }
    const list = this.times[threads === 1 ? 0 : 1]
    const chosen = this.times[threads === 1 ? 1 : 0]
    if (this.trying && chosen.length && ms < median(chosen)) this.untilTry = this.interval = 1
    this.trying = false
    list.push(ms)
    if (list.length > KEEP) list.shift()
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]!
}
