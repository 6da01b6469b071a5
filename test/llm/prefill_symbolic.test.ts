// A chat's every turn is a prompt of another length at another position. A prompt's chunk runs
// with its start as a bound Variable (rope, the cache write, the causal mask of its attention over
// the keys up to start + T rounded up to a power of two, the head reading the last row at a
// Variable offset) and its rows padded to a power of two: a second prompt of another length and
// start compiles no kernel (before: every new length and position compiled its attention, and
// every new length all of the chunk's kernels).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { allclose } from '../helpers.ts'
import { decodeTol, loadTiny, reference } from './fixtures.ts'

for (const name of ['llama_q4_0', 'llama3_f32', 'mixtral_f16'])
  test(`${name}: a second prompt of another length and start compiles no kernels; logits as the reference`, async () => {
    const ref = reference(name)
    const m = await loadTiny(name)
    const V = m.config.vocabSize
    const want = ref.decodeLogits ?? ref.logits
    const row = (i: number) => want.slice(i * V, (i + 1) * V)
    const tol = decodeTol(ref)
    const p = ref.prompt
    assert.ok(p.length >= 12)
    // a first token, then turn 1: 3 tokens at 1 and one decoded token (the reply); turn 2: 7 tokens
    // at 5. Both prompts run as 16 rows against the keys 0..32 (start + 16 rounded up to a power of two)
    allclose(await m.step([p[0]!], 0), row(0), { ...tol, label: 'first token' })
    allclose(await m.step(p.slice(1, 4), 1), row(3), { ...tol, label: 'first prompt' })
    allclose(await m.step([p[4]!], 4), row(4), { ...tol, label: 'decode' })
    const c0 = stats.kernelsCompiled
    const second = await m.step(p.slice(5, 12), 5)
    assert.equal(stats.kernelsCompiled - c0, 0, 'kernels compiled by the second prompt')
    allclose(second, row(11), { ...tol, label: 'second prompt' })
  })
