// First-tier opts: a kernel's Opt list shrunk so that its code is small enough to compile at once,
// for a device that builds the full list in the background and swaps it in (engine/tiers.ts).
// The MNIST CNN's register tiles (UPCAST 32 x 8, some with a CHAINed window: up to 190 KB of C each) took
// ~6 s of the ~8 s of gcc before a cold first training step could run.
//
// Only UPCASTs are shrunk, so the first tier computes bit for bit what the full list does and
// results never depend on when the swap came: an UPCAST splits an output axis into straight-line
// copies, and each output keeps its own accumulator and its reduce order whatever the tile size,
// as long as the renderer's choices of summation order come out the same (sumsAsFull: a kernel
// with few accumulators is no tile, and its sums are reassociated by the loop vectorizer).
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

/** `opts` applied to `ast`; undefined when one no longer applies. */
function applied(ast: UOp, opts: readonly Opt[]): OptState | undefined {
  const s = new OptState(ast)
  for (const o of opts) {
    if (s.check(o) !== undefined) return undefined
    s.apply(o)
  }
  return s
}

/**
 * Whether a kernel with the accumulators `accs` (per REDUCE, OptState.reduceAccumulators) sums as
 * the full kernel with `full` does on a target that keeps `minAccs` or more in order: the kernel
 * is a tile in both (renderer/c.ts: no contraction, no loop vectorizer), and each sum either keeps
 * its accumulator count or keeps enough that its loop is not a simd reduction in either (a loop's
 * lanes may be reordered below `minAccs`). The RMSNorm of train-llama's embedding sum (its feature
 * axis upcast 32, its rows 8) lost the row upcast in the first tier, so its one sum of squares
 * became a simd reduction: the last bits differed from the full tile's.
 */
function sumsAsFull(accs: readonly number[], full: readonly number[], minAccs: number): boolean {
  const total = accs.reduce((a, b) => a + b, 0)
  return (
    accs.length === full.length && total >= minAccs && accs.every((a, i) => a === full[i] || a >= minAccs)
  )
}

/**
 * The first-tier list for `opts` on `ast`, or undefined when the full list is small already (at
 * most `budget` nodes: nothing to gain), is not a tile whose sums the target keeps in order
 * (`target.orderedAccs`), or cannot be reproduced with smaller upcasts that sum as it does
 * (sumsAsFull). UPCASTs keep the largest factor (a divisor of the full one) that fits the budget
 * and, with the rest of the list at full size, sums as the full list.
 */
export function firstTierOpts(
  ast: UOp,
  opts: readonly Opt[],
  target: OptTarget,
  budget = FIRST_TIER_NODES,
): Opt[] | undefined {
  const minAccs = target.orderedAccs
  if (minAccs === undefined || !opts.some((o) => o.op === 'UPCAST')) return undefined
  if (!toposort([ast]).some((u) => u.op === Ops.REDUCE)) return undefined
  const full = applied(ast, opts)
  if (full === undefined || full.expandedNodes() <= budget) return undefined
  const fullAccs = full.reduceAccumulators()
  if (!sumsAsFull(fullAccs, fullAccs, minAccs)) return undefined
  const s = new OptState(ast)
  for (const [i, o] of opts.entries()) {
    if (o.op === 'UPCAST') {
      const fits = (k: number) => {
        if (s.check({ ...o, arg: k }) !== undefined || s.expandedNodes(s.axes[o.axis], k) > budget)
          return false
        const trial = applied(ast, [...s.applied, { ...o, arg: k }, ...opts.slice(i + 1)])
        return trial !== undefined && sumsAsFull(trial.reduceAccumulators(), fullAccs, minAccs)
      }
      let k = o.arg
      while (k > 1 && !fits(k)) k = nextDivisor(k)
      if (k > 1) s.apply({ ...o, arg: k })
      continue
    }
    if (s.check(o) !== undefined) return undefined
    s.apply(o)
  }
  if (!sumsAsFull(s.reduceAccumulators(), fullAccs, minAccs)) return undefined
  const same = s.applied.length === opts.length && s.applied.every((o, i) => o.arg === opts[i]!.arg)
  return same ? undefined : s.applied
}

/**
 * What decides a rendered kernel's summation order on a target that keeps `minAccs` or more
 * accumulators in order: its accumulator count and each loop's count of accumulators updated in
 * it, both capped at `minAccs` (all counts from there on sum alike). Computed from the lowered
 * program, after symbolic folding, so it also catches copies that sumsAsFull's count from the
 * AST could not see merge; a first tier whose shape differs from its full build's is kept.
 */
export function summationShape(uops: readonly UOp[], minAccs: number): string {
  const cap = (n: number) => (n >= minAccs ? `${minAccs}+` : String(n))
  const open: UOp[] = []
  const perLoop = new Map<UOp, Set<UOp>>()
  let accs = 0
  for (const u of uops) {
    if (u.op === Ops.RANGE) open.push(u)
    else if (u.op === Ops.ENDRANGE) open.pop()
    else if (u.op === Ops.DEFINE_ACC) accs++
    else if (u.op === Ops.ACC_UPDATE && open.length) {
      const loop = open[open.length - 1]!
      const set = perLoop.get(loop) ?? new Set()
      set.add(u.src[0]!)
      perLoop.set(loop, set)
    }
  }
  return [cap(accs), ...[...perLoop.values()].map((s) => cap(s.size))].join(',')
}
