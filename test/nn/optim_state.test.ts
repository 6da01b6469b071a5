import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { nn, optim, Tensor } from '../../src/index.ts'
import { expectThrows } from '../helpers.ts'
import { values } from './helpers.ts'
import { lossOf, problem } from './optim_fixture.ts'

type Make = (W: Tensor, b: Tensor) => optim.Optimizer<object>
const makers: Record<string, Make> = {
  AdamW: (W, b) =>
    new optim.AdamW(
      [
        { params: [W], weightDecay: 0.1 },
        { params: [b], weightDecay: 0 },
      ],
      { lr: 0.01 },
    ),
  Adam: (W, b) => new optim.Adam([W, b], { lr: 0.02, weightDecay: 0.01 }),
  SGD: (W, b) =>
    new optim.SGD(
      [
        { params: [W], momentum: 0.9 },
        { params: [b], momentum: 0.5, nesterov: true },
      ],
      { lr: 0.1 },
    ),
}

function train(
  opt: optim.Optimizer<object>,
  sched: optim.LRScheduler,
  p: ReturnType<typeof problem>,
  n: number,
): void {
  for (let s = 0; s < n; s++) {
    opt.zeroGrad()
    lossOf(p.W, p.bias, p.x, p.y).backward()
    opt.step()
    sched.step()
  }
}

describe('optimizer state dicts', () => {
  for (const [name, make] of Object.entries(makers)) {
    test(`${name}: N steps, save, fresh optimizer + scheduler, load, N steps == 2N steps exactly`, async () => {
      const N = 3
      const ref = problem()
      const refOpt = make(ref.W, ref.bias)
      train(refOpt, optim.warmupCosine(refOpt, { warmupSteps: 2, totalSteps: 8 }), ref, 2 * N)

      const a = problem()
      const optA = make(a.W, a.bias)
      const schedA = optim.warmupCosine(optA, { warmupSteps: 2, totalSteps: 8 })
      train(optA, schedA, a, N)
      const sd = optA.stateDict()
      const schedSd = schedA.stateDict()
      const weights = [await values(a.W), await values(a.bias)]
      // a snapshot: further steps of the old optimizer do not change it
      train(optA, schedA, a, 1)
      // a fresh run: new parameters with the saved weights, new optimizer, new scheduler
      const b = problem()
      b.W = new Tensor(weights[0]!, { shape: [3, 4], requiresGrad: true })
      b.bias = new Tensor(weights[1]!, { requiresGrad: true })
      const optB = make(b.W, b.bias)
      const schedB = optim.warmupCosine(optB, { warmupSteps: 2, totalSteps: 8 })
      optB.loadStateDict(sd)
      schedB.loadStateDict(schedSd)
      assert.deepEqual(
        optB.paramGroups.map((g) => g.lr),
        schedSd.lastLr,
      )
      train(optB, schedB, b, N)
      assert.deepEqual(await values(b.W), await values(ref.W), 'W bit for bit')
      assert.deepEqual(await values(b.bias), await values(ref.bias), 'bias bit for bit')
      assert.deepEqual(
        schedB.lastLr(),
        refOpt.paramGroups.map((g) => g.lr),
      )
    })
  }

  test('through a safetensors file: state as tensors, groups as metadata JSON; resumes bit for bit', async () => {
    const N = 2
    const ref = problem()
    const refOpt = makers.AdamW!(ref.W, ref.bias)
    train(refOpt, new optim.LambdaLR(refOpt, () => 1), ref, 2 * N)
    const a = problem()
    const optA = makers.AdamW!(a.W, a.bias)
    train(optA, new optim.LambdaLR(optA, () => 1), a, N)
    const sd = optA.stateDict()
    const bytes = await nn.safeSerialize(
      { ...sd.state, 'model.W': a.W, 'model.bias': a.bias },
      { optimizer: JSON.stringify(sd.groups) },
    )
    const file = nn.safeDeserialize(bytes)
    const meta = nn.safeParseHeader(bytes).metadata!
    const b = problem()
    b.W = file['model.W']!
    b.bias = file['model.bias']!
    b.W.requiresGrad = true
    b.bias.requiresGrad = true
    const optB = makers.AdamW!(b.W, b.bias)
    const state: Record<string, Tensor> = {}
    for (const k of Object.keys(sd.state)) state[k] = file[k]!
    optB.loadStateDict({ state, groups: JSON.parse(meta.optimizer!) })
    train(optB, new optim.LambdaLR(optB, () => 1), b, N)
    assert.deepEqual(await values(b.W), await values(ref.W))
    assert.deepEqual(await values(b.bias), await values(ref.bias))
  })

  test('state dict keys; the groups part is JSON', () => {
    const { W, bias } = problem()
    const opt = new optim.AdamW([{ params: [W] }, { params: [bias], weightDecay: 0 }])
    const sd = opt.stateDict()
    assert.deepEqual(Object.keys(sd.state).sort(), [
      '0.exp_avg',
      '0.exp_avg_sq',
      '1.exp_avg',
      '1.exp_avg_sq',
      'group0.b1_pow',
      'group0.b2_pow',
      'group1.b1_pow',
      'group1.b2_pow',
    ])
    const json = JSON.parse(JSON.stringify(sd.groups))
    assert.deepEqual(json, sd.groups)
    assert.equal(json.groups[1].options.weightDecay, 0)
  })

  test('mismatched state dicts are errors before anything is written', async () => {
    const { W, bias } = problem()
    const sgd = new optim.SGD([W, bias], { momentum: 0.9 })
    const adam = new optim.Adam([W, bias])
    expectThrows(() => adam.loadStateDict(sgd.stateDict()), /Adam.loadStateDict/, /SGD/)
    const other = new optim.Adam([{ params: [W] }, { params: [bias] }])
    expectThrows(() => adam.loadStateDict(other.stateDict()), /2 parameter groups, this optimizer 1/)
    const sd = adam.stateDict()
    sd.state['0.exp_avg'] = Tensor.zeros([4, 3])
    const before = await values(adam.m[1]!)
    expectThrows(() => adam.loadStateDict(sd), /'0.exp_avg' is \[4, 3\] float32, expected \[3, 4\] float32/)
    delete sd.state['0.exp_avg']
    expectThrows(() => adam.loadStateDict(sd), /missing: 0.exp_avg/)
    assert.deepEqual(await values(adam.m[1]!), before)
  })
})
