// End to end: small models train on synthetic data to a loss threshold with each optimizer.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes, nn, optim, Tensor } from '../../src/index.ts'
import { prng, withTraining } from './helpers.ts'

type Make = (ps: Tensor[]) => optim.Optimizer
const optimizers: [string, Make][] = [
  ['SGD momentum', (ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9 })],
  [
    'SGD nesterov + weight decay',
    (ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
  ],
  ['Adam', (ps) => new optim.Adam(ps, { lr: 0.02 })],
  ['AdamW', (ps) => new optim.AdamW(ps, { lr: 0.02, weightDecay: 0.01 })],
]

/** 2-d points in [-1, 1]^2, class 1 inside the circle r^2 < 0.4 (not linearly separable). */
function circleData(n: number, seed: number): { x: Tensor; y: Tensor } {
  const r = prng(seed)
  const xs: number[] = []
  const ys: number[] = []
  for (let i = 0; i < n; i++) {
    const a = r()
    const b = r()
    xs.push(a, b)
    ys.push(a * a + b * b < 0.4 ? 1 : 0)
  }
  return { x: new Tensor(xs, { shape: [n, 2] }), y: new Tensor(ys, { dtype: dtypes.int32 }) }
}

class MLP {
  layers = [new nn.Linear(2, 16), new nn.Linear(16, 16), new nn.Linear(16, 2)]
  call(x: Tensor): Tensor {
    return this.layers[2]!.call(this.layers[1]!.call(this.layers[0]!.call(x).relu()).relu())
  }
}

/** 1x8x8 images: class 0 a vertical bar, class 1 a horizontal bar, at a random place, plus noise. */
function barData(n: number, seed: number): { x: Tensor; y: Tensor } {
  const r = prng(seed)
  const xs = new Float32Array(n * 64)
  const ys: number[] = []
  for (let i = 0; i < n; i++) {
    const cls = i % 2
    const pos = Math.floor(((r() + 1) / 2) * 8) % 8
    for (let p = 0; p < 64; p++) xs[i * 64 + p] = 0.1 * r()
    for (let k = 0; k < 8; k++) {
      const [h, w] = cls === 0 ? [k, pos] : [pos, k]
      xs[i * 64 + h * 8 + w] += 1
    }
    ys.push(cls)
  }
  return { x: new Tensor(xs, { shape: [n, 1, 8, 8] }), y: new Tensor(ys, { dtype: dtypes.int32 }) }
}

class CNN {
  conv = new nn.Conv2d(1, 4, 3, { padding: 1 })
  fc = new nn.Linear(4 * 4 * 4, 2)
  call(x: Tensor): Tensor {
    return this.fc.call(this.conv.call(x).relu().maxPool2d(2).flatten(1))
  }
}

class CNNBN {
  conv = new nn.Conv2d(1, 4, 3, { padding: 1, bias: false })
  bn = new nn.BatchNorm(4)
  fc = new nn.Linear(4 * 4 * 4, 2)
  call(x: Tensor): Tensor {
    return this.fc.call(this.bn.call(this.conv.call(x)).relu().maxPool2d(2).flatten(1))
  }
}

async function train(
  model: { call(x: Tensor): Tensor },
  opt: optim.Optimizer,
  data: { x: Tensor; y: Tensor },
  steps: number,
): Promise<number[]> {
  const losses: number[] = []
  await withTraining(Tensor, true, async () => {
    for (let s = 0; s < steps; s++) {
      opt.zeroGrad()
      const loss = model.call(data.x).sparseCategoricalCrossentropy(data.y)
      loss.backward()
      // realize the loss together with the update (the loss reads the pre-update weights)
      Tensor.realize(loss, ...opt.scheduleStep())
      losses.push(Number(await loss.item()))
    }
  })
  return losses
}

/** Fraction of rows whose largest logit is the label (computed in JS from the logits). */
async function accuracy(model: { call(x: Tensor): Tensor }, data: { x: Tensor; y: Tensor }): Promise<number> {
  const logits = Array.from((await model.call(data.x).data()) as Float32Array)
  const ys = Array.from((await data.y.data()) as Int32Array)
  const k = logits.length / ys.length
  let correct = 0
  ys.forEach((y, i) => {
    const row = logits.slice(i * k, (i + 1) * k)
    if (row.indexOf(Math.max(...row)) === y) correct++
  })
  return correct / ys.length
}

describe('e2e: MLP on a synthetic 2-d problem', () => {
  for (const [name, make] of optimizers) {
    test(`MLP trains with ${name}`, async () => {
      Tensor.manualSeed(42)
      const data = circleData(128, 7)
      const model = new MLP()
      const losses = await train(model, make(nn.getParameters(model)), data, 150)
      const first = losses[0]!
      const last = losses[losses.length - 1]!
      assert.ok(Number.isFinite(last), `loss finite (${last})`)
      assert.ok(last < 0.25, `${name}: loss ${first.toFixed(4)} -> ${last.toFixed(4)} should go below 0.25`)
      assert.ok((await accuracy(model, data)) > 0.9)
    })
  }
})

describe('e2e: small CNN (conv -> relu -> maxpool -> linear)', () => {
  for (const [name, make] of optimizers) {
    test(`CNN trains with ${name}`, async () => {
      Tensor.manualSeed(5)
      const data = barData(32, 3)
      const model = new CNN()
      const losses = await train(model, make(nn.getParameters(model)), data, 40)
      const last = losses[losses.length - 1]!
      assert.ok(
        last < 0.2,
        `${name}: loss ${losses[0]!.toFixed(4)} -> ${last.toFixed(4)} should go below 0.2`,
      )
      assert.equal(await accuracy(model, data), 1)
    })
  }

  test('CNN with BatchNorm trains with Adam; eval mode uses running stats; save/load keeps predictions', async () => {
    Tensor.manualSeed(9)
    const data = barData(32, 4)
    const model = new CNNBN()
    const losses = await train(model, new optim.Adam(nn.getParameters(model), { lr: 0.02 }), data, 40)
    assert.ok(losses[losses.length - 1]! < 0.2, `loss ${losses[0]} -> ${losses[losses.length - 1]}`)
    assert.equal(await model.bn.numBatchesTracked!.item(), 40)
    const rm = Array.from((await model.bn.runningMean!.data()) as Float32Array)
    assert.ok(
      rm.some((v) => v !== 0),
      'running mean moved',
    )
    assert.ok((await accuracy(model, data)) >= 0.9, 'eval-mode accuracy with running stats')
    const copy = new CNNBN()
    nn.loadStateDict(copy, nn.safeDeserialize(await nn.safeSerialize(nn.getStateDict(model))))
    const a = Array.from((await model.call(data.x).data()) as Float32Array)
    const b = Array.from((await copy.call(data.x).data()) as Float32Array)
    assert.deepEqual(b, a)
  })
})
