// Tiered kernels: a kernel whose full Opt list makes code that is slow to compile (the MNIST CNN's
// register tiles: ~6 of the ~8 s of gcc before a cold first step) is first built from its
// first-tier list (codegen/first_tier.ts: smaller tiles, the same results bit for bit), on a device
// that can build in the background (Compiler.compileInBackground). From its second launch on, the
// full list is rendered and built in the background, and the program switches to it between two
// launches once it is ready. A kernel launched once (an evaluation) never pays for its full build.
//
// Rendering a full list runs on the main thread (a cold MNIST step's 19 full tiers: ~2.4 s of CPU
// under load, 10-490 ms each), so it is paced by a `RenderBudget`: a share of the main thread's
// time, slowest first kernels first. Rendered all at the second launch, they made step 2 as slow
// as step 1.
//
// TIERS=0 turns this off (every kernel built from its full list before its first launch).
import { getEnv, now } from '../helpers.js'
import type { Program } from '../runtime/device.js'

/** Counters for tests and DEBUG: kernels built first tier first, full builds started, and switched to. */
export const tierStats = { firstTier: 0, started: 0, swaps: 0 }

/** How often (ms) a launch of a kernel still on its first tier looks for its full build. */
const POLL_MS = 5

/** Whether first-tier builds are on (TIERS=0: off). */
export const tiersEnabled = (): boolean => getEnv('TIERS') !== '0'

/** A kernel waiting for its turn to render its full tier. */
interface Waiting {
  /** its first tier's last launch (ms of wall time) */
  ms: number
  /** when that launch was */
  at: number
}

/**
 * Paces full-tier renders: after a render of d ms the next waits d * (1 / share - 1) ms, so
 * rendering takes at most `share` of the main thread's wall time; the first is never held back.
 * Among the kernels launched in the last `recentMs` and still waiting, the one whose first tier
 * took longest goes first (it gains most from its full tier: the MNIST CNN's 5x5 convolutions
 * take ~3x longer in their first tier, while some 64-channel tiles render for 0.3-0.5 s and gain
 * ~30 ms a step); one not launched lately (an evaluation's) holds no one back.
 */
export class RenderBudget {
  private freeAt = Number.NEGATIVE_INFINITY
  private readonly waiting = new Set<Waiting>()

  constructor(
    readonly share: number,
    private readonly recentMs: number,
    private readonly clock: () => number = now,
  ) {}

  /** A kernel's place in the queue. */
  join(): Waiting {
    const w = { ms: 0, at: Number.NEGATIVE_INFINITY }
    this.waiting.add(w)
    return w
  }

  /** Whether `w` may render now: the budget has time and no recent waiting kernel is slower. */
  mayStart(w: Waiting): boolean {
    const t = this.clock()
    if (t < this.freeAt) return false
    for (const o of this.waiting) if (o !== w && o.ms > w.ms && t - o.at <= this.recentMs) return false
    return true
  }

  /** Run `render` (w's full render) and charge its time. */
  spend<T>(w: Waiting, render: () => T): T {
    this.waiting.delete(w)
    const t0 = this.clock()
    try {
      return render()
    } finally {
      const t1 = this.clock()
      this.freeAt = t1 + (t1 - t0) * (1 / this.share - 1)
    }
  }
}

/**
 * The budget of the tiered programs (a quarter of the main thread: a cold MNIST step 2 then
 * renders its three 5x5 convolutions' full tiers, ~0.3 s, and the rest follows over the next steps).
 */
export const renderBudget = new RenderBudget(0.25, 5000)

/**
 * A program that runs `first` until the full build is ready: `startFull` (called from the second
 * launch on, when `budget` lets it) renders the full kernel and starts its build, returning a poll
 * that gives the full program once built (or undefined: no full build, the first tier stays).
 */
export function tieredProgram(
  first: Program,
  startFull: () => (() => Program | undefined) | undefined,
  budget: RenderBudget = renderBudget,
): Program {
  let current = first
  let launches = 0
  let poll: (() => Program | undefined) | undefined
  let next = 0
  let place: Waiting | undefined
  return (bufs, vals) => {
    // settled (swapped, or no full build): one comparison per launch
    if (launches < 0) return current(bufs, vals)
    launches++
    if (poll === undefined) {
      place ??= budget.join()
      if (launches >= 2 && budget.mayStart(place)) {
        tierStats.started++
        poll = budget.spend(place, startFull)
        // no full build (it would take other variables): the first tier stays
        if (poll === undefined) {
          launches = -1
          return current(bufs, vals)
        }
      } else {
        // waiting: this launch's time orders the queue
        const t0 = now()
        const r = current(bufs, vals)
        place.at = now()
        place.ms = place.at - t0
        return r
      }
    }
    const t = now()
    if (t >= next) {
      next = t + POLL_MS
      const full = poll()
      if (full !== undefined) {
        current = full
        launches = -1
        tierStats.swaps++
      }
    }
    return current(bufs, vals)
  }
}
