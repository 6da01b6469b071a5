// Brute-force check of every symbolic rewrite (uop/symbolic.ts) and of the gated-index pass
// (uop/valid.ts): seeded random index expressions over a few small ranges (sums of terms with
// coefficients and constants, nested // and %, comparisons, min/max, where, casts of bools, gated
// loads, a little float math for the identities), simplified, then evaluated at EVERY point of the
// ranges with the reference semantics of exec.ts: the simplified expression must give the same
// value, a gated load must stay in bounds wherever it was, and every node's value must lie in its
// vrange [vmin, vmax]. Expressions are kept within int32 by construction, so int32 wrapping never
// differs from the integer math the rules assume.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { dtypes } from '../../src/dtype.ts'
import { Tensor } from '../../src/index.ts'
import { execAlu } from '../../src/uop/exec.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'
import { graphRewrite, type RewriteTracer, setRewriteTracer, toposort } from '../../src/uop/rewrite.ts'
import { symbolic } from '../../src/uop/symbolic.ts'
import { simplifyGatedIndices } from '../../src/uop/valid.ts'
import { hasCPU, makeRng } from '../helpers.ts'

const i32 = dtypes.int32
const f32 = dtypes.float32
const simplify = (u: UOp): UOp => graphRewrite(u, symbolic, undefined, 'symbolic')

/** Data of the buffer a generated LOAD reads: a value that differs per index. */
const DATA_SIZE = 64
const dataAt = (i: number): number => (i * 37 + 11) % 101

// ---- evaluation with the reference semantics ----

/** A graph prepared for evaluation at many points: nodes in topological order, sources by slot. */
interface Compiled {
  topo: readonly UOp[]
  src: readonly number[][]
  /** the dtype execAlu computes each ALU node in (as the constant folder passes it) */
  dt: readonly (typeof i32)[]
  slot: Map<UOp, number>
}

function compile(root: UOp): Compiled {
  const topo = toposort([root])
  const slot = new Map(topo.map((u, i) => [u, i]))
  return {
    topo,
    slot,
    src: topo.map((u) => u.src.map((s) => slot.get(s)!)),
    dt: topo.map((u) =>
      u.op === Ops.CAST ? u.dtype : (u.src[u.op === Ops.WHERE ? 1 : 0]?.dtype ?? u.dtype),
    ),
  }
}

/** Values of every node at one point (range values by slot); `oob`: a LOAD read outside the data. */
function evaluate(c: Compiled, point: ReadonlyMap<UOp, number>): { values: Float64Array; oob?: UOp } {
  const values = new Float64Array(c.topo.length)
  let oob: UOp | undefined
  const args: number[] = []
  c.topo.forEach((u, i) => {
    const s = c.src[i]!
    let v: number
    if (u.op === Ops.RANGE) v = point.get(u)!
    else if (u.op === Ops.CONST) v = u.constValue
    else if (u.op === Ops.DEFINE_GLOBAL || u.op === Ops.SINK || u.op === Ops.STORE) v = 0
    else if (u.op === Ops.LOAD) {
      const idx = values[s[1]!]!
      const on = s.length > 2 ? values[s[2]!] !== 0 : true
      if (on && !(idx >= 0 && idx < DATA_SIZE)) oob ??= u
      v = on ? dataAt(idx) : 0
    } else {
      args.length = s.length
      for (let k = 0; k < s.length; k++) args[k] = values[s[k]!]!
      v = execAlu(u.op, c.dt[i]!, args)
    }
    values[i] = v
  })
  return { values, oob }
}

/** Every assignment of values to `ranges` (one map, updated in place). */
function* points(ranges: readonly UOp[]): Generator<ReadonlyMap<UOp, number>> {
  const p = new Map(ranges.map((r) => [r, 0]))
  for (;;) {
    yield p
    let k = ranges.length - 1
    for (; k >= 0; k--) {
      const r = ranges[k]!
      const v = p.get(r)! + 1
      if (v < r.src[0]!.constValue) {
        p.set(r, v)
        break
      }
      p.set(r, 0)
    }
    if (k < 0) return
  }
}

const same = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b))

function show(u: UOp): string {
  const s = u.src.map(show)
  switch (u.op) {
    case Ops.RANGE:
      return `r${(u.arg as { id: number }).id}`
    case Ops.CONST:
      return String(u.constValue)
    case Ops.ADD:
      return `(${s[0]} + ${s[1]})`
    case Ops.SUB:
      return `(${s[0]} - ${s[1]})`
    case Ops.MUL:
      return `(${s[0]} * ${s[1]})`
    case Ops.IDIV:
      return `(${s[0]} // ${s[1]})`
    case Ops.MOD:
      return `(${s[0]} % ${s[1]})`
    case Ops.CMPLT:
      return `(${s[0]} < ${s[1]})`
    default:
      return `${u.op}(${s.join(', ')})`
  }
}

/**
 * Check `after` (a rewrite of `before`) at every point of `ranges`: equal values, no new
 * out-of-bounds load, and every integer/bool node of both inside its vrange.
 */
function checkEquivalent(before: UOp, after: UOp, ranges: readonly UOp[], what: string): void {
  const cb = compile(before)
  const ca = compile(after)
  const checked = (c: Compiled): number[] =>
    c.topo.flatMap((u, i) => ((u.dtype.isInt || u.dtype.isBool) && u.op !== Ops.SINK ? [i] : []))
  const [kb, ka] = [checked(cb), checked(ca)]
  for (const p of points(ranges)) {
    const eb = evaluate(cb, p)
    const ea = evaluate(ca, p)
    const at = () =>
      `${what}\n  before: ${show(before)}\n  after:  ${show(after)}\n  at ${[...p].map(([r, v]) => `${show(r)}=${v}`).join(', ')}`
    for (const [e, c, ks] of [
      [eb, cb, kb],
      [ea, ca, ka],
    ] as const)
      for (const i of ks) {
        const u = c.topo[i]!
        const v = e.values[i]!
        if (!(v >= u.vmin && v <= u.vmax))
          assert.fail(`${at()}\n  node ${show(u)} = ${v} outside its vrange [${u.vmin}, ${u.vmax}]`)
      }
    if (!eb.oob && ea.oob) assert.fail(`${at()}\n  the rewrite reads out of bounds: ${show(ea.oob)}`)
    const vb = eb.values[cb.slot.get(before)!]!
    const va = ea.values[ca.slot.get(after)!]!
    if (!same(vb, va)) assert.fail(`${at()}\n  value ${vb} became ${va}`)
  }
}

// ---- the generator ----

type Rng = () => number

class Gen {
  constructor(
    private readonly rand: Rng,
    readonly ranges: UOp[],
  ) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1))
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!
  }
  /** small constants, divisors and their neighbours, and a few values near the range ends */
  konst(): number {
    return this.pick([0, 1, 2, 3, -1, -2, -3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 20, -4, -6, -8, -12, 24, 30])
  }
  divisor(): number {
    return this.pick([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 2, 3, 4, 6, -2, -3, 0])
  }
  /** a sum of terms with coefficients plus a constant: the shape of reshape/pad/shrink index math */
  sum(depth: number): UOp {
    let acc: UOp | undefined
    for (let n = this.int(1, 3); n > 0; n--) {
      const t = depth > 0 && this.rand() < 0.35 ? this.intExpr(depth - 1) : this.pick(this.ranges)
      const k = this.pick([1, 1, 1, 2, 3, 4, 5, 6, 8, 12, -1, -2, 7, 9, 13, 20])
      const term = k === 1 ? t : this.rand() < 0.5 ? t.mul(k) : UOp.const(i32, k).mul(t)
      acc = acc ? (this.rand() < 0.8 ? acc.add(term) : acc.sub(term)) : term
    }
    const c = this.konst()
    return c !== 0 || this.rand() < 0.2 ? acc!.add(c) : acc!
  }
  /**
   * A sum whose coefficients are built around divisor `c`: multiples of it, one more or less, and
   * small ones, with a constant near a multiple of it (what the div/mod folding splits).
   */
  sumAround(c: number, depth: number): UOp {
    let acc: UOp | undefined
    for (let n = this.int(1, 3); n > 0; n--) {
      const t = depth > 0 && this.rand() < 0.3 ? this.intExpr(depth - 1) : this.pick(this.ranges)
      const m = this.int(0, 3)
      const k = this.pick([m * c, m * c + 1, m * c - 1, 1, 2, c + 1, 2 * c - 1, -c]) || 1
      acc = acc ? acc.add(t.mul(k)) : t.mul(k)
    }
    return acc!.add(this.int(-2, 3) * c + this.int(-1, 1) * this.int(0, c))
  }
  /** An unflatten/flatten pair over divisor c: (x // c) * (c*k) + (x % c) * k, sometimes off. */
  reflatten(depth: number): UOp {
    const x = this.rand() < 0.5 ? this.sum(depth) : this.intExpr(depth)
    const c = this.pick([2, 3, 4, 5, 6, 8])
    const k = this.pick([1, 1, 2, 3, -1])
    const kq = this.pick([c * k, c * k, c * k, k, c * k + 1, c])
    const e = x.idiv(c).mul(kq).add(x.mod(c).mul(k))
    return this.rand() < 0.3 ? e.add(this.konst()) : e
  }
  intExpr(depth: number): UOp {
    if (depth <= 0) return this.rand() < 0.7 ? this.pick(this.ranges) : UOp.const(i32, this.konst())
    const d = depth - 1
    const r = this.rand()
    if (r < 0.18) return this.sum(d)
    if (r < 0.24) return this.reflatten(d)
    if (r < 0.34) {
      const c = this.pick([2, 3, 4, 5, 6, 7, 8, 12])
      return this.rand() < 0.5 ? this.sumAround(c, d).idiv(c) : this.sumAround(c, d).mod(c)
    }
    if (r < 0.48) return this.intExpr(d).idiv(this.divisor())
    if (r < 0.62) return this.intExpr(d).mod(this.divisor())
    if (r < 0.68) return this.intExpr(d).max(this.intExpr(d))
    if (r < 0.72) return this.intExpr(d).neg().max(this.intExpr(d).neg()).neg() // min
    if (r < 0.76) return this.intExpr(d).mul(this.intExpr(d))
    if (r < 0.8) return this.intExpr(d).sub(this.intExpr(d))
    if (r < 0.84) return this.intExpr(d).neg()
    if (r < 0.9) return this.boolExpr(d).where(this.intExpr(d), this.intExpr(d))
    if (r < 0.93) return this.boolExpr(d).cast(i32)
    // casts: a no-op CAST to its own dtype, and a round trip through int64
    if (r < 0.94)
      return this.rand() < 0.5
        ? UOp.new(Ops.CAST, i32, [this.intExpr(d)])
        : this.intExpr(d).cast(dtypes.int64).cast(i32)
    return this.intExpr(d).add(this.intExpr(d))
  }
  boolExpr(depth: number): UOp {
    const d = Math.max(0, depth - 1)
    const r = this.rand()
    const side = (): UOp => (this.rand() < 0.5 ? UOp.const(i32, this.konst()) : this.intExpr(d))
    if (r < 0.45) return this.intExpr(d).lt(side())
    if (r < 0.55) return side().lt(this.intExpr(d))
    if (r < 0.65) return this.intExpr(d).ne(side())
    if (r < 0.75) return this.intExpr(d).eq(side())
    if (r < 0.85 && depth > 0) return this.boolExpr(d).and(this.boolExpr(d))
    if (r < 0.92 && depth > 0) return this.boolExpr(d).alu(Ops.OR, this.boolExpr(d))
    if (depth > 0) return this.boolExpr(d).alu(Ops.NEG)
    return UOp.const(dtypes.bool, this.rand() < 0.5 ? 1 : 0)
  }
  /** a pad-like gate `lo-1 < r && r < hi` on some ranges, sometimes with another clause */
  gate(depth: number): UOp {
    let g: UOp | undefined
    for (const r of this.ranges) {
      if (this.rand() < 0.4) continue
      const n = r.src[0]!.constValue
      const lo = this.int(-1, n)
      const hi = this.int(lo, n + 1)
      const c = UOp.const(i32, lo - 1)
        .lt(r)
        .and(r.lt(hi))
      g = g ? g.and(c) : c
    }
    if (!g || this.rand() < 0.2) g = g ? g.and(this.boolExpr(depth)) : this.boolExpr(depth)
    return g
  }
  /** float math over int expressions, for the identities (x*1, x+0, x*0 that must not fold...) */
  floatExpr(depth: number): UOp {
    const leaf = (): UOp =>
      this.rand() < 0.7
        ? this.intExpr(1).cast(f32)
        : UOp.const(f32, this.pick([0, 1, -1, 0.5, 2, Number.POSITIVE_INFINITY, Number.NaN, -0]))
    if (depth <= 0) return leaf()
    const d = depth - 1
    const r = this.rand()
    if (r < 0.2) return this.floatExpr(d).mul(this.pick([0, 1, 2, -1]))
    if (r < 0.35) return this.floatExpr(d).add(this.pick([0, 1, -0]))
    if (r < 0.45) return this.floatExpr(d).fdiv(this.pick([1, 2, 0]))
    if (r < 0.55) return this.floatExpr(d).sub(this.floatExpr(d))
    if (r < 0.65) return this.floatExpr(d).max(this.floatExpr(d))
    if (r < 0.75) return this.boolExpr(d).where(this.floatExpr(d), this.floatExpr(d))
    if (r < 0.85) return this.floatExpr(d).mul(this.floatExpr(d))
    return leaf()
  }
}

/** One to three ranges of sizes 1..16, at most 400 points in all (the check visits every one). */
function makeRanges(rand: Rng, base: number): UOp[] {
  const sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16]
  const n = 1 + Math.floor(rand() * 3)
  const out: UOp[] = []
  let points = 1
  for (let i = 0; i < n; i++) {
    const size = sizes[Math.floor(rand() * sizes.length)]!
    if (points * size > 400) break
    points *= size
    out.push(UOp.range(size, base + i, 'global'))
  }
  return out.length ? out : [UOp.range(5, base, 'global')]
}

/** A generated expression whose every node stays well inside int32 at every point. */
function small(u: UOp): boolean {
  return toposort([u]).every((n) => !n.dtype.isInt || (n.vmin > -(2 ** 20) && n.vmax < 2 ** 20))
}

/** Every distinct single rewrite step, checked on its own at every point of its ranges. */
const steps = new Set<string>()
const firedBy = new Map<string, number>()
let stepCount = 0
const stepChecker: RewriteTracer = {
  begin() {},
  end() {},
  fired(r, before, after) {
    firedBy.set(r.location, (firedBy.get(r.location) ?? 0) + 1)
    const k = `${before.id}>${after.id}`
    if (steps.has(k)) return
    steps.add(k)
    stepCount++
    // the ranges either side uses (gated_index adds placeholder ranges of its own)
    const ranges = [
      ...new Set([...toposort([before]), ...toposort([after])].filter((u) => u.op === Ops.RANGE)),
    ]
    checkEquivalent(before, after, ranges, `rule at ${r.location}`)
  },
}

describe('symbolic rules, brute force over all values of small ranges', () => {
  before(() => setRewriteTracer(stepChecker))
  after(() => setRewriteTracer(null))

  test('integer and boolean index expressions', () => {
    const rand = makeRng(1515)
    let checked = 0
    let changed = 0
    for (let i = 0; i < 2500; i++) {
      const g = new Gen(rand, makeRanges(rand, 0))
      const e = i % 4 === 3 ? g.boolExpr(3) : g.intExpr(1 + (i % 4))
      if (!small(e)) continue
      const s = simplify(e)
      if (s !== e) changed++
      checkEquivalent(e, s, g.ranges, `expression #${i}`)
      checked++
    }
    // the generator must exercise the rules, not just produce fixed points
    assert.ok(checked > 2000 && changed > checked / 2, `checked ${checked}, simplified ${changed}`)
  })

  test('float identities over int-derived values and inf/NaN constants', () => {
    const rand = makeRng(42)
    for (let i = 0; i < 600; i++) {
      const g = new Gen(rand, makeRanges(rand, 0))
      const e = g.floatExpr(3)
      if (!small(e)) continue
      checkEquivalent(e, simplify(e), g.ranges, `float expression #${i}`)
    }
  })

  test('gated loads: the index simplified under its gate (uop/valid.ts), and folded gates', () => {
    const rand = makeRng(7)
    const buf = UOp.new(Ops.DEFINE_GLOBAL, f32, [], 1)
    const out = UOp.new(Ops.DEFINE_GLOBAL, f32, [], 0)
    let narrowed = 0
    for (let i = 0; i < 1000; i++) {
      const g = new Gen(rand, makeRanges(rand, 0))
      const gate = g.gate(1)
      // a padded, reshaped view's index: shifted by the pad, then unflattened with // and %
      const idx =
        rand() < 0.7
          ? g
              .sum(1)
              .idiv(g.pick([1, 2, 3, 4, 6, 8]))
              .mod(g.pick([2, 3, 4, 5, 8, 16]))
          : g.intExpr(3)
      if (!small(idx) || !small(gate)) continue
      const load = UOp.new(Ops.LOAD, f32, [buf, idx, gate])
      const ast = UOp.new(Ops.SINK, dtypes.void, [UOp.new(Ops.STORE, f32, [out, UOp.const(i32, 0), load])])
      const sym = simplify(ast)
      const gated = simplifyGatedIndices(sym)
      if (gated !== sym) narrowed++
      const val = (a: UOp): UOp => a.src[0]!.src[2]!
      checkEquivalent(val(ast), val(sym), g.ranges, `gated load #${i} (symbolic)`)
      checkEquivalent(val(ast), val(gated), g.ranges, `gated load #${i} (gated_index)`)
    }
    assert.ok(narrowed > 50, `the gated-index pass changed only ${narrowed} loads`)
  })

  test('every symbolic rule fired, and each distinct step was checked on its own', () => {
    const never = symbolic.rules.map((r) => r.location).filter((loc) => !firedBy.has(loc))
    assert.deepEqual(never, [], `rules the generator never exercised: ${never.join(', ')}`)
    assert.ok(stepCount > 1000, `only ${stepCount} distinct rewrite steps`)
  })
})

describe('vrange regressions found by the brute force', () => {
  test('NEG of a bool is logical not: NEG(r*-2 < -12) is always true', () => {
    const r = UOp.range(5, 0, 'global')
    const never = r.mul(-2).lt(-12)
    assert.deepEqual(never.vrange, [0, 0])
    assert.deepEqual(never.alu(Ops.NEG).vrange, [1, 1])
    assert.deepEqual(r.lt(3).alu(Ops.NEG).vrange, [0, 1])
  })
})

describe('symbolic regression: div/mod folding range condition', () => {
  test('arange(20) (4, 5) permuted, flattened, shrunk to 16 and reshaped (4, 4)', async () => {
    for (const device of hasCPU ? ['JS', 'CPU'] : ['JS']) {
      const t = Tensor.arange(20, undefined, 1, { device })
        .reshape([4, 5])
        .permute([1, 0])
        .flatten()
        .shrink([[1, 17]])
        .reshape([4, 4])
      // numpy: np.arange(20).reshape(4, 5).T.flatten()[1:17].reshape(4, 4)
      const want = [5, 10, 15, 1, 6, 11, 16, 2, 7, 12, 17, 3, 8, 13, 18, 4]
      assert.deepEqual(Array.from(await t.data()), want, device)
    }
  })
})
