// The transformer-engine pieces together (issue 16): a small LLaMA-style decoder (embedding,
// rmsnorm, rope from sliced tables, grouped-query attention over a KV cache, SiLU-gated MLP) decodes
// token by token with a bound Variable start position under `jit`. Its logits must equal the
// full-sequence causal forward without a cache at every position, and after the first positions
// no kernel is compiled or captured again.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { jit, type sint, Tensor, Variable } from '../../src/index.ts'
import { allclose } from '../helpers.ts'
import { TinyLlama } from './tiny_llama.ts'

const cfg = { vocab: 40, dim: 32, heads: 4, kvHeads: 2, hidden: 48, layers: 2, maxLen: 48 }

describe('LLaMA-style decoding over a KV cache with a Variable position', () => {
  test('jitted decode steps equal the full causal forward at every position and compile once', () => {
    Tensor.manualSeed(7)
    const model = new TinyLlama(cfg)
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
