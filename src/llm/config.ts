// The architecture hyperparameters (LLMConfig) of a model, read from GGUF metadata (llama.cpp's
// keys, `<arch>.embedding_length` ...) or from a Hugging Face config.json.
//
// Architectures: GGUF 'llama' (LLaMA 1/2/3, Mistral; Mixtral is 'llama' with expert_count > 0),
// 'qwen2', 'qwen2moe', 'qwen3', 'qwen3moe'; HF LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
// Qwen3ForCausalLM, MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM. A Qwen3-MoE model
// is arch 'qwen3' (q/k norms) with `experts` set, Qwen2-MoE 'qwen2' (biases) with experts and a
// shared expert: the model's features follow `arch` and `experts` independently.
import { TsgradError } from '../helpers.js'
import type { GGUFValue } from '../nn/gguf.js'
import type { LLMConfig } from './types.js'

export const GGUF_ARCHITECTURES = ['llama', 'qwen2', 'qwen2moe', 'qwen3', 'qwen3moe'] as const
export const HF_ARCHITECTURES = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'Qwen3ForCausalLM',
  'MixtralForCausalLM',
  'Qwen2MoeForCausalLM',
  'Qwen3MoeForCausalLM',
] as const

/** A number from a GGUF value (64-bit integers arrive as bigint; per-layer arrays must agree). */
function num(v: GGUFValue, key: string): number | undefined {
  if (typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  if (ArrayBuffer.isView(v) && !(v instanceof DataView) && v.length > 0) {
    const xs = Array.from(v as ArrayLike<number | bigint>, Number)
    if (xs.every((x) => x === xs[0])) return xs[0]
    throw new TsgradError(`configFromGGUF: ${key} differs between layers ([${xs.join(', ')}]): not supported`)
  }
  return undefined
}

function positiveInt(v: number, what: string, where: string): number {
  if (!(Number.isInteger(v) && v > 0))
    throw new TsgradError(`${where}: ${what} must be a positive integer, got ${v}`)
  return v
}

/** Checks that hold for every source: head counts divide, the head size is even, ... */
function validate(c: LLMConfig, where: string): LLMConfig {
  for (const k of [
    'vocabSize',
    'dim',
    'layers',
    'heads',
    'kvHeads',
    'headDim',
    'hidden',
    'contextLength',
  ] as const)
    positiveInt(c[k], k, where)
  if (c.heads % c.kvHeads !== 0)
    throw new TsgradError(`${where}: heads (${c.heads}) must be a multiple of kvHeads (${c.kvHeads})`)
  if (c.headDim % 2 !== 0) throw new TsgradError(`${where}: headDim must be even for rope, got ${c.headDim}`)
  if (!(c.normEps > 0 && c.ropeTheta > 0))
    throw new TsgradError(
      `${where}: normEps and ropeTheta must be positive, got ${c.normEps}, ${c.ropeTheta}`,
    )
  if (c.experts) {
    positiveInt(c.experts.count, 'the expert count', where)
    positiveInt(c.experts.used, 'the experts used per token', where)
    if (c.experts.used > c.experts.count)
      throw new TsgradError(
        `${where}: ${c.experts.used} experts used per token but only ${c.experts.count} experts`,
      )
  }
  return c
}

/**
 * The LLMConfig of GGUF metadata. `tensorNames` (the file's tensors) tells whether the output
 * projection is tied to the embedding (no `output.weight`); without it the embeddings count as untied.
 */
export function configFromGGUF(
  metadata: Record<string, GGUFValue>,
  tensorNames?: readonly string[],
): LLMConfig {
  const where = 'configFromGGUF'
  const arch = metadata['general.architecture']
  if (typeof arch !== 'string')
    throw new TsgradError(
      `${where}: the metadata has no general.architecture (string); is this a model file?`,
    )
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch))
    throw new TsgradError(
      `${where}: unknown architecture '${arch}'; supported: ${GGUF_ARCHITECTURES.join(', ')} (Mixtral is 'llama' with experts)`,
    )
  const get = (key: string): number | undefined => {
    const v = metadata[`${arch}.${key}`]
    return v === undefined ? undefined : num(v, `${arch}.${key}`)
  }
  const missing: string[] = []
  const need = (key: string): number => {
    const v = get(key)
    if (v === undefined) missing.push(`${arch}.${key}`)
    return v ?? 0
  }
  const dim = need('embedding_length')
  const layers = need('block_count')
  const heads = need('attention.head_count')
  const eps = need('attention.layer_norm_rms_epsilon')
  const contextLength = need('context_length')
  const expertCount = get('expert_count') ?? 0
  const hidden =
    (expertCount > 0 ? get('expert_feed_forward_length') : undefined) ?? need('feed_forward_length')
  const tokens = metadata['tokenizer.ggml.tokens']
  const vocabSize = get('vocab_size') ?? (Array.isArray(tokens) ? tokens.length : undefined)
  if (vocabSize === undefined) missing.push(`${arch}.vocab_size (or tokenizer.ggml.tokens)`)
  if (expertCount > 0 && get('expert_used_count') === undefined) missing.push(`${arch}.expert_used_count`)
  const shared = arch === 'qwen2moe' ? need('expert_shared_feed_forward_length') : undefined
  if (arch.endsWith('moe') && expertCount === 0) missing.push(`${arch}.expert_count`)
  if (missing.length > 0)
    throw new TsgradError(`${where}: the '${arch}' metadata lacks ${missing.join(', ')}`)
  const scalingType = metadata[`${arch}.rope.scaling.type`]
  const scalingFactor = get('rope.scaling.factor')
  if (
    typeof scalingType === 'string' &&
    scalingType !== 'none' &&
    !(scalingType === 'linear' && scalingFactor === 1)
  )
    throw new TsgradError(
      `${where}: rope scaling '${scalingType}' is not supported (LLaMA-3 scaling comes as a rope_freqs.weight tensor)`,
    )
  const kvHeads = get('attention.head_count_kv') ?? heads
  const headDim = get('attention.key_length') ?? dim / heads
  const valueLength = get('attention.value_length')
  if (valueLength !== undefined && valueLength !== headDim)
    throw new TsgradError(`${where}: key_length ${headDim} != value_length ${valueLength} is not supported`)
  const ropeDims = get('rope.dimension_count')
  if (ropeDims !== undefined && ropeDims !== headDim)
    throw new TsgradError(
      `${where}: partial rope (rope.dimension_count ${ropeDims} of head size ${headDim}) is not supported`,
    )
  const normTopk = metadata[`${arch}.expert_weights_norm`]
  return validate(
    {
      arch:
        arch === 'qwen3moe'
          ? 'qwen3'
          : arch === 'qwen2moe'
            ? 'qwen2'
            : arch === 'llama' && expertCount > 0
              ? 'mixtral'
              : (arch as LLMConfig['arch']),
      vocabSize: vocabSize!,
      dim,
      layers,
      heads,
      kvHeads,
      headDim,
      hidden,
      normEps: eps,
      ropeTheta: get('rope.freq_base') ?? 10000,
      // llama.cpp permutes the q/k rows of 'llama' weights for its normal (adjacent pairs) rope
      ropeLayout: arch === 'llama' ? 'normal' : 'neox',
      contextLength,
      tiedEmbeddings: tensorNames !== undefined && !tensorNames.includes('output.weight'),
      ...(expertCount > 0 && {
        experts: {
          count: expertCount,
          used: get('expert_used_count')!,
          // Mixtral and Qwen3-MoE renormalize the top-k weights (softmax over the chosen logits),
          // Qwen2-MoE does not (llama.cpp's norm_w), unless the metadata says otherwise
          gating:
            normTopk === false || (arch === 'qwen2moe' && normTopk !== true)
              ? 'softmax-topk'
              : 'topk-softmax',
          ...(shared !== undefined && { sharedHidden: shared }),
        },
      }),
    },
    where,
  )
}

/** The LLMConfig of a Hugging Face config.json (parsed). */
export function configFromHF(json: unknown): LLMConfig {
  const where = 'configFromHF'
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new TsgradError(`${where}: config.json must hold a JSON object`)
  const c = json as Record<string, unknown>
  const archs = c.architectures
  const cls = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined
  if (cls === undefined || !(HF_ARCHITECTURES as readonly string[]).includes(cls))
    throw new TsgradError(
      `${where}: unknown architecture ${cls === undefined ? '(no "architectures" list)' : `'${cls}'`}; supported: ${HF_ARCHITECTURES.join(', ')}`,
    )
  const missing: string[] = []
  const need = (key: string): number => {
    const v = c[key]
    if (typeof v !== 'number') missing.push(key)
    return typeof v === 'number' ? v : 0
  }
  const opt = (key: string): number | undefined =>
    typeof c[key] === 'number' ? (c[key] as number) : undefined
  const moe = cls === 'MixtralForCausalLM' || cls === 'Qwen3MoeForCausalLM' || cls === 'Qwen2MoeForCausalLM'
  const dim = need('hidden_size')
  const heads = need('num_attention_heads')
  const fields = {
    vocabSize: need('vocab_size'),
    layers: need('num_hidden_layers'),
    hidden: cls === 'MixtralForCausalLM' || !moe ? need('intermediate_size') : need('moe_intermediate_size'),
    normEps: need('rms_norm_eps'),
    contextLength: need('max_position_embeddings'),
  }
  const count = moe ? need(cls === 'MixtralForCausalLM' ? 'num_local_experts' : 'num_experts') : 0
  const used = moe ? need('num_experts_per_tok') : 0
  const shared = cls === 'Qwen2MoeForCausalLM' ? need('shared_expert_intermediate_size') : undefined
  if (missing.length > 0) throw new TsgradError(`${where}: config.json (${cls}) lacks ${missing.join(', ')}`)
  let ropeScaling: LLMConfig['ropeScaling']
  const rs = c.rope_scaling
  if (rs !== null && rs !== undefined) {
    const s = rs as Record<string, unknown>
    const type = s.rope_type ?? s.type
    if (type === 'llama3') {
      const n = (k: string): number => {
        if (typeof s[k] !== 'number') throw new TsgradError(`${where}: rope_scaling (llama3) lacks ${k}`)
        return s[k] as number
      }
      ropeScaling = {
        factor: n('factor'),
        lowFreqFactor: n('low_freq_factor'),
        highFreqFactor: n('high_freq_factor'),
        originalMaxPos: n('original_max_position_embeddings'),
      }
    } else if (type !== 'default')
      throw new TsgradError(
        `${where}: rope_scaling type ${JSON.stringify(type)} is not supported (only 'llama3')`,
      )
  }
  const mlpOnly = c.mlp_only_layers
  if (moe && ((opt('decoder_sparse_step') ?? 1) !== 1 || (Array.isArray(mlpOnly) && mlpOnly.length > 0)))
    throw new TsgradError(
      `${where}: decoder_sparse_step != 1 or mlp_only_layers (dense layers between MoE layers) is not supported`,
    )
  const arch: LLMConfig['arch'] = cls.startsWith('Qwen2')
    ? 'qwen2'
    : cls.startsWith('Qwen3')
      ? 'qwen3'
      : cls === 'MixtralForCausalLM'
        ? 'mixtral'
        : 'llama'
  return validate(
    {
      arch,
      dim,
      heads,
      kvHeads: opt('num_key_value_heads') ?? heads,
      headDim: opt('head_dim') ?? dim / heads,
      ...fields,
      ropeTheta: opt('rope_theta') ?? 10000,
      ...(ropeScaling && { ropeScaling }),
      // HF checkpoints keep q/k in the rotate_half order
      ropeLayout: 'neox',
      tiedEmbeddings: c.tie_word_embeddings === true,
      ...(moe && {
        experts: {
          count,
          used,
          // HF's norm_topk_prob (Qwen-MoE): renormalize the chosen experts' probabilities; false
          // by default for Qwen2-MoE, Qwen3-MoE checkpoints set it true
          gating:
            cls === 'MixtralForCausalLM' ||
            c.norm_topk_prob === true ||
            (cls === 'Qwen3MoeForCausalLM' && c.norm_topk_prob === undefined)
              ? 'topk-softmax'
              : 'softmax-topk',
          ...(shared !== undefined && { sharedHidden: shared }),
        },
      }),
    },
    where,
  )
}
