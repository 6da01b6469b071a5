// A chat's every turn is a prompt of another length at another position. A prompt's chunk runs
// with its start as a bound Variable (attention over the keys 0..start+T, causal by a mask, the
// head reading the last row at a Variable offset) and its rows padded to a power of two: a second
// prompt of another length and start compiles no kernel (before: every new length and position
// compiled its attention, and every new length all of the chunk's kernels).
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
    // turn 1: 4 tokens at 0, then one decoded token (the reply)
    allclose(await m.step(p.slice(0, 4), 0), row(3), { ...tol, label: 'first prompt' })
    allclose(await m.step([p[4]!], 4), row(4), { ...tol, label: 'decode' })
    // turn 2: 7 tokens at 5
    const c0 = stats.kernelsCompiled
    const second = await m.step(p.slice(5, 12), 5)
    assert.equal(stats.kernelsCompiled - c0, 0, 'kernels compiled by the second prompt')
    allclose(second, row(11), { ...tol, label: 'second prompt' })
  })
