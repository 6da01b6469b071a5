// Checks and the reshape of symbolic shapes (sizes that are Variable expressions) for the movement
// ops: sizes are compared by identity and element counts as products of the same factors, so an op
// that used the bound value of a symbolic size is an error rather than a kernel compiled per value.
import { dtypes } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import * as G from '../uop/graph.js'
import { Ops, type sint, UOp } from '../uop/ops.js'
import { fmtSint, fmtSShape, isSym, sEval, smax, smin, sMul } from '../uop/sint.js'
import { checkSize } from './shapes.js'
import { Tensor } from './tensor.js'

/** A symbolic size must be an int32 expression of variables. */
export function checkSym(op: string, x: UOp): boolean {
  if (x.dtype !== dtypes.int32 || x.shape !== undefined)
    throw new TsgradError(
      `${op}: a symbolic size must be an int32 expression of Variables (Variable('n', 1, 64).bind(5).add(1)), got a ${x.dtype.name} ${x.op} node`,
    )
  return true
}

/** Sizes must be integers >= 0 (or -1 where `allowNeg1`), or symbolic sizes. */
export function checkSizes(op: string, s: readonly sint[], of: readonly sint[], allowNeg1: boolean): void {
  for (const d of s) {
    if (d instanceof UOp) {
      checkSym(op, d)
      continue
    }
    if (!Number.isInteger(d) || d < (allowNeg1 ? -1 : 0))
      throw new TsgradError(
        `${op}: sizes must be non-negative integers${allowNeg1 ? ' (or -1 to keep one)' : ''} or symbolic sizes, got ${fmtSShape(s)} for shape ${fmtSShape(of)}`,
      )
  }
}

/** 0 <= s <= e <= d over the variables' ranges (and at the bound values, where bound). */
export function shrinkFits(s: sint, e: sint, d: sint): boolean {
  if (smin(s) < 0) return false
  if (e !== d && smax(e) > smin(d)) return false
  if (isSym(s) || isSym(e)) {
    // start <= end: at the bound values when both are known, else over the ranges
    try {
      if (sEval(s) > sEval(e)) return false
    } catch {
      if (smax(s) > smin(e)) return false
    }
    return true
  }
  return s <= e
}

export const fmtPairs = (ps: readonly (readonly [sint, sint])[]): string =>
  `[${ps.map(([a, b]) => `[${fmtSint(a)}, ${fmtSint(b)}]`).join(', ')}]`

/** Numbers and the symbolic factors of a size (MUL nodes split into their factors). */
function factors(s: readonly sint[]): { num: number; syms: UOp[] } {
  let num = 1
  const syms: UOp[] = []
  const go = (x: sint): void => {
    if (typeof x === 'number') num *= x
    else if (x.op === Ops.CONST) num *= x.constValue
    else if (x.op === Ops.MUL) {
      go(x.src[0]!)
      go(x.src[1]!)
    } else syms.push(x)
  }
  for (const d of s) go(d)
  return { num, syms }
}

/** `need` taken out of `have` (each symbolic factor by identity), or undefined if it is not in it. */
function divideFactors(
  have: { num: number; syms: UOp[] },
  need: { num: number; syms: UOp[] },
): { num: number; syms: UOp[] } | undefined {
  const left = [...have.syms]
  for (const f of need.syms) {
    const i = left.indexOf(f)
    if (i < 0) return undefined
    left.splice(i, 1)
  }
  if (need.num === 0 || have.num % need.num !== 0) return undefined
  return { num: have.num / need.num, syms: left }
}

/**
 * Reshape where a size is symbolic: the element counts must be equal as products (the same
 * symbolic factors, equal numbers), and -1 takes what is left. A reshape that is equal only at the
 * bound value (an op that read the concrete `shape` of a symbolic tensor) is an error: it would
 * compile one kernel per value.
 */
export function symbolicReshape(t: Tensor, s0: readonly sint[]): Tensor {
  const sh = t.sshape
  checkSizes('reshape', s0, sh, true)
  if (s0.filter((d) => d === -1).length > 1)
    throw new TsgradError(`reshape: only one -1 allowed, got ${fmtSShape(s0)} for shape ${fmtSShape(sh)}`)
  const have = factors(sh)
  const known = factors(s0.filter((d) => d !== -1))
  const rest = divideFactors(have, known)
  const fail = (): never => {
    throw new TsgradError(
      `reshape: cannot reshape the symbolic shape ${fmtSShape(sh)} into ${fmtSShape(s0)}: the element counts must be equal as products of the same sizes (an op that does not support symbolic shapes may have used the bound value)`,
    )
  }
  if (!rest) return fail()
  const fill = rest.syms.reduce<sint>((a, b) => sMul(a, b), rest.num)
  if (!s0.includes(-1) && fill !== 1) return fail()
  const s = s0.map((d) => (d === -1 ? fill : d))
  checkSize('reshape', s.map(smax))
  return Tensor.fromUOp(G.reshape(t.uop, s), t)
}
