// The LLaMA model the trainer trains: RMSNorm, rotary embeddings (Hugging Face's rotate_half
// layout), grouped-query causal attention, SwiGLU MLP, optional tied embeddings.
//
// Parameters are kept in one ordered map under Hugging Face LlamaForCausalLM's names and layouts
// (`model.layers.N.self_attn.q_proj.weight` is [out, in]), so checkpoints and the exported
// safetensors/GGUF hold them as they are, and a model loaded from the export by the LLM app
// computes the same logits. Weights are float32 masters; `compute` casts them (and the matmul
// inputs) to bfloat16 or float16 where the heavy work is, keeping norms, attention softmax and the
// loss in float32.
import { Tensor } from '../../index.js'
import type { ModelShape } from './presets.js'

export type ComputeDType = 'float32' | 'bfloat16' | 'float16'
export type AttentionBackend = 'flash' | 'math'

export interface ForwardOptions {
  compute?: ComputeDType
  attention?: AttentionBackend
  /**
   * Wraps each decoder layer's forward (activation checkpointing passes nn.checkpoint here, so the
   * layer is recomputed in the backward instead of keeping its activations).
   */
  layerWrapper?: (layer: (x: Tensor) => Tensor, x: Tensor) => Tensor
}

/** The HF names of one decoder layer's tensors. */
export function layerNames(i: number) {
  const p = `model.layers.${i}`
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    postNorm: `${p}.post_attention_layernorm.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
  }
}

const EMBED = 'model.embed_tokens.weight'
const FINAL_NORM = 'model.norm.weight'
const LM_HEAD = 'lm_head.weight'

/** A fresh trainable float32 tensor (its own buffer). */
function param(t: Tensor): Tensor {
  const p = t.clone()
  p.realize()
  p.requiresGrad = true
  return p
}

export class LlamaModel {
  /** every trainable tensor by its Hugging Face name, in a fixed order */
  readonly params = new Map<string, Tensor>()
  readonly headDim: number
  private readonly cos: Tensor
  private readonly sin: Tensor

  /** Initialized like HF (normal(0, 0.02) matrices, unit norms); draws from Tensor's seeded RNG. */
  constructor(readonly shape: ModelShape) {
    const s = shape
    this.headDim = s.dim / s.heads
    const hd = this.headDim
    const normal = (rows: number, cols: number) => param(Tensor.normal([rows, cols], 0, 0.02))
    this.params.set(EMBED, normal(s.vocabSize, s.dim))
    for (let i = 0; i < s.layers; i++) {
      const n = layerNames(i)
      this.params.set(n.inputNorm, param(Tensor.ones([s.dim])))
      this.params.set(n.q, normal(s.heads * hd, s.dim))
      this.params.set(n.k, normal(s.kvHeads * hd, s.dim))
      this.params.set(n.v, normal(s.kvHeads * hd, s.dim))
      this.params.set(n.o, normal(s.dim, s.heads * hd))
      this.params.set(n.postNorm, param(Tensor.ones([s.dim])))
      this.params.set(n.gate, normal(s.hidden, s.dim))
      this.params.set(n.up, normal(s.hidden, s.dim))
      this.params.set(n.down, normal(s.dim, s.hidden))
    }
    this.params.set(FINAL_NORM, param(Tensor.ones([s.dim])))
    if (!s.tiedEmbeddings) this.params.set(LM_HEAD, normal(s.vocabSize, s.dim))
    const [cos, sin] = Tensor.ropeTables(s.seqLen, hd, { theta: s.ropeTheta })
    this.cos = cos.realize()
    this.sin = sin.realize()
  }

  private p(name: string): Tensor {
    const t = this.params.get(name)
    if (!t) throw new Error(`train-llama model: no parameter ${name}`)
    return t
  }

  /** The weights under HF names for export: the tied lm_head is the embedding matrix. */
  weights(): Record<string, Tensor> {
    return Object.fromEntries(this.params)
  }

  /** Parameters split for AdamW: matrices get weight decay, norm gains do not. */
  paramGroups(): { decay: Tensor[]; noDecay: Tensor[] } {
    const all = [...this.params.values()]
    return { decay: all.filter((t) => t.ndim >= 2), noDecay: all.filter((t) => t.ndim < 2) }
  }

  /** Logits (B, T, vocab) float32 of tokens (B, T) int32, causal over each row. */
  logits(tokens: Tensor, opts: ForwardOptions = {}): Tensor {
    const s = this.shape
    const [B, T] = tokens.shape as [number, number]
    if (tokens.ndim !== 2 || T > s.seqLen)
      throw new Error(`train-llama model: tokens must be (batch, T <= ${s.seqLen}), got [${tokens.shape}]`)
    const dt = opts.compute ?? 'float32'
    const lowp = (t: Tensor) => (t.dtype.name === dt ? t : t.cast(dt))
    const f32 = (t: Tensor) => (t.dtype.name === 'float32' ? t : t.cast('float32'))
    const linear = (x: Tensor, w: string) => x.matmul(lowp(this.p(w)).T)
    const norm = (x: Tensor, w: string) => lowp(f32(x).rmsnorm(-1, s.normEps).mul(this.p(w)))
    const cos = this.cos.shrink([[0, T], null])
    const sin = this.sin.shrink([[0, T], null])
    const hd = this.headDim
    const heads = (t: Tensor, n: number) => f32(t).reshape([B, T, n, hd]).transpose(1, 2)
    const backend = opts.attention ?? 'flash'

    const layer = (i: number) => (x: Tensor) => {
      const n = layerNames(i)
      const h = norm(x, n.inputNorm)
      const q = heads(linear(h, n.q), s.heads).rope(cos, sin)
      const k = heads(linear(h, n.k), s.kvHeads).rope(cos, sin)
      const v = heads(linear(h, n.v), s.kvHeads)
      const a = q.scaledDotProductAttention(k, v, { isCausal: true, backend })
      x = x.add(f32(linear(lowp(a.transpose(1, 2).reshape([B, T, s.dim])), n.o)))
      const m = norm(x, n.postNorm)
      const g = linear(m, n.gate)
      return x.add(f32(linear(g.silu().mul(linear(m, n.up)), n.down)))
    }

    let x = tokens.embedding(this.p(EMBED))
    for (let i = 0; i < s.layers; i++) x = opts.layerWrapper ? opts.layerWrapper(layer(i), x) : layer(i)(x)
    const head = s.tiedEmbeddings ? EMBED : LM_HEAD
    return f32(linear(norm(x, FINAL_NORM), head))
  }

  /** Mean next-token cross entropy (nats) of x (B, T) predicting y (B, T). */
  loss(x: Tensor, y: Tensor, opts: ForwardOptions = {}): Tensor {
    const [B, T] = x.shape as [number, number]
    const logits = this.logits(x, opts)
    return logits.reshape([B * T, this.shape.vocabSize]).sparseCategoricalCrossentropy(y.reshape([B * T]))
  }
}
