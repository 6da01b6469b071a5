// An f16 KV cache (llama.cpp's default; kvDtype 'f16') on the TinyLlama of test/llm/helpers.ts: its
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
import { TINY_CFG, TinyLlamaRunner } from './helpers.ts'
import { writeTinyLlamaGGUF } from './tiny_gguf.ts'

test('f16 KV cache: prefill and decode steps compile and stay close to an f32 cache', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tsgrad-kv16-')), 'tiny.gguf')
  await writeTinyLlamaGGUF(path, new TinyLlamaRunner(TINY_CFG))
  const file = await nn.ggufLoad(path)
  const half = loadGGUFModel(file, { kvDtype: 'f16' })
  const full = loadGGUFModel(file)
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
