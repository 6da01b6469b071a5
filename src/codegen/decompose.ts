// Decompositions: rewrite ALU ops a renderer lacks into ones it has (a named pass per renderer).
import { dtypes } from '../dtype.js'
import { type Op, Ops, UOp } from '../uop/ops.js'
import { PatternMatcher, type Rule, rule, UPat } from '../uop/rewrite.js'

const x = UPat.var('x')
const y = UPat.var('y')
const fl = (like: UOp, v: number): UOp => UOp.const(like.dtype, v)

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): enough for float32. */
function erfPoly(x: UOp): UOp {
  const ax = x.alu(Ops.MAX, x.neg())
  const t = fl(x, 1).fdiv(fl(x, 1).add(ax.mul(0.3275911)))
  const coeffs = [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]
  let p = fl(x, coeffs[0]!)
  for (const c of coeffs.slice(1)) p = p.mul(t).add(c)
  p = p.mul(t)
  const e = ax.mul(ax).neg().alu(Ops.EXP)
  const r = fl(x, 1).sub(p.mul(e))
  return x.lt(0).where(r.neg(), r)
}

export function decompositions(supported: ReadonlySet<Op>): PatternMatcher<unknown> {
  const rules: Rule<unknown>[] = []
  const lacks = (op: Op): boolean => !supported.has(op)
  if (lacks(Ops.EXP)) rules.push(rule(UPat.op(Ops.EXP, [x]), ({ x }) => x!.mul(Math.LOG2E).alu(Ops.EXP2)))
  if (lacks(Ops.EXP2)) rules.push(rule(UPat.op(Ops.EXP2, [x]), ({ x }) => x!.mul(Math.LN2).alu(Ops.EXP)))
  if (lacks(Ops.LOG)) rules.push(rule(UPat.op(Ops.LOG, [x]), ({ x }) => x!.alu(Ops.LOG2).mul(Math.LN2)))
  if (lacks(Ops.LOG2)) rules.push(rule(UPat.op(Ops.LOG2, [x]), ({ x }) => x!.alu(Ops.LOG).mul(Math.LOG2E)))
  if (lacks(Ops.COS))
    rules.push(
      rule(UPat.op(Ops.COS, [x]), ({ x }) =>
        fl(x!, Math.PI / 2)
          .sub(x!)
          .alu(Ops.SIN),
      ),
    )
  if (lacks(Ops.TANH))
    rules.push(
      rule(UPat.op(Ops.TANH, [x]), ({ x }) =>
        fl(x!, 2)
          .fdiv(fl(x!, 1).add(x!.mul(-2).alu(Ops.EXP)))
          .sub(1),
      ),
    )
  if (lacks(Ops.ERF)) rules.push(rule(UPat.op(Ops.ERF, [x]), ({ x }) => erfPoly(x!)))
  if (lacks(Ops.POW))
    rules.push(rule(UPat.op(Ops.POW, [x, y]), ({ x, y }) => y!.mul(x!.alu(Ops.LOG2)).alu(Ops.EXP2)))
  if (lacks(Ops.SUB)) rules.push(rule(UPat.op(Ops.SUB, [x, y]), ({ x, y }) => x!.add(y!.neg())))
  if (lacks(Ops.FDIV)) rules.push(rule(UPat.op(Ops.FDIV, [x, y]), ({ x, y }) => x!.mul(y!.alu(Ops.RECIP))))
  if (lacks(Ops.CMPEQ))
    rules.push(rule(UPat.op(Ops.CMPEQ, [x, y]), ({ x, y }) => x!.ne(y!).ne(UOp.const(dtypes.bool, 1))))
  if (lacks(Ops.MAX)) rules.push(rule(UPat.op(Ops.MAX, [x, y]), ({ x, y }) => x!.lt(y!).where(y!, x!)))
  return new PatternMatcher(rules)
}
