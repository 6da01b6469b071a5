// First-tier opts: a kernel's Opt list shrunk so that its code is small enough to compile at once,
// for a device that builds the full list in the background and swaps it in (engine/tiers.ts).
// The MNIST CNN's register tiles (UPCAST 32 x 8, some with a CHAINed window: up to 190 KB of C each) took
// ~6 s of the ~8 s of gcc before a cold first training step could run.
//
// Only UPCASTs are shrunk, so the first tier computes bit for bit what the full list does and
// results never depend on when the swap came: an UPCAST splits an output axis into straight-line
// copies, and each output keeps its own accumulator and its reduce order whatever the tile size.
// Everything else (UNROLL's independent accumulators, CHAIN, SPLIT, SWAP, THREAD, GROUP) is kept as
// it is; a list whose other opts no longer apply to the shrunk kernel gets no first tier. (Dropping
// CHAIN too looked order-preserving, but conv4's weight gradient at batch 512, UPCAST 32 x 8 with
// CHAIN 6, then differed in its first element: test/engine/first_tier.test.ts.)
import type { OptTarget } from '../renderer/target.js'
import { Ops, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'
import { type Opt, OptState } from './opts.js'

/**
 * Nodes after expansion a first-tier kernel may have (OptState.expandedNodes); kernels with more
 * get a first tier. The MNIST CNN step's tiles have 1.1-7.8K nodes (UPCAST 32 x 8: 40-190 KB of C),
 * its BatchNorm reductions 0.5-0.75K (UPCAST 16 of the channels). With 600, a cold first step
 * took 4.1 s of gcc CPU instead of 8.6 s and ran in 1.4 s of CPU instead of 0.8 s (300: 3.0 s
 * of gcc, 2.0 s to run).
 */
export const FIRST_TIER_NODES = 600

/** The largest divisor of `k` below it (1 for a prime). */
function nextDivisor(k: number): number {
  for (let d = Math.floor(k / 2); d > 1; d--) if (k % d === 0) return d
  return 1
}

/** Accumulators per reduce step: the product of the UPCAST and UNROLL factors. */
const accumulators = (opts: readonly Opt[]): number =>
  opts.reduce((a, o) => (o.op === 'UPCAST' || o.op === 'UNROLL' ? a * o.arg : a), 1)

/**
 * The first-tier list for `opts` on `ast`, or undefined when the full list is small already (at
 * most `budget` nodes: nothing to gain), cannot be reproduced with smaller upcasts, or is not a
 * tile whose sums the target keeps in order (`target.orderedAccs`). UPCASTs keep the largest
 * factor (a divisor of the full one) that fits the budget and leaves enough accumulators.
 */
export function firstTierOpts(
  ast: UOp,
  opts: readonly Opt[],
  target: OptTarget,
  budget = FIRST_TIER_NODES,
): Opt[] | undefined {
  const minAccs = target.orderedAccs
  if (minAccs === undefined || !opts.some((o) => o.op === 'UPCAST')) return undefined
  if (accumulators(opts) < minAccs || !toposort([ast]).some((u) => u.op === Ops.REDUCE)) return undefined
  const full = new OptState(ast)
  for (const o of opts) full.apply(o)
  if (full.expandedNodes() <= budget) return undefined
  const s = new OptState(ast)
  for (const [i, o] of opts.entries()) {
    if (o.op === 'UPCAST') {
      // the accumulators the rest of the list adds (at full size) and this upcast must reach
      const rest = accumulators(opts.slice(i + 1))
      const fits = (k: number) =>
        s.check({ ...o, arg: k }) === undefined &&
        s.expandedNodes(s.axes[o.axis], k) <= budget &&
        accumulators(s.applied) * k * rest >= minAccs
      let k = o.arg
      while (k > 1 && !fits(k)) k = nextDivisor(k)
      if (k > 1) s.apply({ ...o, arg: k })
      continue
    }
    if (s.check(o) !== undefined) return undefined
    s.apply(o)
  }
  if (accumulators(s.applied) < minAccs) return undefined
  const same = s.applied.length === opts.length && s.applied.every((o, i) => o.arg === opts[i]!.arg)
  return same ? undefined : s.applied
}
