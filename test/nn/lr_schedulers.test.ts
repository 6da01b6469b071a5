import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { jit, optim, Tensor } from '../../src/index.ts'
import { expectThrows } from '../helpers.ts'
import { assertClose, values } from './helpers.ts'
import { fixture, lossOf, problem } from './optim_fixture.ts'

type Make = (o: optim.Optimizer<object>) => optim.LRScheduler
const makers: Record<string, Make> = {
  LambdaLR: (o) => new optim.LambdaLR(o, (s) => 0.9 ** s),
  CosineAnnealingLR: (o) => new optim.CosineAnnealingLR(o, { tMax: 10, etaMin: 0.01 }),
  LinearLR: (o) => new optim.LinearLR(o, { startFactor: 0.25, endFactor: 1, totalIters: 4 }),
  LinearLRDown: (o) => new optim.LinearLR(o, { startFactor: 1, endFactor: 0.1, totalIters: 6 }),
  warmupCosine: (o) => optim.warmupCosine(o, { warmupSteps: 4, totalSteps: 20, minLrRatio: 0.1 }),
  warmupCosineMin0: (o) => optim.warmupCosine(o, { warmupSteps: 3, totalSteps: 10 }),
}

function twoGroups(): optim.SGD {
  const p1 = Tensor.zeros([2]).clone()
  const p2 = Tensor.zeros([2]).clone()
  return new optim.SGD([{ params: [p1] }, { params: [p2], lr: 0.5 }], { lr: 0.1 })
}

describe('lr schedulers (torch fixture, two groups)', () => {
  for (const c of fixture.schedulers) {
    test(c.name, () => {
      const opt = twoGroups()
      const sch = makers[c.name]!(opt)
      for (let s = 0; s < c.lrs.length; s++) {
        if (s > 0) sch.step()
        assertClose(sch.lastLr(), c.lrs[s]!, 1e-12, `${c.name} step ${s}`)
        assertClose(
          opt.paramGroups.map((g) => g.lr),
          c.lrs[s]!,
          1e-12,
          `${c.name} step ${s} (groups)`,
        )
      }
    })
  }
})

describe('lr schedulers: behaviour', () => {
  test('the lr tensor the update reads follows the schedule', async () => {
    const p = new Tensor([1, 1], { requiresGrad: true })
    const opt = new optim.SGD([p], { lr: 1 })
    const sch = new optim.LambdaLR(opt, (s) => s) // lr 0 at step 0, then 1, 2
    const stepOnce = (): void => {
      opt.zeroGrad()
      p.sum().backward() // grad 1
      opt.step()
      sch.step()
    }
    stepOnce()
    assert.deepEqual(await values(p), [1, 1])
    stepOnce()
    assert.deepEqual(await values(p), [0, 0])
    stepOnce()
    assert.deepEqual(await values(p), [-2, -2])
  })

  test('a jitted step reads the lr the scheduler sets outside it (no recapture)', () => {
    const run = (useJit: boolean): number[] => {
      const { W, bias, x, y } = problem()
      const opt = new optim.AdamW([{ params: [W] }, { params: [bias], weightDecay: 0 }], { lr: 0.05 })
      const sch = optim.warmupCosine(opt, { warmupSteps: 2, totalSteps: 6, minLrRatio: 0.1 })
      const step = (xb: Tensor): Tensor => {
        opt.zeroGrad()
        const loss = lossOf(W, bias, xb, y)
        loss.backward()
        opt.step()
        return loss
      }
      const f = useJit ? jit(step) : step
      const out: number[] = []
      for (let s = 0; s < 7; s++) {
        out.push(...(f(x.mul(1 + s / 10).realize()).dataSync() as Float32Array))
        sch.step()
      }
      return [...out, ...(W.dataSync() as Float32Array), ...(bias.dataSync() as Float32Array)]
    }
    assertClose(run(true), run(false), 1e-6)
  })

  test('state dict round trip and bad input', () => {
    const opt = twoGroups()
    const sch = new optim.CosineAnnealingLR(opt, { tMax: 5 })
    sch.step()
    sch.step()
    const sd = JSON.parse(JSON.stringify(sch.stateDict()))
    const opt2 = twoGroups()
    const sch2 = new optim.CosineAnnealingLR(opt2, { tMax: 5 })
    sch2.loadStateDict(sd)
    assert.deepEqual(sch2.lastLr(), sch.lastLr())
    assert.deepEqual(
      opt2.paramGroups.map((g) => g.lr),
      sch.lastLr(),
    )
    sch.step()
    sch2.step()
    assert.deepEqual(sch2.lastLr(), sch.lastLr())
    expectThrows(
      () => sch2.loadStateDict({ ...sd, lastLr: [1] }),
      /CosineAnnealingLR.loadStateDict/,
      /2 learning rates/,
    )
    expectThrows(() => new optim.CosineAnnealingLR(opt, { tMax: 0 }), /tMax/)
    expectThrows(
      () => new optim.CosineAnnealingLR(opt, { tMax: 3, T_max: 3 } as never),
      /unknown option 'T_max'/,
    )
    expectThrows(() => new optim.LinearLR(opt, { startFactor: 0 }), /startFactor/)
    expectThrows(() => optim.warmupCosine(opt, { warmupSteps: 5, totalSteps: 5 }), /totalSteps/)
    expectThrows(() => new optim.LambdaLR(opt, [(s) => s]), /2 functions/)
    expectThrows(() => new optim.LambdaLR(opt, () => Number.NaN), /gave lr NaN/)
  })
})
