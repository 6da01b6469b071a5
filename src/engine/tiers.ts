// Tiered kernels: a kernel whose full Opt list makes code that is slow to compile (the MNIST CNN's
// register tiles: ~6 of the ~8 s of gcc before a cold first step) is first built from its
// first-tier list (codegen/first_tier.ts: smaller tiles, the same results bit for bit), on a device
// that can build in the background (Compiler.compileInBackground). From its second launch on, the
// full list is rendered and built in the background, and the program switches to it between two
// launches once it is ready. A kernel launched once (an evaluation) never pays for its full build.
//
// Rendering a full list runs on the main thread (a cold MNIST step's 19 full tiers: ~2.4 s of CPU
// under load, 10-490 ms each), so it is paced by a `RenderBudget`: a share of the main thread's
// time. Rendered all at the second launch, they made step 2 as slow as step 1.
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

/**
 * Paces full-tier renders: after a render of d ms the next waits d * (1 / share - 1) ms, so
 * rendering takes at most `share` of the main thread's wall time; the first is never held back,
 * and the kernels take their turns in launch order. (Letting the slowest first tier go first held
 * every other kernel back until that one's next launch found the budget free: ~1 render a step,
 * 11 of 19 started by step 7 under load.)
 */
export class RenderBudget {
  private freeAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly share: number,
    private readonly clock: () => number = now,
  ) {}

  /** Whether a full render may start now. */
  mayStart(): boolean {
    return this.clock() >= this.freeAt
  }

  /** Run `render` (a full render) and charge its time. */
  spend<T>(render: () => T): T {
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
 * The budget of the tiered programs: half of the main thread (a quarter left a cold MNIST run on
 * its first tiers for 4 more steps under load, ~0.7 s of CPU each, more than step 2 gained).
 */
export const renderBudget = new RenderBudget(0.5)

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
  return (bufs, vals) => {
    // settled (swapped, or no full build): one comparison per launch
    if (launches < 0) return current(bufs, vals)
    launches++
    if (poll === undefined) {
      if (launches < 2 || !budget.mayStart()) return current(bufs, vals)
      tierStats.started++
      poll = budget.spend(startFull)
      // no full build (it would take other variables): the first tier stays
      if (poll === undefined) {
        launches = -1
        return current(bufs, vals)
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
