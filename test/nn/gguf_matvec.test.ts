// Decode matvecs over quantized GGUF weights: kernel shapes the C device relies on for speed.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { nn, Tensor } from '../../src/index.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'

describe('quantized decode matvecs', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const)
    test(`a gated MLP's silu(x Wg) * (x Wu) over ${type}: one kernel, both reduces split into blocks`, async () => {
      const [hidden, dim] = [256, 512]
      Tensor.manualSeed(5)
      const f = nn.ggufParse(
        await nn.ggufSerialize(
          { tensors: { g: Tensor.randn([hidden, dim]), u: Tensor.randn([hidden, dim]) } },
          type,
        ),
      )
      const [Wg, Wu] = [f.tensors.g!, f.tensors.u!]
      const x = Tensor.randn([1, dim]).realize()
      const y = x.matmul(Wg.T).silu().mul(x.matmul(Wu.T))
      const ks = scheduleFor([y.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
      assert.equal(ks.length, 1, `${ks.length} kernels`)
      const r = new CRenderer()
      const opts = handOpts(ks[0]!.ast, r.target)
      // before: only the first reduce was split; the other divided and took modulos per weight
      assert.deepEqual(
        opts.filter((o) => o.op === 'SPLIT').map((o) => o.arg),
        [32, 16, 32, 16],
      )
      const src = renderKernel(ks[0]!.ast, r, opts).src
      const body = src.slice(src.lastIndexOf(' r_'))
      assert.doesNotMatch(body, /idiv_i32|imod_i32/)
      assert.equal(body.match(/acc\d+_l\[16\]/g)?.length, 2, 'both sums in vector lanes')
      const want = Array.from(
        await x.matmul(Wg.contiguous().realize().T).silu().mul(x.matmul(Wu.contiguous().realize().T)).data(),
      )
      const got = Array.from(await y.data())
      for (let i = 0; i < hidden; i++)
        assert.ok(
          Math.abs(got[i]! - want[i]!) <= 1e-4 * (1 + Math.abs(want[i]!)),
          `y[${i}] ${got[i]} vs ${want[i]}`,
        )
    })
})
