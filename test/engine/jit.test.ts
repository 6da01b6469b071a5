// jit: replays give the eager numbers (training steps with Adam, dropout, BatchNorm), random numbers
// are fresh per replay, signatures re-capture, outputs may alias inputs, reads inside throw, and
// temporaries of separate realizes share memory. Every test runs on CPU (when a compiler works)
// and on JS.
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, test } from 'node:test'
import { Device, jit, nn, optim, Tensor, TsgradError } from '../../src/index.ts'
import { stats } from '../../src/engine/realize.ts'
import { assertClose, prng } from '../nn/helpers.ts'

const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]

const host = (seed: number, n: number): number[] => {
  const r = prng(seed)
  return Array.from({ length: n }, () => r())
}
const batch = (i: number) => ({
  x: new Tensor(host(100 + i, 16 * 6), { shape: [16, 6] }),
  y: new Tensor(
    host(200 + i, 16).map((v) => Math.floor((v + 1) * 1.5)),
    { dtype: 'int32' },
  ),
})
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)

/** Schedules run by `fn` (a replay runs none). */
function schedulesOf<T>(fn: () => T): [T, number] {
  const s0 = stats.schedules
  const r = fn()
  return [r, stats.schedules - s0]
}

class Net {
  l1 = new nn.Linear(6, 12)
  bn = new nn.BatchNorm(12)
  l2 = new nn.Linear(12, 3)
  call(x: Tensor): Tensor {
    return this.l2.call(this.bn.call(this.l1.call(x)).relu().dropout(0.25))
  }
}

/** A model, an optimizer and its train step; the same seed gives the same initial weights. */
function setup(seed: number) {
  Tensor.manualSeed(seed)
  const net = new Net()
  const opt = new optim.Adam(nn.getParameters(net), { lr: 0.05 })
  const step = (x: Tensor, y: Tensor): Tensor => {
    const loss = net.call(x).sparseCategoricalCrossentropy(y)
    opt.zeroGrad()
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    return loss
  }
  const state = (): number[] =>
    [...nn.getParameters(net), net.bn.runningMean!, net.bn.runningVar!].flatMap(vals)
  return { net, opt, step, state }
}

for (const device of devices) {
  describe(`jit on ${device}`, () => {
    let prevDevice = ''
    before(() => {
      prevDevice = Device.DEFAULT
      Device.DEFAULT = device
    })
    after(() => {
      Device.DEFAULT = prevDevice
    })
    afterEach(() => {
      Tensor.training = false
    })

    test('a whole train step (forward, backward, Adam, BatchNorm stats, dropout) replays the eager numbers', () => {
      Tensor.training = true
      const steps = 6
      const e = setup(1)
      Tensor.manualSeed(42)
      const eagerLoss = Array.from({ length: steps }, (_, i) => {
        const { x, y } = batch(i)
        return e.step(x, y).itemSync() as number
      })
      const j = setup(1)
      const step = jit(j.step)
      Tensor.manualSeed(42)
      const jitLoss: number[] = []
      for (let i = 0; i < steps; i++) {
        const { x, y } = batch(i)
        x.realize()
        y.realize()
        const [loss, scheduled] = schedulesOf(() => step(x, y))
        if (i >= 2) assert.equal(scheduled, 0, `call ${i + 1} must replay without scheduling`)
        jitLoss.push(loss.itemSync() as number)
      }
      assertClose(jitLoss, eagerLoss, 1e-6, 'losses')
      assertClose(j.state(), e.state(), 1e-6, 'parameters and running statistics')
      assert.ok(new Set(eagerLoss).size === steps, 'the losses change from step to step')
      const g = step.jit.captured(batch(0).x, batch(0).y)
      assert.ok(g && g.stats.kernels > 10, 'the capture holds the whole step')
      Tensor.training = false
    })

    test('alternating batch sizes replay two captures over the same model state', () => {
      const run = (useJit: boolean): number[] => {
        Tensor.manualSeed(3)
        const l = new nn.Linear(6, 3)
        const opt = new optim.SGD(nn.getParameters(l), { lr: 0.1, momentum: 0.9 })
        const step = (x: Tensor, y: Tensor) => {
          const loss = l.call(x).sparseCategoricalCrossentropy(y)
          opt.zeroGrad()
          loss.backward()
          Tensor.realize(loss, ...opt.scheduleStep())
          return loss
        }
        const f = useJit ? jit(step) : step
        const losses: number[] = []
        for (let i = 0; i < 8; i++) {
          const { x, y } = batch(i)
          const n = i % 2 ? 16 : 10 // every other batch is a short one
          losses.push(f(x.shrink([[0, n]]), y.shrink([[0, n]])).itemSync() as number)
        }
        return [...losses, ...vals(l.weight), ...vals(opt.buffers[0]!)]
      }
      assertClose(run(true), run(false), 1e-6)
    })

    test('random numbers differ per replay and follow the eager stream', () => {
      Tensor.training = true
      const ones = Tensor.ones([256]).contiguous().realize()
      const fn = (x: Tensor) => [x.dropout(0.5), Tensor.randn([4, 8])]
      Tensor.manualSeed(5)
      const eager = Array.from({ length: 5 }, () => fn(ones).map((t) => vals(t.realize())))
      const f = jit(fn)
      Tensor.manualSeed(5)
      const jitted = Array.from({ length: 5 }, () => f(ones).map(vals))
      assert.deepEqual(jitted, eager)
      const masks = new Set(jitted.map((r) => r[0]!.join(',')))
      assert.equal(masks.size, 5, 'every call draws a new dropout mask')
      assert.ok(jitted[4]![0]!.some((v) => v === 0) && jitted[4]![0]!.some((v) => v === 2))
      // manualSeed between replays restarts the stream; inside the function it is an error
      Tensor.manualSeed(5)
      assert.deepEqual(f(ones).map(vals), eager[0])
      const seeded = jit((x: Tensor) => {
        Tensor.manualSeed(1)
        return x.dropout(0.5)
      })
      Tensor.manualSeed(9)
      assert.throws(() => seeded(ones), /manualSeed inside a jitted function/)
      Tensor.training = false
    })

    test('a changed signature re-captures; every signature keeps its capture', () => {
      const f = jit((x: Tensor, s: number, o: { shift: number }) => x.mul(s).add(o.shift))
      const a = new Tensor([1, 2, 3, 4])
      for (let i = 0; i < 3; i++) assert.deepEqual(vals(f(a, 2, { shift: 1 })), [3, 5, 7, 9])
      assert.ok(f.jit.captured(a, 2, { shift: 1 }))
      // new shape: runs eagerly, captured on its second call, and the old shape still replays
      const b = new Tensor([
        [1, 2, 3],
        [4, 5, 6],
      ])
      const [, s1] = schedulesOf(() => assert.deepEqual(vals(f(b, 2, { shift: 1 })), [3, 5, 7, 9, 11, 13]))
      assert.ok(s1 > 0)
      assert.equal(f.jit.captured(b, 2, { shift: 1 }), undefined)
      f(b, 2, { shift: 1 })
      assert.ok(f.jit.captured(b, 2, { shift: 1 }))
      const [r, s2] = schedulesOf(() => f(new Tensor([0, 1, 0, 1]), 2, { shift: 1 }))
      assert.equal(s2, 0)
      assert.deepEqual(vals(r), [1, 3, 1, 3])
      // dtype, non-tensor arguments (by value, also inside plain objects) and Tensor.training are keys
      assert.deepEqual(vals(f(new Tensor([1, 2, 3, 4], { dtype: 'int32' }), 2, { shift: 1 })), [3, 5, 7, 9])
      assert.equal(f(new Tensor([1, 2, 3, 4], { dtype: 'int32' }), 2, { shift: 1 }).dtype.name, 'int32')
      assert.deepEqual(vals(f(a, 3, { shift: 1 })), [4, 7, 10, 13])
      assert.deepEqual(vals(f(a, 2, { shift: -1 })), [1, 3, 5, 7])
      assert.equal(f.jit.captured(a, 3, { shift: 1 }), undefined)
      Tensor.training = true
      assert.equal(f.jit.captured(a, 2, { shift: 1 }), undefined)
      Tensor.training = false
    })

    test('two arguments sharing a buffer are a different signature', () => {
      const f = jit((x: Tensor, y: Tensor) => x.sub(y))
      const a = new Tensor([5, 6])
      const b = new Tensor([1, 1])
      for (let i = 0; i < 3; i++) assert.deepEqual(vals(f(a, b)), [4, 5])
      assert.deepEqual(vals(f(a, a)), [0, 0])
      assert.deepEqual(vals(f(b, a)), [-4, -5])
    })

    test('outputs that alias inputs are returned on this call’s inputs', () => {
      const f = jit((x: Tensor) => {
        x.assign(x.add(1))
        return [x, x.mul(2), 7]
      })
      for (let i = 0; i < 5; i++) {
        const x = new Tensor([i, 10 * i])
        const [y, z, k] = f(x) as [Tensor, Tensor, number]
        assert.deepEqual(vals(x), [i + 1, 10 * i + 1], 'the assign wrote into the input')
        assert.deepEqual(vals(y), [i + 1, 10 * i + 1])
        assert.deepEqual(vals(z), [2 * i + 2, 20 * i + 2])
        assert.equal(k, 7)
        x.dispose()
      }
      const id = jit((x: Tensor) => ({ same: x, neg: x.neg() }))
      for (let i = 0; i < 4; i++) {
        const x = new Tensor([i + 1, -i - 1])
        const r = id(x)
        assert.deepEqual(vals(r.same), [i + 1, -i - 1])
        assert.deepEqual(vals(r.neg), [-i - 1, i + 1])
      }
    })

    test('feeding an output back as the next input (h = f(h)) gives the eager numbers', () => {
      const w = new Tensor(host(11, 16), { shape: [4, 4] }).realize()
      const fn = (h: Tensor) => h.flip(0).matmul(w).tanh().add(0.5)
      const h0 = new Tensor(host(12, 8), { shape: [2, 4] }).realize()
      let he = h0
      let hj = h0
      const f = jit(fn)
      for (let i = 0; i < 6; i++) {
        he = fn(he).realize()
        hj = f(hj)
        assertClose(vals(hj), vals(he), 1e-6, `step ${i}`)
      }
    })

    test('each replay returns new output buffers: an earlier output keeps its value and may be disposed', () => {
      const f = jit((x: Tensor) => x.mul(10))
      for (let i = 0; i < 2; i++) f(new Tensor([i]))
      const first = f(new Tensor([1]))
      const second = f(new Tensor([2]))
      assert.deepEqual(vals(first), [10], 'a realized output keeps its value')
      assert.deepEqual(vals(second), [20])
      first.dispose()
      second.dispose()
      assert.deepEqual(vals(f(new Tensor([3]))), [30])
    })

    test('uploads inside the function are baked as constants; state outside must be updated in place', () => {
      const w = new Tensor([1, 1]).realize()
      const f = jit((x: Tensor) => x.mul(new Tensor([2, 3])).add(w))
      for (let i = 0; i < 3; i++) assert.deepEqual(vals(f(new Tensor([i, i]))), [2 * i + 1, 3 * i + 1])
      w.assign(new Tensor([5, 6])).realize() // in place: the capture sees it
      assert.deepEqual(vals(f(new Tensor([1, 1]))), [7, 9])
    })

    test('BatchNorm forward in training mode commits its running statistics every call', () => {
      Tensor.training = true
      const e = new nn.BatchNorm(3)
      const j = new nn.BatchNorm(3)
      const f = jit((x: Tensor) => j.call(x))
      for (let i = 0; i < 5; i++) {
        const x = new Tensor(host(300 + i, 8 * 3), { shape: [8, 3] }).realize()
        const ye = e.call(x).realize()
        assertClose(vals(f(x)), vals(ye), 1e-6, `output ${i}`)
      }
      Tensor.training = false
      assertClose(vals(j.runningMean!), vals(e.runningMean!), 1e-6, 'running mean')
      assertClose(vals(j.runningVar!), vals(e.runningVar!), 1e-6, 'running var')
      assert.deepEqual(vals(j.numBatchesTracked!), [5])
    })

    test('temporaries of separate realizes in one call share buffers', () => {
      const f = jit((x: Tensor) => {
        const a = x.mul(2).contiguous().add(1).sum()
        a.realize()
        const b = x.mul(3).contiguous().add(2).sum()
        return b.add(a)
      })
      const x = new Tensor(host(7, 64))
      const want = vals(x).reduce((s, v) => s + 5 * v + 3, 0)
      for (let i = 0; i < 4; i++) assertClose(vals(f(x)), [want], 1e-5)
      const g = f.jit.captured(x)!
      assert.equal(g.stats.temps, 2)
      assert.equal(g.stats.tempsPlanned, 1)
      assert.equal(g.stats.tempBytes, 64 * 4)
    })

    test('reading values inside a jitted function throws a clear error', async () => {
      const sync = jit((x: Tensor) => {
        x.sum().itemSync()
        return x
      })
      assert.throws(
        () => sync(new Tensor([1])),
        (e: unknown) => e instanceof TsgradError && /jitted function/.test(String(e)),
      )
      let asyncRead: Promise<unknown> = Promise.resolve()
      const f = jit((x: Tensor) => {
        asyncRead = x.data()
        return x
      })
      f(new Tensor([1]))
      await assert.rejects(
        asyncRead,
        (e: unknown) => e instanceof TsgradError && /jitted function/.test(String(e)),
      )
      const g = jit(async (x: Tensor) => x.add(1))
      assert.throws(() => g(new Tensor([1])), /returned a Promise/)
      // the scope is left clean: reading after a failed call works
      assert.deepEqual(vals(new Tensor([4])), [4])
    })

    test('bad arguments are clear errors', () => {
      assert.throws(() => jit(3 as unknown as () => void), /jit: expected a function/)
      const f = jit((xs: Tensor[]) => xs[0]!)
      assert.throws(() => f([new Tensor([1])]), /top-level arguments.*args\[0\]\[0\]/)
    })

    test('a jitted function called inside another runs its body as part of the outer capture', () => {
      const inner = jit((x: Tensor) => x.add(1))
      const outer = jit((x: Tensor) => inner(x).mul(2))
      for (let i = 0; i < 4; i++) assert.deepEqual(vals(outer(new Tensor([i]))), [2 * i + 2])
    })
  })
}
