// nn.GradScaler against torch's GradScaler algorithm (fixture), eager and inside jit, and mixed
// precision: float16 / bfloat16 compute with float32 master weights. On JS and CPU.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Device, jit, nn, optim, Tensor } from '../../src/index.ts'
import { decodeValue, expectThrows } from '../helpers.ts'
import { assertClose } from './helpers.ts'
import { dec, fixture, lossOf, problem } from './optim_fixture.ts'

const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)
const F = fixture.scaler

/** The fixture's injected overflow: W.grad[0, 0] += inf / NaN (zeros on clean steps). */
function badMask(s: number): Tensor {
  const kind = F.badSteps[String(s)]
  const m = Array.from({ length: 12 }, () => 0)
  if (kind) m[0] = kind === 'inf' ? Number.POSITIVE_INFINITY : Number.NaN
  return new Tensor(m, { shape: [3, 4] }).realize()
}

function makeScaler(): nn.GradScaler {
  return new nn.GradScaler({
    initScale: F.initScale,
    growthFactor: F.growthFactor,
    backoffFactor: F.backoffFactor,
    growthInterval: F.growthInterval,
  })
}

for (const device of devices) {
  describe(`GradScaler on ${device}`, () => {
    let prev = ''
    before(() => {
      prev = Device.DEFAULT
      Device.DEFAULT = device
    })
    after(() => {
      Device.DEFAULT = prev
    })

    for (const useJit of [false, true]) {
      test(`torch fixture: skipped steps, scale backoff and growth${useJit ? ' (inside jit)' : ''}`, () => {
        const { W, bias, x, y } = problem()
        const opt = new optim.SGD([W, bias], { lr: 0.1 })
        const scaler = makeScaler()
        const step = (mask: Tensor): Tensor => {
          opt.zeroGrad()
          scaler.scale(lossOf(W, bias, x, y)).backward()
          W.grad = W.grad!.add(mask)
          const found = scaler.step(opt)
          scaler.update()
          return found
        }
        const f = useJit ? jit(step) : step
        for (const [s, want] of F.steps.entries()) {
          const found = f(badMask(s))
          assert.equal(Boolean(found.itemSync()), want.skipped, `step ${s} skipped`)
          assert.equal(scaler.getScale(), decodeValue(want.scale), `step ${s} scale`)
          assertClose(vals(W), dec(want.W), 1e-5, `step ${s} W`)
          assertClose(vals(bias), dec(want.bias), 1e-5, `step ${s} bias`)
        }
        if (useJit) assert.ok(f.jit.captured(badMask(0)), 'replayed from a capture')
      })
    }

    test('unscale before clipping; a skipped Adam step leaves parameters and moments alone', () => {
      const { W, bias, x, y } = problem()
      const opt = new optim.Adam([W, bias], { lr: 0.01 })
      const scaler = new nn.GradScaler({ initScale: 1024 })
      const w0 = vals(W)
      opt.zeroGrad()
      scaler.scale(lossOf(W, bias, x, y)).backward()
      W.grad = W.grad!.add(badMask(2))
      scaler.unscale(opt)
      nn.clipGradNorm([W, bias], 1)
      assert.equal(Boolean(scaler.step(opt).itemSync()), true)
      scaler.update()
      assert.deepEqual(vals(W), w0)
      assert.deepEqual(vals(opt.m[0]!), Array(12).fill(0))
      assert.deepEqual(vals(opt.b1t), [1])
      assert.equal(scaler.getScale(), 512)
      // a clean step: the unscaled gradient is the plain one
      opt.zeroGrad()
      scaler.scale(lossOf(W, bias, x, y)).backward()
      scaler.unscale(opt)
      const g = vals(W.grad!)
      W.grad = undefined
      bias.grad = undefined
      lossOf(W, bias, x, y).backward()
      assertClose(g, vals(W.grad!), 1e-6, 'unscaled gradient')
      expectThrows(() => scaler.unscale(opt), /GradScaler.unscale: already called/)
    })

    test('state dict, disabled scaler, bad options', () => {
      const s = new nn.GradScaler({ initScale: 8, growthInterval: 1 })
      const p = new Tensor([1, 2], { requiresGrad: true })
      const opt = new optim.SGD([p], { lr: 0.1 })
      s.scale(p.sum()).backward()
      s.step(opt)
      s.update()
      assert.deepEqual(s.stateDict(), {
        scale: 16,
        growthTracker: 0,
        growthFactor: 2,
        backoffFactor: 0.5,
        growthInterval: 1,
      })
      const s2 = new nn.GradScaler()
      s2.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())))
      assert.equal(s2.getScale(), 16)
      const off = new nn.GradScaler({ enabled: false })
      const l = p.sum()
      assert.equal(off.scale(l), l)
      expectThrows(() => new nn.GradScaler({ growthFactor: 1 }), /GradScaler: growthFactor/)
      expectThrows(() => new nn.GradScaler({ init_scale: 2 } as never), /unknown option 'init_scale'/)
      expectThrows(() => s.update(), /no step\(\) or unscale\(\)/)
    })
  })
}

// float32 masters, compute in `dtype`: the forward casts the weights; gradients reach the masters
// through the casts' gradients as float32
function mixedStep(W: Tensor, bias: Tensor, x: Tensor, y: Tensor, dtype: 'float16' | 'bfloat16' | 'float32') {
  const out = x.cast(dtype).matmul(W.cast(dtype)).add(bias.cast(dtype))
  return out.cast('float32').sub(y).square().sum().div(5)
}

for (const device of devices) {
  describe(`mixed precision on ${device}`, () => {
    let prev = ''
    before(() => {
      prev = Device.DEFAULT
      Device.DEFAULT = device
    })
    after(() => {
      Device.DEFAULT = prev
    })

    test('bfloat16 compute, float32 masters: float32 gradients, AdamW close to float32 training', () => {
      const run = (dtype: 'bfloat16' | 'float32'): number[] => {
        const { W, bias, x, y } = problem()
        const opt = new optim.AdamW([W, bias], { lr: 0.01 })
        for (let s = 0; s < 5; s++) {
          opt.zeroGrad()
          mixedStep(W, bias, x, y, dtype).backward()
          assert.equal(W.grad!.dtype.name, 'float32')
          opt.step()
        }
        assert.equal(W.dtype.name, 'float32')
        return [...vals(W), ...vals(bias)]
      }
      const ref = run('float32')
      const bf = run('bfloat16')
      assertClose(bf, ref, 2e-2, 'bf16 vs f32 training')
      assert.notDeepEqual(bf, ref, 'the compute really is bfloat16')
    })

    test('float16 compute with GradScaler: overflowing steps are skipped until the scale fits, then it trains', () => {
      const { W, bias, x, y } = problem()
      // gradients near 1 times 2^20 overflow float16 (max 65504)
      const opt = new optim.SGD([W, bias], { lr: 0.05 })
      const scaler = new nn.GradScaler({ initScale: 2 ** 20, growthInterval: 100 })
      const w0 = vals(W)
      const skipped: boolean[] = []
      const losses: number[] = []
      for (let s = 0; s < 12; s++) {
        opt.zeroGrad()
        const loss = mixedStep(W, bias, x, y, 'float16')
        scaler.scale(loss).backward()
        assert.equal(W.grad!.dtype.name, 'float32')
        skipped.push(Boolean(scaler.step(opt).itemSync()))
        scaler.update()
        losses.push(Number(loss.itemSync()))
      }
      assert.ok(skipped[0], 'the first step overflows')
      const firstGood = skipped.indexOf(false)
      assert.ok(firstGood > 0 && skipped.slice(firstGood).every((v) => !v), `skips: ${skipped}`)
      assert.equal(scaler.getScale(), 2 ** (20 - firstGood))
      assert.ok(losses[11]! < losses[firstGood]!, `loss decreases: ${losses}`)
      assert.notDeepEqual(vals(W), w0)
      assert.equal(W.dtype.name, 'float32')
      // the same float16 run without a scaler and with plain float32 agree loosely
      const ref = problem()
      const refOpt = new optim.SGD([ref.W, ref.bias], { lr: 0.05 })
      for (let s = firstGood; s < 12; s++) {
        refOpt.zeroGrad()
        lossOf(ref.W, ref.bias, ref.x, ref.y).backward()
        refOpt.step()
      }
      assertClose(vals(W), vals(ref.W), 1e-2, 'fp16 + scaler vs f32')
    })
  })
}
