// zeroGrad frees the gradients only the optimizer read: a training step realizes its gradients into
// fresh buffers, and the garbage collector freed the last step's only every many steps (in a page,
// none in 20 MLP steps), so each step's weight-gradient kernels wrote onto fresh memory (a page
// fault per 4 KiB: twice the time of the step's other matmuls on WASM). A gradient that was read
// through `p.grad` keeps its value, as in PyTorch.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { nn, optim, Tensor } from '../../src/index.ts'
import { memory } from '../../src/runtime/buffer.ts'

function model() {
  Tensor.manualSeed(5)
  const layers = [new nn.Linear(32, 64), new nn.Linear(64, 4)]
  const x = Tensor.randn([16, 32]).realize()
  const y = Tensor.randint(0, 4, [16]).realize()
  const [a, b] = layers as [nn.Linear, nn.Linear]
  const loss = () => b.call(a.call(x).relu()).sparseCategoricalCrossentropy(y)
  return { params: nn.getParameters(layers), loss }
}

describe('zeroGrad and the gradients of the last step', () => {
  test('gradients only the optimizer read are freed at once: memory stays flat without a GC', () => {
    const { params, loss } = model()
    const opt = new optim.SGD(params, { lr: 0.1 })
    const step = () => {
      opt.zeroGrad()
      const l = loss()
      l.backward()
      Tensor.realize(l, ...opt.scheduleStep())
    }
    for (let i = 0; i < 3; i++) step()
    const first = Tensor.gradUnread(params[0]!)!
    const before = memory.inUse
    // a loop that never yields (no finalizer can run): before, every step added its gradients
    for (let i = 0; i < 20; i++) step()
    const grew = memory.inUse - before
    const gradBytes = params.reduce((n, p) => n + p.numel() * 4, 0)
    assert.ok(grew < gradBytes, `in use grew by ${grew} bytes over 20 steps (gradients: ${gradBytes} a step)`)
    assert.ok(first.isDisposed, 'the dropped gradient was disposed')
  })

  test('a gradient read through p.grad keeps its value after zeroGrad and the next step', async () => {
    const { params, loss } = model()
    const opt = new optim.Adam(params, { lr: 0.1 })
    loss().backward()
    opt.step()
    const g = params[0]!.grad!
    const want = Array.from(await g.data())
    for (let i = 0; i < 2; i++) {
      opt.zeroGrad()
      loss().backward()
      opt.step()
    }
    assert.ok(!g.isDisposed)
    assert.deepEqual(Array.from(await g.data()), want)
    assert.notDeepEqual(Array.from(await params[0]!.grad!.data()), want, 'a new gradient was computed')
  })
})
