// JS numbers have no integer type: `new Tensor`, `Tensor.full` and two-number `where` make float32
// unless a dtype is asked for, and no integer value ever wraps or truncates silently (an explicit
// integer dtype that cannot hold a value is an error naming the op, the value and the dtype; a JS
// integer operand an int tensor cannot hold promotes the result).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes, Tensor } from '../../src/index.ts'
import { expectThrows, deviceLacks } from '../helpers.ts'

const vals = async (t: Tensor) => Array.from(await t.data(), Number)

describe('dtype inference: JS numbers are float32 unless asked', () => {
  test('integer-valued arrays and scalars are float32', async () => {
    for (const t of [new Tensor([1, 2, 3]), new Tensor([[0, 0, 1]]), new Tensor(5), new Tensor([[1, 2.5]])])
      assert.equal(t.dtype, dtypes.float32, String(t))
    assert.deepEqual(await vals(new Tensor([[1, 2.5]])), [1, 2.5])
    assert.equal(new Tensor([true, false]).dtype, dtypes.bool)
    assert.equal(new Tensor([true, 2]).dtype, dtypes.float32)
  })
  test('big integers keep their value (no int32 wrap)', async () => {
    assert.deepEqual(await vals(new Tensor([1e10])), [Math.fround(1e10)])
    assert.deepEqual(await vals(new Tensor([3e38]).mul(2)), [Number.POSITIVE_INFINITY])
    assert.deepEqual(await vals(Tensor.full([1], 1e10)), [Math.fround(1e10)])
    assert.equal(Tensor.full([2], 3).dtype, dtypes.float32)
    assert.equal(Tensor.full([2], true).dtype, dtypes.bool)
  })
  test('a one-hot row written as integers can require gradients', async () => {
    const t = new Tensor([[0, 0, 1]], { requiresGrad: true })
    t.mul(3).sum().backward()
    assert.deepEqual(await vals(t.grad!), [3, 3, 3])
  })
  test('where with two JS numbers is float32', async () => {
    const m = new Tensor([true, false])
    const w = m.where(1e10, 0)
    assert.equal(w.dtype, dtypes.float32)
    assert.deepEqual(await vals(w), [Math.fround(1e10), 0])
  })
  test('explicit int dtype keeps integers exactly', async () => {
    const t = new Tensor([1, -2, 2147483647], { dtype: 'int32' })
    assert.deepEqual(await vals(t), [1, -2, 2147483647])
    assert.deepEqual(await vals(new Tensor(new Int32Array([7, -7]))), [7, -7])
  })
})

describe('dtype inference: explicit integer dtypes never wrap', () => {
  test('constructor: out of range or non-integer is an error naming value, index and dtype', () => {
    expectThrows(() => new Tensor([1, 1e10], { dtype: 'int32' }), /Tensor/, /10000000000/, /index 1/, /int32/)
    expectThrows(() => new Tensor([0.5], { dtype: 'int32' }), /Tensor/, /0\.5/, /not an integer/, /int32/)
    expectThrows(() => new Tensor([256], { dtype: 'uint8' }), /256/, /uint8/, /0\.\.255/)
    expectThrows(() => new Tensor([-1], { dtype: 'uint32' }), /-1/, /uint32/)
    expectThrows(() => new Tensor([Number.NaN], { dtype: 'int16' }), /NaN/, /int16/)
    expectThrows(() => new Tensor(new Float64Array([1e10]), { dtype: 'int32' }), /Tensor/, /int32/)
    expectThrows(() => new Tensor([2 ** 64], { dtype: 'int64' }), /int64/)
  })
  test('full / fullLike / assign of a value the dtype cannot hold', () => {
    expectThrows(() => Tensor.full([1], 1e10, { dtype: 'int32' }), /full/, /10000000000/, /int32/)
    expectThrows(() => Tensor.full([1], 1.5, { dtype: 'int8' }), /full/, /1\.5/, /int8/)
    const i = Tensor.zeros([2], { dtype: 'int32' })
    expectThrows(() => i.fullLike(2 ** 31), /fullLike/, /2147483648/, /int32/)
    expectThrows(() => Tensor.zeros([2], { dtype: 'int32' }).contiguous().realize().assign(1e10), /int32/)
  })
  test('arange: int64 when the values leave int32, an error for an explicit dtype', {
    skip: deviceLacks('int64'),
  }, async () => {
    const a = Tensor.arange(2 ** 31 - 2, 2 ** 31 + 2)
    assert.equal(a.dtype, dtypes.int64)
    assert.deepEqual(await vals(a), [2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1])
    assert.equal(Tensor.arange(5).dtype, dtypes.int32)
    expectThrows(() => Tensor.arange(2 ** 31 - 2, 2 ** 31 + 2, 1, { dtype: 'int32' }), /arange/, /int32/)
    expectThrows(() => Tensor.arange(0, 300, 1, { dtype: 'uint8' }), /arange/, /299/, /uint8/)
    expectThrows(() => Tensor.arange(0.5, 3, 1, { dtype: 'int32' }), /arange/, /0\.5/)
    expectThrows(() => Tensor.arange(0, 3, 0.5, { dtype: 'int32' }), /arange/, /0\.5/, /step/)
    assert.deepEqual(await vals(Tensor.arange(10, 0, -3, { dtype: 'uint8' })), [10, 7, 4, 1])
  })
  test('randint: bounds must fit the dtype, and large bounds stay in range', {
    skip: deviceLacks('float64', 'int64'),
  }, async () => {
    expectThrows(() => Tensor.randint(0, 1000, [3], { dtype: 'int8' }), /randint/, /999/, /int8/)
    Tensor.manualSeed(3)
    const lo = 2 ** 31 - 100
    const r = await vals(Tensor.randint(lo, 2 ** 31 - 1, [1000]))
    assert.ok(
      r.every((v) => v >= lo && v < 2 ** 31 - 1),
      `values out of [${lo}, ${2 ** 31 - 1}): ${r.filter((v) => v < lo || v >= 2 ** 31 - 1).slice(0, 5)}`,
    )
  })
})

describe('dtype inference: JS integer operands an int tensor cannot hold promote', () => {
  const i32 = () => new Tensor([1, -3], { dtype: 'int32' })
  test('arithmetic promotes to int64 (exact)', { skip: deviceLacks('int64') }, async () => {
    const s = i32().add(1e10)
    assert.equal(s.dtype, dtypes.int64)
    assert.deepEqual(await vals(s), [1e10 + 1, 1e10 - 3])
    assert.deepEqual(await vals(i32().mul(2 ** 40)), [2 ** 40, -3 * 2 ** 40])
    assert.equal(i32().add(7).dtype, dtypes.int32)
  })
  test('unsigned with a negative operand promotes to a signed dtype', {
    skip: deviceLacks('int64'),
  }, async () => {
    const u = new Tensor([0, 5], { dtype: 'uint8' }).add(-1)
    assert.equal(u.dtype, dtypes.int16)
    assert.deepEqual(await vals(u), [-1, 4])
    assert.equal(new Tensor([0], { dtype: 'uint32' }).sub(2 ** 32).dtype, dtypes.int64)
  })
  test('comparisons with big numbers are exact', { skip: deviceLacks('int64') }, async () => {
    const t = new Tensor([2147483647, -2147483648], { dtype: 'int32' })
    assert.deepEqual(await vals(t.lt(2 ** 31)), [1, 1])
    assert.deepEqual(await vals(t.eq(2 ** 31)), [0, 0])
    assert.deepEqual(await vals(t.gt(-(2 ** 31) - 1)), [1, 1])
    assert.deepEqual(await vals(t.ne(2 ** 32 + 2147483647)), [1, 1])
  })
  test('clip with bounds beyond the dtype keeps the dtype and clips nothing there', async () => {
    const c = new Tensor([5, -5, 2147483647], { dtype: 'int32' }).clip(-1e10, 1e10)
    assert.equal(c.dtype, dtypes.int32)
    assert.deepEqual(await vals(c), [5, -5, 2147483647])
    const d = new Tensor([5, -5], { dtype: 'int32' }).clip(0, 1e12)
    assert.deepEqual(await vals(d), [5, 0])
  })
  test('a bool tensor with a big integer', { skip: deviceLacks('int64') }, async () => {
    const b = new Tensor([true, false]).add(1e10)
    assert.equal(b.dtype, dtypes.int64)
    assert.deepEqual(await vals(b), [1e10 + 1, 1e10])
  })
})

describe('dtype inference: pad values of int tensors', () => {
  test('a pad value the dtype cannot hold is an error', () => {
    const t = new Tensor([1, 2], { dtype: 'int32' })
    expectThrows(() => t.pad([[1, 0]], { value: 1e10 }), /pad/, /10000000000/, /int32/)
    expectThrows(() => t.pad([[0, 1]], { value: 0.5 }), /pad/, /0\.5/, /int32/)
  })
  test('max pooling pads an int tensor with its smallest value', async () => {
    const x = new Tensor([-5, -7, -9, -6], { dtype: 'int32', shape: [1, 1, 2, 2] })
    const y = x.maxPool2d(2, { stride: 1, padding: 1 })
    assert.equal(y.dtype, dtypes.int32)
    assert.deepEqual(await vals(y), [-5, -5, -7, -5, -5, -6, -9, -6, -6])
  })
})

describe('dtype inference: index ops given float32 numbers say how to make indices', () => {
  test('gather, get, oneHot and the losses hint at { dtype: int32 }', () => {
    const x = new Tensor([
      [1, 2, 3],
      [4, 5, 6],
    ])
    const idx = new Tensor([0, 2])
    expectThrows(() => x.gather(1, idx.reshape([2, 1])), /gather/, /float32/, /dtype: 'int32'/)
    expectThrows(() => x.get(idx), /get/, /float32/, /dtype: 'int32'/)
    expectThrows(() => idx.oneHot(3), /oneHot/, /float32/, /dtype: 'int32'/)
    expectThrows(
      () => x.sparseCategoricalCrossentropy(idx),
      /sparseCategoricalCrossentropy/,
      /dtype: 'int32'/,
    )
    expectThrows(() => x.crossEntropy(idx), /crossEntropy/, /dtype: 'int32'/)
  })
})

describe('dtype inference: requiresGrad on an int tensor', () => {
  test('the error names the dtype, the shape and the fix', () => {
    const t = new Tensor([1, 2], { dtype: 'int32' })
    expectThrows(
      () => {
        t.requiresGrad = true
      },
      /requiresGrad/,
      /int32/,
      /\[2\]/,
      /float/,
    )
  })
})
