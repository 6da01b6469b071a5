// Reading the gradients of one backward() one at a time (as PyTorch users do) must not schedule the
// shared backward graph again for each parameter: the first read realizes all of them together.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { nn, Tensor } from '../../src/index.ts'

function mlp(): { params: Tensor[]; loss: Tensor } {
  Tensor.manualSeed(1)
  const l1 = new nn.Linear(16, 32)
  const l2 = new nn.Linear(32, 32)
  const l3 = new nn.Linear(32, 4)
  const x = Tensor.randn([8, 16])
  const loss = l3
    .call(l2.call(l1.call(x).relu()).relu())
    .square()
    .mean()
  return { params: [l1.weight, l1.bias!, l2.weight, l2.bias!, l3.weight, l3.bias!], loss }
}

test('reading gradients one by one runs one schedule for all of them', () => {
  const { params, loss } = mlp()
  loss.backward()
  const s0 = stats.schedules
  const k0 = stats.kernelsRun
  const one = params.map((p) => Array.from(p.grad!.dataSync() as Float32Array))
  const schedules = stats.schedules - s0
  const kernels = stats.kernelsRun - k0
  assert.equal(schedules, 1, `one schedule for the six gradient reads, got ${schedules}`)

  // the same values as realizing them together explicitly
  const ref = mlp()
  ref.loss.backward()
  Tensor.realize(...ref.params.map((p) => p.grad!))
  const k1 = stats.kernelsRun
  ref.params.map((p) => p.grad!.dataSync())
  assert.equal(stats.kernelsRun, k1, 'explicitly realized gradients read without running kernels')
  for (const [i, p] of ref.params.entries())
    assert.deepEqual(one[i], Array.from(p.grad!.dataSync() as Float32Array), `gradient ${i}`)
  assert.ok(kernels > 0)
})

test('a gradient collected or disposed before the first read does not block the others', () => {
  const { params, loss } = mlp()
  loss.backward()
  params[0]!.grad!.dispose()
  params[0]!.grad = undefined
  const s0 = stats.schedules
  for (const p of params.slice(1)) p.grad!.dataSync()
  assert.equal(stats.schedules - s0, 1)
})

test('accumulated gradients (two backward calls) are realized together too', () => {
  const { params, loss } = mlp()
  loss.backward()
  const { loss: loss2 } = { loss: params[0]!.square().sum().add(params[4]!.sum()) }
  loss2.backward()
  const s0 = stats.schedules
  for (const p of params) p.grad!.dataSync()
  assert.equal(stats.schedules - s0, 1)
})
