// nn.checkpoint: the same gradients as without it (inputs and the parameters the block reads, with
// dropout recomputed identically, inside jit), and lower peak memory for a stack of blocks. On JS
// and CPU.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Device, jit, nn, optim, Tensor } from '../../src/index.ts'
import { memory } from '../../src/runtime/buffer.ts'
import { expectThrows } from '../helpers.ts'
import { assertClose } from './helpers.ts'

const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)

class Block {
  a: nn.Linear
  b: nn.Linear
  constructor(d: number) {
    this.a = new nn.Linear(d, 4 * d)
    this.b = new nn.Linear(4 * d, d)
  }
  call(h: Tensor): Tensor {
    return h.add(this.b.call(this.a.call(h).gelu().dropout(0.2)))
  }
}

function stack(d: number, layers: number): { blocks: Block[]; params: Tensor[] } {
  Tensor.manualSeed(1)
  const blocks = Array.from({ length: layers }, () => new Block(d))
  const params = nn.getParameters(blocks)
  for (const p of params) p.realize()
  return { blocks, params }
}

function forward(blocks: Block[], x: Tensor, ck: boolean): Tensor {
  let h = x
  for (const b of blocks) h = ck ? nn.checkpoint((t) => b.call(t), h) : b.call(h)
  return h.square().mean()
}

for (const device of devices) {
  describe(`nn.checkpoint on ${device}`, () => {
    let prev = ''
    before(() => {
      prev = Device.DEFAULT
      Device.DEFAULT = device
    })
    after(() => {
      Device.DEFAULT = prev
      Tensor.training = false
    })

    test('same loss and gradients (parameters and inputs) as without; dropout recomputed identically', () => {
      for (const training of [false, true]) {
        Tensor.training = training
        const { blocks, params } = stack(8, 3)
        const grads = (ck: boolean): number[][] => {
          for (const p of params) p.grad = undefined
          Tensor.manualSeed(5)
          const x = new Tensor(
            Array.from({ length: 6 * 8 }, (_, i) => Math.sin(i)),
            { shape: [6, 8], requiresGrad: true },
          )
          const loss = forward(blocks, x, ck)
          loss.backward()
          return [vals(loss), vals(x.grad!), ...params.map((p) => vals(p.grad!))]
        }
        const plain = grads(false)
        const ck = grads(true)
        for (const [i, g] of plain.entries())
          assertClose(ck[i]!, g, 1e-5, `training ${training}: tensor ${i}`)
      }
      Tensor.training = false
    })

    test('several inputs; a parameter passed as an input', () => {
      const w = new Tensor([0.5, -1, 2], { requiresGrad: true })
      const s = new Tensor([1.5], { requiresGrad: true })
      const fn = (a: Tensor, b: Tensor) => a.mul(w).sin().mul(b).sum()
      const run = (ck: boolean): number[][] => {
        w.grad = undefined
        s.grad = undefined
        const x = new Tensor([1, 2, 3], { requiresGrad: true })
        const y = ck ? nn.checkpoint(fn, x, s) : fn(x, s)
        y.mul(y).backward()
        return [vals(x.grad!), vals(w.grad!), vals(s.grad!)]
      }
      const plain = run(false)
      for (const [i, g] of run(true).entries()) assertClose(g, plain[i]!, 1e-6, `grad ${i}`)
      // no gradient needed: the plain value
      const v = Tensor.noGrad(() => nn.checkpoint(fn, new Tensor([1, 2, 3]), s))
      assert.ok(!v.requiresGrad)
      expectThrows(() => nn.checkpoint(1 as never), /checkpoint/, /function/)
      expectThrows(() => nn.checkpoint(() => 3 as never, w), /checkpoint/, /return a Tensor/)
      expectThrows(() => nn.checkpoint((a) => a, [1, 2] as never), /checkpoint: input 0/)
    })

    test('inside a jitted training step (with dropout): the eager values over replays', () => {
      Tensor.training = true
      const run = (useJit: boolean): number[] => {
        const { blocks, params } = stack(8, 2)
        const opt = new optim.SGD(params, { lr: 0.1 })
        const step = (x: Tensor): Tensor => {
          opt.zeroGrad()
          const loss = forward(blocks, x, true)
          loss.backward()
          opt.step()
          return loss
        }
        const f = useJit ? jit(step) : step
        const out: number[] = []
        for (let i = 0; i < 4; i++)
          out.push(
            ...vals(
              f(
                new Tensor(
                  Array.from({ length: 32 }, (_, k) => Math.cos(k + i)),
                  { shape: [4, 8] },
                ),
              ),
            ),
          )
        return [...out, ...params.flatMap(vals)]
      }
      assertClose(run(true), run(false), 1e-6)
      Tensor.training = false
    })

    test('lower peak memory for fwd + bwd + step of a stack of blocks', () => {
      const { blocks, params } = stack(32, 8)
      const x = Tensor.randn([512, 32]).realize()
      const peak = (ck: boolean): number => {
        const opt = new optim.SGD(params, { lr: 0 })
        opt.zeroGrad()
        const loss = forward(blocks, x, ck)
        loss.backward()
        const base = memory.inUse
        memory.peak = memory.inUse
        Tensor.realize(loss, ...opt.scheduleStep())
        return memory.peak - base
      }
      const plain = peak(false)
      const ck = peak(true)
      console.log(
        `# ${device}: fwd+bwd+step peak ${(plain / 1e6).toFixed(2)} MB plain, ${(ck / 1e6).toFixed(2)} MB checkpointed`,
      )
      assert.ok(ck < 0.6 * plain, `checkpointed peak ${ck} not well below plain ${plain}`)
    })
  })
}
