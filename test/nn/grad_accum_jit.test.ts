// Gradient accumulation: backward() on several micro-batches adds into `.grad` (as PyTorch), and a
// jitted step that runs k micro-batches, clips and steps gives the eager values and those of one
// batch of k times the size, replaying over new data. On JS and CPU.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Device, jit, nn, optim, Tensor } from '../../src/index.ts'
import { assertClose, prng } from './helpers.ts'

const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]
const K = 3 // micro-batches per step
const MB = 4 // rows per micro-batch
const host = (seed: number, n: number): number[] => {
  const r = prng(seed)
  return Array.from({ length: n }, () => r())
}
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)

class Net {
  l1 = new nn.Linear(5, 8)
  l2 = new nn.Linear(8, 2)
  call(x: Tensor): Tensor {
    return this.l2.call(this.l1.call(x).gelu())
  }
}

/** Step `s`'s data: K micro-batches (x [MB, 5], y [MB, 2]) and the same rows as one batch. */
function data(s: number): { xs: Tensor[]; ys: Tensor[]; x: Tensor; y: Tensor } {
  const xs = Array.from({ length: K }, (_, k) => new Tensor(host(1000 * s + k, MB * 5), { shape: [MB, 5] }))
  const ys = Array.from(
    { length: K },
    (_, k) => new Tensor(host(500 + 1000 * s + k, MB * 2), { shape: [MB, 2] }),
  )
  const x = new Tensor(xs.flatMap(vals), { shape: [K * MB, 5] })
  const y = new Tensor(ys.flatMap(vals), { shape: [K * MB, 2] })
  for (const t of [...xs, ...ys, x, y]) t.realize()
  return { xs, ys, x, y }
}

function setup() {
  Tensor.manualSeed(7)
  const net = new Net()
  const params = nn.getParameters(net)
  const opt = new optim.AdamW(
    [
      { params: params.filter((p) => p.ndim >= 2), weightDecay: 0.1 },
      { params: params.filter((p) => p.ndim < 2), weightDecay: 0 },
    ],
    { lr: 0.05 },
  )
  // micro-batch losses are means over their rows divided by K: the sum equals the big batch's mean
  const accumStep = (...xy: Tensor[]): Tensor[] => {
    opt.zeroGrad()
    const losses: Tensor[] = []
    for (let k = 0; k < K; k++) {
      const loss = net
        .call(xy[k]!)
        .mseLoss(xy[K + k]!)
        .div(K)
      loss.backward()
      losses.push(loss)
    }
    const norm = nn.clipGradNorm(params, 0.05)
    opt.step()
    return [losses.reduce((a, b) => a.add(b)), norm]
  }
  const bigStep = (x: Tensor, y: Tensor): Tensor[] => {
    opt.zeroGrad()
    const loss = net.call(x).mseLoss(y)
    loss.backward()
    const norm = nn.clipGradNorm(params, 0.05)
    opt.step()
    return [loss, norm]
  }
  const state = (): number[] => params.flatMap(vals)
  return { net, params, opt, accumStep, bigStep, state }
}

for (const device of devices) {
  describe(`gradient accumulation on ${device}`, () => {
    let prev = ''
    before(() => {
      prev = Device.DEFAULT
      Device.DEFAULT = device
    })
    after(() => {
      Device.DEFAULT = prev
    })

    test('backward twice adds into .grad (PyTorch semantics)', () => {
      const w = new Tensor([1, 2, 3], { requiresGrad: true })
      w.mul(2).sum().backward()
      w.square().sum().backward()
      assert.deepEqual(vals(w.grad!), [4, 6, 8])
      w.grad = undefined
      w.sum().backward()
      assert.deepEqual(vals(w.grad!), [1, 1, 1])
    })

    test('jit(k micro-batches + clip + AdamW) == eager == one batch of k times the size, over replays', () => {
      const steps = 5
      const eager = setup()
      const jitted = setup()
      const big = setup()
      const step = jit(jitted.accumStep)
      assert.deepEqual(eager.state(), jitted.state(), 'same initial weights')
      for (let s = 0; s < steps; s++) {
        const { xs, ys, x, y } = data(s)
        const e = eager.accumStep(...xs, ...ys).map(vals)
        const j = step(...xs, ...ys).map(vals)
        const b = big.bigStep(x, y).map(vals)
        assertClose(j.flat(), e.flat(), 1e-6, `step ${s}: jit vs eager (loss, norm)`)
        assertClose(b.flat(), e.flat(), 1e-5, `step ${s}: big batch vs micro-batches (loss, norm)`)
        assertClose(jitted.state(), eager.state(), 1e-6, `step ${s}: jit vs eager parameters`)
        assertClose(big.state(), eager.state(), 1e-5, `step ${s}: big batch vs micro-batches parameters`)
        if (s === 0) assert.ok(e[1]![0]! > 0.05, 'the clip is active (norm above maxNorm)')
      }
      const d = data(0)
      assert.ok(step.jit.captured(...d.xs, ...d.ys), 'the jitted step was captured and replayed')
    })
  })
}

describe('lazy results of a jitted training step', () => {
  test('a loss made in the call and not realized with the step is captured (it was an error)', () => {
    const w = new Tensor([1, 2], { requiresGrad: true })
    const opt = new optim.SGD([w], { lr: 0.5 })
    const step = jit((x: Tensor) => {
      opt.zeroGrad()
      const loss = w.mul(x).sum()
      loss.backward()
      opt.step() // the loss reads w, which the step overwrites
      return loss
    })
    const expectW = [1, 2]
    for (const x of [
      [1, 1],
      [2, -1],
      [0.5, 3],
      [1, 0],
    ]) {
      const want = expectW[0]! * x[0]! + expectW[1]! * x[1]!
      assert.deepEqual(vals(step(new Tensor(x))), [want])
      expectW[0]! -= 0.5 * x[0]!
      expectW[1]! -= 0.5 * x[1]!
      assert.deepEqual(vals(w), expectW)
    }
  })

  test('clipGradNorm: the norm can be read after an eager step (it was an error)', () => {
    const w = new Tensor([3, 4], { requiresGrad: true })
    const opt = new optim.SGD([w], { lr: 1 })
    w.square().sum().div(2).backward() // grad = w: the norm reads w, which the step overwrites
    const norm = nn.clipGradNorm([w], 1)
    opt.step()
    assertClose(vals(norm), [5], 1e-6)
    assertClose(vals(w), [3 - 0.6, 4 - 0.8], 1e-6)
  })
})
