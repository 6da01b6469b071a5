// Pass `lift_consts`: a kernel's float32 constants become kernel arguments. A loop that calls
// `x.mul(lr)` or `x.add(i)` with a new JS number each time built a new kernel AST, and so compiled
// a new kernel, per value (gcc: ~40 ms each). Lifted, the constant is a variable (an int32
// DEFINE_VAR holding the float's bits, BITCAST back to float32 where it is used; uop/const_args.ts)
// and its value goes with the schedule item, so kernels that differ only in such constants share
// one compile. It runs on the finished kernel AST, after the scheduler's symbolic pass: constants
// whose value matters to the rewrites have been folded by then (x*1, x+0, x*0 ...), and the ones
// kept here (0, -0, 1, -1, infinities, NaN) stay literals, so folds in codegen and the renderers
// still see them. Only float32: other float dtypes keep their literals (an int32 argument holds 32
// bits), and integer constants feed index math, value ranges and comparisons that need their values.
// The tensor graph's own float32 constants were lifted before scheduling (lift_graph_consts): their
// graph-numbered variables are renumbered here in the same order, so the kernel does not depend on
// where in which graph it came from.
import { dtypes } from '../dtype.js'
import { float32Bits, graphConstIndex, kernelConstVar, keepLiteral } from '../uop/const_args.js'
import { Ops, UOp } from '../uop/ops.js'
import { substitute, toposort } from '../uop/rewrite.js'

export { float32Bits, isConstVar } from '../uop/const_args.js'

export interface LiftedKernel {
  readonly ast: UOp
  /** each lifted literal's variable and the int32 bits of its value; undefined when none */
  readonly consts: ReadonlyMap<UOp, number> | undefined
  /** each variable standing for a constant of the tensor graph, and that constant's graph index */
  readonly graphConsts: ReadonlyMap<UOp, number> | undefined
}

/**
 * `ast` with its float32 constants as variables, numbered in topological order (a function of the
 * AST's structure, so equal kernels with other constants get the same AST), and their values.
 */
export function liftConsts(ast: UOp): LiftedKernel {
  const map = new Map<UOp, UOp>()
  let consts: Map<UOp, number> | undefined
  let graphConsts: Map<UOp, number> | undefined
  for (const u of toposort([ast])) {
    const j = graphConstIndex(u)
    if (j !== undefined) {
      const v = kernelConstVar(map.size)
      map.set(u, v)
      ;(graphConsts ??= new Map()).set(v, j)
      continue
    }
    if (u.op !== Ops.CONST || u.dtype.name !== 'float32' || u.src.length || keepLiteral(u.constValue))
      continue
    const v = kernelConstVar(map.size)
    ;(consts ??= new Map()).set(v, float32Bits(u.constValue))
    map.set(u, UOp.new(Ops.BITCAST, dtypes.float32, [v]))
  }
  if (!map.size) return { ast, consts: undefined, graphConsts: undefined }
  return { ast: substitute(ast, map), consts, graphConsts }
}
