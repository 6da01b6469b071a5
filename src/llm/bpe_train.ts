// Training a byte-level BPE vocabulary (GPT-2 / LLaMA-3 style) from text: the texts are split by
// the pre-tokenizer regex into words (counted once per distinct word), every word starts as its
// UTF-8 bytes, and the most frequent adjacent pair of symbols is merged into a new symbol until
// the vocabulary is full. Pair counts are kept incrementally: a merge only revisits the words
// that contain its pair (an index from pair to words), and the best pair comes from a max-heap
// whose stale entries are re-checked when they surface. Ties go to the smallest (left id, right id)
// as Hugging Face `tokenizers` breaks them, so training is deterministic.
//
// The vocabulary: ids 0..255 are the bytes (spelled with GPT-2's printable stand-ins), then one id
// per merge (a merge whose text already is a token reuses that id), then the special tokens.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { TOKEN_TYPE, TokenizerImpl, type TokenizerSpec } from './tokenizer.js'
import { BYTE_CHARS, PRE_TOKENIZERS } from './tokenizer_bpe.js'
import type { Tokenizer } from './types.js'

export interface TrainBPEOptions {
  /** the vocabulary's size: 256 byte tokens + merges + special tokens */
  vocabSize: number
  /**
   * control tokens appended after the merges; the first is BOS, the second EOS (default
   * ['<|begin_of_text|>', '<|end_of_text|>']). Their text in the training texts is not learned from.
   */
  specialTokens?: readonly string[]
  /** the split regex: 'llama3' (LLaMA-3's, digits in groups of three; default) or 'gpt2' */
  pretokenizer?: 'gpt2' | 'llama3'
  /** whether `encode` prepends BOS by default (default false: `tokenizeDocs` streams have none) */
  addBos?: boolean
}

const TRAIN_KEYS: KeySet<TrainBPEOptions> = {
  vocabSize: true,
  specialTokens: true,
  pretokenizer: true,
  addBos: true,
}
const PRE_NAMES = { llama3: 'llama-bpe', gpt2: 'gpt-2' } as const
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ['<|begin_of_text|>', '<|end_of_text|>']
/** ids must stay below this for the pair keys (a * vocabSize + b) to be exact */
const MAX_VOCAB = 2 ** 24

function fail(msg: string): never {
  throw new TsgradError(`trainBPE: ${msg}`)
}

/**
 * Learn a byte-level BPE tokenizer (kind 'bpe') of `vocabSize` tokens from `texts` (each one a
 * document). Training stops early when no pair of symbols is left to merge, so the vocabulary
 * can come out smaller than asked on a tiny corpus: use the returned `vocabSize`.
 */
export function trainBPE(texts: Iterable<string>, opts: TrainBPEOptions): Tokenizer {
  checkOptions('trainBPE', opts, TRAIN_KEYS)
  if (opts === undefined || opts === null) fail('expected options { vocabSize, ... }')
  const specials = opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS
  if (!Array.isArray(specials) || specials.some((s) => typeof s !== 'string' || s === ''))
    fail('specialTokens must be an array of non-empty strings')
  if (new Set(specials).size !== specials.length)
    fail(`specialTokens has a duplicate: [${specials.join(', ')}]`)
  const { vocabSize } = opts
  const minVocab = 256 + specials.length
  if (!Number.isInteger(vocabSize) || vocabSize < minVocab || vocabSize > MAX_VOCAB)
    fail(
      `vocabSize must be an integer from ${minVocab} (256 bytes + ${specials.length} special tokens) to ${MAX_VOCAB}, got ${String(vocabSize)}`,
    )
  const preName = opts.pretokenizer ?? 'llama3'
  if (!Object.hasOwn(PRE_NAMES, preName))
    fail(`pretokenizer must be 'llama3' or 'gpt2', got ${String(preName)}`)
  if (typeof texts === 'string')
    fail('expected an iterable of documents, got one string (put it in an array)')
  if (texts === null || typeof (texts as Iterable<string>)?.[Symbol.iterator] !== 'function')
    fail('expected an iterable of strings (the training texts)')
  const pre = PRE_NAMES[preName]

  const words = countWords(texts, PRE_TOKENIZERS[pre]!.pattern, specials)
  const { tokens, merges } = learnMerges(words, vocabSize - specials.length)
  const n = tokens.length + specials.length
  const tokenTypes = new Int32Array(n).fill(TOKEN_TYPE.NORMAL)
  tokenTypes.fill(TOKEN_TYPE.CONTROL, tokens.length)
  const spec: TokenizerSpec = {
    model: 'gpt2',
    pre,
    tokens: [...tokens, ...specials],
    tokenTypes,
    scores: undefined,
    merges,
    bos: specials.length > 0 ? tokens.length : undefined,
    eos: specials.length > 1 ? tokens.length + 1 : undefined,
    eot: undefined,
    eom: undefined,
    unk: undefined,
    pad: undefined,
    addBos: (opts.addBos ?? false) && specials.length > 0,
    addEos: false,
    addSpacePrefix: false,
  }
  return new TokenizerImpl(spec)
}

/** Distinct pre-tokenized words (as UTF-8 bytes) with their counts, special-token text left out. */
function countWords(
  texts: Iterable<string>,
  pattern: string,
  specials: readonly string[],
): { bytes: Uint8Array[]; counts: number[] } {
  const regex = new RegExp(pattern, 'gu')
  const counts = new Map<string, number>()
  const escaped = [...specials]
    .sort((a, b) => b.length - a.length)
    .map((t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
  const specialRe = escaped.length > 0 ? new RegExp(escaped.join('|'), 'u') : undefined
  let i = 0
  for (const text of texts) {
    if (typeof text !== 'string') fail(`texts[${i}] is ${typeof text}, expected a string`)
    i++
    // lone surrogates cannot be UTF-8; as in encode they become U+FFFD
    const clean = text.replace(/\p{Cs}/gu, '\uFFFD')
    for (const part of specialRe ? clean.split(specialRe) : [clean])
      for (const m of part.matchAll(regex)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1)
  }
  const enc = new TextEncoder()
  const bytes: Uint8Array[] = []
  const out: number[] = []
  for (const [w, c] of counts) {
    bytes.push(enc.encode(w))
    out.push(c)
  }
  return { bytes, counts: out }
}

/**
 * The merges of words with counts until `target` tokens (bytes + merged) exist or no pair is
 * left: tokens (byte-level spelled) and merges as [left, right] texts in rank order.
 */
function learnMerges(
  input: { bytes: Uint8Array[]; counts: number[] },
  target: number,
): { tokens: string[]; merges: [string, string][] } {
  const tokens = [...BYTE_CHARS]
  const idOf = new Map<string, number>(tokens.map((t, id) => [t, id]))
  const merges: [string, string][] = []
  const V = target // every id stays below target, so a * V + b identifies a pair
  const nWords = input.bytes.length
  const syms: Int32Array[] = input.bytes.map((b) => Int32Array.from(b))
  const lens = Int32Array.from(syms, (s) => s.length)
  const counts = input.counts
  const pairCount = new Map<number, number>()
  /** words that contained the pair when it was counted (may be stale; checked on use) */
  const where = new Map<number, number[]>()
  const heap = new PairHeap()
  const seen = new Int32Array(nWords).fill(-1)

  for (let w = 0; w < nWords; w++) {
    const s = syms[w]
    for (let i = 0; i + 1 < lens[w]; i++) {
      const k = s[i] * V + s[i + 1]
      pairCount.set(k, (pairCount.get(k) ?? 0) + counts[w])
      const list = where.get(k)
      if (list === undefined) where.set(k, [w])
      else if (list[list.length - 1] !== w) list.push(w)
    }
  }
  for (const [k, c] of pairCount) heap.push(c, k)

  const delta = new Map<number, number>()
  while (tokens.length < target && heap.size > 0) {
    const [c, k] = heap.pop()
    const current = pairCount.get(k) ?? 0
    if (c !== current) {
      // counts only drop without a push; an entry below the count has a fresher twin in the heap
      if (current > 0 && c > current) heap.push(current, k)
      continue
    }
    const a = Math.floor(k / V)
    const b = k - a * V
    const text = tokens[a] + tokens[b]
    let m = idOf.get(text)
    if (m === undefined) {
      m = tokens.length
      tokens.push(text)
      idOf.set(text, m)
    }
    merges.push([tokens[a], tokens[b]])
    const stamp = merges.length
    const list = where.get(k) ?? []
    where.delete(k)
    delta.clear()
    for (const w of list) {
      if (seen[w] === stamp) continue
      seen[w] = stamp
      const s = syms[w]
      const n = lens[w]
      let found = false
      for (let i = 0; i + 1 < n; i++)
        if (s[i] === a && s[i + 1] === b) {
          found = true
          break
        }
      if (!found) continue
      const cw = counts[w]
      for (let i = 0; i + 1 < n; i++) {
        const p = s[i] * V + s[i + 1]
        delta.set(p, (delta.get(p) ?? 0) - cw)
      }
      // merge left to right in place (the write index never passes the read index)
      let j = 0
      for (let i = 0; i < n; ) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) {
          s[j++] = m
          i += 2
        } else s[j++] = s[i++]
      }
      lens[w] = j
      for (let i = 0; i + 1 < j; i++) {
        const p = s[i] * V + s[i + 1]
        delta.set(p, (delta.get(p) ?? 0) + cw)
        if (s[i] === m || s[i + 1] === m) {
          const l = where.get(p)
          if (l === undefined) where.set(p, [w])
          else if (l[l.length - 1] !== w) l.push(w)
        }
      }
    }
    for (const [p, d] of delta) {
      if (d === 0) continue
      const now = (pairCount.get(p) ?? 0) + d
      if (now === 0) pairCount.delete(p)
      else pairCount.set(p, now)
      if (d > 0) heap.push(now, p)
    }
  }
  return { tokens, merges }
}

/** A max-heap of (count, pair key): higher count first, then the smaller key (left id, right id). */
class PairHeap {
  private c: number[] = []
  private k: number[] = []
  get size(): number {
    return this.c.length
  }
  private before(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2)
  }
  push(count: number, key: number): void {
    const { c, k } = this
    let i = c.length
    c.push(count)
    k.push(key)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.before(count, key, c[p], k[p])) break
      c[i] = c[p]
      k[i] = k[p]
      i = p
    }
    c[i] = count
    k[i] = key
  }
  pop(): [number, number] {
    const { c, k } = this
    const top: [number, number] = [c[0], k[0]]
    const lc = c.pop() as number
    const lk = k.pop() as number
    const n = c.length
    if (n === 0) return top
    let i = 0
    for (;;) {
      let ch = 2 * i + 1
      if (ch >= n) break
      if (ch + 1 < n && this.before(c[ch + 1], k[ch + 1], c[ch], k[ch])) ch++
      if (!this.before(c[ch], k[ch], lc, lk)) break
      c[i] = c[ch]
      k[i] = k[ch]
      i = ch
    }
    c[i] = lc
    k[i] = lk
    return top
  }
}
