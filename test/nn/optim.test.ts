import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { nn, optim, Tensor } from '../../src/index.ts'
import { expectClose, values, withTraining } from './helpers.ts'

// Tiny problem with known gradients:
//   loss = sum(0.5 * A * w^2 + C * w) + sum(b^2)   =>   dw = A * w + C,  db = 2 * b
const A = [0.5, 1, 2, 1.5]
const C = [0.1, -0.2, 0.3, 0.4]
const W0 = [1, -2, 3, 0.5]
const B0 = [0.3, -0.7]

function makeParams(): { w: Tensor; b: Tensor } {
  return {
    w: new Tensor(W0, { shape: [2, 2], requiresGrad: true }),
    b: new Tensor(B0, { dtype: 'float32', requiresGrad: true }),
  }
}
function loss(w: Tensor, b: Tensor): Tensor {
  const a = new Tensor(A, { shape: [2, 2] })
  const c = new Tensor(C, { shape: [2, 2] })
  return w.square().mul(a).mul(0.5).add(w.mul(c)).sum().add(b.square().sum())
}
function grads(w: number[], b: number[]): number[][] {
  return [w.map((v, i) => A[i]! * v + C[i]!), b.map((v) => 2 * v)]
}

interface SGDCfg {
  lr: number
  momentum?: number
  nesterov?: boolean
  weightDecay?: number
}
/** torch.optim.SGD, written out (first step: buf = g). */
function sgdRef(cfg: SGDCfg, steps: number): number[][][] {
  const { lr, momentum = 0, nesterov = false, weightDecay = 0 } = cfg
  let ps = [W0.slice(), B0.slice()]
  const bufs: (number[] | undefined)[] = [undefined, undefined]
  const hist: number[][][] = []
  for (let s = 0; s < steps; s++) {
    const gs = grads(ps[0]!, ps[1]!)
    ps = ps.map((p, k) => {
      let g = gs[k]!.map((gv, i) => gv + weightDecay * p[i]!)
      if (momentum !== 0) {
        const buf = bufs[k] === undefined ? g.slice() : bufs[k]!.map((bv, i) => momentum * bv + g[i]!)
        bufs[k] = buf
        g = nesterov ? g.map((gv, i) => gv + momentum * buf[i]!) : buf
      }
      return p.map((v, i) => v - lr * g[i]!)
    })
    hist.push(ps)
  }
  return hist
}

interface AdamCfg {
  lr?: number
  b1?: number
  b2?: number
  eps?: number
  weightDecay?: number
}
/** torch.optim.Adam / AdamW, written out. */
function adamRef(cfg: AdamCfg, decoupled: boolean, steps: number): number[][][] {
  const { lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8 } = cfg
  const weightDecay = cfg.weightDecay ?? (decoupled ? 0.01 : 0)
  let ps = [W0.slice(), B0.slice()]
  const ms = ps.map((p) => p.map(() => 0))
  const vs = ps.map((p) => p.map(() => 0))
  const hist: number[][][] = []
  for (let t = 1; t <= steps; t++) {
    const gs = grads(ps[0]!, ps[1]!)
    ps = ps.map((p0, k) => {
      let p = p0
      let g = gs[k]!
      if (decoupled) p = p.map((v) => v * (1 - lr * weightDecay))
      else g = g.map((gv, i) => gv + weightDecay * p0[i]!)
      const m = ms[k]!
      const v = vs[k]!
      for (let i = 0; i < p.length; i++) {
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2
      }
      const bc1 = 1 - b1 ** t
      const bc2 = 1 - b2 ** t
      return p.map((pv, i) => pv - (lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + eps)))
    })
    hist.push(ps)
  }
  return hist
}

async function run(make: (ps: Tensor[]) => optim.Optimizer, ref: number[][][], what: string): Promise<void> {
  const { w, b } = makeParams()
  const opt = make([w, b])
  for (let s = 0; s < ref.length; s++) {
    opt.zeroGrad()
    loss(w, b).backward()
    opt.step()
    await expectClose(w, ref[s]![0]!, 2e-5, `${what} w step ${s + 1}`)
    await expectClose(b, ref[s]![1]!, 2e-5, `${what} b step ${s + 1}`)
  }
}

describe('optim.SGD', () => {
  test('plain SGD, literal values: p <- p - lr * grad', async () => {
    const p = new Tensor([1, -2, 4], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.SGD([p], { lr: 0.1 })
    for (let i = 0; i < 3; i++) {
      opt.zeroGrad()
      p.square().mul(0.5).sum().backward() // grad = p
      opt.step()
    }
    await expectClose(p, [0.729, -1.458, 2.916], 1e-6)
  })

  const cfgs: [string, SGDCfg][] = [
    ['lr 0.1', { lr: 0.1 }],
    ['momentum 0.9', { lr: 0.1, momentum: 0.9 }],
    ['nesterov momentum 0.9', { lr: 0.05, momentum: 0.9, nesterov: true }],
    ['weight decay 0.1 + momentum 0.5', { lr: 0.1, momentum: 0.5, weightDecay: 0.1 }],
    ['weight decay without momentum', { lr: 0.2, weightDecay: 0.3 }],
  ]
  for (const [name, cfg] of cfgs) {
    test(`3 steps match torch formulas: ${name}`, async () => {
      await run((ps) => new optim.SGD(ps, cfg), sgdRef(cfg, 3), `SGD ${name}`)
    })
  }

  test('nesterov needs momentum; empty parameter list rejected', () => {
    const p = new Tensor([1], { dtype: 'float32', requiresGrad: true })
    assert.throws(() => new optim.SGD([p], { lr: 0.1, nesterov: true }), /nesterov/)
    assert.throws(() => new optim.SGD([], { lr: 0.1 }), /empty parameter list/)
  })
})

describe('optim.Adam / AdamW', () => {
  test('Adam first step, literal: p - lr * g / (|g| + eps)', async () => {
    const p = new Tensor([1, -2, 4], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.Adam([p], { lr: 0.1 })
    p.square().mul(0.5).sum().backward()
    opt.step()
    await expectClose(p, [0.9, -1.9, 3.9], 1e-6)
  })

  const adamCfgs: [string, AdamCfg][] = [
    ['defaults, lr 0.1', { lr: 0.1 }],
    ['betas 0.8/0.9, eps 1e-3', { lr: 0.05, b1: 0.8, b2: 0.9, eps: 1e-3 }],
    ['L2 weight decay 0.1', { lr: 0.1, weightDecay: 0.1 }],
  ]
  for (const [name, cfg] of adamCfgs) {
    test(`Adam 3 steps match torch formulas: ${name}`, async () => {
      await run((ps) => new optim.Adam(ps, cfg), adamRef(cfg, false, 3), `Adam ${name}`)
    })
  }
  const adamwCfgs: [string, AdamCfg][] = [
    ['default weight decay 0.01, lr 0.1', { lr: 0.1 }],
    ['weight decay 0.5', { lr: 0.1, weightDecay: 0.5, b2: 0.99 }],
  ]
  for (const [name, cfg] of adamwCfgs) {
    test(`AdamW 3 steps match torch formulas: ${name}`, async () => {
      await run((ps) => new optim.AdamW(ps, cfg), adamRef(cfg, true, 3), `AdamW ${name}`)
    })
  }

  test('AdamW with weightDecay 0 equals Adam', async () => {
    const cfg = { lr: 0.1, weightDecay: 0 }
    await run((ps) => new optim.AdamW(ps, cfg), adamRef(cfg, false, 3), 'AdamW wd 0')
  })
})

describe('Optimizer behaviour', () => {
  test('zeroGrad drops gradients; params without a gradient are left alone', async () => {
    const p = new Tensor([1, 2], { dtype: 'float32', requiresGrad: true })
    const q = new Tensor([5, 6], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.SGD([p, q, p], { lr: 0.5 })
    assert.equal(opt.params.length, 2, 'duplicates removed')
    p.sum().backward()
    assert.ok(p.grad !== undefined)
    opt.step()
    await expectClose(p, [0.5, 1.5])
    await expectClose(q, [5, 6])
    opt.zeroGrad()
    assert.equal(p.grad, undefined)
    assert.equal(q.grad, undefined)
  })

  test('gradients accumulate without zeroGrad (PyTorch semantics)', async () => {
    const p = new Tensor([1, 2], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.SGD([p], { lr: 1 })
    p.sum().backward()
    p.sum().backward()
    opt.step()
    await expectClose(p, [-1, 0])
  })

  test('changing lr between steps', async () => {
    const p = new Tensor([1, 2], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.SGD([p], { lr: 0.1 })
    assert.equal(opt.lr, 0.1)
    for (const lr of [0.1, 0.5, 1]) {
      opt.lr = lr
      opt.zeroGrad()
      p.sum().backward()
      opt.step()
    }
    await expectClose(p, [1 - 1.6, 2 - 1.6], 1e-6)
  })

  test('scheduleStep returns the tensors to realize; parameters keep their identity', async () => {
    const p = new Tensor([1, 2], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.Adam([p], { lr: 0.1 })
    p.sum().backward()
    const ts = opt.scheduleStep()
    assert.ok(ts.includes(p))
    Tensor.realize(...ts)
    assert.equal(opt.params[0], p)
    await expectClose(p, [0.9, 1.9], 1e-6)
  })

  test('step realizes pending BatchNorm running stats with the parameters', async () => {
    const bn = new nn.BatchNorm(1)
    const opt = new optim.SGD(nn.getParameters(bn), { lr: 0.1 })
    const x = new Tensor([[1], [3]])
    await withTraining(Tensor, true, () => {
      opt.zeroGrad()
      bn.call(x)
        .mul(new Tensor([[1], [2]]))
        .sum()
        .backward()
      opt.step()
    })
    await expectClose(bn.runningMean!, [0.2])
    await expectClose(bn.runningVar!, [0.9 + 0.1 * 2])
    // bias grad = 1 + 2 = 3 -> bias = -0.3; xhat = [-1, 1] -> weight grad = -1 + 2 = 1 -> weight 0.9
    await expectClose(bn.bias!, [-0.3], 1e-4)
    await expectClose(bn.weight!, [0.9], 1e-4)
  })

  test('step keeps parameters trainable and does not record gradients', async () => {
    const p = new Tensor([1, 2], { dtype: 'float32', requiresGrad: true })
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 })
    p.square().sum().backward()
    opt.step()
    assert.equal(p.requiresGrad, true)
    await expectClose(p, [0.8, 1.6], 1e-6)
    assert.ok((await values(p)).length === 2)
  })
})
