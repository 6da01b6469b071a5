// A scalar from a JS number is a kernel argument, not a literal (codegen/lift_consts.ts): a loop
// that calls `x.add(i)` or `x.mul(lr)` with a new value each time compiles its kernels once. The
// references are float32 arithmetic (Math.fround of the exact double result: IEEE float32 + and *
// are the double result rounded once), what numpy computes for float32 arrays; a multiply-add may
// be one fused multiply-add in the kernel (one rounding), so those compare within an ulp.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { isConstVar } from '../../src/codegen/lift_consts.ts'
import { getKernel, scheduleFor, stats } from '../../src/engine/realize.ts'
import { Device } from '../../src/runtime/device.ts'
import { scheduleCacheStats } from '../../src/schedule/cache.ts'
import { allclose, readData } from '../helpers.ts'

const f = Math.fround
const devices = ['CPU', 'JS', 'WASM'].filter((d) => Device.unavailableReason(d) === undefined)

describe('changing scalar constants compile no new kernel', () => {
  for (const device of devices) {
    test(`x.add(c) then x.mul(c).add(d) over 12 values on ${device}`, async () => {
      const xs = Array.from({ length: 37 }, (_, i) => (i - 18) * 0.37)
      const x = new Tensor(xs, { device }).realize()
      await x.add(0.25).data()
      await x.mul(0.3).add(0.7).data()
      const compiled = stats.kernelsCompiled
      for (let i = 0; i < 12; i++) {
        const c = i * 1.37 + 0.1
        const d = -2.5 - i / 3
        assert.deepEqual(
          await readData(x.add(c)),
          xs.map((v) => f(f(v) + f(c))),
          `x + ${c}`,
        )
        allclose(
          await readData(x.mul(c).add(d)),
          xs.map((v) => f(f(f(v) * f(c)) + f(d))),
          { rtol: 1e-6, atol: 1e-6, label: `x * ${c} + ${d}` },
        )
      }
      assert.equal(stats.kernelsCompiled, compiled, 'kernels compiled after the first values')
    })
  }

  test('a learning rate that decays every step: an SGD-like update compiles once', async () => {
    const w0 = [0.5, -1.25, 3, 0.125]
    const g = new Tensor([0.1, 0.2, -0.3, 0.4]).realize()
    let w = new Tensor(w0).realize()
    let ref = w0.map(f)
    const gs = [0.1, 0.2, -0.3, 0.4].map(f)
    w = w.sub(g.mul(0.05)).realize()
    ref = ref.map((v, i) => f(v - f(gs[i]! * f(0.05))))
    const compiled = stats.kernelsCompiled
    for (let step = 1; step < 20; step++) {
      const lr = 0.05 * 0.9 ** step
      w = w.sub(g.mul(lr)).realize()
      ref = ref.map((v, i) => f(v - f(gs[i]! * f(lr))))
    }
    assert.equal(stats.kernelsCompiled, compiled, 'one compile for every learning rate')
    allclose(await readData(w), ref, { rtol: 1e-6, atol: 1e-6, label: 'w after 20 steps' })
  })
})

describe('which constants become arguments', () => {
  const x = Tensor.rand([16]).realize()
  const lifted = (t: Tensor): number[] =>
    scheduleFor([t.uop]).items.flatMap((it) => (it.kind === 'kernel' ? [it.consts?.size ?? 0] : []))

  test('a float32 scalar is an argument; the kernel takes it as a variable', () => {
    assert.deepEqual(lifted(x.mul(0.3)), [1])
    assert.deepEqual(lifted(x.mul(0.3).add(0.7)), [2])
    assert.deepEqual(lifted(x.mul(0.3).add(0.3)), [1], 'one value used twice is one argument')
    const it = scheduleFor([x.mul(0.3).uop]).items[0]!
    assert.equal(it.kind, 'kernel')
    if (it.kind !== 'kernel') return
    const k = getKernel(it.device, it.ast)
    assert.equal(k.vars.filter(isConstVar).length, 1)
  })

  test('0, 1, -1 and infinities stay literals (folds and masks need their values)', () => {
    assert.deepEqual(lifted(x.maximum(0)), [0], 'relu')
    assert.deepEqual(lifted(x.mul(-1).add(1)), [0])
    assert.deepEqual(lifted(x.maximum(Number.NEGATIVE_INFINITY)), [0])
    assert.deepEqual(lifted(x.max()), [0], 'a max reduce')
  })

  test('integer and float64 constants stay literals', () => {
    const xi = new Tensor([1, 2, 3], { dtype: 'int32' })
    assert.deepEqual(lifted(xi.add(7)), [0])
    const xd = new Tensor([1, 2, 3], { dtype: 'float64' })
    assert.deepEqual(lifted(xd.mul(0.3)), [0])
  })

  test('-0 and NaN keep their bits', async () => {
    const y = new Tensor([1, -2, 0]).realize()
    const r = await readData(y.mul(-0.5).add(Number.NaN))
    assert.ok(r.every(Number.isNaN))
    const z = await readData(new Tensor([0]).mul(-2.5))
    assert.ok(Object.is(z[0], -0), '0 * -2.5 is -0')
  })
})

describe('a new scalar value reuses the schedule (its constants are lifted before scheduling)', () => {
  /** schedule-cache misses and kernel compiles while running `f` */
  async function counting(f: () => Promise<void>): Promise<{ misses: number; compiled: number }> {
    const [m, k] = [scheduleCacheStats.misses, stats.kernelsCompiled]
    await f()
    return { misses: scheduleCacheStats.misses - m, compiled: stats.kernelsCompiled - k }
  }
  const xs = [0.5, -1.5, 2.25, 3, -0.75]
  const x = new Tensor(xs).realize()

  test('x.mul(c).add(d) over new values: one schedule, one compile, the right values', async () => {
    await readData(x.mul(0.3).add(0.7))
    const c = await counting(async () => {
      for (let i = 0; i < 10; i++) {
        const [a, b] = [0.1 + i * 0.37, -2.5 - i / 3]
        allclose(
          await readData(x.mul(a).add(b)),
          xs.map((v) => f(f(v * f(a)) + f(b))),
          { rtol: 1e-6, atol: 1e-6, label: `x * ${a} + ${b}` },
        )
      }
    })
    assert.deepEqual(c, { misses: 0, compiled: 0 })
  })

  test('values the scheduler would have folded are computed with the new values', async () => {
    // two scalars combined (an all-constant graph), a comparison of two scalars picking a branch,
    // a clip: each decided by values, now at run time (a pad's value is its node's arg: still keyed)
    const cases: [string, (a: number, b: number) => Tensor, (a: number, b: number) => number[]][] = [
      ['full(a) * b', (a, b) => Tensor.full([3], a).mul(b), (a, b) => [0, 1, 2].map(() => f(f(a) * f(b)))],
      [
        'full(a) < b ? x : -x',
        (a, b) => Tensor.full([5], a).lt(b).where(x, x.neg()),
        (a, b) => xs.map((v) => (f(a) < f(b) ? v : -v)),
      ],
      ['x.clip(a, b)', (a, b) => x.clip(a, b), (a, b) => xs.map((v) => Math.min(Math.max(v, f(a)), f(b)))],
      ['x + a + b', (a, b) => x.add(a).add(b), (a, b) => xs.map((v) => f(f(v + f(a)) + f(b)))],
    ]
    for (const [label, g, ref] of cases) {
      await readData(g(0.25, 2.5))
      const c = await counting(async () => {
        for (const [a, b] of [
          [0.75, 0.5],
          [3.5, 4.5],
          [-2.5, 1.5],
        ] as const)
          allclose(await readData(g(a, b)), ref(a, b), {
            rtol: 1e-6,
            atol: 1e-6,
            label: `${label} (${a}, ${b})`,
          })
      })
      assert.deepEqual(c, { misses: 0, compiled: 0 }, label)
    }
  })

  test('integer constants and the literals 0, 1, -1 are still part of the key', async () => {
    const xi = new Tensor([1, 2, 3], { dtype: 'int32' }).realize()
    assert.deepEqual(await readData(xi.add(7)), [8, 9, 10])
    const c = await counting(async () => assert.deepEqual(await readData(xi.add(8)), [9, 10, 11]))
    assert.equal(c.misses, 1)
    await readData(x.mul(0.5))
    const one = await counting(async () => assert.deepEqual(await readData(x.mul(1)), xs))
    assert.equal(one.misses, 1, 'x * 1 folds: another schedule')
  })
})
