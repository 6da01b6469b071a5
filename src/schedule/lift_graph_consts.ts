// Pass `lift_graph_consts`: before scheduling, each float32 constant of the tensor graph that no
// rule needs the value of (uop/const_args.ts: not 0, 1, -1 or non-finite) becomes a Variable's
// value (the form of Tensor.fromVariable: a CONST whose second source is the expression, here the
// BITCAST of the j-th graph constant variable). The scheduler then cannot fold or decide anything on
// the value, so the schedule of `x.mul(lr)` is one for every lr: the schedule cache keys such a
// constant by its position only (schedule/cache.ts) and a new value costs a cache hit, not a
// rebuild (~0.8 ms). The kernels take the values as arguments (codegen/lift_consts.ts renumbers the
// variables per kernel); the constants are numbered in the order of `topo`, as the cache's key.
import { dtypes } from '../dtype.js'
import { float32Bits, graphConstVar, isLiftableGraphConst } from '../uop/const_args.js'
import { Ops, UOp } from '../uop/ops.js'

export interface LiftedGraph {
  readonly roots: readonly UOp[]
  /** each rebuilt node -> the node of the graph as given */
  readonly origin: ReadonlyMap<UOp, UOp>
  /** the int32 bits of the j-th lifted constant's value */
  readonly bits: readonly number[]
}

/** The graph of `roots` (topological order `topo`) with its constants lifted; undefined when none. */
export function liftGraphConsts(roots: readonly UOp[], topo: readonly UOp[]): LiftedGraph | undefined {
  let done: Map<UOp, UOp> | undefined
  const origin = new Map<UOp, UOp>()
  const bits: number[] = []
  for (const u of topo) {
    let r: UOp | undefined
    if (isLiftableGraphConst(u)) {
      const v = graphConstVar(bits.length)
      bits.push(float32Bits(u.constValue))
      r = u.replace({ src: [u.src[0]!, UOp.new(Ops.BITCAST, dtypes.float32, [v])], arg: undefined })
    } else if (done !== undefined && u.op !== Ops.BUFFER && u.src.some((s) => done!.has(s)))
      r = u.replace({ src: u.src.map((s) => done!.get(s) ?? s) })
    if (r === undefined) continue
    ;(done ??= new Map()).set(u, r)
    origin.set(r, u)
  }
  if (done === undefined) return undefined
  return { roots: roots.map((x) => done!.get(x) ?? x), origin, bits }
}
