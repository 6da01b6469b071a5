// Pass `strip_custom_grads`: a CUSTOM_GRAD node (a value that carries its backward function, see
// gradient.ts) is its forward value to everything but autograd, so the scheduler replaces each one
// by its forward source before finding realize points. The gradient inputs are not walked (a
// realized tensor's node keeps the whole graph it was computed from there), and only nodes with a
// CUSTOM_GRAD below them (`hasCustomGrad`) are rebuilt: the rest of the graph is kept as it is.
import { dtypes } from '../dtype.js'
import { viz } from '../trace.js'
import { forwardSrc, Ops, UOp } from '../uop/ops.js'
import { graphRewrite, PatternMatcher, rule, toposort, UPat } from '../uop/rewrite.js'

const stripRules = new PatternMatcher([
  rule(UPat.op(Ops.CUSTOM_GRAD, undefined, { name: 'g' }), ({ g }) => g!.src[0]!),
])

export interface ForwardGraph {
  /** the roots with every CUSTOM_GRAD replaced by its forward value */
  readonly roots: readonly UOp[]
  /** the nodes of the original graph that were rebuilt (the others are in the new graph too) */
  readonly rebuilt: ReadonlySet<UOp> | undefined
}

/** The graph of `roots` without CUSTOM_GRAD nodes (the roots themselves when there are none). */
export function stripCustomGrads(roots: readonly UOp[]): ForwardGraph {
  if (!roots.some((r) => r.hasCustomGrad)) return { roots, rebuilt: undefined }
  // the nodes that change: those with a CUSTOM_GRAD below (the walk stops at every other node)
  const changed = toposort(roots, (u) => !u.hasCustomGrad).filter((u) => u.hasCustomGrad)
  const rebuilt = new Set(changed)
  if (viz) {
    // while VIZ records, as a traced rewrite (the same result)
    const sink = UOp.new(Ops.SINK, dtypes.void, roots)
    const out = graphRewrite(sink, stripRules, undefined, 'strip_custom_grads', (u) =>
      u.hasCustomGrad ? forwardSrc(u) : [],
    )
    return { roots: out.src, rebuilt }
  }
  const done = new Map<UOp, UOp>()
  for (const n of changed) {
    if (n.op === Ops.CUSTOM_GRAD) {
      const f = n.src[0]!
      done.set(n, done.get(f) ?? f)
      continue
    }
    done.set(n, n.replace({ src: n.src.map((s) => done.get(s) ?? s) }))
  }
  return { roots: roots.map((r) => done.get(r) ?? r), rebuilt }
}
