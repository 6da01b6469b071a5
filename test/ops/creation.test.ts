// Creation ops against numpy reference fixtures (test/fixtures/ops/creation.json), plus the random
// creation ops checked statistically (range, moments, seeding).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes, Tensor } from '../../src/index.ts'
import { groupByOp, loadFixtures, readData, caseSkip, runCase, deviceLacks } from '../helpers.ts'

for (const [op, cases] of groupByOp(loadFixtures('creation'))) {
  describe(op, () => {
    for (const c of cases) test(c.name, { skip: caseSkip(c) }, () => runCase(c))
  })
}

function moments(v: number[]): { mean: number; std: number; min: number; max: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1))
  return { mean, std, min: Math.min(...v), max: Math.max(...v) }
}

describe('random creation', () => {
  test('rand/shape_dtype_range_moments', async () => {
    Tensor.manualSeed(1)
    const t = Tensor.rand([65, 33])
    assert.deepEqual(t.shape, [65, 33])
    assert.ok(t.dtype === dtypes.float32)
    const m = moments(await readData(t))
    assert.ok(m.min >= 0 && m.max < 1, `range [${m.min}, ${m.max}]`)
    assert.ok(Math.abs(m.mean - 0.5) < 0.03, `mean ${m.mean}`)
    assert.ok(Math.abs(m.std - Math.sqrt(1 / 12)) < 0.03, `std ${m.std}`)
  })
  test('randn/moments', async () => {
    Tensor.manualSeed(2)
    const t = Tensor.randn([4000])
    assert.ok(t.dtype === dtypes.float32)
    const m = moments(await readData(t))
    assert.ok(Math.abs(m.mean) < 0.06, `mean ${m.mean}`)
    assert.ok(Math.abs(m.std - 1) < 0.06, `std ${m.std}`)
    assert.ok(m.min < -2 && m.max > 2, `range [${m.min}, ${m.max}] too narrow for a normal`)
  })
  test('randint/range_dtype_all_values', async () => {
    Tensor.manualSeed(3)
    const t = Tensor.randint(-3, 4, [7, 33])
    assert.deepEqual(t.shape, [7, 33])
    assert.ok(t.dtype === dtypes.int32, `dtype ${t.dtype.name}`)
    const v = await readData(t)
    assert.ok(
      v.every((a) => Number.isInteger(a) && a >= -3 && a < 4),
      'values in [-3, 4)',
    )
    assert.deepEqual(
      [...new Set(v)].sort((a, b) => a - b),
      [-3, -2, -1, 0, 1, 2, 3],
    )
  })
  test('uniform/range_moments', async () => {
    Tensor.manualSeed(4)
    const t = Tensor.uniform([2000], -2, 5)
    const m = moments(await readData(t))
    assert.ok(m.min >= -2 && m.max < 5, `range [${m.min}, ${m.max}]`)
    assert.ok(Math.abs(m.mean - 1.5) < 0.2, `mean ${m.mean}`)
  })
  test('normal/moments', async () => {
    Tensor.manualSeed(5)
    const t = Tensor.normal([4000], 3, 0.5)
    const m = moments(await readData(t))
    assert.ok(Math.abs(m.mean - 3) < 0.05, `mean ${m.mean}`)
    assert.ok(Math.abs(m.std - 0.5) < 0.05, `std ${m.std}`)
  })
  test('manualSeed/reproducible_and_advancing', async () => {
    Tensor.manualSeed(42)
    const a1 = await readData(Tensor.rand([33]))
    const a2 = await readData(Tensor.rand([33]))
    Tensor.manualSeed(42)
    const b1 = await readData(Tensor.rand([33]))
    const b2 = await readData(Tensor.rand([33]))
    assert.deepEqual(b1, a1, 'same seed, same first draw')
    assert.deepEqual(b2, a2, 'same seed, same second draw')
    assert.notDeepEqual(a1, a2, 'successive draws differ')
    Tensor.manualSeed(43)
    assert.notDeepEqual(await readData(Tensor.rand([33])), a1, 'different seeds differ')
  })
  test('randn/odd_sizes', async () => {
    for (const shape of [[1], [7], [33], [65], [3, 1, 5]]) {
      const t = Tensor.randn(shape)
      assert.deepEqual(t.shape, shape)
      const v = await readData(t)
      assert.equal(
        v.length,
        shape.reduce((a, b) => a * b, 1),
      )
      assert.ok(v.every(Number.isFinite), `finite values for shape [${shape}]`)
    }
  })
})

describe('reading values', () => {
  test('tolist/nested_numbers', async () => {
    const t = Tensor.arange(6).reshape([2, 3])
    assert.deepEqual(await t.tolist(), [
      [0, 1, 2],
      [3, 4, 5],
    ])
  })
  test('tolist/bool_gives_booleans', async () => {
    assert.deepEqual(await Tensor.arange(3).lt(1).tolist(), [true, false, false])
  })
  test('item/scalar', async () => {
    assert.equal(await Tensor.arange(5).sum().item(), 10)
    assert.equal(await Tensor.full([], 2.5).item(), 2.5)
  })
  test('data/typed_array_per_dtype', { skip: deviceLacks('float64', 'int64') }, async () => {
    assert.ok((await Tensor.ones([2]).data()) instanceof Float32Array)
    assert.ok((await Tensor.ones([2], { dtype: dtypes.int32 }).data()) instanceof Int32Array)
    assert.ok((await Tensor.ones([2], { dtype: dtypes.bool }).data()) instanceof Uint8Array)
    assert.ok((await Tensor.ones([2], { dtype: dtypes.float64 }).data()) instanceof Float64Array)
    assert.ok((await Tensor.ones([2], { dtype: dtypes.int64 }).data()) instanceof BigInt64Array)
    assert.ok((await Tensor.ones([2], { dtype: dtypes.float16 }).data()) instanceof Float32Array)
  })
  test('shape/ndim/numel', () => {
    const t = Tensor.zeros([3, 1, 5])
    assert.deepEqual(t.shape, [3, 1, 5])
    assert.equal(t.ndim, 3)
    assert.equal(t.numel(), 15)
    assert.deepEqual(Tensor.zeros([]).shape, [])
  })
})
