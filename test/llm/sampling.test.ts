// The sampler against an independent reference: scripts/gen_sampling_fixtures.py computes, with numpy
// and full sorts, the probability vector llama.cpp's default chain gives for fixed logits and
// options (test/fixtures/llm_sampling.json). `probabilities` must equal it; seeded draws of the
// `Sampler` must follow it; greedy is the argmax; a seed reproduces its tokens.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { TsgradError } from '../../src/index.ts'
import { probabilities, Rng, Sampler } from '../../src/llm/sampling.ts'
import type { SamplingOptions } from '../../src/llm/types.ts'

interface SamplingCase {
  name: string
  logits: (number | string)[]
  opts: SamplingOptions
  recent: number[]
  probs: [number, number][]
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/llm_sampling.json', import.meta.url), 'utf8'),
) as { cases: SamplingCase[] }

const logitsOf = (c: SamplingCase): Float32Array =>
  Float32Array.from(c.logits, (v) => (typeof v === 'string' ? Number.NEGATIVE_INFINITY : v))

function denseRef(c: SamplingCase): Float64Array {
  const out = new Float64Array(c.logits.length)
  for (const [id, p] of c.probs) out[id] = p
  return out
}

function randomLogits(n: number, seed: number, scale = 3): Float32Array {
  const r = new Rng(seed)
  return Float32Array.from({ length: n }, () => (r.next() + r.next() + r.next() - 1.5) * scale)
}

describe('llm sampling', () => {
  for (const c of fixture.cases) {
    test(`probabilities match the numpy reference: ${c.name}`, () => {
      const got = probabilities(logitsOf(c), c.opts, c.recent)
      const want = denseRef(c)
      assert.equal(got.length, want.length)
      for (let i = 0; i < want.length; i++) {
        if ((got[i] === 0) !== (want[i] === 0))
          assert.fail(
            `token ${i}: kept ${got[i] !== 0} but the reference ${want[i] !== 0 ? 'keeps' : 'drops'} it`,
          )
        assert.ok(
          Math.abs(got[i]! - want[i]!) <= 1e-12 + 1e-9 * want[i]!,
          `token ${i}: ${got[i]} vs ${want[i]}`,
        )
      }
    })
  }

  test('seeded draws follow the reference distribution (chi-square)', () => {
    for (const name of [
      'all filters/2000',
      'top-p 0.9 without top-k/200',
      'repetition penalty window 4/200',
    ]) {
      const c = fixture.cases.find((x) => x.name === name)!
      const want = denseRef(c)
      const s = new Sampler({ ...c.opts, seed: 1234 })
      for (const t of c.recent) s.accept(t)
      const logits = logitsOf(c)
      const draws = 40000
      const counts = new Float64Array(want.length)
      for (let i = 0; i < draws; i++) counts[s.sample(logits)]!++
      // pool the bins expected below 5 draws; a drawn token outside the support fails outright
      let chi = 0
      let dof = -1
      let poolE = 0
      let poolO = 0
      for (let i = 0; i < want.length; i++) {
        if (want[i] === 0) {
          assert.equal(counts[i], 0, `${name}: drew filtered token ${i}`)
          continue
        }
        const e = want[i]! * draws
        if (e < 5) {
          poolE += e
          poolO += counts[i]!
          continue
        }
        chi += (counts[i]! - e) ** 2 / e
        dof++
      }
      if (poolE > 0) {
        chi += (poolO - poolE) ** 2 / poolE
        dof++
      }
      // mean dof, sd sqrt(2 dof): 5 sd is far beyond chance for this fixed seed, far below a wrong law
      assert.ok(chi < dof + 5 * Math.sqrt(2 * dof) + 10, `${name}: chi2 ${chi.toFixed(1)} with ${dof} dof`)
    }
  })

  test('temperature 0 is the argmax (ties to the lower id)', () => {
    const s = new Sampler({ temperature: 0 })
    for (let k = 0; k < 50; k++) {
      const l = randomLogits(1000, k)
      let best = 0
      for (let i = 1; i < l.length; i++) if (l[i]! > l[best]!) best = i
      assert.equal(s.sample(l), best)
    }
    assert.equal(new Sampler({ temperature: 0 }).sample(Float32Array.from([1, 5, 2, 5])), 1)
  })

  test('the same seed gives the same tokens; another seed others', () => {
    const l = randomLogits(5000, 99, 1)
    const run = (seed: number) => {
      const s = new Sampler({ seed, topK: 0, topP: 0.95, minP: 0, temperature: 1 })
      return Array.from({ length: 100 }, () => s.sample(l))
    }
    assert.deepEqual(run(7), run(7))
    assert.notDeepEqual(run(7), run(8))
    assert.ok(new Set(run(7)).size > 20, 'a flat distribution gives many different tokens')
  })

  test('the repetition penalty lowers recent tokens, once per distinct token, within the window', () => {
    const l = Float32Array.from([2, 1.9, -1, 0.5])
    const plain = probabilities(l, { temperature: 1, topK: 0, topP: 1, minP: 0 })
    const pen = probabilities(
      l,
      { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 2 },
      [0, 0, 0, 2],
    )
    const logRatio = (p: Float64Array, a: number, b: number) => Math.log(p[a]! / p[b]!)
    assert.ok(Math.abs(logRatio(plain, 0, 3) - 1.5) < 1e-6)
    // a repeated positive logit is divided once (not three times): 2 / 2 = 1 against 0.5
    assert.ok(Math.abs(logRatio(pen, 0, 3) - 0.5) < 1e-6, 'positive logit divided once')
    // a repeated negative logit is multiplied: -1 * 2 = -2 against 0.5
    assert.ok(Math.abs(logRatio(pen, 2, 3) + 2.5) < 1e-6, 'negative logit multiplied')
    assert.ok(Math.abs(logRatio(pen, 1, 0) - 0.9) < 1e-6)
    const s = new Sampler({ temperature: 0, repetitionPenalty: 2, repeatLastN: 2 })
    assert.equal(s.sample(l), 0)
    s.accept(0)
    assert.equal(s.sample(l), 1, 'the penalized argmax gives way')
    s.accept(3)
    s.accept(3)
    assert.equal(s.sample(l), 0, 'token 0 left the window of 2')
  })

  test('top-p without top-k on a 128k vocabulary keeps the right mass', () => {
    const l = randomLogits(128256, 5, 4)
    const p = probabilities(l, { temperature: 1, topK: 0, topP: 0.9, minP: 0 })
    const full = probabilities(l, { temperature: 1, topK: 0, topP: 1, minP: 0 })
    let kept = 0
    let mass = 0
    let smallestKept = 1
    let largestDropped = 0
    for (let i = 0; i < l.length; i++) {
      if (p[i]! > 0) {
        kept++
        mass += full[i]!
        smallestKept = Math.min(smallestKept, full[i]!)
      } else largestDropped = Math.max(largestDropped, full[i]!)
    }
    assert.ok(kept > 1000 && kept < l.length)
    assert.ok(mass >= 0.9 && mass - smallestKept < 0.9, `mass ${mass}: the smallest set reaching 0.9`)
    assert.ok(smallestKept >= largestDropped, 'every kept token is at least as likely as every dropped one')
  })

  test('bad options are TsgradErrors naming the option', () => {
    const l = Float32Array.from([1, 2])
    assert.throws(() => new Sampler({ temprature: 1 } as SamplingOptions), /unknown option 'temprature'/)
    assert.throws(() => new Sampler({ temperature: -1 }), /temperature must be a number >= 0/)
    assert.throws(() => new Sampler({ topP: 0 }), /topP must be a number in \(0, 1\]/)
    assert.throws(() => new Sampler({ topK: 1.5 }), /topK must be an integer/)
    assert.throws(() => new Sampler({ minP: 1 }), /minP must be a number in \[0, 1\)/)
    assert.throws(() => new Sampler({ seed: -3 }), /seed must be an integer/)
    assert.throws(() => probabilities(l, { repetitionPenalty: 0 }), TsgradError)
    const s = new Sampler({ seed: 1 })
    s.sample(l)
    assert.throws(() => s.sample(new Float32Array(3)), /expected 2 logits/)
  })
})
