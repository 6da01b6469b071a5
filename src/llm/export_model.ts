// Writing a LLaMA model (weights by Hugging Face LlamaForCausalLM names) with its tokenizer in the
// two formats `llm.load` reads: `model.gguf` (llama.cpp's names and metadata keys, q/k rows
// permuted for its adjacent-pair rope as convert_hf_to_gguf.py does, the tokenizer in
// `tokenizer.ggml.*`) and a Hugging Face folder (`model.safetensors`, `config.json`,
// `tokenizer.json`, `tokenizer_config.json`, `generation_config.json`). Every file is written
// under a temporary name and renamed, so a crash never leaves a half-written model behind.
import { TsgradError } from '../helpers.js'
import type { GGUFValue } from '../nn/gguf.js'
import { ggufSave } from '../nn/gguf_write.js'
import { safeSave } from '../nn/safetensors.js'
import { checkOptions, type KeySet } from '../options.js'
import { nodeBuiltins, writeFileAtomic } from '../runtime/node.js'
import { Tensor } from '../tensor/index.js'
import { ropeFrequencies } from '../tensor/rope.js'
import { configFromHF } from './config.js'
import { TokenizerImpl } from './tokenizer.js'
import { tokenizerToGGUFMetadata } from './tokenizer_gguf.js'
import { tokenizerToHF } from './tokenizer_hf_write.js'
import type { LLMConfig, Tokenizer } from './types.js'
import { renameHF } from './weights.js'

export interface ExportModelOptions {
  /** the architecture ('llama', no experts); `tiedEmbeddings` follows from `lm_head.weight` being absent */
  config: LLMConfig
  /**
   * Hugging Face LlamaForCausalLM weights: `model.embed_tokens.weight`, `model.layers.N.*`,
   * `model.norm.weight`, `lm_head.weight` (left out: tied to the embedding); [out, in] matrices,
   * q/k in HF's rotate-half rope order
   */
  weights: Record<string, Tensor>
  /** a byte-level BPE tokenizer of `config.vocabSize` tokens */
  tokenizer: Tokenizer
  /** a Jinja chat template, stored in both formats */
  chatTemplate?: string
  /** general.name in the GGUF (default 'tsgrad-llama') */
  name?: string
  /** the GGUF's matrix type: 'f32' (default) or 'f16' (norms stay f32, as llama.cpp writes them) */
  ggufDtype?: 'f32' | 'f16'
}
const EXPORT_KEYS: KeySet<ExportModelOptions> = {
  config: true,
  weights: true,
  tokenizer: true,
  chatTemplate: true,
  name: true,
  ggufDtype: true,
}

function fail(msg: string): never {
  throw new TsgradError(`exportModel: ${msg}`)
}

/** config.json's torch_dtype of the weights' dtype */
const TORCH_DTYPES: Record<string, string> = { float32: 'float32', float16: 'float16', bfloat16: 'bfloat16' }

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`

/** The HF tensor names and shapes of a dense LLaMA. */
function hfSpecs(c: LLMConfig, tied: boolean): Map<string, number[]> {
  const q = c.heads * c.headDim
  const kv = c.kvHeads * c.headDim
  const m = new Map<string, number[]>([
    ['model.embed_tokens.weight', [c.vocabSize, c.dim]],
    ['model.norm.weight', [c.dim]],
  ])
  if (!tied) m.set('lm_head.weight', [c.vocabSize, c.dim])
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`
    m.set(`${p}input_layernorm.weight`, [c.dim])
    m.set(`${p}post_attention_layernorm.weight`, [c.dim])
    m.set(`${p}self_attn.q_proj.weight`, [q, c.dim])
    m.set(`${p}self_attn.k_proj.weight`, [kv, c.dim])
    m.set(`${p}self_attn.v_proj.weight`, [kv, c.dim])
    m.set(`${p}self_attn.o_proj.weight`, [c.dim, q])
    m.set(`${p}mlp.gate_proj.weight`, [c.hidden, c.dim])
    m.set(`${p}mlp.up_proj.weight`, [c.hidden, c.dim])
    m.set(`${p}mlp.down_proj.weight`, [c.dim, c.hidden])
  }
  return m
}

/** config.json of a LlamaForCausalLM (what configFromHF reads back to `c`). */
function hfConfigJson(c: LLMConfig, tied: boolean, tok: Tokenizer, dtype: string): Record<string, unknown> {
  const s = c.ropeScaling
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.dim,
    intermediate_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: s
      ? {
          rope_type: 'llama3',
          factor: s.factor,
          low_freq_factor: s.lowFreqFactor,
          high_freq_factor: s.highFreqFactor,
          original_max_position_embeddings: s.originalMaxPos,
        }
      : null,
    tie_word_embeddings: tied,
    attention_bias: false,
    mlp_bias: false,
    ...(tok.bos !== undefined && { bos_token_id: tok.bos }),
    ...(tok.eos !== undefined && { eos_token_id: tok.eos }),
    torch_dtype: dtype,
  }
}

/** llama.cpp's q/k row order: within each head, rows (i, i + d/2) become adjacent (2i, 2i+1). */
function permuteForGGUF(w: Tensor, heads: number): Tensor {
  const [rows, cols] = w.shape as [number, number]
  const hd = rows / heads
  return w
    .reshape([heads, 2, hd / 2, cols])
    .permute([0, 2, 1, 3])
    .reshape([rows, cols])
}

/** GGUF metadata of the architecture (`llama.*` keys) with the value types llama.cpp checks. */
function ggufModelMetadata(
  c: LLMConfig,
  name: string,
  f16: boolean,
): { metadata: Record<string, GGUFValue>; types: Record<string, string> } {
  const metadata: Record<string, GGUFValue> = {
    'general.architecture': 'llama',
    'general.name': name,
    // llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1
    'general.file_type': f16 ? 1 : 0,
    'llama.vocab_size': c.vocabSize,
    'llama.context_length': c.contextLength,
    'llama.embedding_length': c.dim,
    'llama.block_count': c.layers,
    'llama.feed_forward_length': c.hidden,
    'llama.attention.head_count': c.heads,
    'llama.attention.head_count_kv': c.kvHeads,
    'llama.attention.layer_norm_rms_epsilon': c.normEps,
    'llama.rope.freq_base': c.ropeTheta,
    'llama.rope.dimension_count': c.headDim,
  }
  if (c.headDim * c.heads !== c.dim) {
    metadata['llama.attention.key_length'] = c.headDim
    metadata['llama.attention.value_length'] = c.headDim
  }
  const types: Record<string, string> = {}
  for (const k of Object.keys(metadata)) if (typeof metadata[k] === 'number') types[k] = 'UINT32'
  types['llama.attention.layer_norm_rms_epsilon'] = 'FLOAT32'
  types['llama.rope.freq_base'] = 'FLOAT32'
  return { metadata, types }
}

/**
 * Write a LLaMA model to `outDir` (created if missing) as `model.gguf` and as a Hugging Face
 * folder (`outDir` itself); both load with `llm.load` to the same logits.
 */
export async function exportModel(
  outDir: string,
  opts: ExportModelOptions,
): Promise<{ gguf: string; hfDir: string }> {
  checkOptions('exportModel', opts, EXPORT_KEYS)
  const node = nodeBuiltins()
  if (!node) fail('needs Node.js (files are written to disk)')
  if (typeof outDir !== 'string' || outDir === '')
    fail(`expected an output folder path, got ${String(outDir)}`)
  if (opts === undefined || opts === null) fail('expected { config, weights, tokenizer }')
  const { config, weights, tokenizer } = opts
  if (weights === null || typeof weights !== 'object') fail('weights must be an object of name -> Tensor')
  if (!(tokenizer instanceof TokenizerImpl) || tokenizer.kind !== 'bpe')
    fail('tokenizer must be a byte-level BPE tokenizer (trainBPE, tokenizerFromGGUF or tokenizerFromHF)')
  if (opts.chatTemplate !== undefined && typeof opts.chatTemplate !== 'string')
    fail(`chatTemplate must be a string, got ${typeof opts.chatTemplate}`)
  const name = opts.name ?? 'tsgrad-llama'
  if (typeof name !== 'string') fail(`name must be a string, got ${typeof name}`)
  const dtype = opts.ggufDtype ?? 'f32'
  if (dtype !== 'f32' && dtype !== 'f16') fail(`ggufDtype must be 'f32' or 'f16', got ${String(dtype)}`)
  if (config === null || typeof config !== 'object') fail('config must be an LLMConfig')
  if (config.arch !== 'llama' || config.experts)
    fail(
      `only dense 'llama' models are exported, got arch '${String(config.arch)}'${config.experts ? ' with experts' : ''}`,
    )

  const tied = !Object.hasOwn(weights, 'lm_head.weight')
  if (config.tiedEmbeddings && !tied)
    fail(
      'config.tiedEmbeddings is true but the weights have an lm_head.weight (leave it out for tied embeddings)',
    )
  if (tokenizer.vocabSize !== config.vocabSize)
    fail(`the tokenizer has ${tokenizer.vocabSize} tokens but config.vocabSize is ${config.vocabSize}`)
  const embed = weights['model.embed_tokens.weight']
  const torchDtype = embed instanceof Tensor ? TORCH_DTYPES[embed.dtype.name] : undefined
  const hfConfig = hfConfigJson(config, tied, tokenizer, torchDtype ?? 'float32')
  // the config as the HF loader will read it: checks heads, sizes, eps and theta once
  let c: LLMConfig
  try {
    c = configFromHF(hfConfig)
  } catch (e) {
    fail(`bad config: ${(e as Error).message}`)
  }
  if (c.headDim % 2 !== 0) fail(`headDim must be even, got ${c.headDim}`)

  const specs = hfSpecs(c, tied)
  const missing = [...specs.keys()].filter((n) => !Object.hasOwn(weights, n))
  const unknown = Object.keys(weights).filter((n) => !specs.has(n))
  const wrong: string[] = []
  for (const [n, shape] of specs) {
    const t = weights[n]
    if (t === undefined) continue
    if (!(t instanceof Tensor)) wrong.push(`${n} is not a Tensor`)
    else if (!t.dtype.isFloat) wrong.push(`${n} has dtype ${t.dtype.name}, expected a float type`)
    else if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j]))
      wrong.push(`${n} is ${fmt(t.shape)}, expected ${fmt(shape)}`)
  }
  if (missing.length || unknown.length || wrong.length)
    fail(
      [
        missing.length > 0 && `missing weights: ${missing.join(', ')}`,
        unknown.length > 0 && `unknown weights (not LlamaForCausalLM names): ${unknown.join(', ')}`,
        wrong.length > 0 && wrong.join('; '),
      ]
        .filter(Boolean)
        .join('; '),
    )

  const { fs, path } = node
  fs.mkdirSync(outDir, { recursive: true })
  const hfWeights: Record<string, Tensor> = {}
  for (const n of specs.keys()) hfWeights[n] = weights[n]!

  // GGUF: llama.cpp names, q/k permuted, rope scaling as per-frequency divisors
  const gg = renameHF(hfWeights, c)
  for (let i = 0; i < c.layers; i++) {
    gg[`blk.${i}.attn_q.weight`] = permuteForGGUF(gg[`blk.${i}.attn_q.weight`]!, c.heads)
    gg[`blk.${i}.attn_k.weight`] = permuteForGGUF(gg[`blk.${i}.attn_k.weight`]!, c.kvHeads)
  }
  if (c.ropeScaling) {
    const base = ropeFrequencies(c.headDim, c.ropeTheta)
    const s = c.ropeScaling
    const scaled = ropeFrequencies(c.headDim, c.ropeTheta, {
      factor: s.factor,
      lowFreqFactor: s.lowFreqFactor,
      highFreqFactor: s.highFreqFactor,
      originalMaxPositions: s.originalMaxPos,
    })
    gg['rope_freqs.weight'] = new Tensor(Float32Array.from(base, (f, i) => f / scaled[i]!))
  }
  const types: Record<string, 'F32' | 'F16'> = {}
  for (const [n, t] of Object.entries(gg)) types[n] = dtype === 'f16' && t.ndim === 2 ? 'F16' : 'F32'
  const { metadata, types: metadataTypes } = ggufModelMetadata(c, name, dtype === 'f16')
  Object.assign(metadata, tokenizerToGGUFMetadata(tokenizer))
  if (opts.chatTemplate !== undefined) metadata['tokenizer.chat_template'] = opts.chatTemplate
  const ggufPath = path.join(outDir, 'model.gguf')
  await ggufSave(ggufPath, { metadata, metadataTypes, tensors: gg }, types)

  // Hugging Face folder
  await safeSave(hfWeights, path.join(outDir, 'model.safetensors'), { format: 'pt' })
  const { tokenizerJson, tokenizerConfig } = tokenizerToHF(tokenizer, {
    ...(opts.chatTemplate !== undefined && { chatTemplate: opts.chatTemplate }),
    modelMaxLength: c.contextLength,
  })
  const json = (v: unknown): Uint8Array => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`)
  const write = (file: string, v: unknown): Promise<void> =>
    writeFileAtomic(path.join(outDir, file), json(v), 'exportModel')
  await write('config.json', hfConfig)
  await write('generation_config.json', {
    ...(tokenizer.bos !== undefined && { bos_token_id: tokenizer.bos }),
    ...(tokenizer.eos !== undefined && { eos_token_id: tokenizer.eos }),
  })
  await write('tokenizer.json', tokenizerJson)
  await write('tokenizer_config.json', tokenizerConfig)
  return { gguf: ggufPath, hfDir: outDir }
}
