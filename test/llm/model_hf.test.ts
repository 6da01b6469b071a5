// Hugging Face folders (config.json + safetensors: single file F32/BF16/F16, sharded F16 with
// model.safetensors.index.json, Mixtral's per-expert tensors) hold the same weights as the GGUF
// fixtures (llama q/k unpermuted, neox rope): their logits equal the GGUF model's and the reference.
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { loadHFModel } from '../../src/llm/load.ts'
import { allclose } from '../helpers.ts'
import { LLM_FIXTURES, loadTiny, logitTol, modelTests, reference } from './fixtures.ts'

const folders = ['llama3_f32', 'qwen2_f16', 'qwen3_bf16', 'mixtral_f16']

describe('llm model: Hugging Face folders', () => {
  for (const name of folders) {
    const load = () => loadHFModel(join(LLM_FIXTURES, `hf_${name}`))
    test(`hf_${name}: logits equal the GGUF model's`, async () => {
      const ref = reference(name)
      const [hf, gg] = [await load(), await loadTiny(name)]
      const a = await hf.logitsAll(ref.prompt)
      allclose(a, await gg.logitsAll(ref.prompt), { rtol: 1e-5, atol: 1e-5, label: `hf_${name} vs gguf` })
      allclose(a, ref.logits, { ...logitTol(ref), label: `hf_${name} vs reference` })
    })
  }
  modelTests('llama3_f32', {
    label: 'hf_llama3_f32',
    load: () => loadHFModel(join(LLM_FIXTURES, 'hf_llama3_f32')),
  })
})
