// Value semantics (issue 15, item 1): a realized tensor keeps its value forever, and a lazy tensor
// stands for the value its graph had when it was built, as if computed eagerly (PyTorch). Views of a
// buffer (reshape, permute, ...) alias it, as PyTorch views do. A lazy intermediate whose value was
// lost inside an update's graph is a clear error when realized, never a different value.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { jit, nn, optim, Tensor, TsgradError } from '../../src/index.ts'
import { lazyReaderCount } from '../../src/tensor/tensor.ts'

const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)
const close = (a: number[], b: number[], tol = 1e-5, msg = ''): void => {
  assert.equal(a.length, b.length, msg)
  for (const [i, x] of a.entries())
    assert.ok(Math.abs(x - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${msg} [${i}] ${x} vs ${b[i]}`)
}

describe('value semantics across in-place updates', () => {
  test('the issue repro: loss read before the step keeps its value; a lazy tensor built before it means the pre-step value', async () => {
    Tensor.manualSeed(1)
    const x = Tensor.randn([64, 784])
    const y = Tensor.randint(0, 10, [64])
    const m = new nn.Linear(784, 10)
    const opt = new optim.SGD(nn.getParameters(m), { lr: 1 })
    const loss = m.call(x).sparseCategoricalCrossentropy(y)
    const p = m.call(x).sum()
    const pBefore = (await m.call(x).sum().item()) as number
    const l0 = (await loss.item()) as number
    opt.zeroGrad()
    loss.backward()
    opt.step()
    assert.equal(await loss.item(), l0, 'the loss that was backpropagated')
    close([(await p.item()) as number], [pBefore], 1e-6, 'p is the pre-step value')
    const after = (await m.call(x).sparseCategoricalCrossentropy(y).item()) as number
    assert.ok(after < l0 - 0.1, `the step changed the model (${l0} -> ${after})`)
  })

  test('a lazy loss read only after the step is the loss that was backpropagated', async () => {
    Tensor.manualSeed(2)
    const x = Tensor.randn([16, 8])
    const y = Tensor.randint(0, 3, [16])
    const m = new nn.Linear(8, 3)
    const opt = new optim.Adam(nn.getParameters(m), { lr: 0.5 })
    const want = (await m.call(x).sparseCategoricalCrossentropy(y).item()) as number
    const loss = m.call(x).sparseCategoricalCrossentropy(y)
    opt.zeroGrad()
    loss.backward()
    opt.step()
    close([(await loss.item()) as number], [want], 1e-6)
  })

  test('backward from a realized loss gives the gradients of the lazy one', () => {
    const grads = (readFirst: boolean): number[][] => {
      Tensor.manualSeed(3)
      const m = new nn.Linear(6, 4)
      const x = Tensor.randn([5, 6])
      const logits = m.call(x)
      if (readFirst) logits.dataSync() // realizes logits: autograd must still reach the weights
      const loss = logits.relu().sum()
      if (readFirst) loss.dataSync()
      loss.backward()
      return [vals(m.weight.grad!), vals(m.bias!.grad!)]
    }
    const lazy = grads(false)
    const read = grads(true)
    close(read[0]!, lazy[0]!, 1e-6, 'weight grad')
    close(read[1]!, lazy[1]!, 1e-6, 'bias grad')
  })

  test('gradients flow through an intermediate that was realized explicitly', () => {
    const grad = (realizeH: boolean): number[] => {
      Tensor.manualSeed(4)
      const m1 = new nn.Linear(6, 4)
      const m2 = new nn.Linear(4, 2)
      const h = m1.call(Tensor.randn([5, 6]))
      if (realizeH) h.realize()
      m2.call(h).sum().backward()
      assert.ok(m1.weight.grad, 'the first layer got a gradient')
      return vals(m1.weight.grad!)
    }
    close(grad(true), grad(false), 1e-6)
  })

  test('a tensor computed from a BatchNorm running stat before its lazy update keeps the old value', () => {
    Tensor.training = true
    try {
      const bn = new nn.BatchNorm(3)
      const before = bn.runningMean!.add(1) // lazy: 0 + 1
      const x = new Tensor([1, 2, 3, 3, 4, 5], { shape: [2, 3] })
      bn.call(x).realize() // the running-stat update is still pending
      const opt = new optim.SGD(nn.getParameters(bn), { lr: 0 })
      opt.step() // realizes the pending statistics
      close(vals(before), [1, 1, 1], 0, 'old statistic')
      close(vals(bn.runningMean!), [0.2, 0.3, 0.4], 1e-6, 'updated statistic')
    } finally {
      Tensor.training = false
    }
  })

  test('assign to a tensor that others read: lazy readers keep the old value, views alias', () => {
    const a = new Tensor([1, 2, 3, 4], { shape: [2, 2] }).realize()
    const doubled = a.mul(2) // lazy reader
    const flat = a.reshape([4]) // view: aliases a
    const tr = a.T // permuted view: aliases a
    const sum = a.sum() // lazy reader
    const tripled = a.mul(3).realize() // realized before the assign
    a.assign(a.add(10)).realize()
    assert.deepEqual(vals(a), [11, 12, 13, 14])
    assert.deepEqual(vals(doubled), [2, 4, 6, 8])
    assert.deepEqual(vals(sum), [10])
    assert.deepEqual(vals(tripled), [3, 6, 9, 12])
    assert.deepEqual(vals(flat), [11, 12, 13, 14], 'a reshape view sees the new value (as in PyTorch)')
    assert.deepEqual(vals(tr), [11, 13, 12, 14], 'a permuted view too')
  })

  test("reading a parameter's view and a computed value after an optimizer step", () => {
    const w = new Tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true })
    w.realize()
    const wv = w.reshape([3, 1]) // a view of the parameter: follows it
    const w2 = w.mul(w) // computed: the value at build time
    const opt = new optim.SGD([w], { lr: 0.5 })
    w.sum().backward()
    opt.step()
    assert.deepEqual(vals(w), [0.5, 1.5, 2.5])
    assert.deepEqual(vals(wv), [0.5, 1.5, 2.5])
    assert.deepEqual(vals(w2), [1, 4, 9])
  })

  test('a realized tensor keeps its value when its source is assigned, realized or not', () => {
    const src = new Tensor([1, 2]).realize()
    const r = src.add(1).realize()
    const readBefore = src.mul(5)
    readBefore.dataSync()
    src.assign(new Tensor([7, 7])).realize()
    src.assign(src.mul(2)).realize()
    assert.deepEqual(vals(r), [2, 3])
    assert.deepEqual(vals(readBefore), [5, 10])
    assert.deepEqual(vals(src), [14, 14])
  })

  test('a pending assign that ran inside another realize is not applied again', () => {
    const t = new Tensor([1, 2]).realize()
    t.assign(t.add(1))
    const u = t.mul(2)
    assert.deepEqual(vals(u), [4, 6])
    assert.deepEqual(vals(t), [2, 3], 'applied once')
    assert.deepEqual(vals(t), [2, 3])
  })

  test('an intermediate whose value was lost inside the update is a clear error, not a new value', () => {
    const a = new Tensor([1, 2]).realize()
    const b = a.add(1) // part of the assigned value: not stored by the update
    a.assign(b.mul(2)).realize()
    assert.deepEqual(vals(a), [4, 6])
    assert.throws(
      () => b.dataSync(),
      (e: unknown) =>
        e instanceof TsgradError && /overwritten in place/.test(e.message) && /<Tensor \[2\]/.test(e.message),
    )
    assert.throws(() => b.mul(2).dataSync(), /overwritten in place/)
  })

  test('a tensor built from an old lazy value and a new buffer is not taken for stale', () => {
    const x = new Tensor([1, 2, 3]).realize()
    const s = new Tensor([0, 0, 0]).realize()
    const m = x.mul(2) // lazy, built before the write of s; reads only x
    s.assign(s.add(1)).realize()
    assert.deepEqual(vals(m.add(s)), [3, 5, 7])
  })

  test('under jit: a lazy tensor built from the parameters before a replay keeps its value', () => {
    const w = new Tensor([1, 1, 1]).realize()
    const step = jit((x: Tensor) => {
      w.assign(w.add(x))
      return w.sum()
    })
    const outs: Tensor[] = []
    const readers: [Tensor, number[]][] = []
    for (let i = 0; i < 5; i++) {
      const before = vals(w)
      readers.push([w.mul(10), before.map((v) => v * 10)])
      outs.push(step(new Tensor([i, i, i])))
    }
    for (const [t, want] of readers) assert.deepEqual(vals(t), want)
    assert.deepEqual(
      outs.map((o) => vals(o)[0]),
      [3, 6, 12, 21, 33],
      'each output keeps the value of its call',
    )
  })
})

describe('tensors sharing a node', () => {
  test('two handles on one lazy node both get the value realized with an update', () => {
    const w = new Tensor(Float32Array.from([1, 2])).realize()
    const a = w.mul(2)
    const b = w.mul(2) // the same interned node as a
    Tensor.realize(a, w.assign(w.add(1)))
    assert.deepEqual(vals(a), [2, 4])
    assert.deepEqual(vals(b), [2, 4])
    assert.deepEqual(vals(w), [2, 3])
  })
})

describe('the lazy-reader registry', () => {
  test('stays bounded over a training loop that never awaits', () => {
    Tensor.manualSeed(5)
    const m = new nn.Linear(8, 4)
    const opt = new optim.Adam(nn.getParameters(m), { lr: 1e-2 })
    const x = Tensor.randn([16, 8]).realize()
    const y = Tensor.randint(0, 4, [16]).realize()
    const sizes: number[] = []
    for (let i = 0; i < 300; i++) {
      const loss = m.call(x).sparseCategoricalCrossentropy(y)
      const acc = m.call(x).argmax(1).eq(y).float().mean() // a lazy metric read after the step
      opt.zeroGrad()
      loss.backward()
      opt.step()
      if (i % 100 === 99) sizes.push(lazyReaderCount())
      if (i === 299) assert.ok(Number.isFinite(acc.itemSync() as number))
    }
    // inside one job the registry holds at most MAX_YOUNG (1024) tensors strongly (no WeakRefs
    // mid-job: they would pin every tensor until the loop ends)
    assert.ok(
      sizes.every((s) => s <= 1024),
      `registry sizes ${sizes}`,
    )
    assert.ok(sizes[2]! <= sizes[0]! + 10, `registry grows: ${sizes}`)
  })

  test('an eager loop that realizes each op at once leaves no tensor in it (nor their outputs)', () => {
    // (held until the job ended before: up to 1024 realized tensors and their buffers in a loop
    // that never awaits, which the young-generation GC then copied and promoted)
    const x = Tensor.rand([100]).realize()
    const before = lazyReaderCount()
    let y = x
    for (let i = 0; i < 500; i++) y = (i % 2 ? y.mul(0.999) : y.add(x)).realize()
    assert.ok(lazyReaderCount() <= before + 2, `registry: ${before} -> ${lazyReaderCount()}`)
  })
})
