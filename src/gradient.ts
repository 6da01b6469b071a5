// Autograd: per-op gradient rules over the tensor graph. Gradients are lazy UOps, so the backward
// pass is scheduled and fused like any other graph. Walks are iterative (deep graphs are fine).
import { dtypes } from './dtype.js'
import { range, TsgradError } from './helpers.js'
import type { CustomKernelArg } from './uop/custom_kernel.js'
import {
  aluNode,
  castNode,
  constLikeNode,
  expand,
  flip,
  gatherBackward,
  pad,
  permute,
  reduce,
  reshape,
  shrink,
  sumTo,
} from './uop/graph.js'
import { Ops, type PadArg, type ReduceOp, type sint, UOp } from './uop/ops.js'
import { sAdd, sSub } from './uop/sint.js'
import { toposort } from './uop/rewrite.js'

const add = (a: UOp, b: UOp): UOp => aluNode(Ops.ADD, a, b)
const mul = (a: UOp, b: UOp): UOp => aluNode(Ops.MUL, a, b)
const div = (a: UOp, b: UOp): UOp => aluNode(Ops.FDIV, a, b)
const neg = (a: UOp): UOp => aluNode(Ops.NEG, a)
const c = (like: UOp, v: number): UOp => constLikeNode(like, v)
const where = (cond: UOp, a: UOp, b: UOp): UOp => aluNode(Ops.WHERE, cond, a, b)

/** Gradients of `u`'s sources given the gradient `g` of u (undefined: no gradient). */
function gradRule(u: UOp, g: UOp): (UOp | undefined)[] {
  const [a, b] = u.src as [UOp, UOp]
  switch (u.op) {
    case Ops.ADD:
      return [g, g]
    case Ops.SUB:
      return [g, neg(g)]
    case Ops.MUL:
      return [mul(g, b), mul(g, a)]
    case Ops.FDIV:
      return [div(g, b), neg(div(mul(g, a), mul(b, b)))]
    case Ops.NEG:
      return [neg(g)]
    case Ops.EXP:
      return [mul(g, u)]
    case Ops.EXP2:
      return [mul(g, mul(u, c(u, Math.LN2)))]
    case Ops.LOG:
      return [div(g, a)]
    case Ops.LOG2:
      return [div(g, mul(a, c(a, Math.LN2)))]
    case Ops.SIN:
      return [mul(g, aluNode(Ops.COS, a))]
    case Ops.COS:
      return [neg(mul(g, aluNode(Ops.SIN, a)))]
    case Ops.TANH:
      return [mul(g, aluNode(Ops.SUB, c(u, 1), mul(u, u)))]
    case Ops.ERF:
      return [mul(g, mul(c(a, 2 / Math.sqrt(Math.PI)), aluNode(Ops.EXP, neg(mul(a, a)))))]
    case Ops.SQRT:
      return [div(g, mul(u, c(u, 2)))]
    case Ops.RECIP:
      return [neg(mul(g, mul(u, u)))]
    case Ops.POW: {
      // d/da a^b = b a^(b-1) (0 where b == 0); d/db a^b = a^b ln a (0 where a == 0 and b >= 0:
      // PyTorch's convention, which keeps 0^0 and 0^2 from giving -inf or NaN)
      const da = where(
        aluNode(Ops.CMPEQ, b, c(b, 0)),
        c(a, 0),
        mul(b, aluNode(Ops.POW, a, aluNode(Ops.SUB, b, c(b, 1)))),
      )
      const db0 = mul(u, aluNode(Ops.LOG, a))
      const db = where(
        aluNode(Ops.CMPEQ, a, c(a, 0)),
        where(aluNode(Ops.CMPLT, b, c(b, 0)), db0, c(u, 0)),
        db0,
      )
      return [mul(g, da), mul(g, db)]
    }
    case Ops.MOD:
      // float fmod: a - trunc(a / b) b
      return [g, neg(mul(g, aluNode(Ops.TRUNC, div(a, b))))]
    case Ops.TRUNC:
      // piecewise constant (floor, ceil and round are built on it): a zero gradient
      return [c(a, 0)]
    case Ops.MAX: {
      // ties split the gradient evenly
      const gt = castNode(aluNode(Ops.CMPLT, b, a), g.dtype)
      const eq = mul(castNode(aluNode(Ops.CMPEQ, a, b), g.dtype), c(g, 0.5))
      return [mul(g, add(gt, eq)), mul(g, aluNode(Ops.SUB, aluNode(Ops.SUB, c(g, 1), gt), eq))]
    }
    case Ops.WHERE:
      return [undefined, where(a, g, c(g, 0)), where(a, c(g, 0), g)]
    case Ops.CAST:
      return [a.dtype.isFloat ? castNode(g, a.dtype) : undefined]
    case Ops.CONTIGUOUS:
      return [g]
    case Ops.RESHAPE:
      return [reshape(g, a.shape!)]
    case Ops.PERMUTE: {
      const order = u.arg as number[]
      const inv = range(order.length)
      order.forEach((o, i) => {
        inv[o] = i
      })
      return [permute(g, inv)]
    }
    case Ops.EXPAND:
      return [sumTo(g, a.shape!)]
    case Ops.PAD: {
      const { pads } = u.arg as PadArg
      return [
        shrink(
          g,
          pads.map(([bf], i) => [bf, sAdd(bf, a.shape![i]!)] as [sint, sint]),
        ),
      ]
    }
    case Ops.SHRINK: {
      const arg = u.arg as [sint, sint][]
      return [
        pad(
          g,
          arg.map(([s, e], i) => [s, sSub(a.shape![i]!, e)] as [sint, sint]),
        ),
      ]
    }
    case Ops.FLIP:
      return [flip(g, u.arg as boolean[])]
    case Ops.GATHER:
      // a scatter-add into x; the index gets none
      return [gatherBackward(g, b, u.arg as number, a.shape![u.arg as number] as number), undefined]
    case Ops.REDUCE_AXIS: {
      const [op, axes] = u.arg as [ReduceOp, number[]]
      const ge = expand(g, a.shape!)
      if (op === 'ADD') return [ge]
      if (op === 'MUL') {
        // product of the other elements, exact with zeros: with z zeros along the axes and p the
        // product of the non-zero elements, d/dx_i = z == 0 ? p / x_i : (x_i == 0 && z == 1 ? p : 0)
        const isZero = aluNode(Ops.CMPEQ, a, c(a, 0))
        const nz = expand(reduce(castNode(isZero, a.dtype), 'ADD', axes), a.shape!)
        const safeX = where(isZero, c(a, 1), a)
        const p = expand(reduce(safeX, 'MUL', axes), a.shape!)
        const none = aluNode(Ops.CMPEQ, nz, c(nz, 0))
        const one = aluNode(Ops.CMPEQ, nz, c(nz, 1))
        const d = where(none, div(p, safeX), where(aluNode(Ops.AND, isZero, one), p, c(a, 0)))
        return [mul(ge, d)]
      }
      // MAX: split among the positions equal to the max
      const ue = expand(u, a.shape!)
      const mask = castNode(aluNode(Ops.CMPEQ, a, ue), g.dtype)
      const count = expand(reduce(mask, 'ADD', axes), a.shape!)
      return [div(mul(ge, mask), count)]
    }
    case Ops.CUSTOM_KERNEL:
      throw new TsgradError(
        `backward: custom kernel '${(u.arg as CustomKernelArg).def.name}' has no backward (pass backward to Tensor.customKernel)`,
      )
  }
  return u.src.map(() => undefined)
}

/**
 * Backward of a CUSTOM_GRAD node (its arg): `backward(g, inputs, out)` gives the gradients of the
 * node's inputs (its sources after the first) from the gradient `g` of its forward value `out`.
 * Used where the structural gradient schedules badly (matmul, convolution) or is not finite
 * everywhere (sigmoid). `backward` builds from the nodes it is given, not from ones it captured:
 * when backward substitutes realized parameters, the node is rebuilt with the new inputs. `tag` is
 * unique, so interning never merges two nodes with different functions; keys that must be
 * structural (the schedule cache) never see the node: the scheduler strips it first.
 */
export class CustomGradFn {
  private static nextTag = 0
  readonly tag = CustomGradFn.nextTag++
  constructor(readonly backward: (g: UOp, inputs: readonly UOp[], out: UOp) => (UOp | undefined)[]) {}
}

/** `forward` with its gradient given by `backward` of `inputs` (a CUSTOM_GRAD node). */
export function customGradNode(
  forward: UOp,
  inputs: readonly UOp[],
  backward: (g: UOp, inputs: readonly UOp[], out: UOp) => (UOp | undefined)[],
): UOp {
  return UOp.new(Ops.CUSTOM_GRAD, forward.dtype, [forward, ...inputs], new CustomGradFn(backward))
}

/** The sources autograd walks: a CUSTOM_GRAD's gradient inputs instead of its forward value. */
export const gradSrc = (u: UOp): readonly UOp[] => (u.op === Ops.CUSTOM_GRAD ? u.src.slice(1) : u.src)

/**
 * Gradients of `root` (seeded with `seed`) for each node in `targets` that `root` depends on.
 * Nodes on no path to a target are skipped.
 */
export function computeGradients(root: UOp, seed: UOp, targets: ReadonlySet<UOp>): Map<UOp, UOp> {
  // (a realized tensor's view may carry the graph it was computed from in a CUSTOM_GRAD: tensor.ts
  // becomeRealized)
  const leaf = (u: UOp): boolean => u.op === Ops.BUFFER || u.op === Ops.DETACH
  const topo = toposort([root], leaf, gradSrc)
  const needs = new Set<UOp>()
  for (const u of topo) {
    if (u.op === Ops.DETACH) continue
    if (targets.has(u) || gradSrc(u).some((s) => needs.has(s))) needs.add(u)
  }
  const grads = new Map<UOp, UOp>([[root, seed]])
  const out = new Map<UOp, UOp>()
  for (let i = topo.length - 1; i >= 0; i--) {
    const u = topo[i]!
    const g = grads.get(u)
    if (!g || !needs.has(u)) continue
    if (targets.has(u)) out.set(u, g)
    const src = gradSrc(u)
    if (!src.some((s) => needs.has(s))) continue
    const gs = u.op === Ops.CUSTOM_GRAD ? (u.arg as CustomGradFn).backward(g, src, u.src[0]!) : gradRule(u, g)
    src.forEach((s, j) => {
      const gj = gs[j]
      if (!gj || !needs.has(s) || !(s.dtype.isFloat || s.dtype === dtypes.void)) return
      const prev = grads.get(s)
      grads.set(s, prev ? add(prev, gj) : gj)
    })
    grads.delete(u)
  }
  return out
}
