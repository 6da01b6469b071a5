// Training loops keep memory flat: nothing built by a step (graph nodes, buffers, their bookkeeping)
// may outlive it, even in a loop that never lets the event loop turn. The long version is
// `npm run soak` (test/soak/soak.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { optim, Tensor } from '../../src/index.ts'
import { stats } from '../../src/engine/realize.ts'
import { eventLoopTurn } from '../../src/helpers.ts'
import { memoryNow, settle, soak, syncGrowthPerStep, workloads } from '../soak/workloads.ts'

const KB = 1024
describe('memory stays flat over training steps', { skip: !globalThis.gc && 'needs --expose-gc' }, () => {
  for (const [name, make] of Object.entries(workloads)) {
    test(name, async () => {
      const step = make()
      for (let i = 0; i < 100; i++) step() // compile, fill caches, let V8 optimize
      await settle()
      // a loop that awaits a read now and then: flat (it kept every node and buffer it built,
      // 21 KB per eager step and 52 KB per jitted one, while the WeakRef interning table pinned them)
      const s = await soak(step, { steps: 300, sampleEvery: 50, readEvery: 25 })
      const growth = s[s.length - 1]!.heap - s[0]!.heap
      assert.ok(growth < 1024 * KB, `${name}: heap grew by ${(growth / KB).toFixed(0)} KiB over 250 steps`)
      // a loop that never yields: only a finalization-registry cell per dropped buffer (72 bytes
      // until the event loop turns) and V8's own code may pile up
      const perStep = syncGrowthPerStep(step, 200)
      assert.ok(perStep < 6 * KB, `${name}: ${perStep.toFixed(0)} bytes per synchronous step`)
    })
  }
})

describe('values that change every step', { skip: !globalThis.gc && 'needs --expose-gc' }, () => {
  test('a new constant every step is not kept, nor what was built from it', async () => {
    const x = Tensor.ones([4])
    const build = (n: number, from: number) => {
      for (let i = 0; i < n; i++) x.add(from + i + 0.5).mul(from - i - 0.25)
    }
    build(1000, 0)
    await settle()
    const before = memoryNow(0).heap
    build(20000, 1e6) // 40,000 constants, each reshaped and expanded
    await settle()
    const growth = memoryNow(0).heap - before
    assert.ok(growth < 2 * 1024 * KB, `heap grew by ${(growth / KB).toFixed(0)} KiB`)
  })

  test('a learning-rate schedule compiles one kernel, not one per value, and steps with each value', async () => {
    const p = new Tensor([1.5, 2.5, 3.5], { requiresGrad: true })
    const opt = new optim.SGD([p], { lr: 0.5 })
    const c0 = stats.kernelsCompiled
    let expected = [1.5, 2.5, 3.5]
    for (let i = 0; i < 10; i++) {
      opt.lr = 0.1 / (i + 1)
      opt.zeroGrad()
      p.mul(p).sum().backward() // grad 2p
      opt.step()
      expected = expected.map((v) => v - (0.1 / (i + 1)) * 2 * v)
      const got = Array.from(await p.data())
      for (const [j, v] of got.entries())
        assert.ok(Math.abs(v - expected[j]!) < 1e-5, `step ${i}: ${got} vs ${expected}`)
      if (i === 1) assert.equal(opt.lr, 0.05)
    }
    // the first steps compile the update and the upload; later values reuse them
    const first = stats.kernelsCompiled - c0
    for (let i = 0; i < 10; i++) opt.lr = 0.01 * i
    assert.equal(stats.kernelsCompiled - c0, first)
  })
})

describe('the event-loop turn of every data()', () => {
  test('where there is no setImmediate (a browser) it is a message, not a setTimeout', async () => {
    // a setTimeout(0) nested five deep waits 4 ms in a browser: every `await data()` of a loop paid it
    const g = globalThis as { setImmediate?: unknown; setTimeout: unknown }
    const [immediate, timeout] = [g.setImmediate, g.setTimeout]
    let timers = 0
    g.setImmediate = undefined
    g.setTimeout = (f: () => void) => {
      timers++
      return (timeout as (f: () => void, ms: number) => unknown)(f, 0)
    }
    try {
      await eventLoopTurn()
    } finally {
      g.setImmediate = immediate
      g.setTimeout = timeout
    }
    assert.equal(timers, 0)
  })
})
