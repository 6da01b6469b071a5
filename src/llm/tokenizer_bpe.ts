// Byte-level BPE (GPT-2 style: LLaMA-3, Qwen2/3): text is split by the family's pre-tokenizer
// regex, each piece's UTF-8 bytes are spelled with GPT-2's printable stand-in characters (so
// every byte is a vocabulary symbol), and the pieces are merged by merge rank.
import { TsgradError } from '../helpers.js'
import { bpeMerge, MAX_WORD_SYMBOLS, MergeTable } from './bpe_merge.js'

/** GPT-2's byte -> character map: printable Latin-1 bytes stand for themselves, the rest map to U+0100.. */
function buildByteChars(): string[] {
  const chars: string[] = new Array(256)
  let extra = 0
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
    chars[b] = String.fromCodePoint(printable ? b : 256 + extra++)
  }
  return chars
}
export const BYTE_CHARS: readonly string[] = buildByteChars()
const CHAR_BYTE = new Map<string, number>(BYTE_CHARS.map((c, b) => [c, b]))

/** The bytes a byte-level token's text stands for (characters outside the map: their UTF-8). */
export function byteLevelTokenBytes(text: string): Uint8Array {
  const out: number[] = []
  for (const ch of text) {
    const b = CHAR_BYTE.get(ch)
    if (b !== undefined) out.push(b)
    else for (const u of new TextEncoder().encode(ch)) out.push(u)
  }
  return Uint8Array.from(out)
}

// The split patterns, written for JavaScript: `(?i:'s|...)` (no inline flags in Node 20) spelled
// out, with 'ſ' that case-folds to 's'; \s as \p{White_Space} as in Rust's regex and Oniguruma
// (JavaScript's \s adds U+FEFF and lacks U+0085).
const WS = '\\p{White_Space}'
const CONTRACTIONS = "'(?:[sSſ]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|${WS}*[\\r\\n]+|${WS}+(?!\\P{White_Space})|${WS}+`
const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|${WS}+(?!\\P{White_Space})|${WS}+`

/** The pre-tokenizers by their `tokenizer.ggml.pre` name. */
export const PRE_TOKENIZERS: Readonly<
  Record<string, { pattern: string; nfc: boolean; ignoreMerges: boolean }>
> = {
  // LLaMA-3: digits in groups of up to three; whole-word vocabulary hits skip the merges
  'llama-bpe': { pattern: LLAMA3, nfc: false, ignoreMerges: true },
  // Qwen2/2.5/3: LLaMA-3's pattern with single digits; the text is NFC-normalized first
  qwen2: { pattern: LLAMA3.replace('\\p{N}{1,3}', '\\p{N}'), nfc: true, ignoreMerges: false },
  'gpt-2': { pattern: GPT2, nfc: false, ignoreMerges: false },
  // llama.cpp's fallback for an unnamed pre-tokenizer: GPT-2's pattern here
  default: { pattern: GPT2, nfc: false, ignoreMerges: false },
}

/** Other names llama.cpp gives the same pre-tokenizers (models converted with their own name). */
const PRE_ALIASES: Readonly<Record<string, string>> = {
  llama3: 'llama-bpe',
  'llama-v3': 'llama-bpe',
  falcon3: 'llama-bpe',
  'deepseek-r1-qwen': 'qwen2',
  megrez: 'qwen2',
  'phi-2': 'gpt-2',
}

/** The pre-tokenizer entry of a `tokenizer.ggml.pre` name (undefined when unknown). */
export function preTokenizer(name: string): (typeof PRE_TOKENIZERS)[string] | undefined {
  return PRE_TOKENIZERS[PRE_ALIASES[name] ?? name]
}

/** The `tokenizer.json` Split regexes (Rust syntax) of the known families, by pre name. */
export const HF_SPLIT_PATTERNS: Readonly<Record<string, string>> = {
  'llama-bpe':
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2:
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
}

export interface ByteLevelBPEInput {
  pre: string
  tokens: readonly string[]
  tokenToId: ReadonlyMap<string, number>
  /** `"left right"` merge strings (or pairs), in rank order */
  merges: readonly (string | readonly [string, string])[]
  mergesKey: string
}

/** Encodes pre-tokenizer pieces of plain text (special tokens already split off) into ids. */
export class ByteLevelBPE {
  private readonly regex: RegExp
  private readonly nfc: boolean
  private readonly ignoreMerges: boolean
  private readonly tokenToId: ReadonlyMap<string, number>
  private readonly merges: MergeTable
  private readonly byteIds: Int32Array
  private readonly cache = new Map<string, readonly number[]>()

  constructor(inp: ByteLevelBPEInput) {
    const pre = preTokenizer(inp.pre)
    if (!pre)
      throw new TsgradError(
        `tokenizer: unknown pre-tokenizer '${inp.pre}' (tokenizer.ggml.pre); known: ${[...Object.keys(PRE_TOKENIZERS), ...Object.keys(PRE_ALIASES)].join(', ')}`,
      )
    this.regex = new RegExp(pre.pattern, 'gu')
    this.nfc = pre.nfc
    this.ignoreMerges = pre.ignoreMerges
    this.tokenToId = inp.tokenToId
    this.byteIds = Int32Array.from(BYTE_CHARS, (c) => inp.tokenToId.get(c) ?? -1)
    this.merges = new MergeTable(inp.merges, inp.mergesKey, inp.tokens, inp.tokenToId)
  }

  encode(text: string, out: number[]): void {
    const t = this.nfc ? text.normalize('NFC') : text
    for (const m of t.matchAll(this.regex)) {
      const word = m[0]
      const hit = this.cache.get(word)
      if (hit) {
        for (const id of hit) out.push(id)
        continue
      }
      const ids = this.encodeWord(word)
      if (this.cache.size > 50_000) this.cache.clear()
      this.cache.set(word, ids)
      for (const id of ids) out.push(id)
    }
  }

  private encodeWord(word: string): number[] {
    const bytes = new TextEncoder().encode(word)
    if (this.ignoreMerges) {
      let spelled = ''
      for (const b of bytes) spelled += BYTE_CHARS[b]
      const id = this.tokenToId.get(spelled)
      if (id !== undefined) return [id]
    }
    if (bytes.length >= MAX_WORD_SYMBOLS)
      throw new TsgradError(`tokenizer: a piece of ${bytes.length} bytes is too long`)
    const ids: number[] = new Array(bytes.length)
    for (let i = 0; i < bytes.length; i++) {
      const id = this.byteIds[bytes[i]]
      if (id < 0)
        throw new TsgradError(
          `tokenizer: byte 0x${bytes[i].toString(16).padStart(2, '0')} ('${BYTE_CHARS[bytes[i]]}') has no token in this byte-level vocabulary`,
        )
      ids[i] = id
    }
    return bpeMerge(ids, this.merges.pair)
  }
}
