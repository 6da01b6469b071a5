// topk against PyTorch 1.13 (values, indices, value gradients; fixtures from
// scripts/gen_transformer_ops.py, tie-free), our own tie order, and multinomial's statistics:
// seeds reproduce, chi-square goodness of fit on many draws, distinct draws without replacement,
// zero weights never drawn, PyTorch's errors for known weights, new draws in jit replays.
// Runs on the default device; DEVICE=JS runs it on JS.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Device, dtypes, jit, Tensor } from '../../src/index.ts'
import { allclose, decodeValue, expectThrows } from '../helpers.ts'

interface Arr {
  shape: number[]
  data: (number | string)[]
}
const here = dirname(fileURLToPath(import.meta.url))
const topkCases = (
  JSON.parse(readFileSync(join(here, '..', 'fixtures', 'transformer_ops.json'), 'utf8')) as {
    cases: { topk: Record<string, any>[] }
  }
).cases.topk
const dec = decodeValue
const tensor = (a: Arr, requiresGrad = false): Tensor =>
  new Tensor(Float32Array.from(a.data, dec), { shape: a.shape, requiresGrad })
const vals = async (t: Tensor): Promise<number[]> => Array.from((await t.data()) as ArrayLike<number>, Number)
const kernels = (...ts: Tensor[]): number =>
  scheduleFor(ts.map((t) => t.uop)).items.filter((i) => i.kind === 'kernel').length

describe('topk (PyTorch fixtures)', () => {
  for (const c of topkCases) {
    test(`${c.x.shape} k=${c.k} dim=${c.dim} ${c.largest ? 'largest' : 'smallest'}`, async () => {
      const x = tensor(c.x, true)
      const [v, i] = x.topk(c.k, { dim: c.dim, largest: c.largest })
      assert.equal(i.dtype.name, 'int32')
      assert.deepEqual(i.shape, c.indices.shape)
      assert.deepEqual(await vals(i), c.indices.data)
      assert.deepEqual(v.shape, c.values.shape)
      // the fixture's 9 significant digits name one float32 exactly
      allclose(
        await vals(v),
        c.values.data.map((e: number | string) => Math.fround(dec(e))),
        { rtol: 0, atol: 0, label: 'values' },
      )
      if (!c.upstream) return
      v.mul(tensor(c.upstream)).sum().backward()
      allclose(await vals(x.grad!), c.grad.data, { rtol: 0, atol: 1e-7, label: 'grad' })
    })
  }
})

describe('topk', () => {
  test('equal values come in index order (largest and smallest)', async () => {
    const x = new Tensor([[2, 7, 2, 7, 1, 2, 7]])
    assert.deepEqual(await vals(x.topk(4)[1]), [1, 3, 6, 0])
    assert.deepEqual(await vals(x.topk(4, { largest: false })[1]), [4, 0, 2, 5])
    // -0 equals 0: index order
    assert.deepEqual(await vals(new Tensor([0, -0, 0, -1]).topk(3)[1]), [0, 1, 2])
  })
  test('integer, bool and half inputs', async () => {
    assert.deepEqual(
      await vals(new Tensor(Int32Array.from([5, -2147483648, 2147483647, 0])).topk(2)[1]),
      [2, 0],
    )
    assert.deepEqual(
      await vals(new Tensor(Uint8Array.from([5, 255, 0, 7]), { dtype: 'uint8' }).topk(2)[0]),
      [255, 7],
    )
    assert.deepEqual(await vals(new Tensor([true, false, true]).topk(2, { largest: false })[1]), [1, 0])
    assert.deepEqual(await vals(new Tensor([0.5, -3, 2.25, 1]).half().topk(2)[0]), [2.25, 1])
  })
  test('k = n sorts the row; k = 0 is empty; a 0-d tensor', async () => {
    const [v, i] = new Tensor([3, 1, 2]).topk(3, { largest: false })
    assert.deepEqual(await vals(v), [1, 2, 3])
    assert.deepEqual(await vals(i), [1, 2, 0])
    assert.deepEqual(new Tensor([[3, 1, 2]]).topk(0)[1].shape, [1, 0])
    assert.deepEqual(await vals(new Tensor(4).topk(1)[0]), [4])
  })
  test('a (1, 128256) row, k = 100: matches a host sort; passes 2..k are one kernel each', async () => {
    Tensor.manualSeed(5)
    const x = Tensor.randn([1, 128256]).realize()
    const [v, i] = x.topk(100)
    const host = Array.from((await x.data()) as Float32Array)
    const order = host
      .map((val, idx) => [val, idx] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, 100)
    assert.deepEqual(
      await vals(i),
      order.map((o) => o[1]),
    )
    assert.deepEqual(
      await vals(v),
      order.map((o) => o[0]),
    )
    // key kernel + 100 passes + grouped cats (32 per kernel) + gather, each pass one kernel; a
    // device without int64 (WEBGPU) takes two reductions per pass (plus the mask of the elements
    // after the previous pick, which both read: 3 kernels) and cats 8 picks per kernel
    const [v2, i2] = x.topk(100)
    const perPass = Device.supportsDType(Device.DEFAULT, dtypes.int64) ? 1 : 3
    assert.ok(kernels(v2, i2) <= perPass * 100 + 20, `${kernels(v2, i2)} kernels`)
  })
  test('jitted: replays on new rows give the new top k', async () => {
    const f = jit((x: Tensor) => x.topk(3))
    for (let step = 0; step < 5; step++) {
      const x = Tensor.randn([2, 40]).realize()
      const [v, i] = f(x)
      const [ev, ei] = x.topk(3)
      assert.deepEqual(await vals(i), await vals(ei), `step ${step}`)
      assert.deepEqual(await vals(v), await vals(ev), `step ${step}`)
    }
  })
  test('errors', async () => {
    expectThrows(
      () => Tensor.rand([2, 5]).topk(6),
      /topk: k must be an integer in 0..5 \(the size of dim 1 of \[2, 5\]\), got 6/,
    )
    expectThrows(() => Tensor.rand([2, 5]).topk(2, { dim: 2 }), /topk/)
    // (a device without float64, WEBGPU, refuses the tensor itself)
    expectThrows(
      () => Tensor.rand([2, 5], { dtype: 'float64' }).topk(2),
      Device.supportsDType(Device.DEFAULT, dtypes.float64)
        ? /topk: float64 is not supported/
        : /dtype float64 is not supported on/,
    )
    expectThrows(() => Tensor.rand([5]).topk(2, { axis: 0 } as never), /topk: unknown option 'axis'/)
  })
})

/** how often each category was drawn */
const counts = (draws: number[], C: number): number[] => {
  const n = new Array<number>(C).fill(0)
  for (const d of draws) n[d]!++
  return n
}
/** Pearson's chi-square statistic of observed counts against probabilities (categories with p > 0) */
const chiSquare = (obs: number[], p: number[]): number => {
  const total = obs.reduce((a, b) => a + b, 0)
  let s = 0
  p.forEach((pi, i) => {
    if (pi > 0) s += (obs[i]! - total * pi) ** 2 / (total * pi)
  })
  return s
}
// chi-square critical values at significance 0.001
const CHI2_999 = { 3: 16.27, 4: 18.47 } as const

describe('multinomial', () => {
  const w = [1, 0, 3, 0.5, 2.5, 0, 3] // unnormalized; 5 non-zero categories
  const p = w.map((x) => x / 10)

  test('the same seed gives the same samples, another seed others', async () => {
    const t = new Tensor([w, w])
    Tensor.manualSeed(7)
    const a = await vals(t.multinomial(20, { replacement: true }))
    Tensor.manualSeed(7)
    const b = await vals(t.multinomial(20, { replacement: true }))
    Tensor.manualSeed(8)
    const c = await vals(t.multinomial(20, { replacement: true }))
    assert.deepEqual(a, b)
    assert.notDeepEqual(a, c)
    assert.deepEqual(t.multinomial(20, { replacement: true }).shape, [2, 20])
  })
  test('with replacement: chi-square fit on 20000 draws, zero weights never drawn', async () => {
    Tensor.manualSeed(1234)
    const draws = await vals(new Tensor(w).multinomial(20000, { replacement: true }))
    const n = counts(draws, w.length)
    assert.deepEqual([n[1], n[5]], [0, 0], `zero-weight categories drawn: ${n}`)
    const chi = chiSquare(n, p)
    assert.ok(chi < CHI2_999[4], `chi-square ${chi} (df 4) for counts ${n}`)
  })
  test('without replacement: distinct indices, the first draw fits p, zeros never drawn', async () => {
    Tensor.manualSeed(99)
    const rows = 4000
    const batch = Tensor.full([rows, w.length], 1).mul(new Tensor(w))
    const d = await vals(batch.multinomial(5))
    const first: number[] = []
    for (let r = 0; r < rows; r++) {
      const row = d.slice(5 * r, 5 * r + 5)
      assert.equal(new Set(row).size, 5, `row ${r} repeats: ${row}`)
      assert.ok(!row.includes(1) && !row.includes(5), `row ${r} drew a zero weight: ${row}`)
      first.push(row[0]!)
    }
    const chi = chiSquare(counts(first, w.length), p)
    assert.ok(chi < CHI2_999[4], `chi-square ${chi} (df 4) of the first draws`)
    // the second draw given the first: P(j | i) = p_j / (1 - p_i), pooled over first = 2 (p = 0.3)
    const second = d.filter((_, k) => k % 5 === 1 && d[k - 1] === 2)
    const cond = p.map((pj, j) => (j === 2 ? 0 : pj / (1 - p[2]!)))
    const chi2 = chiSquare(counts(second, w.length), cond)
    assert.ok(second.length > 800, `${second.length} rows drew category 2 first`)
    assert.ok(chi2 < CHI2_999[3], `chi-square ${chi2} (df 3) of the second draws after category 2`)
  })
  test('jit replays draw new numbers, the same as eager calls', async () => {
    const t = new Tensor(w)
    const f = (x: Tensor) => x.multinomial(8, { replacement: true })
    Tensor.manualSeed(3)
    const eager: number[][] = []
    for (let i = 0; i < 4; i++) eager.push(await vals(f(t)))
    Tensor.manualSeed(3)
    const g = jit(f)
    const jitted: number[][] = []
    for (let i = 0; i < 4; i++) jitted.push(await vals(g(t)))
    assert.deepEqual(jitted, eager)
    assert.notDeepEqual(eager[2], eager[3])
  })
  test('jitted without replacement on changing weights: each draw follows its own weights', async () => {
    const f = jit((p: Tensor) => p.multinomial(2))
    for (let step = 0; step < 5; step++) {
      // all weight on two categories that move each step
      const w = new Array<number>(10).fill(0)
      w[step] = 1
      w[step + 3] = 2
      const d = await vals(f(new Tensor(w)))
      assert.deepEqual([...d].sort(), [step, step + 3], `step ${step}: drew ${d}`)
    }
  })
  // a device that reads asynchronously (WEBGPU) does not know realized weights while the graph is built
  const unknownWeights = Device.get(Device.DEFAULT).asyncReads
    ? `${Device.DEFAULT} does not read realized weights while the graph is built`
    : false
  test("PyTorch's errors for known weights", { skip: unknownWeights }, async () => {
    expectThrows(
      () => new Tensor([0.5, -0.1]).multinomial(1),
      /multinomial: .* contain inf, nan or an element < 0 \(-0.1/,
    )
    expectThrows(
      () => new Tensor([0.5, Number.POSITIVE_INFINITY]).multinomial(1),
      /inf, nan or an element < 0/,
    )
    expectThrows(() => new Tensor([0.5, Number.NaN]).multinomial(1), /inf, nan or an element < 0/)
    expectThrows(
      () =>
        new Tensor([
          [1, 1],
          [0, 0],
        ]).multinomial(1),
      /row 1 of the weights \[2, 2\] sums to 0/,
    )
    expectThrows(() => new Tensor([1, 0, 1]).multinomial(3), /3 samples to draw without replacement/)
    expectThrows(
      () => new Tensor([1, 0, 1]).multinomial(4),
      /cannot draw 4 samples without replacement from 3 categories/,
    )
    expectThrows(() => new Tensor([1, 2]).multinomial(0), /numSamples must be a positive integer/)
    expectThrows(() => new Tensor(Int32Array.from([1, 2])).multinomial(1), /weights must be a float tensor/)
    expectThrows(() => Tensor.rand([2, 2, 2]).multinomial(1), /\(C\) or \(N, C\)/)
    // with replacement, fewer non-zero categories than samples is fine
    assert.deepEqual(await vals(new Tensor([0, 1, 0]).multinomial(4, { replacement: true })), [1, 1, 1, 1])
  })
  test('lazy weights are not checked: non-positive entries are never drawn', async () => {
    Tensor.manualSeed(4)
    const lazy = new Tensor([-1, 2, Number.NaN, 1]).mul(1)
    const d = await vals(lazy.multinomial(200, { replacement: true }))
    assert.ok(d.every((i) => i === 1 || i === 3))
  })
})
