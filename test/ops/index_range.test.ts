// Out-of-range indices: an error naming the op, the value, its position and the valid range when
// the index values are known as the graph is built (a realized index tensor or a constant); a lazy
// index gives the documented value instead (0 / an all-zero row; NaN for a loss), never a
// plausible wrong loss. Also logsumexp over rows of all -inf.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Device, nn, Tensor } from '../../src/index.ts'
import { expectThrows } from '../helpers.ts'

const int = (d: number[] | number[][]) => new Tensor(d, { dtype: 'int32' })
/** the same values, but lazy (computed by a kernel when read) */
const lazy = (d: number[] | number[][]) => int(d).add(0)
const vals = async (t: Tensor) => Array.from(await t.data(), Number)
/**
 * A device that reads asynchronously (WEBGPU) holds a realized index on the GPU: its values are not
 * known while the graph is built (tensor/index_check.ts), so those errors cannot be thrown there.
 */
const realizedUnknown: string | false = Device.get(Device.DEFAULT).asyncReads
  ? `${Device.DEFAULT} does not read realized indices while the graph is built`
  : false

describe('index range: gather', () => {
  const x = new Tensor([
    [1, 2, 3],
    [4, 5, 6],
  ])
  test('a realized index out of range is an error with value, position and range', {
    skip: realizedUnknown,
  }, () => {
    expectThrows(() => x.gather(1, int([[0], [5]])), /gather/, /index 5/, /position \[1, 0\]/, /0\.\.2/)
    expectThrows(() => x.gather(1, int([[-1], [0]])), /gather/, /index -1/, /position \[0, 0\]/)
    expectThrows(() => x.gather(0, int([[2, 0, 0]])), /gather/, /index 2/, /0\.\.1/)
    expectThrows(() => x.gather(1, Tensor.full([2, 1], 3, { dtype: 'int32' })), /gather/, /index 3/)
  })
  test('in range works; a lazy out-of-range index gives 0', async () => {
    assert.deepEqual(await vals(x.gather(1, int([[2], [0]]))), [3, 4])
    assert.deepEqual(await vals(x.gather(1, lazy([[2], [5]]))), [3, 0])
  })
})

describe('index range: get with tensors (numpy: negatives count from the end)', () => {
  const t = new Tensor([10, 20, 30])
  test('realized indices out of -n..n-1 are an error', { skip: realizedUnknown }, () => {
    expectThrows(() => t.get(int([0, 3])), /get/, /index 3/, /position \[1\]/, /-3\.\.2/)
    expectThrows(() => t.get(int([-4])), /get/, /index -4/)
  })
  test('negative indices wrap; lazy out-of-range gives 0', async () => {
    assert.deepEqual(await vals(t.get(int([-1, 0, -3]))), [30, 10, 10])
    assert.deepEqual(await vals(t.get(lazy([2, 7]))), [30, 0])
  })
})

describe('index range: get with a bool mask (numpy: the positions where it is true)', () => {
  const t = new Tensor([
    [1, 2],
    [3, 4],
    [5, 6],
  ])
  test('a realized mask selects rows', { skip: realizedUnknown }, async () => {
    const r = t.get(new Tensor([true, false, true]))
    assert.deepEqual(r.shape, [2, 2])
    assert.deepEqual(await vals(r), [1, 2, 5, 6])
    assert.deepEqual(await vals(t.get(':', new Tensor([false, true]))), [2, 4, 6])
    assert.deepEqual(t.get(new Tensor([false, false, false])).shape, [0, 2])
  })
  test('a lazy mask or one of the wrong length is an error', () => {
    expectThrows(() => t.get(new Tensor([1, 0, 1]).gt(0)), /get/, /bool mask/, /realize/)
    expectThrows(() => t.get(new Tensor([true, false])), /get/, /bool mask/, /length 3/, /\[2\]/)
  })
})

describe('index range: Embedding and oneHot', () => {
  test('Embedding: out-of-range and negative indices are errors; float indices too', {
    skip: realizedUnknown,
  }, () => {
    const e = new nn.Embedding(4, 2)
    expectThrows(() => e.call(int([[0, 4]])), /embedding/, /index 4/, /position \[0, 1\]/, /0\.\.3/)
    expectThrows(() => e.call(int([-1])), /embedding/, /index -1/)
    expectThrows(() => e.call(new Tensor([1, 2])), /embedding/, /float32/, /int32/)
    assert.deepEqual(e.call(int([3, 0])).shape, [2, 2])
  })
  test('Embedding: a lazy out-of-range index gives a zero row', async () => {
    const e = new nn.Embedding(4, 2)
    const v = await vals(e.call(lazy([9])))
    assert.deepEqual(v, [0, 0])
  })
  test('oneHot: out of range is an error; lazy gives an all-zero row', async () => {
    // (realized indices are checked where their values are known while the graph is built)
    if (!realizedUnknown) {
      expectThrows(() => int([0, 3]).oneHot(3), /oneHot/, /index 3/, /0\.\.2/)
      expectThrows(() => int([-1]).oneHot(3), /oneHot/, /index -1/)
    }
    expectThrows(() => int([1]).oneHot(-2), /oneHot/, /numClasses/, /-2/)
    assert.deepEqual(await vals(lazy([1, 5]).oneHot(3)), [0, 1, 0, 0, 0, 0])
  })
})

describe('index range: class targets of the losses', () => {
  const logits = new Tensor([
    [1, 2, 3],
    [0, 0, 0],
  ])
  test('sparseCategoricalCrossentropy: a realized target out of range is an error', {
    skip: realizedUnknown,
  }, () => {
    expectThrows(
      () => logits.sparseCategoricalCrossentropy(int([0, 3])),
      /sparseCategoricalCrossentropy/,
      /index 3/,
      /position \[1\]/,
      /0\.\.2/,
    )
    expectThrows(() => logits.sparseCategoricalCrossentropy(int([-2, 0])), /index -2/)
  })
  test('sparseCategoricalCrossentropy: the ignore index is allowed', async () => {
    const l = await logits.sparseCategoricalCrossentropy(int([2, -1])).item()
    assert.ok(Math.abs(Number(l) - (Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3)) < 1e-5)
  })
  test('sparseCategoricalCrossentropy: a lazy target out of range gives a NaN loss', async () => {
    assert.ok(Number.isNaN(Number(await logits.sparseCategoricalCrossentropy(lazy([0, 3])).item())))
    const none = await vals(logits.sparseCategoricalCrossentropy(lazy([0, 7]), { reduction: 'none' }))
    assert.ok(Number.isFinite(none[0]!) && Number.isNaN(none[1]!), String(none))
    assert.ok(Number.isFinite(Number(await logits.sparseCategoricalCrossentropy(lazy([0, 2])).item())))
  })
  test('crossEntropy with class indices: error when realized, NaN when lazy', async () => {
    if (!realizedUnknown)
      expectThrows(() => logits.crossEntropy(int([3, 0])), /crossEntropy/, /index 3/, /0\.\.2/)
    assert.ok(Number.isNaN(Number(await logits.crossEntropy(lazy([0, -1])).item())))
    assert.equal(logits.cast('float16').crossEntropy(lazy([2, 0])).dtype.name, 'float16')
    const ok = Number(await logits.crossEntropy(lazy([2, 0])).item())
    const want = (Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3 + Math.log(3)) / 2
    assert.ok(Math.abs(ok - want) < 1e-5, `${ok} vs ${want}`)
  })
})

describe('logsumexp over infinite rows', () => {
  test('all -inf gives -inf (not NaN); a +inf gives +inf', async () => {
    const ninf = Number.NEGATIVE_INFINITY
    assert.deepEqual(await vals(new Tensor([ninf, ninf, ninf]).logsumexp()), [ninf])
    assert.deepEqual(
      await vals(
        new Tensor([
          [ninf, ninf],
          [0, ninf],
        ]).logsumexp(1),
      ),
      [ninf, 0],
    )
    assert.deepEqual(await vals(new Tensor([Number.POSITIVE_INFINITY, 1]).logsumexp()), [
      Number.POSITIVE_INFINITY,
    ])
  })
  test('the gradient over a row of all -inf is 0, elsewhere softmax', async () => {
    const x = new Tensor(
      [
        [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
        [0, 0],
      ],
      { requiresGrad: true },
    )
    x.logsumexp(1).sum().backward()
    assert.deepEqual(await vals(x.grad!), [0, 0, 0.5, 0.5])
  })
})
