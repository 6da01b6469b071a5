// Mixture-of-experts tiny models from GGUF: Mixtral (GGUF arch 'llama' with experts, top-k then
// softmax over the chosen logits) in Q8_0 and F16, Qwen3-MoE (q/k norms, norm_topk_prob) in Q4_0,
// Qwen2-MoE (softmax then top-k, not renormalized; a sigmoid-gated shared expert; biases) in Q8_0,
// against the PyTorch reference; and a decode step reads only the chosen experts' weights.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { estimateCost } from '../../src/codegen/cost.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { nn, Tensor } from '../../src/index.ts'
import { configFromGGUF } from '../../src/llm/config.ts'
import { moeDecode, moeDense } from '../../src/llm/model_moe.ts'
import { collectWeights } from '../../src/llm/weights.ts'
import { LLM_FIXTURES, modelTests } from './fixtures.ts'

describe('llm model: mixture of experts from GGUF', () => {
  for (const name of ['mixtral_q8_0', 'mixtral_f16', 'qwen3moe_q4_0', 'qwen2moe_q8_0']) modelTests(name)

  test('a decode step reads the chosen experts only (gathered by the top-k indices on the device)', async () => {
    const file = await nn.ggufLoad(join(LLM_FIXTURES, 'mixtral_f16.gguf'))
    const c = configFromGGUF(
      file.metadata,
      file.tensorInfos.map((t) => t.name),
    )
    const e = c.experts!
    assert.deepEqual(e, { count: 4, used: 2, gating: 'topk-softmax' })
    const l = collectWeights(c, file.tensors, 'test').layers[0]!
    // F16 expert stacks: the static cost counts 2 bytes per weight element a kernel loads
    const expertBytes = file.tensorInfos
      .filter((t) => t.name.includes('_exps'))
      .reduce((a, t) => a + t.nbytes, 0)
    const bytesRead = (t: Tensor): number =>
      scheduleFor([t.uop])
        .items.filter((i): i is KernelItem => i.kind === 'kernel')
        .reduce(
          (a, k) =>
            a +
            estimateCost(
              k.ast,
              k.bufs.map((b) => b.size * b.dtype.itemsize),
            ).bytes,
          0,
        )
    const h = Tensor.randn([1, 1, c.dim]).realize()
    const decode = bytesRead(moeDecode(h, l, e))
    const dense = bytesRead(moeDense(h, l, e))
    const others = 4096 // router, activations, outputs
    assert.ok(dense >= expertBytes, `the dense form reads every expert (${dense} >= ${expertBytes})`)
    assert.ok(
      decode <= (expertBytes * e.used) / e.count + others,
      `decode reads ${decode} bytes; the chosen experts are ${(expertBytes * e.used) / e.count} of ${expertBytes}`,
    )
    // and both compute the same thing
    const [a, b] = [await moeDecode(h, l, e).data(), await moeDense(h, l, e).data()]
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(Number(a[i]) - Number(b[i])) < 1e-5)
  })
})
