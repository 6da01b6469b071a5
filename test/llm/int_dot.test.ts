// intDot (default): one-token steps over Q8_0/Q4_0 weights as integer dot products, x rounded to
// int8 per block of 32 as llama.cpp. The model tests (fixtures.ts) check every decode step against
// the reference that models the rounding; here: that reference is what the steps compute (their
// error against it is far below their distance from the float reference), intDot: false gives the
// float reference's numerics, and the option is checked.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { nn } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import { allclose, expectThrows } from '../helpers.ts'
import { LLM_FIXTURES, logitTol, reference, refRow } from './fixtures.ts'

// a float32 KV cache: the references keep keys and values unrounded
const load = async (name: string, intDot?: unknown) =>
  loadGGUFModel(await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`)), {
    kvDtype: 'f32',
    ...(intDot === undefined ? {} : ({ intDot } as { intDot: boolean })),
  })

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

describe('llm model: integer decode matvecs (intDot)', () => {
  for (const name of ['llama2_q8_0', 'llama_q4_0']) {
    test(`${name}: decode steps compute the int8 reference; intDot: false the float one`, async () => {
      const ref = reference(name)
      assert.ok(ref.decodeLogits, `${name}: the fixture has the int8 decode reference`)
      const int = await load(name)
      const float = await load(name, false)
      const V = int.config.vocabSize
      let toInt = 0
      let toFloat = 0
      for (let i = 0; i < ref.prompt.length; i++) {
        const row = refRow(ref, V, i)
        const a = await int.step([ref.prompt[i]!], i)
        toInt = Math.max(toInt, maxDiff(a, ref.decodeLogits!.slice(i * V, (i + 1) * V)))
        toFloat = Math.max(toFloat, maxDiff(a, row))
        allclose(await float.step([ref.prompt[i]!], i), row, {
          ...logitTol(ref),
          label: `${name} float decode at ${i}`,
        })
      }
      // before: steps rounded x to int16 (the float reference's numerics within 3e-3); the int8
      // rounding moves logits by ~1e-2 of their size, the modeled reference stays ~1e-5 away
      assert.ok(
        toInt * 20 < toFloat,
        `${name}: ${toInt} from the int8 reference, ${toFloat} from the float one`,
      )
    })
  }
  test('intDot must be a boolean', async () => {
    const gguf = await nn.ggufLoad(join(LLM_FIXTURES, 'llama_q4_0.gguf'))
    expectThrows(() => loadGGUFModel(gguf, { intDot: 'yes' } as never), /intDot must be a boolean/)
  })
})
