// A small LLaMA-style decoder (embedding, rmsnorm, rope from sliced tables, grouped-query attention
// over a KV cache, SiLU-gated MLP) built from the issue-16 engine pieces, shared by
// test/nn/decode_loop.test.ts and bench/decode_step.ts.
import { nn, type sint, Tensor } from '../../src/index.ts'

export interface TinyLlamaConfig {
  vocab: number
  dim: number
  heads: number
  kvHeads: number
  hidden: number
  layers: number
  maxLen: number
}

class Block {
  readonly headDim: number
  norm1: nn.RMSNorm
  norm2: nn.RMSNorm
  wq: nn.Linear
  wk: nn.Linear
  wv: nn.Linear
  wo: nn.Linear
  mlp: nn.GatedMLP
  cache: nn.KVCache
  constructor(readonly cfg: TinyLlamaConfig) {
    const hd = (this.headDim = cfg.dim / cfg.heads)
    this.norm1 = new nn.RMSNorm(cfg.dim)
    this.norm2 = new nn.RMSNorm(cfg.dim)
    this.wq = new nn.Linear(cfg.dim, cfg.heads * hd, { bias: false })
    this.wk = new nn.Linear(cfg.dim, cfg.kvHeads * hd, { bias: false })
    this.wv = new nn.Linear(cfg.dim, cfg.kvHeads * hd, { bias: false })
    this.wo = new nn.Linear(cfg.heads * hd, cfg.dim, { bias: false })
    this.mlp = new nn.GatedMLP(cfg.dim, cfg.hidden)
    this.cache = new nn.KVCache(1, cfg.kvHeads, cfg.maxLen, hd)
  }

  /** x (1, T, dim) at positions start..start+T; with `useCache` keys/values go through the cache */
  call(x: Tensor, start: sint, cos: Tensor, sin: Tensor, useCache: boolean): Tensor {
    const { cfg, headDim } = this
    const T = x.shape[1]!
    const h = this.norm1.call(x)
    const heads = (t: Tensor, n: number) => t.reshape([1, T, n, headDim]).transpose(1, 2)
    const q = heads(this.wq.call(h), cfg.heads).rope(cos, sin)
    const k = heads(this.wk.call(h), cfg.kvHeads).rope(cos, sin)
    const v = heads(this.wv.call(h), cfg.kvHeads)
    const [keys, values] = useCache ? this.cache.update(k, v, start) : [k, v]
    // a single new token sees every cached key: no mask; a prefill is causal against the cache
    const a =
      T === 1
        ? q.scaledDotProductAttention(keys, values)
        : q.scaledDotProductAttention(keys, values, { isCausal: true, causalAlign: 'bottomRight' })
    const x2 = x.add(this.wo.call(a.transpose(1, 2).reshape([1, T, cfg.dim])))
    return x2.add(this.mlp.call(this.norm2.call(x2)))
  }
}

/** A LLaMA-style decoder for tests and benchmarks (the LLM app has the real one). */
export class TinyLlama {
  embed: nn.Embedding
  blocks: Block[]
  norm: nn.RMSNorm
  head: nn.Linear
  /** rope cos/sin tables (maxLen, headDim / 2), sliced per call by the start position */
  tables: Tensor[]
  constructor(readonly cfg: TinyLlamaConfig) {
    this.embed = new nn.Embedding(cfg.vocab, cfg.dim)
    this.blocks = Array.from({ length: cfg.layers }, () => new Block(cfg))
    this.norm = new nn.RMSNorm(cfg.dim)
    this.head = new nn.Linear(cfg.dim, cfg.vocab, { bias: false })
    this.tables = Tensor.ropeTables(cfg.maxLen, cfg.dim / cfg.heads, { theta: 10000 }).map((t) => t.realize())
  }

  logits(tokens: Tensor, start: sint, useCache: boolean): Tensor {
    const T = tokens.shape[1]!
    const end: sint = typeof start === 'number' ? start + T : start.add(T)
    const [cos, sin] = this.tables.map((t) => t.shrink([[start, end], null])) as [Tensor, Tensor]
    let x = tokens.embedding(this.embed.weight)
    for (const b of this.blocks) x = b.call(x, start, cos, sin, useCache)
    return this.head.call(this.norm.call(x))
  }
}
