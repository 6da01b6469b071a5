// Pass `strip_custom_grads`: a CUSTOM_GRAD node (a value that carries its backward function, see
// gradient.ts) is its forward value to everything but autograd, so the scheduler replaces each one
// by its forward source before finding realize points. The gradient inputs are not walked (a
// realized tensor's node keeps the whole graph it was computed from there).
import { dtypes } from '../dtype.js'
import { forwardSrc, Ops, UOp } from '../uop/ops.js'
import { graphRewrite, PatternMatcher, rule, toposort, UPat } from '../uop/rewrite.js'

const stripRules = new PatternMatcher([
  rule(UPat.op(Ops.CUSTOM_GRAD, undefined, { name: 'g' }), ({ g }) => g!.src[0]!),
])

export interface ForwardGraph {
  /** the roots with every CUSTOM_GRAD replaced by its forward value */
  readonly roots: readonly UOp[]
  /** the nodes of the original graph when it had CUSTOM_GRADs (they were rebuilt) */
  readonly original: ReadonlySet<UOp> | undefined
}

/** The graph of `roots` without CUSTOM_GRAD nodes (the roots themselves when there are none). */
export function stripCustomGrads(roots: readonly UOp[]): ForwardGraph {
  if (!roots.some((r) => r.hasCustomGrad)) return { roots, original: undefined }
  const sink = UOp.new(Ops.SINK, dtypes.void, roots)
  const out = graphRewrite(sink, stripRules, undefined, 'strip_custom_grads', forwardSrc)
  return { roots: out.src, original: new Set(toposort(roots, (u) => u.op === Ops.BUFFER)) }
}
