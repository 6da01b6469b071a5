// Reference semantics of each ALU op on plain numbers, used for constant folding.
// Integers wrap to their width; IDIV/MOD truncate toward zero (C semantics; the front end builds
// Python floor semantics on top); float results round to the dtype.
import { type DType, roundToDType } from '../dtype.js'
import { type Op, Ops } from './ops.js'

const SQRT1_2PI_2 = 2 / Math.sqrt(Math.PI)

/** erf with ~1e-7 absolute error (Abramowitz & Stegun 7.1.26 is too coarse; this is a series/cf mix). */
export function erf(x: number): number {
  const ax = Math.abs(x)
  if (ax < 2.5) {
    // Taylor series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax
    let sum = ax
    const x2 = ax * ax
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n
      const add = term / (2 * n + 1)
      sum += add
      if (Math.abs(add) < 1e-17) break
    }
    return Math.sign(x) * SQRT1_2PI_2 * sum
  }
  // continued fraction for erfc
  let f = 0
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f)
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f)
  return Math.sign(x) * (1 - erfc)
}

export function execAlu(op: Op, dt: DType, v: readonly number[]): number {
  const [a = 0, b = 0, c = 0] = v
  const intDiv = dt.isInt || dt.isBool
  let r: number
  switch (op) {
    case Ops.NEG:
      r = dt.isBool ? (a ? 0 : 1) : -a
      break
    case Ops.EXP:
      r = Math.exp(a)
      break
    case Ops.EXP2:
      r = 2 ** a
      break
    case Ops.LOG:
      r = Math.log(a)
      break
    case Ops.LOG2:
      r = Math.log2(a)
      break
    case Ops.SIN:
      r = Math.sin(a)
      break
    case Ops.COS:
      r = Math.cos(a)
      break
    case Ops.TANH:
      r = Math.tanh(a)
      break
    case Ops.ERF:
      r = erf(a)
      break
    case Ops.SQRT:
      r = Math.sqrt(a)
      break
    case Ops.RECIP:
      r = 1 / a
      break
    case Ops.TRUNC:
      r = Math.trunc(a)
      break
    case Ops.CAST:
      r = dt.isBool ? (a ? 1 : 0) : dt.isInt ? (Number.isFinite(a) ? Math.trunc(a) : 0) : a
      break
    case Ops.ADD:
      r = a + b
      break
    case Ops.SUB:
      r = a - b
      break
    case Ops.MUL:
      r = dt.isInt && dt.bits === 32 ? Math.imul(a, b) : a * b
      break
    case Ops.FDIV:
      r = a / b
      break
    case Ops.IDIV:
      r = b === 0 ? 0 : Math.trunc(a / b)
      break
    case Ops.MOD:
      r = b === 0 ? 0 : intDiv ? a % b : a % b
      break
    case Ops.MAX:
      r = Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b)
      break
    case Ops.POW:
      r = a ** b
      break
    case Ops.CMPLT:
      r = a < b ? 1 : 0
      break
    case Ops.CMPNE:
      r = a !== b ? 1 : 0
      break
    case Ops.CMPEQ:
      r = a === b ? 1 : 0
      break
    case Ops.AND:
      r = dt.bits >= 53 ? Number(BigInt(a) & BigInt(b)) : a & b
      break
    case Ops.OR:
      r = dt.bits >= 53 ? Number(BigInt(a) | BigInt(b)) : a | b
      break
    case Ops.XOR:
      r = dt.bits >= 53 ? Number(BigInt(a) ^ BigInt(b)) : a ^ b
      break
    case Ops.SHL:
      r = dt.bits >= 53 ? a * 2 ** b : a << b
      break
    case Ops.SHR:
      r = dt.bits >= 53 ? Math.floor(a / 2 ** b) : dt.isUnsigned ? a >>> b : a >> b
      break
    case Ops.WHERE:
      r = a ? b : c
      break
    default:
      throw new Error(`execAlu: no semantics for ${op}`)
  }
  return roundToDType(r, dt)
}
