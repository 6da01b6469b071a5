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
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import type { GGUFTensorInfo } from '../../src/nn/gguf.ts'
import { dequantize, ggmlTypeByName } from '../../src/nn/gguf_quant.ts'
import { configFromGGUF } from '../../src/llm/config.ts'
import { moeDecode, moeDense } from '../../src/llm/model_moe.ts'
import { collectWeights } from '../../src/llm/weights.ts'
import { allclose } from '../helpers.ts'
import { argmax, decodeTol, LLM_FIXTURES, modelTests, reference } from './fixtures.ts'

describe('llm model: mixture of experts from GGUF', () => {
  for (const name of ['mixtral_q8_0', 'mixtral_f16', 'qwen3moe_q4_0', 'qwen2moe_q8_0']) modelTests(name)

  test('legacy Mixtral files with one tensor per expert (blk.N.ffn_gate.E.weight) are stacked into the expert stacks', async () => {
    const ref = reference('mixtral_q8_0')
    const file = await nn.ggufLoad(join(LLM_FIXTURES, 'mixtral_q8_0.gguf'))
    const tensors = Object.create(null) as Record<string, Tensor>
    const blocks = Object.create(null) as Record<string, Tensor>
    const tensorInfos: GGUFTensorInfo[] = []
    for (const info of file.tensorInfos) {
      const m = /^blk\.(\d+)\.ffn_(gate|up|down)_exps\.weight$/.exec(info.name)
      if (!m) {
        tensors[info.name] = file.tensors[info.name]!
        if (file.blocks?.[info.name]) blocks[info.name] = file.blocks[info.name]!
        tensorInfos.push(info)
        continue
      }
      const [E, ...shape] = info.shape as [number, ...number[]]
      const per = info.nbytes / E
      for (let e = 0; e < E; e++) {
        const name = `blk.${m[1]}.ffn_${m[2]}.${e}.weight`
        const raw = file
          .blocks![info.name]!.shrink([[e * per, (e + 1) * per]])
          .contiguous()
          .realize()
        blocks[name] = raw
        tensors[name] = dequantize(ggmlTypeByName('Q8_0')!, raw, shape)
        tensorInfos.push({ ...info, name, shape, nbytes: per, offset: info.offset + e * per })
      }
    }
    const legacy = loadGGUFModel({ ...file, tensors, blocks, tensorInfos }, { kvDtype: 'f32' })
    assert.equal(legacy.weightBytes, loadGGUFModel(file).weightBytes)
    // (its attention's Q8_0 products are integer ones: the int8 reference)
    allclose(await legacy.logitsAll(ref.prompt), ref.decodeLogits!, {
      ...decodeTol(ref),
      label: 'legacy mixtral',
    })
    let logits = await legacy.step(ref.prompt, 0)
    const out: number[] = []
    for (let i = 0; i < 4; i++) {
      out.push(argmax(logits))
      logits = await legacy.step([out[i]!], ref.prompt.length + i)
    }
    assert.deepEqual(out, ref.decodeGreedy!.slice(0, 4))
  })

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
