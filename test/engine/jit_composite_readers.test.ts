// A jitted training step realizes the live lazy tensors made in the call that read the weights it
// overwrites (a returned loss keeps its pre-step value). The views and copies that conv2d builds
// on the way (input windows, a flipped weight) are internal to the op, not such readers: when they
// were, each became its own copy kernel in the step (MNIST CNN: 8 extra kernels, 0.40 -> 0.48 s/step).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { jit, nn, optim, Tensor } from '../../src/index.ts'

function convStepKernels(transpose: boolean): number {
  Tensor.manualSeed(7)
  const c1 = new nn.Conv2d(2, 4, 3)
  const w2 = Tensor.randn([4, 3, 3, 3]).mul(0.1).realize()
  w2.requiresGrad = true
  const params = [...nn.getParameters(c1), w2]
  const opt = new optim.SGD(params, { lr: 0.01 })
  const step = jit((x: Tensor) => {
    const h = c1.call(x).relu()
    const y = transpose ? h.convTranspose2d(w2, { stride: 2 }) : h.conv2d(w2.permute([1, 0, 2, 3]))
    const loss = y.square().mean()
    opt.zeroGrad()
    loss.backward()
    opt.step()
    return loss
  })
  const x = Tensor.randn([2, 2, 9, 9]).realize()
  for (let i = 0; i < 3; i++) step(x).itemSync()
  const g = step.jit.captured(x)
  assert.ok(g, 'the step was captured')
  return g.stats.kernels
}

test('a jitted conv step does not realize conv2d’s internal views as readers of the weights', () => {
  assert.equal(convStepKernels(false), 15)
})

test('a jitted convTranspose2d step does not realize its internal views either', () => {
  assert.equal(convStepKernels(true), 15)
})
