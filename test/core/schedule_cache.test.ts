// The structural schedule cache: a graph built again over other buffers reuses its schedule, and
// everything that changes the schedule (aliasing between inputs, constants, shapes, in-place
// assignment, copies that must get their own storage) gives the right values.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { clearKernelCache, stats } from '../../src/engine/realize.ts'
import { clearScheduleCache, scheduleCacheSize, scheduleCacheStats } from '../../src/schedule/cache.ts'

const values = async (t: Tensor) => [...(await t.data())]
/** hits and misses of running `f` */
async function counting(f: () => Promise<void>): Promise<{ hits: number; misses: number }> {
  const [h, m] = [scheduleCacheStats.hits, scheduleCacheStats.misses]
  await f()
  return { hits: scheduleCacheStats.hits - h, misses: scheduleCacheStats.misses - m }
}

describe('schedule cache', () => {
  test('clearKernelCache makes the next launch of a cached schedule build its kernel again', async () => {
    // the kernel found by its AST node (no key building) must be forgotten too
    const a = Tensor.rand([37]).realize()
    const f = () => a.mul(3).add(a).realize()
    f()
    const before = stats.kernelsCompiled
    f()
    assert.equal(stats.kernelsCompiled, before, 'a cached launch compiles nothing')
    clearKernelCache()
    f()
    assert.equal(stats.kernelsCompiled, before + 1)
  })
  test('the same graph over new buffers is a hit and reads the new values', async () => {
    clearScheduleCache()
    const f = (a: Tensor, b: Tensor) => a.mul(b).add(1).sum(1)
    const a1 = new Tensor([
      [1, 2],
      [3, 4],
    ]).realize()
    const b1 = new Tensor([
      [5, 6],
      [7, 8],
    ]).realize()
    const a2 = new Tensor([
      [-1, 0],
      [2, 2],
    ]).realize()
    const b2 = new Tensor([
      [3, 3],
      [1, -1],
    ]).realize()
    const first = await counting(async () => assert.deepEqual(await values(f(a1, b1)), [19, 55]))
    const second = await counting(async () => assert.deepEqual(await values(f(a2, b2)), [-1, 2]))
    assert.equal(first.misses, 1)
    assert.deepEqual(second, { hits: 1, misses: 0 })
  })

  test('aliasing between inputs is part of the key: a + b and a + a', async () => {
    const a = new Tensor([1, 2, 3]).realize()
    const b = new Tensor([10, 20, 30]).realize()
    assert.deepEqual(await values(a.add(b)), [11, 22, 33])
    const aa = await counting(async () => assert.deepEqual(await values(a.add(a)), [2, 4, 6]))
    assert.equal(aa.misses, 1)
    assert.deepEqual(await values(b.add(a)), [11, 22, 33])
  })

  test('constants and shapes are part of the key', async () => {
    const a = new Tensor([1, 2, 3, 4]).realize()
    assert.deepEqual(await values(a.mul(2)), [2, 4, 6, 8])
    assert.deepEqual(await values(a.mul(3)), [3, 6, 9, 12])
    assert.deepEqual(await values(a.reshape([2, 2]).sum(0)), [4, 6])
    assert.deepEqual(await values(a.reshape([2, 2]).sum(1)), [3, 7])
  })

  test('an in-place update repeated in a loop hits and accumulates', async () => {
    const x = new Tensor([0, 1]).realize()
    const c = await counting(async () => {
      for (let i = 0; i < 5; i++) x.assign(x.add(1)).realize()
    })
    assert.ok(c.hits >= 4, `hits ${c.hits}`)
    assert.deepEqual(await values(x), [5, 6])
  })

  test('copies made from a hit get their own storage', async () => {
    const a = new Tensor([1, 2]).realize()
    const c1 = a.clone().realize()
    const c2 = a.clone().realize()
    c1.assign(c1.mul(10)).realize()
    assert.deepEqual(await values(c1), [10, 20])
    assert.deepEqual(await values(c2), [1, 2])
    assert.deepEqual(await values(a), [1, 2])
  })

  test('a training step repeated hits from the second step on, with the same losses as without', async () => {
    const run = async () => {
      const w = new Tensor([0.5, -0.25, 0.125], { requiresGrad: true })
      const x = new Tensor([
        [1, 2, 3],
        [0, -1, 1],
      ])
      const losses: number[] = []
      for (let i = 0; i < 4; i++) {
        const loss = x.matmul(w).sub(1).square().mean()
        loss.backward()
        w.assign(w.sub(w.grad!.mul(0.1))).realize()
        w.grad = undefined
        losses.push((await loss.data())[0]!)
      }
      return losses
    }
    const cached = await counting(async () => {
      await run()
    })
    assert.ok(cached.hits > 0, 'no hits')
    const withCache = await run()
    process.env.SCACHE = '0'
    try {
      const off = await counting(async () => assert.deepEqual(await run(), withCache))
      assert.deepEqual(off, { hits: 0, misses: 0 })
    } finally {
      delete process.env.SCACHE
    }
  })
  test('the keys kept are bounded in total length (SCACHE_CHARS), least recently used dropped', async () => {
    clearScheduleCache()
    process.env.SCACHE_CHARS = '20000'
    try {
      const a = Tensor.rand([4]).realize()
      let longest = 0
      for (let n = 1; n <= 40; n++) {
        let x = a
        for (let i = 0; i < n; i++) x = x.add(i + 1)
        x.realize()
        longest = Math.max(longest, scheduleCacheSize().keyChars)
      }
      assert.ok(longest <= 20000, `keys of ${longest} characters kept`)
      assert.ok(scheduleCacheSize().entries > 1 && scheduleCacheSize().entries < 40)
      // a graph whose key alone is over a quarter of the bound is scheduled but not kept
      let x = a
      for (let i = 0; i < 400; i++) x = x.add(0.5)
      const before = scheduleCacheSize().entries
      const [a0, x0] = [(await a.data())[0]!, (await x.data())[0]!]
      assert.ok(Math.abs(x0 - (a0 + 200)) < 1e-3, `${x0} != ${a0} + 200`)
      assert.equal(scheduleCacheSize().entries, before)
    } finally {
      delete process.env.SCACHE_CHARS
      clearScheduleCache()
    }
  })
})
