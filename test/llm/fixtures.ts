// The tiny LLM models of test/fixtures/llm (written by scripts/gen_llm_fixtures.py with gguf-py)
// and the checks every model test runs against the reference (PyTorch float64) outputs.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { nn } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import type { ModelRunner } from '../../src/llm/types.ts'
import { allclose } from '../helpers.ts'

export const LLM_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'llm')

export interface Reference {
  model: string
  arch: string
  prompt: number[]
  /** logits of every prompt position (T x vocab) */
  logits: number[]
  greedy: number[]
  /**
   * models with Q8_0/Q4_0 weights: one-token steps quantize the inputs of those linears to int8
   * (intDot, the default), modeled by the reference script: every prompt position decoded one
   * token at a time, the greedy continuation so decoded, and the step after a float prefill
   */
  decodeLogits?: number[]
  decodeGreedy?: number[]
  afterPrefill?: number[]
}

export function reference(name: string): Reference {
  return JSON.parse(readFileSync(join(LLM_FIXTURES, `${name}.json`), 'utf8')) as Reference
}

/**
 * A fixture's model with a float32 KV cache: the reference (float64) keeps keys and values
 * unrounded, and the default float16 cache moves logits by up to ~6e-4 of their largest (1.5e-2
 * through the int8 rounding of integer products' inputs), past `logitTol`; the f16 cache is
 * checked against the f32 one (kv_f16.test.ts)
 */
export const loadTiny = async (name: string, opts: { device?: string } = {}): Promise<ModelRunner> =>
  loadGGUFModel(await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`), opts), { kvDtype: 'f32' })

export const argmax = (x: ArrayLike<number>): number => {
  let a = 0
  for (let j = 1; j < x.length; j++) if (x[j]! > x[a]!) a = j
  return a
}

/**
 * Tolerance for logits: the dequantization matches gguf-py bit for bit for every weight type, so
 * what differs from the float64 reference is float32 arithmetic, proportional to the logits' size.
 */
export function logitTol(ref: Reference): { rtol: number; atol: number } {
  const big = ref.logits.reduce((m, v) => Math.max(m, Math.abs(v)), 1)
  return { rtol: 1e-4, atol: 2e-5 * big }
}

/**
 * Tolerance for one-token steps against the int8 reference (decodeLogits): float32 arithmetic as
 * above, and the rounding of x to int8: the reference rounds the same float32 products, but x
 * itself is float32 here and float64 there, so a value within ~1e-6 of a rounding boundary may
 * land one step (max|x| / 127 of its block) apart. One such step moves a product by at most
 * max|x| / 127 * |w|, ~1e-3 of the logits' size at these models' dims.
 */
export function decodeTol(ref: Reference): { rtol: number; atol: number } {
  if (!ref.decodeLogits) return logitTol(ref)
  const big = ref.logits.reduce((m, v) => Math.max(m, Math.abs(v)), 1)
  return { rtol: 1e-4, atol: 1e-3 * big }
}

/** the reference's logits at prompt position i */
export const refRow = (ref: Reference, V: number, i: number): number[] => ref.logits.slice(i * V, (i + 1) * V)

/**
 * The model tests of one fixture: all prompt logits (prefill), one-token cached decode steps from
 * position 0 equal to the full forward's rows (compiling nothing after the first steps), a greedy
 * continuation token for token, and a prefill followed by decode agreeing with the decode path.
 */
export function modelTests(
  name: string,
  opts: { device?: string; label?: string; load?: () => Promise<ModelRunner> } = {},
): void {
  const {
    label = name,
    load = () => loadTiny(name, opts.device === undefined ? {} : { device: opts.device }),
  } = opts
  test(`${label}: logits, cached decode, greedy continuation`, async () => {
    const ref = reference(name)
    const m = await load()
    const V = m.config.vocabSize
    const dtol = decodeTol(ref)
    const dlogits = ref.decodeLogits ?? ref.logits
    const T = ref.prompt.length
    // a prompt's Q8_0/Q4_0 products are integer ones too (the int8 matmul): every row as decoded
    allclose(await m.logitsAll(ref.prompt), dlogits, { ...dtol, label: `${name} logitsAll` })

    // decode the prompt one token at a time from position 0: each step equals the full forward's row
    let compiled = -1
    let logits = new Float32Array(0)
    for (let i = 0; i < T; i++) {
      if (i === 3) compiled = stats.kernelsCompiled
      logits = await m.step([ref.prompt[i]!], i)
      allclose(logits, dlogits.slice(i * V, (i + 1) * V), { ...dtol, label: `${name} decode at ${i}` })
    }
    const out: number[] = []
    const firstDecode: Float32Array[] = []
    for (let i = 0; i < ref.greedy.length; i++) {
      const next = argmax(logits)
      out.push(next)
      logits = await m.step([next], T + i)
      if (i === 0) firstDecode.push(logits)
    }
    assert.deepEqual(out, ref.decodeGreedy ?? ref.greedy, `${name}: greedy continuation`)
    assert.equal(stats.kernelsCompiled, compiled, `${name}: decode steps after the first compile nothing`)

    // a prefill (last-token logits) then a decode step over the cache it wrote
    const last = await m.step(ref.prompt, 0)
    allclose(last, dlogits.slice((T - 1) * V, T * V), { ...dtol, label: `${name} prefill` })
    // the cache rows of a prefill are the decoded ones (integer products alike, summed in another order)
    const after = await m.step([out[0]!], T)
    allclose(after, firstDecode[0]!, {
      ...(ref.decodeLogits ? dtol : { rtol: 1e-5, atol: 1e-5 }),
      label: `${name} decode after prefill`,
    })
  })
}
