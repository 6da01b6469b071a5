// Configuration from GGUF metadata and HF config.json, and the errors for what cannot be loaded:
// unknown architectures (listing the supported ones), missing metadata keys and tensors (named),
// wrong shapes, bad steps; weightBytes and dtype conversion at load.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { nn, Tensor, TsgradError } from '../../src/index.ts'
import { configFromGGUF, configFromHF } from '../../src/llm/config.ts'
import { loadGGUFModel, loadHFModel } from '../../src/llm/load_model.ts'
import { allclose } from '../helpers.ts'
import { LLM_FIXTURES, reference } from './fixtures.ts'

const gguf = (name: string) => nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`))
const throwsTsgrad = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof TsgradError && re.test(e.message))

describe('llm config', () => {
  test('GGUF metadata of each family', async () => {
    const q3 = await gguf('qwen3_bf16')
    const c = configFromGGUF(
      q3.metadata,
      q3.tensorInfos.map((t) => t.name),
    )
    assert.deepEqual(
      { ...c, normEps: Math.fround(c.normEps) },
      {
        arch: 'qwen3',
        vocabSize: 300,
        dim: 64,
        layers: 2,
        heads: 4,
        kvHeads: 2,
        headDim: 32,
        hidden: 96,
        normEps: Math.fround(1e-6),
        ropeTheta: 1e6,
        ropeLayout: 'neox',
        contextLength: 256,
        tiedEmbeddings: true,
      },
    )
    const mx = await gguf('mixtral_q8_0')
    const m = configFromGGUF(mx.metadata)
    assert.equal(m.arch, 'mixtral')
    assert.equal(m.ropeLayout, 'normal')
    assert.deepEqual(m.experts, { count: 4, used: 2, gating: 'topk-softmax' })
    const qm = configFromGGUF((await gguf('qwen3moe_q4_0')).metadata)
    assert.equal(qm.arch, 'qwen3')
    assert.deepEqual(qm.experts, { count: 4, used: 2, gating: 'topk-softmax' })
    const q2 = await gguf('qwen2moe_q8_0')
    const q2m = configFromGGUF(q2.metadata)
    assert.deepEqual([q2m.arch, q2m.hidden], ['qwen2', 32])
    assert.deepEqual(q2m.experts, { count: 4, used: 2, gating: 'softmax-topk', sharedHidden: 64 })
    const { 'qwen2moe.expert_shared_feed_forward_length': _s, ...noShared } = q2.metadata
    throwsTsgrad(() => configFromGGUF(noShared), /lacks qwen2moe\.expert_shared_feed_forward_length/)
  })

  test('unknown architecture and missing keys are named', async () => {
    const md = (await gguf('llama_q4_0')).metadata
    throwsTsgrad(
      () => configFromGGUF({ ...md, 'general.architecture': 'falcon' }),
      /unknown architecture 'falcon'; supported: llama, qwen2, qwen2moe, qwen3, qwen3moe/,
    )
    throwsTsgrad(() => configFromGGUF({}), /no general\.architecture/)
    const { 'llama.embedding_length': _a, 'llama.block_count': _b, ...rest } = md
    throwsTsgrad(() => configFromGGUF(rest), /lacks llama\.embedding_length, llama\.block_count/)
    throwsTsgrad(
      () => configFromGGUF({ ...md, 'llama.rope.scaling.type': 'yarn' }),
      /rope scaling 'yarn' is not supported/,
    )
    throwsTsgrad(() => configFromGGUF({ ...md, 'llama.attention.head_count_kv': 3 }), /multiple of kvHeads/)
  })

  test('HF config.json of each class', () => {
    const base = {
      vocab_size: 1000,
      hidden_size: 128,
      intermediate_size: 256,
      num_hidden_layers: 2,
      num_attention_heads: 8,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      max_position_embeddings: 8192,
    }
    const l3 = configFromHF({
      ...base,
      architectures: ['LlamaForCausalLM'],
      tie_word_embeddings: true,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    })
    assert.deepEqual(l3.ropeScaling, {
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPos: 8192,
    })
    assert.equal(l3.headDim, 16)
    assert.equal(l3.ropeLayout, 'neox')
    assert.equal(l3.tiedEmbeddings, true)
    const mx = configFromHF({
      ...base,
      architectures: ['MixtralForCausalLM'],
      num_local_experts: 8,
      num_experts_per_tok: 2,
    })
    assert.deepEqual([mx.arch, mx.experts], ['mixtral', { count: 8, used: 2, gating: 'topk-softmax' }])
    const q = { ...base, architectures: ['Qwen3MoeForCausalLM'], num_experts: 16, num_experts_per_tok: 4 }
    const qm = configFromHF({ ...q, moe_intermediate_size: 64, head_dim: 32, norm_topk_prob: false })
    assert.deepEqual([qm.arch, qm.hidden, qm.headDim, qm.experts?.gating], ['qwen3', 64, 32, 'softmax-topk'])
    throwsTsgrad(() => configFromHF(q), /lacks moe_intermediate_size/)
    const q2 = configFromHF({
      ...q,
      architectures: ['Qwen2MoeForCausalLM'],
      moe_intermediate_size: 64,
      shared_expert_intermediate_size: 256,
    })
    assert.deepEqual(
      [q2.arch, q2.experts],
      ['qwen2', { count: 16, used: 4, gating: 'softmax-topk', sharedHidden: 256 }],
    )
    throwsTsgrad(
      () => configFromHF({ ...q, moe_intermediate_size: 64, mlp_only_layers: [1] }),
      /mlp_only_layers .* is not supported/,
    )
    throwsTsgrad(
      () => configFromHF({ ...base, architectures: ['GPT2LMHeadModel'] }),
      /unknown architecture 'GPT2LMHeadModel'; supported: LlamaForCausalLM, .*Qwen3MoeForCausalLM/,
    )
    throwsTsgrad(
      () => configFromHF({ architectures: ['Qwen2ForCausalLM'] }),
      /lacks hidden_size, num_attention_heads/,
    )
    throwsTsgrad(
      () =>
        configFromHF({
          ...base,
          architectures: ['LlamaForCausalLM'],
          rope_scaling: { rope_type: 'yarn', factor: 4 },
        }),
      /rope_scaling type "yarn" is not supported/,
    )
  })
})

describe('llm model loading', () => {
  test('missing tensors are named (all of them), wrong shapes too', async () => {
    const f = await gguf('llama_q4_0')
    const tensors = Object.assign(Object.create(null), f.tensors) as Record<string, Tensor>
    delete tensors['blk.1.ffn_up.weight']
    delete tensors['output_norm.weight']
    throwsTsgrad(
      () => loadGGUFModel({ ...f, tensors }),
      /missing tensors for llama: output_norm\.weight, blk\.1\.ffn_up\.weight/,
    )
    const q2 = await gguf('qwen2_f16')
    const t2 = Object.assign(Object.create(null), q2.tensors) as Record<string, Tensor>
    delete t2['blk.0.attn_k.bias']
    t2['blk.0.attn_q.weight'] = Tensor.zeros([64, 32])
    throwsTsgrad(
      () => loadGGUFModel({ ...q2, tensors: t2 }),
      /missing tensors for qwen2: blk\.0\.attn_k\.bias; wrong shapes: blk\.0\.attn_q\.weight is \[64, 32\], expected \[64, 64\]/,
    )
    const mx = await gguf('mixtral_q8_0')
    const t3 = Object.assign(Object.create(null), mx.tensors) as Record<string, Tensor>
    delete t3['blk.1.ffn_down_exps.weight']
    throwsTsgrad(
      () => loadGGUFModel({ ...mx, tensors: t3 }),
      /missing tensors for mixtral \(MoE\): blk\.1\.ffn_down_exps/,
    )
    const qm = await gguf('qwen2moe_q8_0')
    const t4 = Object.assign(Object.create(null), qm.tensors) as Record<string, Tensor>
    delete t4['blk.0.ffn_gate_inp_shexp.weight']
    throwsTsgrad(
      () => loadGGUFModel({ ...qm, tensors: t4 }),
      /missing tensors for qwen2 \(MoE\): blk\.0\.ffn_gate_inp_shexp\.weight/,
    )
  })

  test('HF folders: no weights, a shard outside the folder, an expert missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-llm-'))
    const config = JSON.stringify({
      architectures: ['MixtralForCausalLM'],
      vocab_size: 10,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      rms_norm_eps: 1e-5,
      max_position_embeddings: 16,
      num_local_experts: 2,
      num_experts_per_tok: 1,
    })
    writeFileSync(join(dir, 'config.json'), config)
    await assert.rejects(loadHFModel(dir), /neither model\.safetensors nor model\.safetensors\.index\.json/)
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: '../x.safetensors' } }),
    )
    await assert.rejects(loadHFModel(dir), /shard outside the folder/)
    const dir2 = mkdtempSync(join(tmpdir(), 'tsgrad-llm-'))
    writeFileSync(join(dir2, 'config.json'), config)
    await nn.safeSave(
      { 'model.layers.0.block_sparse_moe.experts.1.w1.weight': Tensor.zeros([8, 8]) },
      join(dir2, 'model.safetensors'),
    )
    await assert.rejects(
      loadHFModel(dir2),
      /blk\.0\.ffn_gate_exps\.weight needs experts 0\.\.1; missing experts 0/,
    )
    await assert.rejects(loadHFModel(join(dir2, 'nope')), /cannot read .*config\.json/)
  })

  test('bad steps: ids out of range, past the context, empty', async () => {
    const m = loadGGUFModel(await gguf('llama_q4_0'), { maxContext: 16 })
    assert.equal(m.maxContext, 16)
    await assert.rejects(m.step([300], 0), /token 300 at index 0 is not an id in 0\.\.299/)
    await assert.rejects(m.step([1, 2], 15), /positions 15\.\.16 do not fit the context of 16 tokens/)
    await assert.rejects(m.step([], 0), /non-empty array/)
    await assert.rejects(m.logitsAll([1.5]), /token 1\.5/)
    const f = await gguf('llama_q4_0')
    throwsTsgrad(
      () => loadGGUFModel(f, { dtype: 'f8' as never }),
      /dtype must be one of f32, f16, bf16, q8_0, q4_0, got "f8"/,
    )
    throwsTsgrad(() => loadGGUFModel(f, { maxCtx: 3 } as never), /unknown option 'maxCtx'/)
    throwsTsgrad(() => loadGGUFModel({} as never), /expected a GGUFFile/)
    throwsTsgrad(() => loadGGUFModel(f, { maxContext: 1 }), /maxContext must be an integer >= 2, got 1/)
  })

  test('weightBytes: the file bytes a decode step reads', async () => {
    const f = await gguf('llama_q4_0')
    const bytes = (n: string) => f.tensorInfos.find((t) => t.name === n)!.nbytes
    const all = f.tensorInfos.reduce((a, t) => a + t.nbytes, 0)
    // everything but the embedding table, of which one row (and rope_freqs: none here)
    assert.equal(
      loadGGUFModel(f).weightBytes,
      all - bytes('token_embd.weight') + bytes('token_embd.weight') / 300,
    )
    const mx = await gguf('mixtral_q8_0')
    const exps = mx.tensorInfos.filter((t) => t.name.includes('_exps')).reduce((a, t) => a + t.nbytes, 0)
    const mAll = mx.tensorInfos.reduce((a, t) => a + t.nbytes, 0)
    const emb = mx.tensorInfos.find((t) => t.name === 'token_embd.weight')!.nbytes
    assert.equal(loadGGUFModel(mx).weightBytes, Math.round(mAll - emb + emb / 300 - exps / 2))
  })

  test('dtype converts at load: f32 of Q4_0 weights is exact, f16 close', async () => {
    const ref = reference('llama_q4_0')
    // (float products: a prompt's integer ones round x to int8, which converted weights do not)
    const q = await loadGGUFModel(await gguf('llama_q4_0'), { intDot: false, kvDtype: 'f32' }).logitsAll(
      ref.prompt,
    )
    const f = loadGGUFModel(await gguf('llama_q4_0'), { dtype: 'f32', kvDtype: 'f32' })
    allclose(await f.logitsAll(ref.prompt), q, { rtol: 1e-5, atol: 1e-5, label: 'f32' })
    const h = loadGGUFModel(await gguf('llama_q4_0'), { dtype: 'f16', kvDtype: 'f32' })
    allclose(await h.logitsAll(ref.prompt), q, { rtol: 1e-2, atol: 1e-2, label: 'f16' })
    assert.ok(h.weightBytes < f.weightBytes * 0.51, `f16 ${h.weightBytes} vs f32 ${f.weightBytes}`)
  })

  test('kvDtype f16: a half-size KV cache, logits close to the reference', async () => {
    const ref = reference('llama3_f32')
    const f = await gguf('llama3_f32')
    const m = loadGGUFModel(f, { kvDtype: 'f16' })
    const half = await m.logitsAll(ref.prompt)
    allclose(half, ref.logits, { rtol: 0, atol: 2e-2, label: 'f16 cache, prefill' })
    // and the keys/values were rounded to f16 (an f32 cache matches the reference to ~1e-6)
    assert.ok(half.some((v, i) => Math.abs(v - ref.logits[i]!) > 1e-4))
    const V = m.config.vocabSize
    for (let i = 0; i < 4; i++)
      allclose(await m.step([ref.prompt[i]!], i), ref.logits.slice(i * V, (i + 1) * V), {
        rtol: 0,
        atol: 2e-2,
        label: `f16 cache, decode ${i}`,
      })
    throwsTsgrad(
      () => loadGGUFModel(f, { kvDtype: 'bf16' as never }),
      /kvDtype must be 'f32' or 'f16', got "bf16"/,
    )
  })

  test('dtype q8_0 / q4_0 quantizes at load: GGUF and HF copies of the same F32 weights agree', async () => {
    const ref = reference('llama3_f32')
    const f32 = loadGGUFModel(await gguf('llama3_f32'), { kvDtype: 'f32' })
    const q8 = loadGGUFModel(await gguf('llama3_f32'), { dtype: 'q8_0', kvDtype: 'f32' })
    const hq8 = await loadHFModel(join(LLM_FIXTURES, 'hf_llama3_f32'), { dtype: 'q8_0', kvDtype: 'f32' })
    const a = await q8.logitsAll(ref.prompt)
    // the HF q/k rows are in another order, but each row quantizes alike: the same values
    allclose(await hq8.logitsAll(ref.prompt), a, { rtol: 1e-5, atol: 1e-5, label: 'hf q8_0 vs gguf q8_0' })
    // quantization error: mean absolute logit error against the f32 reference (logits up to ~3)
    const meanErr = (x: Float32Array) =>
      x.reduce((acc, v, i) => acc + Math.abs(v - ref.logits[i]!), 0) / x.length
    const q4 = loadGGUFModel(await gguf('llama3_f32'), { dtype: 'q4_0', kvDtype: 'f32' })
    const [e8, e4] = [meanErr(a), meanErr(await q4.logitsAll(ref.prompt))]
    assert.ok(e8 < 0.02 && e4 < 0.3 && e8 < e4 / 3, `mean errors q8_0 ${e8}, q4_0 ${e4}`)
    // matrices at 34 and 18 bytes per 32 weights instead of 128 (norms stay F32)
    const norms = 4 * 64 * (2 * 2 + 1)
    assert.equal(q8.weightBytes - norms, Math.round(((f32.weightBytes - norms) * 34) / 128))
    assert.equal(q4.weightBytes - norms, Math.round(((f32.weightBytes - norms) * 18) / 128))
  })
})
