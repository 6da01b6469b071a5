// The weights of a transformer by llama.cpp's tensor names (`blk.N.attn_q.weight` ...): the
// names and shapes each architecture needs, the check that a file has them (every missing tensor
// named at once), and the mapping of Hugging Face names onto them (per-expert HF tensors are
// stacked into llama.cpp's (experts, out, in) layout).
import { TsgradError } from '../helpers.js'
import { Tensor } from '../tensor/index.js'
import type { QuantBlocks } from './rows.js'
import type { LLMConfig } from './types.js'

export interface LayerWeights {
  attnNorm: Tensor
  wq: Tensor
  wk: Tensor
  wv: Tensor
  wo: Tensor
  bq?: Tensor
  bk?: Tensor
  bv?: Tensor
  /** Qwen3: RMS norm weights over each head's q / k */
  qNorm?: Tensor
  kNorm?: Tensor
  ffnNorm: Tensor
  /** dense feed-forward (hidden, dim), (hidden, dim), (dim, hidden) */
  gate?: Tensor
  up?: Tensor
  down?: Tensor
  /** mixture of experts: router (experts, dim) and stacked experts (experts, hidden, dim) / (experts, dim, hidden) */
  router?: Tensor
  gateExps?: Tensor
  upExps?: Tensor
  downExps?: Tensor
  /** Qwen2-MoE's shared expert: its sigmoid gate (dim) and MLP (shared, dim), (shared, dim), (dim, shared) */
  sharedGate?: Tensor
  gateShared?: Tensor
  upShared?: Tensor
  downShared?: Tensor
}

export interface ModelWeights {
  embed: Tensor
  /** undefined when tied to the embedding */
  output?: Tensor
  outputNorm: Tensor
  layers: LayerWeights[]
  /** llama.cpp's LLaMA-3 rope: per-frequency divisors (headDim / 2) */
  ropeFreqs?: Tensor
  /** the block bytes of quantized weights (GGUF), for picking rows before dequantizing */
  blocks?: ReadonlyMap<Tensor, QuantBlocks>
}

type Spec = [name: string, shape: number[], required: boolean]

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`

/** The tensors of layer i: llama.cpp name, logical shape, whether the architecture needs it. */
function layerSpecs(c: LLMConfig, i: number): [keyof LayerWeights, Spec][] {
  const b = `blk.${i}.`
  const q = c.heads * c.headDim
  const kv = c.kvHeads * c.headDim
  const specs: [keyof LayerWeights, Spec][] = [
    ['attnNorm', [`${b}attn_norm.weight`, [c.dim], true]],
    ['wq', [`${b}attn_q.weight`, [q, c.dim], true]],
    ['wk', [`${b}attn_k.weight`, [kv, c.dim], true]],
    ['wv', [`${b}attn_v.weight`, [kv, c.dim], true]],
    ['wo', [`${b}attn_output.weight`, [c.dim, q], true]],
    // Qwen2 always has q/k/v biases; other models may
    ['bq', [`${b}attn_q.bias`, [q], c.arch === 'qwen2']],
    ['bk', [`${b}attn_k.bias`, [kv], c.arch === 'qwen2']],
    ['bv', [`${b}attn_v.bias`, [kv], c.arch === 'qwen2']],
    ['ffnNorm', [`${b}ffn_norm.weight`, [c.dim], true]],
  ]
  if (c.arch === 'qwen3')
    specs.push(
      ['qNorm', [`${b}attn_q_norm.weight`, [c.headDim], true]],
      ['kNorm', [`${b}attn_k_norm.weight`, [c.headDim], true]],
    )
  const F = c.hidden
  if (c.experts) {
    const E = c.experts.count
    specs.push(
      ['router', [`${b}ffn_gate_inp.weight`, [E, c.dim], true]],
      ['gateExps', [`${b}ffn_gate_exps.weight`, [E, F, c.dim], true]],
      ['upExps', [`${b}ffn_up_exps.weight`, [E, F, c.dim], true]],
      ['downExps', [`${b}ffn_down_exps.weight`, [E, c.dim, F], true]],
    )
    const S = c.experts.sharedHidden
    if (S !== undefined)
      specs.push(
        ['sharedGate', [`${b}ffn_gate_inp_shexp.weight`, [c.dim], true]],
        ['gateShared', [`${b}ffn_gate_shexp.weight`, [S, c.dim], true]],
        ['upShared', [`${b}ffn_up_shexp.weight`, [S, c.dim], true]],
        ['downShared', [`${b}ffn_down_shexp.weight`, [c.dim, S], true]],
      )
  } else
    specs.push(
      ['gate', [`${b}ffn_gate.weight`, [F, c.dim], true]],
      ['up', [`${b}ffn_up.weight`, [F, c.dim], true]],
      ['down', [`${b}ffn_down.weight`, [c.dim, F], true]],
    )
  return specs
}

/**
 * Pick the model's tensors out of `tensors` (llama.cpp names), checking every name and shape
 * first: all missing tensors and wrong shapes are one TsgradError naming each.
 */
export function collectWeights(c: LLMConfig, tensors: Record<string, Tensor>, where: string): ModelWeights {
  const missing: string[] = []
  const wrong: string[] = []
  const take = ([name, shape, required]: Spec): Tensor | undefined => {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined
    if (t === undefined) {
      if (required) missing.push(name)
      return undefined
    }
    if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j]))
      wrong.push(`${name} is ${fmt(t.shape)}, expected ${fmt(shape)}`)
    return t
  }
  const embed = take(['token_embd.weight', [c.vocabSize, c.dim], true])
  const output = take(['output.weight', [c.vocabSize, c.dim], !c.tiedEmbeddings])
  const outputNorm = take(['output_norm.weight', [c.dim], true])
  const ropeFreqs = take(['rope_freqs.weight', [c.headDim / 2], false])
  const layers = Array.from({ length: c.layers }, (_, i) => {
    const l: Partial<LayerWeights> = {}
    for (const [key, spec] of layerSpecs(c, i)) {
      const t = take(spec)
      if (t) l[key] = t
    }
    return l as LayerWeights
  })
  if (missing.length > 0 || wrong.length > 0)
    throw new TsgradError(
      `${where}: ${[
        missing.length > 0 &&
          `missing tensors for ${c.arch}${c.experts ? ' (MoE)' : ''}: ${missing.join(', ')}`,
        wrong.length > 0 && `wrong shapes: ${wrong.join('; ')}`,
      ]
        .filter(Boolean)
        .join('; ')}`,
    )
  return {
    embed: embed!,
    ...(output && !c.tiedEmbeddings && { output }),
    outputNorm: outputNorm!,
    layers,
    ...(ropeFreqs && { ropeFreqs }),
  }
}

// ---- Hugging Face names ----------------------------------------------------------------------

const HF_LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
  'block_sparse_moe.gate.weight': 'ffn_gate_inp.weight',
  'mlp.gate.weight': 'ffn_gate_inp.weight',
  'mlp.shared_expert.gate_proj.weight': 'ffn_gate_shexp.weight',
  'mlp.shared_expert.up_proj.weight': 'ffn_up_shexp.weight',
  'mlp.shared_expert.down_proj.weight': 'ffn_down_shexp.weight',
  // (1, dim) in HF, (dim) in llama.cpp
  'mlp.shared_expert_gate.weight': 'ffn_gate_inp_shexp.weight',
}
// per-expert tensors: Mixtral's w1 (gate), w3 (up), w2 (down); Qwen3-MoE's gate/up/down_proj
const HF_EXPERT: Record<string, string> = {
  w1: 'ffn_gate_exps.weight',
  w3: 'ffn_up_exps.weight',
  w2: 'ffn_down_exps.weight',
  gate_proj: 'ffn_gate_exps.weight',
  up_proj: 'ffn_up_exps.weight',
  down_proj: 'ffn_down_exps.weight',
}
const HF_GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
}

/**
 * Hugging Face tensors renamed to llama.cpp's names, experts stacked (one realized buffer per
 * stack). Names the model does not use (e.g. rotary inv_freq buffers) are left out; an expert
 * missing from a stack is an error naming it.
 */
export function renameHF(hf: Record<string, Tensor>, c: LLMConfig): Record<string, Tensor> {
  const out = Object.create(null) as Record<string, Tensor>
  const experts = new Map<string, Tensor[]>()
  for (const [name, t] of Object.entries(hf)) {
    if (Object.hasOwn(HF_GLOBAL, name)) {
      out[HF_GLOBAL[name]!] = t
      continue
    }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name)
    if (!m) continue
    const [, layer, rest] = m as unknown as [string, string, string]
    const e = /^(?:block_sparse_moe|mlp)\.experts\.(\d+)\.(\w+)\.weight$/.exec(rest)
    if (e && Object.hasOwn(HF_EXPERT, e[2]!)) {
      const key = `blk.${layer}.${HF_EXPERT[e[2]!]}`
      const list = experts.get(key) ?? []
      list[Number(e[1])] = t
      experts.set(key, list)
    } else if (Object.hasOwn(HF_LAYER, rest))
      out[`blk.${layer}.${HF_LAYER[rest]}`] =
        rest === 'mlp.shared_expert_gate.weight' && t.ndim === 2 && t.shape[0] === 1
          ? t.reshape([t.shape[1]!])
          : t
  }
  const count = c.experts?.count ?? 0
  for (const [key, list] of experts) {
    const absent = Array.from({ length: count }, (_, i) => i).filter((i) => list[i] === undefined)
    if (absent.length > 0 || list.length !== count)
      throw new TsgradError(
        `loadHFModel: ${key} needs experts 0..${count - 1}; missing experts ${absent.join(', ') || `(found ${list.length})`}`,
      )
    out[key] = Tensor.stack(list, 0).contiguous().realize()
  }
  return out
}
