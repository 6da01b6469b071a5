import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { jit, nn, optim, Tensor } from '../../src/index.ts'
import { decodeValue, expectThrows } from '../helpers.ts'
import { assertClose, values } from './helpers.ts'
import { dec, fixture, formula } from './optim_fixture.ts'

function gradsOf(shapes: number[][]): Tensor[] {
  return shapes.map((s, k) => {
    const n = s.reduce((a, b) => a * b, 1)
    const p = Tensor.zeros(s).clone()
    p.requiresGrad = true
    p.grad = new Tensor(
      formula(n, 5 + k, k, 9 + 2 * k).map((v) => v * (k + 1)),
      { shape: s },
    )
    return p
  })
}

describe('clipGradNorm (torch fixture)', () => {
  for (const c of fixture.clip.cases) {
    test(`normType ${c.normType}, maxNorm ${c.maxNorm}`, async () => {
      const ps = gradsOf(fixture.clip.shapes)
      const total = nn.clipGradNorm(ps, c.maxNorm, { normType: decodeValue(c.normType) })
      assert.deepEqual(total.shape, [])
      assertClose(await values(total), [decodeValue(c.total)], 1e-5, 'total norm')
      for (const [i, p] of ps.entries())
        assertClose(await values(p.grad!), dec(c.grads[i]!), 1e-5, `grad ${i}`)
    })
  }
})

describe('clipGradNorm: behaviour', () => {
  test('lazy: nothing realized until read, and it works inside jit with new gradients each call', async () => {
    const w = new Tensor([3, 4], { requiresGrad: true })
    const opt = new optim.SGD([w], { lr: 1 })
    const step = jit((x: Tensor) => {
      opt.zeroGrad()
      w.mul(x).sum().backward() // grad = x
      const norm = nn.clipGradNorm([w], 1)
      opt.step()
      return norm
    })
    const expected = [3, 4]
    for (const x of [
      [6, 8],
      [0.3, 0.4],
      [-5, 12],
      [0, 2],
    ]) {
      const norm = step(new Tensor(x))
      const n = Math.hypot(x[0]!, x[1]!)
      const c = Math.min(1, 1 / (n + 1e-6))
      expected[0]! -= x[0]! * c
      expected[1]! -= x[1]! * c
      assertClose(await values(norm), [n], 1e-6, 'norm')
      assertClose(await values(w), expected, 1e-6, 'w')
    }
    assert.ok(step.jit.captured(new Tensor([1, 1])), 'replayed from a capture')
  })

  test('no gradients: norm 0; bad input is an error', async () => {
    const p = new Tensor([1, 2])
    assert.deepEqual(await values(nn.clipGradNorm([p], 1)), [0])
    expectThrows(() => nn.clipGradNorm([p], -1), /clipGradNorm/, /maxNorm/)
    expectThrows(() => nn.clipGradNorm([p], 1, { normType: 0 }), /normType/)
    expectThrows(() => nn.clipGradNorm([p], 1, { norm_type: 2 } as never), /unknown option 'norm_type'/)
  })
})
