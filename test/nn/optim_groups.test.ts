import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { optim, Tensor } from '../../src/index.ts'
import { expectThrows } from '../helpers.ts'
import { assertClose, values } from './helpers.ts'
import { dec, fixture, lossOf, problem } from './optim_fixture.ts'

type Make = (W: Tensor, b: Tensor) => optim.Optimizer<object>
const makers: Record<string, Make> = {
  AdamW: (W, b) =>
    new optim.AdamW(
      [
        { params: [W], weightDecay: 0.1 },
        { params: [b], weightDecay: 0, lr: 0.05 },
      ],
      { lr: 0.01 },
    ),
  Adam: (W, b) =>
    new optim.Adam(
      [
        { params: [W], b1: 0.8, b2: 0.99 },
        { params: [b], weightDecay: 0.01 },
      ],
      { lr: 0.03 },
    ),
  SGD: (W, b) =>
    new optim.SGD(
      [
        { params: [W], momentum: 0.9, nesterov: true },
        { params: [b], lr: 0.2, weightDecay: 0.5 },
      ],
      { lr: 0.1 },
    ),
}

describe('parameter groups (torch fixture)', () => {
  for (const c of fixture.groups) {
    test(`${c.name}: two groups, one group's lr changed after step ${c.lrChange[0]}`, async () => {
      const { W, bias, x, y } = problem()
      const opt = makers[c.name]!(W, bias)
      assert.equal(opt.paramGroups.length, 2)
      for (let s = 0; s < c.steps.length; s++) {
        if (s === c.lrChange[0]) opt.paramGroups[c.lrChange[1]]!.lr = c.lrChange[2]
        opt.zeroGrad()
        lossOf(W, bias, x, y).backward()
        opt.step()
        assertClose(await values(W), dec(c.steps[s]![0]!), 1e-5, `${c.name} step ${s} W`)
        assertClose(await values(bias), dec(c.steps[s]![1]!), 1e-5, `${c.name} step ${s} bias`)
      }
    })
  }
})

describe('parameter groups: behaviour', () => {
  test('resolved groups: constructor values, overridden per group; opt.lr sets every group', () => {
    const a = new Tensor([1, 2], { requiresGrad: true })
    const b = new Tensor([[1, 2]], { requiresGrad: true })
    const opt = new optim.AdamW([{ params: [b] }, { params: [a], weightDecay: 0, lr: 0.5 }], { lr: 0.1 })
    assert.deepEqual(
      opt.paramGroups.map((g) => [g.lr, g.options.weightDecay, g.options.b1]),
      [
        [0.1, 0.01, 0.9],
        [0.5, 0, 0.9],
      ],
    )
    assert.deepEqual(opt.params, [b, a])
    opt.lr = 0.02
    assert.deepEqual(
      opt.paramGroups.map((g) => g.lr),
      [0.02, 0.02],
    )
    assert.equal(opt.lr, 0.02)
  })

  test('changing a group lr compiles nothing new and reaches the update', async () => {
    const { W, bias, x, y } = problem()
    const opt = new optim.SGD([{ params: [W] }, { params: [bias] }], { lr: 0.1 })
    const run = (): void => {
      opt.zeroGrad()
      lossOf(W, bias, x, y).backward()
      opt.step()
    }
    run()
    const before = await values(bias)
    opt.paramGroups[1]!.lr = 0
    run()
    assert.deepEqual(await values(bias), before, 'lr 0: bias unchanged')
  })

  test('a parameter in two groups, unknown group options and bad values are errors', () => {
    const a = new Tensor([1, 2], { requiresGrad: true })
    expectThrows(
      () => new optim.SGD([{ params: [a] }, { params: [a] }]),
      /SGD param group 1/,
      /more than one/,
    )
    expectThrows(
      () => new optim.SGD([{ params: [a], b1: 0.9 } as optim.ParamGroup]),
      /SGD/,
      /unknown option 'b1'/,
    )
    expectThrows(() => new optim.AdamW([{ params: [a], b2: 1 }]), /AdamW/, /b2/)
    expectThrows(() => new optim.Adam([{ params: [] }]), /empty parameter list/)
    expectThrows(() => new optim.Adam(a as never), /Adam: expected a list of Tensors or of parameter groups/)
    expectThrows(() => new optim.Adam([a], { lr: -1 }), /learning rate/)
    const opt = new optim.Adam([a])
    expectThrows(() => {
      opt.paramGroups[0]!.lr = Number.NaN
    }, /learning rate/)
  })

  test('an empty group is allowed (a model without matrices)', async () => {
    const a = new Tensor([1, 2], { requiresGrad: true })
    const opt = new optim.AdamW([
      { params: [], weightDecay: 0.1 },
      { params: [a], weightDecay: 0 },
    ])
    a.square().sum().backward()
    opt.step()
    const v = await values(a)
    assert.ok(v[0]! < 1 && v[1]! < 2)
  })
})
