// Symbolic simplification of kernel IR: constant folding, algebraic identities, and integer index
// math folding with value ranges (vmin/vmax), so that e.g. a reshape/permute round trip of a
// contiguous tensor renders as a plain index.
import { type DType, dtypeMax, dtypeMin, dtypes } from '../dtype.js'
import { execAlu } from './exec.js'
import { ALU, COMMUTATIVE, type Op, Ops, UOp } from './ops.js'
import { PatternMatcher, type Rule, rule, UPat } from './rewrite.js'

const x = UPat.var('x')
const c1 = UPat.cvar('c1')
const c2 = UPat.cvar('c2')
const isIntLike = (u: UOp): boolean => u.dtype.isInt || u.dtype.isBool
/**
 * Integer math wraps at the dtype's width, and reassociating is exact in that ring only when every
 * folded constant is one of its values: a rule whose new constants (or whose rewritten
 * comparison's operands) leave the range is not applied (x*3*3*...*3 folded to x*3^700 gave
 * x*Infinity before).
 */
const fits = (dt: DType, ...vs: number[]): boolean =>
  vs.every((v) => Number.isSafeInteger(v) && v >= dtypeMin(dt) && v <= dtypeMax(dt))
const sumFits = (dt: DType, terms: Iterable<[UOp, number]>, konst: number): boolean =>
  fits(dt, konst) && [...terms].every(([, k]) => fits(dt, k))

// ---- sums of terms: x = sum(term_i * coef_i) + const ----

interface Sum {
  terms: Map<UOp, number>
  konst: number
}

function splitSum(u: UOp): Sum {
  const s: Sum = { terms: new Map(), konst: 0 }
  const stack: [UOp, number][] = [[u, 1]]
  while (stack.length) {
    const [n, k] = stack.pop()!
    if (n.op === Ops.ADD) {
      stack.push([n.src[0]!, k], [n.src[1]!, k])
    } else if (n.op === Ops.SUB) {
      stack.push([n.src[0]!, k], [n.src[1]!, -k])
    } else if (n.op === Ops.CONST) {
      s.konst += n.constValue * k
    } else if (n.op === Ops.MUL && n.src[1]!.op === Ops.CONST) {
      stack.push([n.src[0]!, k * n.src[1]!.constValue])
    } else {
      s.terms.set(n, (s.terms.get(n) ?? 0) + k)
    }
  }
  for (const [t, k] of s.terms) if (k === 0) s.terms.delete(t)
  recombineDivMod(s)
  return s
}

/** (x // c) * c * k + (x % c) * k  ->  x * k  (undoes an unflatten/flatten pair). */
function recombineDivMod(s: Sum): void {
  for (let changed = true; changed; ) {
    changed = false
    for (const [t, k] of s.terms) {
      if (t.op !== Ops.MOD || t.src[1]!.op !== Ops.CONST) continue
      const [x, c] = [t.src[0]!, t.src[1]!]
      const q = UOp.new(Ops.IDIV, t.dtype, [x, c])
      if (s.terms.get(q) !== k * c.constValue) continue
      s.terms.delete(t)
      s.terms.delete(q)
      const inner = splitSum(x)
      for (const [u, m] of inner.terms) s.terms.set(u, (s.terms.get(u) ?? 0) + m * k)
      s.konst += inner.konst * k
      for (const [u, m] of s.terms) if (m === 0) s.terms.delete(u)
      changed = true
      break
    }
  }
}

function buildSum(like: UOp, terms: Iterable<[UOp, number]>, konst: number): UOp {
  // deterministic order: by structural key, so equal sums build equal nodes in every process (an
  // interning-id order would depend on what the process built before, and so would the code)
  const list = [...terms]
    .filter(([, k]) => k !== 0)
    .sort((a, b) => (a[0].key < b[0].key ? -1 : a[0].key > b[0].key ? 1 : 0))
  let acc: UOp | undefined
  for (const [t, k] of list) {
    const term = k === 1 ? t : t.mul(UOp.const(like.dtype, k))
    acc = acc ? acc.add(term) : term
  }
  if (!acc) return UOp.const(like.dtype, konst)
  return konst !== 0 ? acc.add(UOp.const(like.dtype, konst)) : acc
}

function gcd(a: number, b: number): number {
  a = Math.abs(a)
  b = Math.abs(b)
  while (b) [a, b] = [b, a % b]
  return a
}

/**
 * Fold x // d and x % d when x's terms split into multiples of d plus a remainder in [0, d). A
 * coefficient is reduced modulo d only on a nonnegative term, so the remainder stays >= 0.
 */
function foldDivMod(op: Op, xv: UOp, d: number): UOp | undefined {
  if (d <= 0 || xv.vmin < 0) return undefined
  if (op === Ops.MOD && xv.vmax < d) return xv
  if (op === Ops.IDIV && xv.vmax < d) return xv.constLike(0)
  const s = splitSum(xv)
  if (!sumFits(xv.dtype, s.terms, s.konst)) return undefined
  const quot = new Map<UOp, number>()
  const rem = new Map<UOp, number>()
  let g = d
  for (const [t, k] of s.terms) {
    if (k % d === 0) quot.set(t, k / d)
    else if (k > d && t.vmin >= 0) {
      // k = q*d + r with 0 < r < d: (59a + b) % 58 -> (a + b) % 58, as a sliding window's index
      const q = Math.floor(k / d)
      quot.set(t, q)
      rem.set(t, k - q * d)
      g = gcd(g, k - q * d)
    } else {
      rem.set(t, k)
      g = gcd(g, k)
    }
  }
  const qk = Math.floor(s.konst / d)
  const rk = s.konst - qk * d
  if (quot.size === 0 && qk === 0) {
    // nothing divides out; try removing a common factor g of all remainder coefficients and d
    if (g > 1 && rk % g === 0 && rem.size > 0) {
      const inner = buildSum(
        xv,
        [...rem].map(([t, k]) => [t, k / g] as [UOp, number]),
        rk / g,
      )
      if (inner.vmin < 0) return undefined
      if (op === Ops.IDIV) return inner.idiv(d / g)
      return inner.mod(d / g).mul(g)
    }
    // a constant below the common factor never carries: (8a + 3) % 32 -> (8a % 32) + 3 and
    // (8a + 3) // 32 -> 8a // 32 (an upcast lane of a 32-wide panel: the lanes' loads stay
    // consecutive instead of each dividing its own index)
    if (g > 1 && rk > 0 && rk < g && rem.size > 0) {
      const base = buildSum(xv, rem, 0)
      if (base.vmin < 0) return undefined
      return op === Ops.IDIV ? base.idiv(d) : base.mod(d).add(rk)
    }
    return foldByTerm(op, xv, [...s.terms], s.konst, d)
  }
  const r = buildSum(xv, rem, rk)
  if (r.vmin < 0) return undefined
  if (r.vmax < d) {
    return op === Ops.IDIV ? buildSum(xv, quot, qk) : r
  }
  if (op === Ops.MOD) return r.mod(d)
  // x // d = q + r // d when r >= 0
  return buildSum(xv, quot, qk).add(r.idiv(d))
}

/**
 * x = k t + R with k dividing d, t >= 0 and 0 <= R < k: x // d = t // (d / k) and x % d =
 * (t % (d / k)) k + R (k (t % (d / k)) + R stays below d). A row index over a flattened (heads x
 * rows) axis: (128 h + 16 i + j) // 512 -> h // 4 when 16 i + j < 128; attention's product with v
 * kept one such division per upcast copy (64 per step of a GQA prefill, ~4 GFLOP/s).
 */
function foldByTerm(op: Op, xv: UOp, terms: [UOp, number][], konst: number, d: number): UOp | undefined {
  for (const [t, k] of terms) {
    if (k <= 1 || d % k !== 0 || k === d || t.vmin < 0) continue
    const rest = buildSum(
      xv,
      terms.filter(([u]) => u !== t),
      konst,
    )
    if (rest.vmin < 0 || rest.vmax >= k) continue
    const q = d / k
    if (op === Ops.IDIV) return q === 1 ? t : t.idiv(q)
    return (q === 1 ? t.constLike(0) : t.mod(q).mul(k)).add(rest)
  }
  return undefined
}

const rules: Rule<unknown>[] = [
  // constant folding
  rule(UPat.op([...ALU].filter((o) => o !== Ops.BITCAST) as Op[], undefined, { name: 'a' }), ({ a }) => {
    if (a!.src.length === 0 || !a!.src.every((s) => s.op === Ops.CONST)) return undefined
    return UOp.const(
      a!.dtype,
      execAlu(
        a!.op,
        a!.op === Ops.CAST ? a!.dtype : a!.src[a!.op === Ops.WHERE ? 1 : 0]!.dtype,
        a!.src.map((s) => s.constValue),
      ),
    )
  }),
  // comparisons decided by value ranges
  rule(UPat.op([Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ], undefined, { name: 'a' }), ({ a }) => {
    if (!a!.src.every(isIntLike)) return undefined
    const [lo, hi] = a!.vrange
    return lo === hi ? UOp.const(dtypes.bool, lo) : undefined
  }),
  // canonical order: constants on the right of commutative ops
  rule(UPat.op([...COMMUTATIVE], [UPat.cvar('c'), x], { name: 'a' }), ({ a, c, x }) =>
    x!.op === Ops.CONST ? undefined : a!.replace({ src: [x!, c!] }),
  ),
  // identities
  rule(UPat.op(Ops.ADD, [x, UPat.const(0)]), ({ x }) => x),
  rule(UPat.op(Ops.SUB, [x, UPat.const(0)]), ({ x }) => x),
  rule(UPat.op(Ops.MUL, [x, UPat.const(1)]), ({ x }) => x),
  rule(UPat.op(Ops.FDIV, [x, UPat.const(1)]), ({ x }) => x),
  rule(UPat.op(Ops.MUL, [x, UPat.const(0, 'z')]), ({ x, z }) => (isIntLike(x!) ? z : undefined)),
  rule(UPat.op(Ops.IDIV, [x, UPat.const(1)]), ({ x }) => x),
  rule(UPat.op(Ops.MOD, [x, UPat.const(1)]), ({ x }) => (isIntLike(x!) ? x!.constLike(0) : undefined)),
  rule(UPat.op(Ops.SUB, [x, x]), ({ x }) => (isIntLike(x!) ? x!.constLike(0) : undefined)),
  rule(UPat.op(Ops.AND, [x, x]), ({ x }) => x),
  rule(UPat.op(Ops.OR, [x, x]), ({ x }) => x),
  rule(UPat.op(Ops.MAX, [x, x]), ({ x }) => x),
  rule(UPat.op(Ops.AND, [x, UPat.cvar('c', dtypes.bool)]), ({ x, c }) => (c!.constValue ? x : c)),
  rule(UPat.op(Ops.OR, [x, UPat.cvar('c', dtypes.bool)]), ({ x, c }) => (c!.constValue ? c : x)),
  rule(UPat.op(Ops.WHERE, [UPat.var('c'), x, x]), ({ x }) => x),
  rule(UPat.op(Ops.WHERE, [UPat.cvar('c'), UPat.var('a'), UPat.var('b')]), ({ c, a, b }) =>
    c!.constValue ? a : b,
  ),
  rule(UPat.op(Ops.CAST, [x], { name: 'a' }), ({ a, x }) => (a!.dtype === x!.dtype ? x : undefined)),
  // max folded by ranges
  rule(UPat.op(Ops.MAX, [x, UPat.var('y')]), ({ x, y }) => {
    if (!isIntLike(x!)) return undefined
    if (x!.vmin >= y!.vmax) return x
    if (y!.vmin >= x!.vmax) return y
    return undefined
  }),
  // reassociate constants
  rule(UPat.op(Ops.MUL, [UPat.op(Ops.MUL, [x, c1]), c2]), ({ x, c1, c2 }) =>
    x!.dtype.isInt && fits(x!.dtype, c1!.constValue * c2!.constValue)
      ? x!.mul(c1!.constValue * c2!.constValue)
      : undefined,
  ),
  // integer sums: merge like terms and constants, distribute constants over sums
  rule(UPat.op([Ops.ADD, Ops.SUB], undefined, { name: 'a' }), ({ a }) => {
    if (!a!.dtype.isInt) return undefined
    // the canonical form (terms ordered by key, constant last) is a fixed point of this rule
    const s = splitSum(a!)
    if (!sumFits(a!.dtype, s.terms, s.konst)) return undefined
    const out = buildSum(a!, s.terms, s.konst)
    return out === a ? undefined : out
  }),
  rule(UPat.op(Ops.MUL, [UPat.op([Ops.ADD, Ops.SUB], undefined, { name: 's' }), c1]), ({ s, c1 }) => {
    if (!s!.dtype.isInt) return undefined
    const sum = splitSum(s!)
    const k = c1!.constValue
    const terms = [...sum.terms].map(([t, m]): [UOp, number] => [t, m * k])
    return sumFits(s!.dtype, terms, sum.konst * k) ? buildSum(s!, terms, sum.konst * k) : undefined
  }),
  // div/mod folding with value ranges
  rule(UPat.op([Ops.IDIV, Ops.MOD], [x, c1], { name: 'a' }), ({ a, x, c1 }) =>
    isIntLike(x!) ? foldDivMod(a!.op, x!, c1!.constValue) : undefined,
  ),
  // (x // a) // b -> x // (a*b) and (x % (k*c)) % c -> x % c, for nonnegative x
  rule(UPat.op(Ops.IDIV, [UPat.op(Ops.IDIV, [x, c1]), c2]), ({ x, c1, c2 }) =>
    x!.vmin >= 0 &&
    c1!.constValue > 0 &&
    c2!.constValue > 0 &&
    fits(x!.dtype, c1!.constValue * c2!.constValue)
      ? x!.idiv(c1!.constValue * c2!.constValue)
      : undefined,
  ),
  rule(UPat.op(Ops.MOD, [UPat.op(Ops.MOD, [x, c1]), c2]), ({ x, c1, c2 }) =>
    x!.vmin >= 0 && c2!.constValue > 0 && c1!.constValue % c2!.constValue === 0
      ? x!.mod(c2!.constValue)
      : undefined,
  ),
  // (x % m) // c -> (x // c) % (m / c) when c divides m
  rule(UPat.op(Ops.IDIV, [UPat.op(Ops.MOD, [x, c1]), c2]), ({ x, c1, c2 }) =>
    x!.vmin >= 0 && c2!.constValue > 0 && c1!.constValue % c2!.constValue === 0
      ? x!.idiv(c2!.constValue).mod(c1!.constValue / c2!.constValue)
      : undefined,
  ),
  // x*k < c  ->  x < ceil(c/k) for k > 0 (keeps pad gates simple)
  rule(UPat.op(Ops.CMPLT, [UPat.op(Ops.MUL, [x, c1]), c2]), ({ x, c1, c2 }) =>
    x!.dtype.isInt && c1!.constValue > 0 && fits(x!.dtype, x!.vmin * c1!.constValue, x!.vmax * c1!.constValue)
      ? x!.lt(Math.ceil(c2!.constValue / c1!.constValue))
      : undefined,
  ),
  // a gated load whose gate folded to a constant
  rule(UPat.op(Ops.LOAD, undefined, { name: 'l' }), ({ l }) => {
    const gate = l!.src[2]
    if (!gate || gate.op !== Ops.CONST) return undefined
    return gate.constValue ? l!.replace({ src: l!.src.slice(0, 2) }) : UOp.const(l!.dtype, 0)
  }),
  // x + c < d  ->  x < d - c
  rule(UPat.op(Ops.CMPLT, [UPat.op(Ops.ADD, [x, c1]), c2]), ({ x, c1, c2 }) =>
    x!.dtype.isInt &&
    fits(x!.dtype, x!.vmin + c1!.constValue, x!.vmax + c1!.constValue, c2!.constValue - c1!.constValue)
      ? x!.lt(c2!.constValue - c1!.constValue)
      : undefined,
  ),
]

export const symbolic = new PatternMatcher<unknown>(rules)
