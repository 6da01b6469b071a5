// The transformer-engine pieces together (issue 16): a small LLaMA-style decoder (embedding,
// rmsnorm, rope from sliced tables, grouped-query attention over a KV cache, SiLU-gated MLP) decodes
// token by token with a bound Variable start position under `jit`. Its logits must equal the
// full-sequence causal forward without a cache at every position, and after the first positions
// no kernel is compiled or captured again.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { jit, nn, type sint, Tensor, Variable } from '../../src/index.ts'
import { allclose } from '../helpers.ts'

const cfg = { vocab: 40, dim: 32, heads: 4, kvHeads: 2, hidden: 48, layers: 2, maxLen: 48 }
const headDim = cfg.dim / cfg.heads

class Block {
  norm1 = new nn.RMSNorm(cfg.dim)
  norm2 = new nn.RMSNorm(cfg.dim)
  wq = new nn.Linear(cfg.dim, cfg.heads * headDim, { bias: false })
  wk = new nn.Linear(cfg.dim, cfg.kvHeads * headDim, { bias: false })
  wv = new nn.Linear(cfg.dim, cfg.kvHeads * headDim, { bias: false })
  wo = new nn.Linear(cfg.heads * headDim, cfg.dim, { bias: false })
  mlp = new nn.GatedMLP(cfg.dim, cfg.hidden)
  cache = new nn.KVCache(1, cfg.kvHeads, cfg.maxLen, headDim)

  /** x (1, T, dim) at positions start..start+T; with `useCache` keys/values go through the cache */
  call(x: Tensor, start: sint, cos: Tensor, sin: Tensor, useCache: boolean): Tensor {
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

class Model {
  embed = new nn.Embedding(cfg.vocab, cfg.dim)
  blocks = Array.from({ length: cfg.layers }, () => new Block())
  norm = new nn.RMSNorm(cfg.dim)
  head = new nn.Linear(cfg.dim, cfg.vocab, { bias: false })
  tables = Tensor.ropeTables(cfg.maxLen, headDim, { theta: 10000 }).map((t) => t.realize())

  logits(tokens: Tensor, start: sint, useCache: boolean): Tensor {
    const T = tokens.shape[1]!
    const end: sint = typeof start === 'number' ? start + T : start.add(T)
    const [cos, sin] = this.tables.map((t) => t.shrink([[start, end], null])) as [Tensor, Tensor]
    let x = tokens.embedding(this.embed.weight)
    for (const b of this.blocks) x = b.call(x, start, cos, sin, useCache)
    return this.head.call(this.norm.call(x))
  }
}

describe('LLaMA-style decoding over a KV cache with a Variable position', () => {
  test('jitted decode steps equal the full causal forward at every position and compile once', () => {
    Tensor.manualSeed(7)
    const model = new Model()
    const n = 40
    const ids = Array.from({ length: n }, (_, i) => (i * 7 + 3) % cfg.vocab)
    const all = new Tensor([ids], { dtype: 'int32' })
    const ref = model.logits(all, 0, false).dataSync() as Float32Array // (1, n, vocab)
    const row = (i: number) => ref.subarray(i * cfg.vocab, (i + 1) * cfg.vocab)

    // prefill the first 4 tokens (concrete positions), then decode one token per step
    const prefill = 4
    const pre = model.logits(new Tensor([ids.slice(0, prefill)], { dtype: 'int32' }), 0, true)
    const preOut = pre.dataSync() as Float32Array
    for (let i = 0; i < prefill; i++)
      allclose(preOut.subarray(i * cfg.vocab, (i + 1) * cfg.vocab), row(i), {
        rtol: 1e-4,
        atol: 1e-4,
        label: `prefill ${i}`,
      })

    const pos = Variable('start_pos', 0, cfg.maxLen - 1)
    const step = jit((tok: Tensor, sp: sint) => model.logits(tok, sp, true).realize())
    let compiledAt3 = -1
    const captures = new Set<unknown>()
    for (let i = prefill; i < n; i++) {
      if (i === prefill + 3) compiledAt3 = stats.kernelsCompiled
      const tok = new Tensor([[ids[i]!]], { dtype: 'int32' })
      const out = step(tok, pos.bind(i))
      if (i >= prefill + 2) captures.add(step.jit.captured(tok, pos.bind(i)))
      allclose(out.dataSync() as Float32Array, row(i), { rtol: 1e-4, atol: 1e-4, label: `decode ${i}` })
    }
    assert.equal(stats.kernelsCompiled, compiledAt3, 'no kernel compiled after the first decode positions')
    assert.equal(captures.size, 1, 'one capture serves every position')
    assert.ok([...captures][0], 'the steps replay a capture')
  })
})
