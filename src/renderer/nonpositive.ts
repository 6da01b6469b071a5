// Which exp arguments in a linear program are provably <= 0 (or NaN): softmax's x - max(x), where
// the max is a MAX reduce over the same values in the same kernel, and negated squares (erf's
// exp(-x^2)). A renderer may then use a cheaper exp (no overflow side, one power of two:
// renderer/wasm_exp.ts).
//
// The proof: the argument is a - m with m a tree of MAX nodes over MAX REDUCEs; every reduce reads
// the value tree v (ungated loads of buffers the kernel never writes) over its reduce ranges, and a
// is the same tree at indices that those ranges cover. Indices are affine in the loop variables;
// the covering is checked by enumerating the inner ranges (rows up to MAX_ENUMERATED elements).
// Then a is one of the reduced values, a <= m, and the rounded difference a - m is <= 0.
import type { LinearProgram } from './target.js'
import { Ops, type UOp } from '../uop/ops.js'

/** the most index values enumerated per side of one proof */
const MAX_ENUMERATED = 1 << 16

/** An affine index: coefficients of its variable terms (ranges and others) and a constant. */
interface Affine {
  terms: Map<UOp, number>
  c: number
}

function affine(idx: UOp): Affine | undefined {
  const terms = new Map<UOp, number>()
  let c = 0
  const walk = (u: UOp, k: number): boolean => {
    if (u.op === Ops.ADD) return walk(u.src[0]!, k) && walk(u.src[1]!, k)
    if (u.op === Ops.AFTER) return walk(u.src[0]!, k) // an index ordered after a reduce (reuse.ts)
    if (u.op === Ops.CONST) {
      c += u.constValue * k
      return true
    }
    if (u.op === Ops.MUL && u.src[1]!.op === Ops.CONST) return walk(u.src[0]!, k * u.src[1]!.constValue)
    if (u.op === Ops.MUL && u.src[0]!.op === Ops.CONST) return walk(u.src[1]!, k * u.src[0]!.constValue)
    if (u.op === Ops.RANGE || u.op === Ops.DEFINE_VAR) {
      terms.set(u, (terms.get(u) ?? 0) + k)
      return true
    }
    return false
  }
  return walk(idx, 1) ? { terms, c } : undefined
}

/** The values of `a`'s terms in `inner` over their ranges (each term a RANGE of constant size). */
function enumerate(a: Affine, inner: UOp[]): number[] | undefined {
  let vals = [a.c]
  for (const r of inner) {
    const n = r.src[0]!
    if (r.op !== Ops.RANGE || n.op !== Ops.CONST) return undefined
    const size = n.constValue
    if (vals.length * size > MAX_ENUMERATED) return undefined
    const k = a.terms.get(r) ?? 0
    const next: number[] = []
    for (const v of vals) for (let i = 0; i < size; i++) next.push(v + k * i)
    vals = next
  }
  return vals
}

/**
 * `a` and `v` as the same value tree up to their load indices (equal ops, args, constants and
 * buffers; ungated loads of unwritten buffers), each side's loads all at one index: those indices.
 */
function sameTreeIndices(a: UOp, v: UOp, written: ReadonlySet<UOp>): { ia: UOp; iv: UOp } | undefined {
  let found: { ia: UOp; iv: UOp } | undefined
  const walk = (x: UOp, y: UOp): boolean => {
    if (x.op === Ops.LOAD || y.op === Ops.LOAD) {
      if (x.op !== y.op || x.src.length !== 2 || y.src.length !== 2) return false
      if (x.src[0] !== y.src[0] || written.has(x.src[0]!) || x.dtype !== y.dtype) return false
      if (found && (found.ia !== x.src[1] || found.iv !== y.src[1])) return false
      found = { ia: x.src[1]!, iv: y.src[1]! }
      return true
    }
    if (x === y) return true
    if (x.op !== y.op || x.arg !== y.arg || x.dtype !== y.dtype || x.src.length !== y.src.length) return false
    if (x.op === Ops.RANGE || x.op === Ops.DEFINE_VAR || x.op === Ops.REDUCE || x.op === Ops.ACC) return false
    return x.src.every((s, i) => walk(s, y.src[i]!))
  }
  return walk(a, v) ? found : undefined
}

/** The MAX REDUCEs whose maximum `m` is, or undefined when m is anything else. */
function maxLeaves(m: UOp): UOp[] | undefined {
  if (m.op === Ops.MAX) {
    const [l, r] = [maxLeaves(m.src[0]!), maxLeaves(m.src[1]!)]
    return l && r ? [...l, ...r] : undefined
  }
  if (m.op === Ops.REDUCE && m.arg === 'MAX') return [m]
  return undefined
}

/** Is `a` <= the max `m` of reduced values: is a one of them? */
function coveredByMax(a: UOp, m: UOp, written: ReadonlySet<UOp>): boolean {
  if (a === m) return true
  const leaves = maxLeaves(m)
  if (!leaves) return false
  let shared: Affine | undefined
  let need: number[] | undefined
  const have = new Set<number>()
  for (const leaf of leaves) {
    const idx = sameTreeIndices(a, leaf.src[0]!, written)
    if (!idx) return false
    const [fa, fv] = [affine(idx.ia), affine(idx.iv)]
    if (!fa || !fv) return false
    const ranges = leaf.src.slice(1)
    // the leaf's index outside its reduce ranges (the row): a's must be the same
    const outer = [...fv.terms].filter(([u]) => !ranges.includes(u))
    if (outer.some(([u, k]) => fa.terms.get(u) !== k)) return false
    if (shared && (outer.length !== shared.terms.size || outer.some(([u, k]) => shared!.terms.get(u) !== k)))
      return false
    shared = { terms: new Map(outer), c: 0 }
    const vals = enumerate(fv, ranges)
    if (!vals) return false
    for (const x of vals) have.add(x)
    if (!need) {
      // a's own loop variables (its terms outside the row) range over what a reads
      const inner = [...fa.terms.keys()].filter((u) => !shared!.terms.has(u))
      need = enumerate(fa, inner)
      if (!need) return false
    }
  }
  if (!need) return false
  return need.every((x) => have.has(x))
}

/** Sign facts that hold for every non-NaN value of a float expression (NaN may occur anywhere). */
class Signs {
  private readonly memo = new Map<UOp, boolean>()
  private readonly memoNonNegative = new Map<UOp, boolean>()
  constructor(private readonly written: ReadonlySet<UOp>) {}

  /** every value >= 0 (-0 included): squares, exps, square roots, and their sums and products */
  nonNegative(u: UOp): boolean {
    const known = this.memoNonNegative.get(u)
    if (known !== undefined) return known
    this.memoNonNegative.set(u, false)
    const r = this.nonNegativeOf(u)
    this.memoNonNegative.set(u, r)
    return r
  }

  private nonNegativeOf(u: UOp): boolean {
    switch (u.op) {
      case Ops.CONST:
        return u.constValue >= 0
      case Ops.EXP:
      case Ops.EXP2:
      case Ops.SQRT:
        return true
      case Ops.MUL:
        return u.src[0] === u.src[1] || (this.nonNegative(u.src[0]!) && this.nonNegative(u.src[1]!))
      case Ops.ADD:
        return this.nonNegative(u.src[0]!) && this.nonNegative(u.src[1]!)
      case Ops.MAX:
        return this.nonNegative(u.src[0]!) || this.nonNegative(u.src[1]!)
      case Ops.NEG:
        return this.nonPositive(u.src[0]!)
      case Ops.WHERE:
        return this.nonNegative(u.src[1]!) && this.nonNegative(u.src[2]!)
      default:
        return false
    }
  }

  /** every value <= 0: x - max(x) over the same values, negated non-negatives, and their sums */
  nonPositive(u: UOp): boolean {
    const known = this.memo.get(u)
    if (known !== undefined) return known
    this.memo.set(u, false)
    let r: boolean
    switch (u.op) {
      case Ops.CONST:
        r = u.constValue <= 0
        break
      case Ops.NEG:
        r = this.nonNegative(u.src[0]!)
        break
      case Ops.SUB:
        r =
          coveredByMax(u.src[0]!, u.src[1]!, this.written) ||
          (this.nonPositive(u.src[0]!) && this.nonNegative(u.src[1]!))
        break
      case Ops.ADD:
        r = this.nonPositive(u.src[0]!) && this.nonPositive(u.src[1]!)
        break
      case Ops.MUL:
        r =
          (this.nonPositive(u.src[0]!) && this.nonNegative(u.src[1]!)) ||
          (this.nonNegative(u.src[0]!) && this.nonPositive(u.src[1]!))
        break
      case Ops.WHERE:
        r = this.nonPositive(u.src[1]!) && this.nonPositive(u.src[2]!)
        break
      default:
        r = false
    }
    this.memo.set(u, r)
    return r
  }
}

/** The EXP and EXP2 instructions of `prog` whose argument is <= 0 or NaN. */
export function nonPositiveExps(prog: LinearProgram): Set<UOp> {
  const written = new Set(prog.uops.filter((u) => u.op === Ops.STORE).map((u) => u.src[0]!))
  const signs = new Signs(written)
  return new Set(
    prog.uops.filter((u) => (u.op === Ops.EXP || u.op === Ops.EXP2) && signs.nonPositive(u.src[0]!)),
  )
}
