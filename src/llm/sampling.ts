// Token sampling on the host: one Float32Array of logits per token (128k floats is cheap in JS).
//
// The filters run in llama.cpp's default chain order (common/common.h: penalties, top-k, top-p,
// min-p, temperature, then a draw):
//   1. repetition penalty: each distinct token among the last `repeatLastN` has its logit divided
//      by the penalty when positive, multiplied when negative (once per token, not per occurrence)
//   2. top-k: keep the k largest logits
//   3. top-p: softmax of what is left (at temperature 1), keep the smallest most-likely set whose
//      probability reaches p (the token that crosses p is kept)
//   4. min-p: keep tokens whose probability is at least minP x the largest (logit >= max + ln minP)
//   5. temperature: softmax of logit / temperature over what is left, then one draw
// Temperature comes last, as in llama.cpp (not first, as in Hugging Face transformers): top-p and
// min-p see the model's own distribution. Temperature 0 is greedy: the argmax of the penalized
// logits (ties to the lower id). Every step is O(vocab): top-k and top-p use partial selection
// (quickselect by logit, ties to the lower id), never a sort of the whole vocabulary.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import type { SamplingOptions } from './types.js'

/** The options with their defaults filled in (llama.cpp's defaults). */
export interface ResolvedSampling {
  temperature: number
  topK: number
  topP: number
  minP: number
  repetitionPenalty: number
  repeatLastN: number
  seed: number
}

export const SAMPLING_DEFAULTS: Readonly<Omit<ResolvedSampling, 'seed'>> = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repetitionPenalty: 1,
  repeatLastN: 64,
}

export const SAMPLING_KEYS: KeySet<SamplingOptions> = {
  temperature: true,
  topK: true,
  topP: true,
  minP: true,
  repetitionPenalty: true,
  repeatLastN: true,
  seed: true,
}

function checkNumber(fn: string, name: string, v: unknown, ok: (x: number) => boolean, want: string): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !ok(v))
    throw new TsgradError(`${fn}: ${name} must be ${want}, got ${String(v)}`)
}

/** Check the sampling options of `opts` (by `fn`'s name in errors) and fill in the defaults. */
export function resolveSampling(fn: string, opts: SamplingOptions = {}): ResolvedSampling {
  const finite = Number.isFinite
  const int = Number.isInteger
  checkNumber(fn, 'temperature', opts.temperature, (x) => finite(x) && x >= 0, 'a number >= 0 (0 = greedy)')
  checkNumber(fn, 'topK', opts.topK, (x) => int(x) && x >= 0, 'an integer >= 0 (0 = off)')
  checkNumber(fn, 'topP', opts.topP, (x) => x > 0 && x <= 1, 'a number in (0, 1] (1 = off)')
  checkNumber(fn, 'minP', opts.minP, (x) => x >= 0 && x < 1, 'a number in [0, 1) (0 = off)')
  checkNumber(
    fn,
    'repetitionPenalty',
    opts.repetitionPenalty,
    (x) => finite(x) && x > 0,
    'a number > 0 (1 = off)',
  )
  checkNumber(fn, 'repeatLastN', opts.repeatLastN, (x) => int(x) && x >= 0, 'an integer >= 0')
  checkNumber(fn, 'seed', opts.seed, (x) => int(x) && x >= 0 && x <= 0xffffffff, 'an integer in [0, 2^32)')
  return {
    temperature: opts.temperature ?? SAMPLING_DEFAULTS.temperature,
    topK: opts.topK ?? SAMPLING_DEFAULTS.topK,
    topP: opts.topP ?? SAMPLING_DEFAULTS.topP,
    minP: opts.minP ?? SAMPLING_DEFAULTS.minP,
    repetitionPenalty: opts.repetitionPenalty ?? SAMPLING_DEFAULTS.repetitionPenalty,
    repeatLastN: opts.repeatLastN ?? SAMPLING_DEFAULTS.repeatLastN,
    seed: opts.seed ?? (Math.random() * 2 ** 32) >>> 0,
  }
}

/**
 * A small seeded PRNG (xoshiro128**, state from splitmix32): the same seed gives the same stream
 * on every platform, independent of Math.random.
 */
export class Rng {
  private s = new Uint32Array(4)
  constructor(seed: number) {
    let x = seed >>> 0
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      this.s[i] = (z ^ (z >>> 16)) >>> 0
    }
  }
  /** the next 32 random bits */
  nextU32(): number {
    const s = this.s
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = s[1]! << 9
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return r
  }
  /** uniform in [0, 1) with 53 random bits */
  next(): number {
    const hi = this.nextU32() >>> 5
    const lo = this.nextU32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

/**
 * Working arrays of one vocabulary size, reused across tokens: the (penalized) logits, the
 * candidate ids (the first `n` are alive) and their probabilities.
 */
class Scratch {
  readonly logits: Float32Array
  readonly ids: Int32Array
  readonly probs: Float64Array
  n = 0
  constructor(readonly vocab: number) {
    this.logits = new Float32Array(vocab)
    this.ids = new Int32Array(vocab)
    this.probs = new Float64Array(vocab)
  }
}

/** a ranks before b: larger value, ties to the lower id (a total order, so selection is deterministic) */
const before = (v: ArrayLike<number>, a: number, b: number): boolean =>
  v[a]! > v[b]! || (v[a] === v[b] && a < b)

/**
 * Partition ids[lo..hi) around the middle element by `key` (descending). Returns the pivot's final
 * position: ids before it rank above the pivot, ids after it below.
 */
function partition(ids: Int32Array, key: ArrayLike<number>, lo: number, hi: number): number {
  const mid = lo + ((hi - lo) >> 1)
  const pivot = ids[mid]!
  ids[mid] = ids[hi - 1]!
  ids[hi - 1] = pivot
  let store = lo
  for (let i = lo; i < hi - 1; i++) {
    const id = ids[i]!
    if (before(key, id, pivot)) {
      ids[i] = ids[store]!
      ids[store++] = id
    }
  }
  ids[hi - 1] = ids[store]!
  ids[store] = pivot
  return store
}

// up to this k, top-k is one pass with a min-heap of the k best (most logits fail one comparison
// with the heap's root); above it, quickselect
const HEAP_TOP_K = 1024

/** The k highest-ranked ids of `key` (k < the number of finite entries) into out[0..k); returns k. */
function heapTopK(key: Float32Array, k: number, out: Int32Array): number {
  // out[0..size) is a binary min-heap by rank: out[0] is the worst of the best k so far
  let size = 0
  const siftDown = (): void => {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= size) return
      const r = l + 1
      const c = r < size && before(key, out[l]!, out[r]!) ? r : l
      if (!before(key, out[i]!, out[c]!)) return
      const t = out[i]!
      out[i] = out[c]!
      out[c] = t
      i = c
    }
  }
  for (let id = 0; id < key.length; id++) {
    const v = key[id]!
    if (!(v > Number.NEGATIVE_INFINITY)) continue
    if (size < k) {
      let i = size++
      out[i] = id
      while (i > 0) {
        const p = (i - 1) >> 1
        if (!before(key, out[p]!, out[i]!)) break
        const t = out[p]!
        out[p] = out[i]!
        out[i] = t
        i = p
      }
    } else if (v > key[out[0]!]!) {
      // a later id with an equal value ranks lower, so only a strictly larger value enters
      out[0] = id
      siftDown()
    }
  }
  return size
}

/** Move the k highest-ranked of ids[0..n) to the front (in no particular order). Expected O(n). */
function selectTopK(ids: Int32Array, key: ArrayLike<number>, n: number, k: number): void {
  let lo = 0
  let hi = n
  while (hi - lo > 1) {
    const p = partition(ids, key, lo, hi)
    if (p === k || p === k - 1) return
    if (p > k) hi = p
    else lo = p + 1
  }
}

/**
 * The smallest m such that the m highest-ranked of ids[0..n) (by `prob`) hold probability >= p;
 * they are moved to the front. Expected O(n): a quickselect that follows the mass instead of a count.
 */
function selectTopMass(ids: Int32Array, prob: Float64Array, n: number, p: number): number {
  let lo = 0
  let hi = n
  let need = p
  while (lo < hi) {
    const piv = partition(ids, prob, lo, hi)
    let above = 0
    for (let i = lo; i < piv; i++) above += prob[ids[i]!]!
    if (above >= need && piv > lo) hi = piv
    else if (above + prob[ids[piv]!]! >= need) return piv + 1
    else {
      need -= above + prob[ids[piv]!]!
      lo = piv + 1
    }
  }
  return Math.max(lo, 1)
}

/** Repetition penalty (llama.cpp's): each distinct recent token once. */
function applyPenalty(logits: Float32Array, recent: readonly number[], o: ResolvedSampling): void {
  if (o.repetitionPenalty === 1 || o.repeatLastN === 0) return
  const seen = new Set<number>()
  for (let i = Math.max(0, recent.length - o.repeatLastN); i < recent.length; i++) {
    const id = recent[i]!
    if (id < 0 || id >= logits.length || seen.has(id)) continue
    seen.add(id)
    const l = logits[id]!
    logits[id] = l <= 0 ? l * o.repetitionPenalty : l / o.repetitionPenalty
  }
}

function argmax(v: Float32Array): number {
  let best = 0
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i
  return best
}

/** Softmax of logits/temp over the alive candidates into probs (by id); returns nothing. */
function softmaxAlive(s: Scratch, temp: number): void {
  const { ids, logits, probs } = s
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < s.n; i++) max = Math.max(max, logits[ids[i]!]!)
  let sum = 0
  for (let i = 0; i < s.n; i++) {
    const id = ids[i]!
    const e = Math.exp((logits[id]! - max) / temp)
    probs[id] = e
    sum += e
  }
  for (let i = 0; i < s.n; i++) probs[ids[i]!]! /= sum
}

/**
 * Run the filter chain on `s.logits` (already penalized): leaves the surviving ids in
 * `s.ids[0..s.n)` and their final probabilities (at the temperature) in `s.probs`. Temperature > 0.
 */
function filterChain(s: Scratch, o: ResolvedSampling): void {
  const { ids, logits } = s
  const V = s.vocab
  // -inf / NaN logits (masked tokens) are never candidates unless nothing else is left
  let alive = 0
  for (let i = 0; i < V; i++) if (logits[i]! > Number.NEGATIVE_INFINITY) alive++
  if (alive === 0) {
    s.n = 1
    ids[0] = 0
  } else if (o.topK > 0 && o.topK < alive && o.topK <= HEAP_TOP_K) s.n = heapTopK(logits, o.topK, ids)
  else {
    let w = 0
    for (let i = 0; i < V; i++) if (logits[i]! > Number.NEGATIVE_INFINITY) ids[w++] = i
    s.n = w
    if (o.topK > 0 && o.topK < s.n) {
      selectTopK(ids, logits, s.n, o.topK)
      s.n = o.topK
    }
  }
  if (o.topP < 1 && s.n > 1) {
    softmaxAlive(s, 1)
    // tokens below t = (1 - p) / n hold less than 1 - p together, so the rest reaches p and the
    // kept set lies within it: drop them first (most of a peaked distribution's vocabulary)
    const t = ((1 - o.topP) / s.n) * 0.999
    let m = 0
    for (let i = 0; i < s.n; i++) if (s.probs[ids[i]!]! >= t) ids[m++] = ids[i]!
    s.n = selectTopMass(ids, s.probs, m, o.topP)
  }
  if (o.minP > 0 && s.n > 1) {
    let max = Number.NEGATIVE_INFINITY
    for (let i = 0; i < s.n; i++) max = Math.max(max, logits[ids[i]!]!)
    const cut = max + Math.log(o.minP)
    let m = 0
    for (let i = 0; i < s.n; i++) if (logits[ids[i]!]! >= cut) ids[m++] = ids[i]!
    s.n = Math.max(m, 1)
  }
  softmaxAlive(s, o.temperature)
}

function checkLogits(fn: string, logits: Float32Array, vocab?: number): void {
  if (!(logits instanceof Float32Array) || logits.length === 0)
    throw new TsgradError(`${fn}: logits must be a non-empty Float32Array, got ${String(logits)}`)
  if (vocab !== undefined && logits.length !== vocab)
    throw new TsgradError(`${fn}: expected ${vocab} logits (the vocabulary size), got ${logits.length}`)
}

/**
 * The distribution the sampler draws from for these logits and options, as a dense vector
 * (vocabulary-sized, zeros for filtered tokens; one-hot at the argmax for temperature 0).
 * `recent` are the previous tokens (the repetition penalty looks at the last `repeatLastN`).
 */
export function probabilities(
  logits: Float32Array,
  opts: SamplingOptions = {},
  recent: readonly number[] = [],
): Float64Array {
  checkOptions('probabilities', opts, SAMPLING_KEYS)
  checkLogits('probabilities', logits)
  const o = resolveSampling('probabilities', opts)
  const s = new Scratch(logits.length)
  s.logits.set(logits)
  applyPenalty(s.logits, recent, o)
  const out = new Float64Array(logits.length)
  if (o.temperature === 0) {
    out[argmax(s.logits)] = 1
    return out
  }
  filterChain(s, o)
  for (let i = 0; i < s.n; i++) out[s.ids[i]!] = s.probs[s.ids[i]!]!
  return out
}

/**
 * Draws tokens from logits with the options' filter chain and its own seeded generator: the same
 * seed and the same logits give the same tokens. It remembers the tokens it is told about
 * (`accept`) for the repetition penalty.
 */
export class Sampler {
  readonly options: Readonly<ResolvedSampling>
  private rng: Rng
  private scratch: Scratch | undefined
  private recent: number[] = []

  constructor(opts: SamplingOptions = {}) {
    checkOptions('Sampler', opts, SAMPLING_KEYS)
    this.options = resolveSampling('Sampler', opts)
    this.rng = new Rng(this.options.seed)
  }

  /** record a token of the sequence (prompt or generated) for the repetition penalty */
  accept(id: number): void {
    const keep = this.options.repeatLastN
    if (keep === 0) return
    this.recent.push(id)
    if (this.recent.length > 2 * keep + 64) this.recent.splice(0, this.recent.length - keep)
  }

  /** the next token for these logits (the last position's, vocabulary-sized) */
  sample(logits: Float32Array): number {
    checkLogits('Sampler.sample', logits, this.scratch?.vocab)
    const s = (this.scratch ??= new Scratch(logits.length))
    s.logits.set(logits)
    applyPenalty(s.logits, this.recent, this.options)
    if (this.options.temperature === 0) return argmax(s.logits)
    filterChain(s, this.options)
    let u = this.rng.next()
    for (let i = 0; i < s.n - 1; i++) {
      u -= s.probs[s.ids[i]!]!
      if (u < 0) return s.ids[i]!
    }
    return s.ids[s.n - 1]!
  }
}
