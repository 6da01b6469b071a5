// Hugging Face folders (config.json + safetensors: single file F32/BF16/F16, sharded F16 with
// model.safetensors.index.json, Mixtral's per-expert tensors) hold the same weights as the GGUF
// fixtures (llama q/k unpermuted, neox rope): their logits equal the GGUF model's and the reference.
// A Qwen2-MoE folder is written by the test from its GGUF weights (the fixture budget is spent).
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { nn, type Tensor } from '../../src/index.ts'
import { loadHFModel } from '../../src/llm/load_model.ts'
import { allclose } from '../helpers.ts'
import { LLM_FIXTURES, loadTiny, logitTol, modelTests, reference } from './fixtures.ts'

const folders = ['llama3_f32', 'qwen2_f16', 'qwen3_bf16', 'mixtral_f16']

describe('llm model: Hugging Face folders', () => {
  for (const name of folders) {
    const load = () => loadHFModel(join(LLM_FIXTURES, `hf_${name}`), { kvDtype: 'f32' })
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
    load: () => loadHFModel(join(LLM_FIXTURES, 'hf_llama3_f32'), { kvDtype: 'f32' }),
  })

  test('Qwen2-MoE: an HF folder written from the GGUF weights (per-expert and shared-expert names)', async () => {
    const ref = reference('qwen2moe_q8_0')
    const f = await nn.ggufLoad(join(LLM_FIXTURES, 'qwen2moe_q8_0.gguf'))
    const t = (n: string) => f.tensors[n]!
    const hf: Record<string, Tensor> = {
      'model.embed_tokens.weight': t('token_embd.weight'),
      'model.norm.weight': t('output_norm.weight'),
    }
    const p = 'model.layers.0.'
    const names: Record<string, string> = {
      'input_layernorm.weight': 'attn_norm.weight',
      'post_attention_layernorm.weight': 'ffn_norm.weight',
      'self_attn.o_proj.weight': 'attn_output.weight',
      'mlp.gate.weight': 'ffn_gate_inp.weight',
      'mlp.shared_expert.gate_proj.weight': 'ffn_gate_shexp.weight',
      'mlp.shared_expert.up_proj.weight': 'ffn_up_shexp.weight',
      'mlp.shared_expert.down_proj.weight': 'ffn_down_shexp.weight',
    }
    for (const a of 'qkv') {
      names[`self_attn.${a}_proj.weight`] = `attn_${a}.weight`
      names[`self_attn.${a}_proj.bias`] = `attn_${a}.bias`
    }
    for (const [h, g] of Object.entries(names)) hf[p + h] = t(`blk.0.${g}`)
    hf[`${p}mlp.shared_expert_gate.weight`] = t('blk.0.ffn_gate_inp_shexp.weight').reshape([1, 32])
    for (let e = 0; e < 4; e++)
      for (const [h, g] of [
        ['gate_proj', 'gate'],
        ['up_proj', 'up'],
        ['down_proj', 'down'],
      ])
        hf[`${p}mlp.experts.${e}.${h}.weight`] = t(`blk.0.ffn_${g}_exps.weight`).get(e)
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-qwen2moe-'))
    await nn.safeSave(
      Object.fromEntries(Object.entries(hf).map(([k, v]) => [k, v.contiguous().realize()])),
      join(dir, 'model.safetensors'),
    )
    const config = {
      architectures: ['Qwen2MoeForCausalLM'],
      vocab_size: 300,
      hidden_size: 32,
      intermediate_size: 999, // unused: every layer is sparse
      moe_intermediate_size: 32,
      shared_expert_intermediate_size: 64,
      num_experts: 4,
      num_experts_per_tok: 2,
      norm_topk_prob: false,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1e6,
      max_position_embeddings: 256,
      tie_word_embeddings: true,
    }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config))
    const m = await loadHFModel(dir, { kvDtype: 'f32' })
    allclose(await m.logitsAll(ref.prompt), ref.logits, { ...logitTol(ref), label: 'hf qwen2moe' })
  })
})
