// Tiered kernels: a kernel whose full Opt list makes code that is slow to compile (the MNIST CNN's
// register tiles: ~6 of the ~8 s of gcc before a cold first step) is first built from its
// first-tier list (codegen/first_tier.ts: smaller tiles, the same results bit for bit), on a device
// that can build in the background (Compiler.compileInBackground). From its second launch on, the
// full list is rendered and built in the background, and the program switches to it between two
// launches once it is ready. A kernel launched once (an evaluation) never pays for its full build.
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
 * A program that runs `first` until the full build is ready: `startFull` (called at the second
 * launch) renders the full kernel and starts its build, returning a poll that gives the full
 * program once built (or undefined: no full build, the first tier stays).
 */
export function tieredProgram(
  first: Program,
  startFull: () => (() => Program | undefined) | undefined,
): Program {
  let current = first
  let launches = 0
  let poll: (() => Program | undefined) | undefined
  let next = 0
  return (bufs, vals) => {
    // settled (swapped, or no full build): one comparison per launch
    if (launches >= 0) {
      if (++launches === 2) {
        tierStats.started++
        poll = startFull()
        // no full build (it would take other variables): the first tier stays
        if (poll === undefined) launches = -1
      }
      const t = poll === undefined ? 0 : now()
      if (poll !== undefined && t >= next) {
        next = t + POLL_MS
        const full = poll()
        if (full !== undefined) {
          current = full
          launches = -1
          tierStats.swaps++
        }
      }
    }
    return current(bufs, vals)
  }
}
