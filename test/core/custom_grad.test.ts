// Custom gradients live in the graph: a CUSTOM_GRAD node carries its backward function (no side
// table keyed by node), the scheduler sees its forward value, and schedules are cached by
// structure (a new backward function per step still hits the cache).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { clearScheduleCache, scheduleCacheStats } from '../../src/schedule/cache.ts'
import { withCustomGrad } from '../../src/tensor/custom_grad.ts'
import { Ops, type UOp } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'

const kernels = (t: Tensor) => scheduleFor([t.uop]).items.filter((i) => i.kind === 'kernel').length
const allNodes = (u: UOp) => toposort([u], undefined, (n) => n.src)

describe('custom gradients in the graph', () => {
  test('a tracked sigmoid carries its backward in a CUSTOM_GRAD node; an untracked one carries none', () => {
    const x = new Tensor([1, 2, 3], { requiresGrad: true })
    assert.equal(x.sigmoid().uop.op, Ops.CUSTOM_GRAD)
    const y = new Tensor([1, 2, 3])
    assert.ok(!allNodes(y.sigmoid().uop).some((u) => u.op === Ops.CUSTOM_GRAD))
    assert.ok(!allNodes(Tensor.noGrad(() => x.sigmoid()).uop).some((u) => u.op === Ops.CUSTOM_GRAD))
  })

  test('two equal forward graphs with different backward functions never merge', async () => {
    const x = new Tensor([1, -2, 3], { requiresGrad: true })
    const a = withCustomGrad(x.mul(1), [x], (g) => [g.mul(2)])
    const b = withCustomGrad(x.mul(1), [x], (g) => [g.mul(3)])
    assert.notEqual(a.uop, b.uop)
    a.add(b).sum().backward()
    assert.deepEqual([...(await x.grad!.data())], [5, 5, 5])
  })

  test('the scheduler sees the forward value: same kernels with and without the node', () => {
    const x = Tensor.randn([64, 64]).realize()
    const w = Tensor.randn([64, 64], { requiresGrad: true }).realize()
    const plain = x.matmul(w.detach()).sigmoid().logsumexp(-1)
    const tracked = x.matmul(w).sigmoid().logsumexp(-1)
    assert.ok(allNodes(tracked.uop).some((u) => u.op === Ops.CUSTOM_GRAD))
    assert.equal(kernels(tracked), kernels(plain))
  })

  test('a schedule with new backward functions each step hits the cache (keyed by structure)', async () => {
    clearScheduleCache()
    const w = Tensor.randn([8, 8], { requiresGrad: true }).realize()
    const step = async () => {
      const x = Tensor.randn([4, 8]).realize()
      const loss = x.matmul(w).sigmoid().std().add(x.sigmoid().logsumexp(-1).sum())
      loss.backward()
      await Tensor.realize(loss, w.grad!)
      w.grad = undefined
    }
    await step()
    const h = scheduleCacheStats.hits
    await step()
    assert.ok(scheduleCacheStats.hits > h, 'the second step reuses the schedule')
  })

  test('a cache hit on a graph with CUSTOM_GRADs (keyed as the forward graph) gives the right values', async () => {
    clearScheduleCache()
    const w = Tensor.randn([6, 6], { requiresGrad: true }).realize()
    const f = (x: Tensor) => x.matmul(w).sigmoid().logsumexp(-1).sum()
    for (let step = 0; step < 3; step++) {
      const x = Tensor.randn([5, 6]).realize()
      const h = scheduleCacheStats.hits
      const tracked = f(x)
      assert.ok(allNodes(tracked.uop).some((u) => u.op === Ops.CUSTOM_GRAD))
      const got = (await tracked.data())[0]!
      if (step > 0) assert.equal(scheduleCacheStats.hits, h + 1, 'a hit')
      const want = (await Tensor.noGrad(() => f(x)).data())[0]!
      assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`)
    }
  })

  test('a realized tracked tensor keeps its graph for autograd in the graph, not beside it', async () => {
    const w = new Tensor([0.5, -1, 2], { requiresGrad: true })
    const h = w.mul(3).realize()
    assert.equal(h.uop.op, Ops.CUSTOM_GRAD)
    assert.ok(h.uop.contiguousBase, 'it is still a view of its buffer')
    h.square().sum().backward()
    // d/dw sum((3w)^2) = 18 w
    assert.deepEqual([...(await w.grad!.data())], [9, -18, 36])
  })

  test('a parameter realized after the graph was built: the gradient inputs are substituted too', async () => {
    const w = Tensor.randn([40, 40], { requiresGrad: true })
    const x = Tensor.randn([40, 40]).realize()
    const y = x.matmul(w).sigmoid().sum()
    w.realize()
    y.backward()
    const gw = await w.grad!.data()
    const s = x.matmul(w.detach()).sigmoid()
    const ref = await x
      .transpose()
      .matmul(s.mul(s.neg().add(1)))
      .data()
    for (let i = 0; i < gw.length; i++) assert.ok(Math.abs(gw[i]! - ref[i]!) < 1e-3 * (1 + Math.abs(ref[i]!)))
  })
})
