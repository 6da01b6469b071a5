import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes, nn, Tensor } from '../../src/index.ts'
import { expectClose, values } from './helpers.ts'

class Block {
  conv = new nn.Conv2d(1, 2, 3)
  norm = new nn.BatchNorm(2)
}
class Net {
  convBlock = new Block()
  layers = [new nn.Linear(4, 3), new nn.Linear(3, 2, { bias: false })]
  headScale = new Tensor([1.5])
  _cache = new Tensor([0]) // private: not state
  name = 'net'
  act = (x: Tensor) => x.relu()
}

describe('getStateDict / getParameters', () => {
  test('keys are the property paths as written, stable order, private and non-tensor properties skipped', () => {
    const net = new Net()
    assert.deepEqual(Object.keys(nn.getStateDict(net)), [
      'convBlock.conv.weight',
      'convBlock.conv.bias',
      'convBlock.norm.weight',
      'convBlock.norm.bias',
      'convBlock.norm.running_mean',
      'convBlock.norm.running_var',
      'convBlock.norm.num_batches_tracked',
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
      'headScale',
    ])
    const sd = nn.getStateDict(net)
    assert.equal(sd['layers.0.weight'], net.layers[0]!.weight)
    assert.equal(sd['convBlock.norm.running_mean'], net.convBlock.norm.runningMean)
  })

  test('a camelCase and a snake_case property are two keys (no renaming)', () => {
    const m = { fooBar: new Tensor([1]), foo_bar: new Tensor([2]), XMLHttp: new Tensor([3]) }
    assert.deepEqual(Object.keys(nn.getStateDict(m)), ['fooBar', 'foo_bar', 'XMLHttp'])
  })

  test("built-in layers use PyTorch's attribute names (checkpoints port key for key)", () => {
    // torch.nn.BatchNorm2d(2).state_dict().keys(), torch.nn.Linear / Conv2d / LayerNorm likewise
    assert.deepEqual(Object.keys(nn.getStateDict(new nn.BatchNorm2d(2))), [
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ])
    assert.deepEqual(Object.keys(nn.getStateDict(new nn.Linear(2, 3))), ['weight', 'bias'])
    assert.deepEqual(Object.keys(nn.getStateDict(new nn.Conv2d(2, 3, 3))), ['weight', 'bias'])
    assert.deepEqual(Object.keys(nn.getStateDict(new nn.LayerNorm(3))), ['weight', 'bias'])
    assert.deepEqual(Object.keys(nn.getStateDict(new nn.MaxPool2d(2))), [])
  })

  test('getParameters: trainable only (no running stats), deduplicated, same order', () => {
    const net = new Net()
    const shared = new nn.Linear(2, 2)
    const m = { a: shared, b: shared, list: [net], extra: [shared.weight] }
    const ps = nn.getParameters(m)
    const expected = [
      shared.weight,
      shared.bias!,
      net.convBlock.conv.weight,
      net.convBlock.conv.bias!,
      net.convBlock.norm.weight!,
      net.convBlock.norm.bias!,
      net.layers[0]!.weight,
      net.layers[0]!.bias!,
      net.layers[1]!.weight,
      net.headScale,
    ]
    assert.equal(ps.length, expected.length)
    ps.forEach((p, i) => {
      assert.equal(p, expected[i], `param ${i}`)
    })
    // shared module appears under both names in the state dict
    const keys = Object.keys(nn.getStateDict(m))
    assert.ok(keys.includes('a.weight') && keys.includes('b.weight') && keys.includes('extra.0'))
  })

  test('cycles do not loop forever', () => {
    const a: Record<string, unknown> = { w: new Tensor([1]) }
    a.self = a
    a.child = { parent: a, v: new Tensor([2]) }
    assert.deepEqual(Object.keys(nn.getStateDict(a)), ['w', 'child.v'])
  })
})

describe('loadStateDict', () => {
  test('copies values in place (same Tensor objects), casting dtypes', async () => {
    const net = new Net()
    const before = nn.getStateDict(net)
    const src: Record<string, Tensor> = {}
    let k = 0
    for (const [name, t] of Object.entries(before)) {
      const n = t.numel()
      const vals = Array.from({ length: n }, (_, i) => k + i)
      k += 100
      src[name] = name.endsWith('num_batches_tracked')
        ? new Tensor(7, { dtype: dtypes.int64 })
        : new Tensor(vals, { shape: t.shape, dtype: dtypes.float64 })
    }
    const r = nn.loadStateDict(net, src)
    assert.deepEqual(r, { missingKeys: [], unexpectedKeys: [] })
    const after = nn.getStateDict(net)
    for (const [name, t] of Object.entries(after)) {
      assert.equal(t, before[name], `${name} keeps its identity`)
    }
    assert.equal(net.layers[0]!.weight.dtype, dtypes.float32)
    await expectClose(
      net.layers[0]!.weight,
      Array.from({ length: 12 }, (_, i) => 700 + i),
    )
    await expectClose(net.convBlock.norm.runningVar!, [500, 501])
    assert.equal(net.convBlock.norm.numBatchesTracked!.dtype, dtypes.int32)
    assert.deepEqual(await values(net.convBlock.norm.numBatchesTracked!), [7])
    // the model computes with the loaded values
    const y = net.layers[1]!.call(new Tensor([[1, 0, 0]]))
    await expectClose(y, [900, 903])
  })

  test('round trip through getStateDict of another instance', async () => {
    const a = new Net()
    const b = new Net()
    nn.loadStateDict(b, nn.getStateDict(a))
    const sa = nn.getStateDict(a)
    for (const [name, t] of Object.entries(nn.getStateDict(b))) {
      assert.deepEqual(await values(t), await values(sa[name]!), name)
    }
  })

  test('strict: error names missing and unexpected keys', () => {
    const net = { fc: new nn.Linear(2, 2) }
    const good = nn.getStateDict({ fc: new nn.Linear(2, 2) })
    const { 'fc.bias': _bias, ...missing } = good
    assert.throws(
      () => nn.loadStateDict(net, missing),
      (e: Error) => {
        assert.match(e.message, /missing keys: 'fc\.bias'/)
        assert.doesNotMatch(e.message, /unexpected/)
        return true
      },
    )
    assert.throws(
      () => nn.loadStateDict(net, { ...good, 'fc.extra': new Tensor([1]), other: new Tensor([2]) }),
      /unexpected keys: 'fc\.extra', 'other'/,
    )
    assert.throws(
      () => nn.loadStateDict(net, { ...missing, other: new Tensor([2]) }),
      /missing keys: 'fc\.bias'.*unexpected keys: 'other'/,
    )
  })

  test('shape mismatch is an error (strict or not) naming the key and both shapes; nothing written', async () => {
    const net = { fc: new nn.Linear(2, 3) }
    const w0 = await values(net.fc.weight)
    const bad = { 'fc.weight': Tensor.zeros([2, 3]), 'fc.bias': Tensor.zeros([3]) }
    for (const strict of [true, false]) {
      assert.throws(
        () => nn.loadStateDict(net, bad, { strict }),
        /shape mismatch: 'fc\.weight': model has shape \[3,2\], state dict has \[2,3\]/,
      )
    }
    assert.deepEqual(await values(net.fc.weight), w0)
  })

  test('strict false: loads what matches and reports the rest', async () => {
    const net = { fc: new nn.Linear(2, 1) }
    const r = nn.loadStateDict(
      net,
      { 'fc.weight': new Tensor([[3, 4]]), junk: new Tensor([0]) },
      { strict: false },
    )
    assert.deepEqual(r, { missingKeys: ['fc.bias'], unexpectedKeys: ['junk'] })
    await expectClose(net.fc.weight, [3, 4])
  })
})

describe('state dicts with names an object inherits', () => {
  test('a key missing from a plain dict is missing even when Object.prototype has that name', () => {
    const model = { toString: new Tensor(Float32Array.from([1, 2])) }
    // `'toString' in {}` is true: the old lookup took Object.prototype.toString as the tensor
    assert.throws(() => nn.loadStateDict(model, {}), /missing keys: 'toString'/)
    const r = nn.loadStateDict(model, {}, { strict: false })
    assert.deepEqual(r.missingKeys, ['toString'])
  })
  test('getStateDict has no prototype; loadStateDict takes a Map too', async () => {
    const model = { constructor: new Tensor(Float32Array.from([1, 2])) }
    const sd = nn.getStateDict(model)
    assert.equal(Object.getPrototypeOf(sd), null)
    assert.deepEqual(Object.keys(sd), ['constructor'])
    nn.loadStateDict(model, new Map([['constructor', new Tensor(Float32Array.from([5, 6]))]]))
    assert.deepEqual([...(await model.constructor.data())], [5, 6])
  })
})
