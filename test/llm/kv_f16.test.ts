// The f16 KV cache (the default, as llama.cpp's) on the TinyLlama of test/llm/helpers.ts: its
// decode attention over 8-wide heads reads float16 keys and values, a kernel GCC 12 with AVX-512
// built into an unassemblable instruction (`vinsert<i128vldq>`) until the CPU device rebuilt it
// without SLP vectorization (the CLI's greedy test failed on it with an f16 cache).
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { nn } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import { allclose } from '../helpers.ts'
import { argmax, LLM_FIXTURES, reference } from './fixtures.ts'
import { TINY_CFG, TinyLlamaRunner } from './helpers.ts'
import { writeTinyLlamaGGUF } from './tiny_gguf.ts'

test('f16 KV cache: prefill and decode steps compile and stay close to an f32 cache', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tsgrad-kv16-')), 'tiny.gguf')
  await writeTinyLlamaGGUF(path, new TinyLlamaRunner(TINY_CFG))
  const file = await nn.ggufLoad(path)
  const half = loadGGUFModel(file)
  assert.equal(half.kvDtype, 'f16', 'the default cache')
  const full = loadGGUFModel(file, { kvDtype: 'f32' })
  const prompt = [84, 104, 101, 32]
  allclose(await half.step(prompt, 0), await full.step(prompt, 0), { rtol: 0, atol: 2e-2, label: 'prefill' })
  for (let i = 0; i < 3; i++) {
    const a = await half.step([97 + i], prompt.length + i)
    const b = await full.step([97 + i], prompt.length + i)
    allclose(a, b, { rtol: 0, atol: 2e-2, label: `decode ${i}` })
    assert.ok(
      a.some((v, j) => v !== b[j]),
      'the cache holds rounded keys and values',
    )
  }
})

// The fixtures' float64 reference keeps keys and values unrounded (their model tests load an f32
// cache). The f16 cache rounds each to 11 significant bits (relative error <= 2^-12): measured
// against the f32 cache, logits move by 2-6e-4 of their largest with float products, and 0.5-1.5e-2
// with Q8_0/Q4_0 integer products, whose int8 rounding of the next layer's inputs turns such small
// moves into whole steps of max|x| / 127 (as `decodeTol` explains for float32 against float64).
// Bounds at about twice those, and the greedy continuation of the reference.
for (const [name, rel] of [
  ['llama3_f32', 1e-3],
  ['qwen3_bf16', 1.5e-3],
  ['llama_q4_0', 3e-2],
] as const)
  test(`f16 KV cache (default) on ${name}: logits within ${rel} of their largest of the f32 cache's, same greedy tokens`, async () => {
    const ref = reference(name)
    const file = await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`))
    const half = loadGGUFModel(file)
    const full = loadGGUFModel(file, { kvDtype: 'f32' })
    const big = ref.logits.reduce((m, v) => Math.max(m, Math.abs(v)), 1)
    const a = await half.logitsAll(ref.prompt)
    allclose(a, await full.logitsAll(ref.prompt), { rtol: 0, atol: rel * big, label: `${name} prompt` })
    let logits = await half.step(ref.prompt, 0)
    const out: number[] = []
    for (let i = 0; i < ref.greedy.length; i++) {
      out.push(argmax(logits))
      logits = await half.step([out.at(-1)!], ref.prompt.length + i)
    }
    assert.deepEqual(out, ref.decodeGreedy ?? ref.greedy, `${name}: greedy continuation`)
  })
