// Expansion (a named pass): remove 'upcast' and 'unroll' ranges by substituting each of their
// values, turning them into straight-line code the C compiler can keep in registers and vectorize.
//   UNROLL: REDUCE(x, rs..., u) -> REDUCE(x[u=0], rs...) op REDUCE(x[u=1], rs...) op ...
//           (k independent accumulators sharing one loop nest, combined after it)
//   CHAIN:  REDUCE(x, rs..., c) -> REDUCE(x[c=0] + x[c=1] + ..., rs...) with CHAIN_STEP-tagged adds
//           (one accumulator, updated k times per iteration)
//   UPCAST: a STORE that depends on u becomes one STORE per value of u; the REDUCEs under it are
//           copied with it, and loads that do not depend on u stay shared (so does a STORE that
//           depends on an unroll range outside the REDUCEs).
import { ACC_SET, CHAIN_STEP, Ops, type RangeArg, type ReduceOp, UOp } from '../uop/ops.js'
import { graphRewrite, PatternMatcher, rule, substitute, toposort, UPat } from '../uop/rewrite.js'
import { symbolic } from '../uop/symbolic.js'

const isKind =
  (k: RangeArg['kind']) =>
  (u: UOp): boolean =>
    u.op === Ops.RANGE && (u.arg as RangeArg).kind === k

/** Every assignment of values to `ranges` (last range fastest). */
function combos(ranges: readonly UOp[]): Map<UOp, UOp>[] {
  let out: Map<UOp, UOp>[] = [new Map()]
  for (const r of ranges) {
    const next: Map<UOp, UOp>[] = []
    for (const m of out)
      for (let v = 0; v < r.src[0]!.constValue; v++) next.push(new Map([...m, [r, UOp.const(r.dtype, v)]]))
    out = next
  }
  return out
}

const BINOP = { ADD: Ops.ADD, MUL: Ops.MUL, MAX: Ops.MAX } as const

function combine(op: ReduceOp, parts: UOp[]): UOp {
  // pairwise tree: shorter dependency chains and better float accuracy than a left fold
  let level = parts
  while (level.length > 1) {
    const next: UOp[] = []
    for (let i = 0; i < level.length; i += 2) {
      const [a, b] = [level[i]!, level[i + 1]]
      next.push(b === undefined ? a : a.alu(BINOP[op], b))
    }
    level = next
  }
  return level[0]!
}

/** Steps joined left to right by nodes tagged CHAIN_STEP (the linearizer adds them one by one). */
function chain(op: ReduceOp, steps: UOp[]): UOp {
  return (
    factorChain(op, steps) ??
    steps.slice(1).reduce((a, b) => UOp.new(BINOP[op], a.dtype, [a, b], CHAIN_STEP), steps[0]!)
  )
}

/** The factors of a float product tree. */
function floatFactors(u: UOp): UOp[] {
  return u.op === Ops.MUL && u.dtype.isFloat ? [...floatFactors(u.src[0]!), ...floatFactors(u.src[1]!)] : [u]
}

/**
 * A sum of chained steps that are products sharing factors, as those factors times the sum of the
 * rest: d x0 q0 + d x1 q1 -> d (x0 q0 + x1 q1). A quantized matvec's block scale d multiplies each
 * weight of the block; factored out of the steps within a block it is one multiply per vector of
 * lanes instead of one per step (a Q8_0 matvec's inner step: convert, multiply-add, and one fused
 * multiply-add by d per block instead of convert, multiply, multiply-add). Rounding differs from
 * the step-by-step products by an ulp or so, as any reassociation of the sum does.
 */
function factorChain(op: ReduceOp, steps: UOp[]): UOp | undefined {
  if (op !== 'ADD' || steps.length < 2 || !steps[0]!.dtype.isFloat) return undefined
  // simplified first: a factor indexed by the block alone still holds the substituted range's
  // constant in its index math until then, a different node in every step
  const rests = steps.map((u) => floatFactors(graphRewrite(u, symbolic, undefined, 'chain_step_symbolic')))
  const common: UOp[] = []
  for (const f of [...rests[0]!])
    if (rests.every((r) => r.includes(f))) {
      common.push(f)
      for (const r of rests) r.splice(r.indexOf(f), 1)
    }
  if (!common.length) return undefined
  const product = (fs: UOp[]): UOp =>
    fs.length ? fs.reduce((a, b) => a.alu(Ops.MUL, b)) : UOp.const(steps[0]!.dtype, 1)
  return product(common).alu(Ops.MUL, combine('ADD', rests.map(product)))
}

const unrollReduce = new PatternMatcher<unknown>([
  rule(UPat.op(Ops.REDUCE, undefined, { name: 'red' }), ({ red }) => {
    const rs = red!.src.slice(1)
    const unrolled = rs.filter(isKind('unroll'))
    const chained = rs.filter(isKind('chain'))
    if (!unrolled.length && !chained.length) return undefined
    const rest = rs.filter((r) => !unrolled.includes(r) && !chained.includes(r))
    const op = red!.arg as ReduceOp
    const parts = combos(unrolled).map((m) => {
      const at = (c: Map<UOp, UOp>) => substitute(red!.src[0]!, new Map([...m, ...c]))
      const steps = combos(chained).map(at)
      if (!rest.length) return combine(op, steps)
      const v = steps.length > 1 ? chain(op, steps) : steps[0]!
      return UOp.new(Ops.REDUCE, red!.dtype, [v, ...rest], red!.arg)
    })
    return combine(op, parts)
  }),
])

/** Ranges of size 1 (left by splits that use a whole axis) become index 0. */
function dropUnitRanges(ast: UOp): UOp {
  const all = toposort([ast])
  // an accumulate's loop stays a loop (its ACC reads name it), even of one step
  const kept = new Set(
    all.filter((u) => u.op === Ops.REDUCE && u.arg === ACC_SET).flatMap((u) => u.src.slice(1)),
  )
  const units = all.filter((u) => u.op === Ops.RANGE && u.src[0]!.constValue === 1 && !kept.has(u))
  if (!units.length) return ast
  const dropped = graphRewrite(
    ast,
    new PatternMatcher<unknown>([
      rule(UPat.op(Ops.REDUCE, undefined, { name: 'red' }), ({ red }) => {
        const keep = red!.src.slice(1).filter((r) => !units.includes(r))
        if (keep.length === red!.src.length - 1) return undefined
        return keep.length ? red!.replace({ src: [red!.src[0]!, ...keep] }) : red!.src[0]!
      }),
    ]),
    undefined,
    'drop_unit_ranges',
  )
  return substitute(dropped, new Map(units.map((u) => [u, UOp.const(u.dtype, 0)])))
}

export function expandRanges(ast: UOp): UOp {
  const all = toposort([ast])
  if (!all.some((u) => isKind('upcast')(u) || isKind('unroll')(u) || isKind('chain')(u))) return ast
  const unrolled = graphRewrite(dropUnitRanges(ast), unrollReduce, undefined, 'expand_unroll')
  const stores: UOp[] = []
  for (const st of unrolled.src) {
    // the first applied UPCAST varies fastest: heuristics upcast the contiguous axis first, so
    // consecutive statements touch consecutive addresses (what gcc's SLP vectorizer groups). By
    // range id, not graph order, which would depend on how operands happened to be ordered.
    // (an unroll range still here is outside its reduces: a row value stored from inside the
    // unrolled reduce loop, reuse.ts, one store per lane like an upcast)
    const ups = toposort([st])
      .filter((u) => isKind('upcast')(u) || isKind('unroll')(u))
      .sort((a, b) => (b.arg as RangeArg).id - (a.arg as RangeArg).id)
    if (!ups.length) stores.push(st)
    else for (const m of combos(ups)) stores.push(substitute(st, m))
  }
  return unrolled.replace({ src: stores })
}
