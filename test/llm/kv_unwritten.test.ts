// The KV cache is allocated unwritten (no zero fill: on host memory its untouched pages stay out of
// the resident set, 67 MB of a LLaMA-1B f16 cache of 2048 positions right after the load). That is
// only sound if no step reads a position before some step wrote it: here every position of every
// layer's cache starts as NaN, and the logits of a prompt and of decode steps after it must be the
// same as a model whose cache starts as zeros.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { nn, Tensor } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import type { KVCache } from '../../src/nn/kv_cache.ts'
import type { ModelRunner } from '../../src/llm/types.ts'
import { LLM_FIXTURES, reference } from './fixtures.ts'

const fill = (m: ModelRunner, value: number): void => {
  const caches = (m as unknown as { caches: KVCache[] }).caches
  assert.ok(caches.length > 0)
  for (const c of caches)
    for (const t of [c.k, c.v]) t.assign(Tensor.full(t.shape, value, { dtype: t.dtype })).realize()
}

for (const name of ['llama_q4_0', 'llama3_f32'])
  test(`${name}: no step reads a cache position it has not written (NaN-filled cache, same logits)`, async () => {
    const ref = reference(name)
    const file = await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`))
    const zeros = loadGGUFModel(file)
    const nans = loadGGUFModel(file)
    fill(zeros, 0)
    fill(nans, Number.NaN)
    const prompt = ref.prompt.slice(0, Math.max(2, ref.prompt.length - 2))
    const a = await nans.step(prompt, 0)
    assert.deepEqual(a, await zeros.step(prompt, 0), 'prompt')
    assert.ok(a.every(Number.isFinite))
    for (let i = 0; i < 3; i++) {
      const pos = prompt.length + i
      const d = await nans.step([ref.prompt[i]!], pos)
      assert.deepEqual(d, await zeros.step([ref.prompt[i]!], pos), `decode at ${pos}`)
      assert.ok(d.every(Number.isFinite), `decode at ${pos}: finite`)
    }
    // a second prompt: its 16 rows (3 tokens padded) attend over the keys 0..32 (its end rounded up
    // to a power of two), of which those past its end were never written
    const at = prompt.length + 3
    const second = ref.prompt.slice(0, 3)
    const b = await nans.step(second, at)
    assert.deepEqual(b, await zeros.step(second, at), `prompt at ${at}`)
    assert.ok(b.every(Number.isFinite), `prompt at ${at}: finite`)
  })

test('a KV cache is allocated without writing it (no fill, no kernel)', () => {
  const before = { ...stats }
  const c = new nn.KVCache(1, 2, 64, 8, { dtype: 'float16' })
  assert.equal(stats.kernelsRun, before.kernelsRun)
  assert.equal(stats.fills, before.fills)
  assert.deepEqual(c.k.shape, [1, 2, 64, 8])
  assert.equal(c.v.dtype.name, 'float16')
})
