// Variables in the IR: the Variable/bind API and its errors, value ranges of DEFINE_VAR/BIND, the
// symbolic rules brute-forced over expressions whose leaves are variables and ranges with symbolic
// ends (every value of every variable, every point of every range), and the kernel / disk-cache
// keys of a symbolic graph, which depend on the variable's name and range, never on its value.
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { dtypes } from '../../src/dtype.ts'
import { Tensor, TsgradError, Variable } from '../../src/index.ts'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { applyOpts, OptState } from '../../src/codegen/opts.ts'
import { beamSearch, candidateActions } from '../../src/engine/beam.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Device } from '../../src/runtime/device.ts'
import { unbindGraph } from '../../src/schedule/unbind.ts'
import { execAlu } from '../../src/uop/exec.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'
import { graphRewrite, toposort } from '../../src/uop/rewrite.ts'
import { fmtSint, sEval } from '../../src/uop/sint.ts'
import { symbolic } from '../../src/uop/symbolic.ts'
import { expectThrows, hasCPU, makeRng } from '../helpers.ts'

const i32 = dtypes.int32

describe('Variable and bind', () => {
  test('a Variable is an int32 DEFINE_VAR with its name and range; bind makes a BIND', () => {
    const v = Variable('start_pos', 1, 100)
    assert.equal(v.op, Ops.DEFINE_VAR)
    assert.equal(v.dtype, i32)
    assert.deepEqual(v.arg, { name: 'start_pos', min: 1, max: 100 })
    assert.equal(Variable('start_pos', 1, 100), v, 'interned: the same variable is one node')
    const b = v.bind(7)
    assert.equal(b.op, Ops.BIND)
    assert.deepEqual(b.unbind(), [v, 7])
    assert.deepEqual(v.vrange, [1, 100])
    assert.deepEqual(b.vrange, [1, 100], 'a bound variable still ranges over [min, max]')
    assert.deepEqual(b.add(1).vrange, [2, 101])
    assert.equal(sEval(b.add(1).mul(2)), 16)
    assert.equal(fmtSint(v.add(1)), '(start_pos+1)')
  })

  test('bind outside the range, or not an integer, is an error naming the variable, value and range', () => {
    const v = Variable('sp', 0, 9)
    for (const bad of [10, -1, 2.5, Number.NaN])
      expectThrows(() => v.bind(bad), /bind: Variable sp takes integers in \[0, 9\], got/)
    expectThrows(() => v.bind(3).bind(4), /only a Variable can be bound/)
  })

  test('bad names and ranges are errors', () => {
    expectThrows(() => Variable('1x', 0, 3), /name must be an identifier/)
    expectThrows(() => Variable('a b', 0, 3), /name must be an identifier/)
    expectThrows(() => Variable('x', 5, 3), /0 <= min <= max/)
    expectThrows(() => Variable('x', -1, 3), /0 <= min <= max/)
    expectThrows(() => Variable('x', 0, 2 ** 31), /0 <= min <= max/)
  })
})

// ---- brute force: symbolic rules over variables ----

/** Evaluate with reference semantics; variables and ranges take their values from `env`. */
function evalAt(root: UOp, env: ReadonlyMap<UOp, number>, check?: (u: UOp, v: number) => void): number {
  const memo = new Map<UOp, number>()
  for (const u of toposort([root])) {
    let v: number
    if (u.op === Ops.CONST) v = u.constValue
    else if (u.op === Ops.DEFINE_VAR || u.op === Ops.RANGE) v = env.get(u)!
    else
      v = execAlu(
        u.op,
        u.src[u.op === Ops.WHERE ? 1 : 0]?.dtype ?? u.dtype,
        u.src.map((s) => memo.get(s)!),
      )
    check?.(u, v)
    memo.set(u, v)
  }
  return memo.get(root)!
}

/** Every assignment of the variables (over [min, max]) and of the ranges (over [0, end - 1] at those values). */
function* points(vars: readonly UOp[], ranges: readonly UOp[]): Generator<Map<UOp, number>> {
  const varPoints = function* (i: number, env: Map<UOp, number>): Generator<Map<UOp, number>> {
    if (i === vars.length) {
      yield* rangePoints(0, env)
      return
    }
    const [lo, hi] = vars[i]!.vrange
    for (let x = lo; x <= hi; x++) yield* varPoints(i + 1, new Map(env).set(vars[i]!, x))
  }
  const rangePoints = function* (i: number, env: Map<UOp, number>): Generator<Map<UOp, number>> {
    if (i === ranges.length) {
      yield env
      return
    }
    const end = evalAt(ranges[i]!.src[0]!, env)
    for (let x = 0; x < end; x++) yield* rangePoints(i + 1, new Map(env).set(ranges[i]!, x))
  }
  yield* varPoints(0, new Map())
}

class Gen {
  constructor(
    private readonly rand: () => number,
    readonly leaves: UOp[],
  ) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1))
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!
  }
  /** a sum of leaves times coefficients plus a constant: the index math of symbolic views */
  sum(depth: number): UOp {
    let acc: UOp | undefined
    for (let n = this.int(1, 3); n > 0; n--) {
      const t = depth > 0 && this.rand() < 0.3 ? this.expr(depth - 1) : this.pick(this.leaves)
      const k = this.pick([1, 1, 2, 3, 4, 6, 8, -1, -2, 5])
      const term = k === 1 ? t : t.mul(k)
      acc = acc ? (this.rand() < 0.8 ? acc.add(term) : acc.sub(term)) : term
    }
    return acc!.add(this.pick([0, 0, 1, -1, 2, 3, -3, 4, 8]))
  }
  expr(depth: number): UOp {
    if (depth <= 0) return this.rand() < 0.75 ? this.pick(this.leaves) : UOp.const(i32, this.int(-3, 9))
    const d = depth - 1
    const r = this.rand()
    if (r < 0.25) return this.sum(d)
    if (r < 0.4) return this.sum(d).idiv(this.pick([1, 2, 3, 4, 5, 8]))
    if (r < 0.55) return this.sum(d).mod(this.pick([1, 2, 3, 4, 6, 8]))
    if (r < 0.62) return this.expr(d).max(this.expr(d))
    if (r < 0.7) return this.expr(d).mul(this.expr(d))
    if (r < 0.8) return this.cond(d).where(this.expr(d), this.expr(d))
    if (r < 0.85) return this.cond(d).cast(i32)
    // a row index against a symbolic length: `r < v + 1`, `r*(v+1) + s` (flat index of a symbolic view)
    if (r < 0.93) return this.pick(this.leaves).mul(this.pick(this.leaves).add(1)).add(this.pick(this.leaves))
    return this.expr(d).sub(this.expr(d))
  }
  cond(depth: number): UOp {
    const r = this.rand()
    const side = (): UOp => (this.rand() < 0.5 ? UOp.const(i32, this.int(-2, 10)) : this.expr(depth))
    if (r < 0.5) return this.expr(depth).lt(side())
    if (r < 0.7) return side().lt(this.expr(depth))
    if (r < 0.85) return this.expr(depth).ne(side())
    return this.expr(depth).eq(side())
  }
}

describe('symbolic rules over variables, brute force', () => {
  test('simplified expressions equal the originals at every value, and every node stays in its vrange', () => {
    const rand = makeRng(1616)
    let checked = 0
    let changed = 0
    for (let trial = 0; trial < 600; trial++) {
      // one or two variables with small ranges, and up to two ranges whose ends are symbolic
      const a = Variable(`a${trial}`, rand() < 0.5 ? 0 : 1, 2 + Math.floor(rand() * 4))
      const vars = [a]
      if (rand() < 0.4) vars.push(Variable(`b${trial}`, 1, 2 + Math.floor(rand() * 3)))
      const ranges: UOp[] = []
      const nr = Math.floor(rand() * 3)
      for (let i = 0; i < nr; i++) {
        const v = vars[i % vars.length]!
        const end = rand() < 0.5 ? v.add(1) : rand() < 0.5 ? v.mul(2) : v
        ranges.push(UOp.range(end, 100 + i, 'global'))
      }
      const g = new Gen(rand, [...vars, ...ranges])
      const e = rand() < 0.2 ? g.cond(2).cast(i32) : g.expr(3)
      // keep within int32 by construction (the rules assume no wrapping)
      if (toposort([e]).some((u) => u.dtype.isInt && (u.vmin < -(2 ** 20) || u.vmax > 2 ** 20))) continue
      const s = graphRewrite(e, symbolic, undefined, 'symbolic')
      if (s !== e) changed++
      const inRange = (u: UOp, v: number): void => {
        if ((u.dtype.isInt || u.dtype.isBool) && !(v >= u.vmin && v <= u.vmax))
          assert.fail(`node ${u.op} = ${v} outside its vrange [${u.vmin}, ${u.vmax}] in ${fmtSint(e)}`)
      }
      for (const p of points(vars, ranges)) {
        const before = evalAt(e, p, inRange)
        const after = evalAt(s, p, inRange)
        if (before !== after)
          assert.fail(
            `${fmtSint(e)} -> ${fmtSint(s)} at ${[...p].map(([u, v]) => `${u.op === Ops.RANGE ? 'r' : (u.arg as { name: string }).name}=${v}`).join(', ')}: ${before} became ${after}`,
          )
        checked++
      }
    }
    assert.ok(checked > 10_000, `checked ${checked} points`)
    assert.ok(changed > 200, `the rules fired on ${changed} expressions`)
  })

  test('ranges of a variable decide comparisons and fold div/mod', () => {
    const v = Variable('n', 1, 6)
    const simp = (u: UOp): UOp => graphRewrite(u, symbolic, undefined, 'symbolic')
    assert.equal(simp(v.lt(7)).constValue, 1, 'n < 7 is always true')
    assert.equal(simp(v.lt(1)).constValue, 0, 'n < 1 is never true')
    assert.equal(simp(v.idiv(8)).constValue, 0, 'n // 8 is 0')
    assert.equal(simp(v.mod(7)), v, 'n % 7 is n')
    assert.equal(simp(v.mul(8).add(3).idiv(8)), v, '(8n + 3) // 8 is n')
    const r = UOp.range(v.add(1), 0, 'global')
    assert.deepEqual(r.vrange, [0, 6], 'a range to n + 1 runs over [0, max n]')
    assert.equal(simp(r.lt(v.add(1))).op === Ops.CONST, false, 'r < n + 1 depends on the values')
  })
})

// ---- keys: the name and range, never the value ----

describe('kernel and cache keys of symbolic graphs', () => {
  const build = (v: UOp, n: number, device: string) => {
    const cache = Tensor.zeros([2, 16, 4], { device }).contiguous().realize()
    const k = cache.shrink([null, [0, v.bind(n).add(1)], null])
    return k.exp().sum(1)
  }
  const kernelsOf = (t: Tensor) => {
    const { roots, vals } = unbindGraph([t.uop])
    const items = scheduleFor(roots).items.filter((it) => it.kind === 'kernel')
    return { items, vals }
  }

  test('the AST and source do not change with the value; they change with the name or range', () => {
    const v = Variable('pos', 0, 15)
    const a = kernelsOf(build(v, 3, 'JS'))
    const b = kernelsOf(build(v, 11, 'JS'))
    assert.deepEqual([...a.vals.values()], [3])
    assert.deepEqual([...b.vals.values()], [11])
    const keys = (x: typeof a) => x.items.map((it) => (it.kind === 'kernel' ? it.ast.key : ''))
    assert.deepEqual(keys(a), keys(b))
    const srcOf = (x: typeof a) =>
      x.items.map((it) => (it.kind === 'kernel' ? renderKernel(it.ast, Device.get('JS').renderer).src : ''))
    assert.deepEqual(srcOf(a), srcOf(b))
    assert.match(srcOf(a).join('\n'), /var_pos/)
    const other = kernelsOf(build(Variable('pos2', 0, 15), 3, 'JS'))
    assert.notDeepEqual(keys(other), keys(a), 'another variable is another kernel')
    const wider = kernelsOf(build(Variable('pos', 0, 14), 3, 'JS'))
    assert.notDeepEqual(keys(wider), keys(a), 'another range is another kernel')
  })

  test('the on-disk cache holds one library per kernel for all values (CPU)', { skip: !hasCPU }, () => {
    // a fresh process with its own cache directory, realizing 6 values then counting libraries
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-symcache-'))
    try {
      const script = `
        import { Tensor, Variable } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).pathname)}
        const v = Variable('pos', 0, 15)
        const cache = Tensor.rand([2, 16, 4], { device: 'CPU' }).realize()
        const counts = []
        for (const n of [0, 3, 7, 8, 12, 15]) {
          cache.shrink([null, [0, v.bind(n).add(1)], null]).exp().sum(1).dataSync()
          counts.push(0)
        }
      `
      const run = (): void => {
        const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          env: { ...process.env, TSGRAD_CACHE_DIR: dir, DEVICE: 'CPU' },
          encoding: 'utf8',
        })
        assert.equal(r.status, 0, r.stderr)
      }
      run()
      const libs = () => readdirSync(join(dir, 'cpu')).filter((f) => f.endsWith('.so'))
      const first = libs().length
      // rand's kernels + the symbolic reduce; a per-value key would add one library per value
      assert.ok(first >= 1 && first <= 4, `libraries after six values: ${first}`)
      run()
      assert.equal(libs().length, first, 'a second process with other values reuses every library')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('opts on symbolic loop counts', () => {
  const v = Variable('len', 1, 64)
  const kernels = () => {
    const x = Tensor.rand([4, 64, 16], { device: 'JS' }).realize()
    const t = x
      .shrink([null, [0, v.bind(20)], null])
      .exp()
      .sum(1)
    const { roots } = unbindGraph([t.uop])
    return scheduleFor(roots).items.flatMap((it) => (it.kind === 'kernel' ? [it.ast] : []))
  }

  test('splits of a symbolic axis are refused; heuristics and BEAM candidates leave it whole', () => {
    for (const ast of kernels()) {
      const s = new OptState(ast)
      s.axes.forEach((r, axis) => {
        if (r.src[0]!.op === Ops.CONST) return
        for (const op of ['UPCAST', 'UNROLL', 'CHAIN'] as const)
          assert.match(s.check({ op, axis, arg: 2 }) ?? '', /symbolic axis|needs/)
      })
      const symbolicAxes = s.axes.flatMap((r, i) => (r.src[0]!.op === Ops.CONST ? [] : [i]))
      assert.ok(symbolicAxes.length > 0, 'the kernel loops over the symbolic length')
      for (const o of candidateActions(ast, [], true))
        if (o.op !== 'SWAP' && o.op !== 'THREAD')
          assert.ok(!symbolicAxes.includes(o.axis), `${o.op} on a symbolic axis`)
      applyOpts(ast, handOpts(ast, { threads: true, vectorWidth: 8, registers: 16, simdReduce: true }))
    }
  })

  test('BEAM search runs on a symbolic kernel (timed at the largest values)', () => {
    const saved = { t: process.env.BEAM_TIMEOUT, c: process.env.CACHELEVEL }
    process.env.BEAM_TIMEOUT = '2'
    process.env.CACHELEVEL = '0'
    try {
      // on CPU a kernel called without its int parameters would read garbage sizes
      const device = hasCPU ? 'CPU' : 'JS'
      for (const ast of kernels()) {
        const opts = beamSearch(device, ast, 2)
        assert.match(renderKernel(ast, Device.get(device).renderer, opts).src, /var_len/)
      }
    } finally {
      for (const [k, val] of [
        ['BEAM_TIMEOUT', saved.t],
        ['CACHELEVEL', saved.c],
      ] as const)
        if (val === undefined) delete process.env[k]
        else process.env[k] = val
    }
  })
})

test('realizing a graph with an unbound variable is an error naming it', () => {
  const v = Variable('free', 1, 8)
  const t = Tensor.ones([1]).expand([v])
  const e = expectThrows(() => t.sum().dataSync(), /Variable free/)
  assert.ok(e instanceof TsgradError)
})
