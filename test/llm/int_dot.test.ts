// intDot: one-token steps over Q8_0/Q4_0 weights as integer dot products (x rounded to int16 per
// block of 32) against the PyTorch float64 reference: close (the rounding moves logits by ~1e-3 of
// their size) and the same greedy continuation; the option is checked.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { nn } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import { allclose, expectThrows } from '../helpers.ts'
import { argmax, LLM_FIXTURES, reference, refRow } from './fixtures.ts'

const load = async (name: string, intDot: unknown) =>
  loadGGUFModel(await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`)), { intDot } as { intDot: boolean })

describe('llm model: integer decode matvecs (intDot)', () => {
  for (const name of ['llama2_q8_0', 'llama_q4_0']) {
    test(`${name}: decode steps near the reference, same greedy continuation`, async () => {
      const ref = reference(name)
      const m = await load(name, true)
      const V = m.config.vocabSize
      const big = ref.logits.reduce((a, v) => Math.max(a, Math.abs(v)), 1)
      let logits = new Float32Array(0)
      for (let i = 0; i < ref.prompt.length; i++) {
        logits = await m.step([ref.prompt[i]!], i)
        allclose(logits, refRow(ref, V, i), {
          rtol: 0,
          atol: 3e-3 * big,
          label: `${name} int decode at ${i}`,
        })
      }
      const out: number[] = []
      for (let i = 0; i < ref.greedy.length; i++) {
        out.push(argmax(logits))
        logits = await m.step([out.at(-1)!], ref.prompt.length + i)
      }
      assert.deepEqual(out, ref.greedy)
      // the integer path ran: its first step is not the float path's bit for bit
      const float = await (await load(name, false)).step([ref.prompt[0]!], 0)
      const int = await (await load(name, true)).step([ref.prompt[0]!], 0)
      assert.ok(
        int.some((v, j) => v !== float[j]),
        'intDot: true rounds x to int16 (differs from float32 products)',
      )
    })
  }
  test('intDot must be a boolean', async () => {
    const gguf = await nn.ggufLoad(join(LLM_FIXTURES, 'llama_q4_0.gguf'))
    expectThrows(() => loadGGUFModel(gguf, { intDot: 'yes' } as never), /intDot must be a boolean/)
  })
})
