// The Tokenizer of the LLM app (see ./types.ts): one class over a GGUF-shaped vocabulary
// (`TokenizerSpec`), with the text model — byte-level BPE (./tokenizer_bpe.ts) or SentencePiece
// BPE with byte fallback (./tokenizer_spm.ts) — behind it. Built by `tokenizerFromGGUF`
// (./tokenizer_gguf.ts) or `tokenizerFromHF` (./tokenizer_hf.ts).
//
// Special tokens: CONTROL and UNKNOWN tokens are matched as whole tokens in the input when
// `parseSpecial` (default true); USER_DEFINED tokens always are (llama.cpp's rule; Hugging Face
// matches non-special added tokens always too). Longest match wins at each position.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { ByteLevelBPE, byteLevelTokenBytes } from './tokenizer_bpe.js'
import { SentencePieceBPE, SPM_SPACE } from './tokenizer_spm.js'
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from './types.js'

/** GGUF's token types (`tokenizer.ggml.token_type`). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const

/** A tokenizer's vocabulary and settings, as GGUF's `tokenizer.ggml.*` keys hold them. */
export interface TokenizerSpec {
  /** 'gpt2' = byte-level BPE, 'llama' = SentencePiece BPE with byte fallback */
  model: 'gpt2' | 'llama'
  /** the pre-tokenizer of a byte-level BPE ('llama-bpe', 'qwen2', 'gpt-2', 'default') */
  pre: string | undefined
  tokens: readonly string[]
  tokenTypes: Int32Array
  /** SentencePiece scores (higher merges first); used by 'llama' when there are no merges */
  scores: Float32Array | undefined
  /** merges in rank order: 'left right' strings or [left, right] pairs */
  merges: readonly (string | readonly [string, string])[] | undefined
  bos: number | undefined
  eos: number | undefined
  eot: number | undefined
  eom: number | undefined
  unk: number | undefined
  pad: number | undefined
  addBos: boolean
  addEos: boolean
  /** 'llama': put '▁' before each run of plain text */
  addSpacePrefix: boolean
}

/** Texts of end-of-turn tokens that stop a generation when the vocabulary has them. */
const END_OF_TURN_TEXTS = [
  '<|eot_id|>',
  '<|eom_id|>',
  '<|im_end|>',
  '<|endoftext|>',
  '<|end_of_text|>',
  '<|end|>',
  '<end_of_turn>',
]

const ENCODE_KEYS: KeySet<EncodeOptions> = { addBos: true, parseSpecial: true }
const DECODE_KEYS: KeySet<DecodeOptions> = { skipSpecial: true, stripPrefixSpace: true }

interface TextModel {
  encode(text: string, out: number[]): void
}

export class TokenizerImpl implements Tokenizer {
  readonly kind: 'bpe' | 'spm'
  readonly vocabSize: number
  readonly bos: number | undefined
  readonly eos: number | undefined
  readonly addBos: boolean
  readonly stopIds: ReadonlySet<number>
  readonly spec: TokenizerSpec
  private readonly tokenToId: Map<string, number>
  private readonly model: TextModel
  /** matchers of the special tokens: [with CONTROL/UNKNOWN, USER_DEFINED only] */
  private readonly specialRegex: [RegExp | undefined, RegExp | undefined]
  private readonly bytesCache: (Uint8Array | undefined)[]

  constructor(spec: TokenizerSpec) {
    const n = spec.tokens.length
    if (n === 0) throw new TsgradError('tokenizer: the vocabulary is empty')
    if (spec.tokenTypes.length !== n)
      throw new TsgradError(`tokenizer: ${spec.tokenTypes.length} token types for ${n} tokens`)
    if (spec.scores && spec.scores.length !== n)
      throw new TsgradError(`tokenizer: ${spec.scores.length} scores for ${n} tokens`)
    for (const k of ['bos', 'eos', 'eot', 'eom', 'unk', 'pad'] as const) {
      const id = spec[k]
      if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < n))
        throw new TsgradError(`tokenizer: ${k} token id ${id} is outside the vocabulary (0..${n - 1})`)
    }
    this.spec = spec
    this.kind = spec.model === 'gpt2' ? 'bpe' : 'spm'
    this.vocabSize = n
    this.bos = spec.bos
    this.eos = spec.eos
    this.addBos = spec.addBos && spec.bos !== undefined
    this.bytesCache = new Array(n)
    this.tokenToId = new Map()
    for (let i = 0; i < n; i++) this.tokenToId.set(spec.tokens[i], i)

    const specials: string[] = []
    const userDefined: string[] = []
    for (let i = 0; i < n; i++) {
      const t = spec.tokenTypes[i]
      if (spec.tokens[i] === '') continue
      if (t === TOKEN_TYPE.USER_DEFINED) userDefined.push(spec.tokens[i])
      else if (t === TOKEN_TYPE.CONTROL || t === TOKEN_TYPE.UNKNOWN) specials.push(spec.tokens[i])
    }
    this.specialRegex = [alternation([...specials, ...userDefined]), alternation(userDefined)]

    const stops = new Set<number>()
    for (const id of [spec.eos, spec.eot, spec.eom]) if (id !== undefined) stops.add(id)
    for (const text of END_OF_TURN_TEXTS) {
      const id = this.tokenToId.get(text)
      if (id !== undefined && spec.tokenTypes[id] === TOKEN_TYPE.CONTROL) stops.add(id)
    }
    this.stopIds = stops

    if (spec.model === 'gpt2') {
      if (!spec.merges)
        throw new TsgradError('tokenizer: a byte-level BPE vocabulary needs merges (tokenizer.ggml.merges)')
      this.model = new ByteLevelBPE({
        pre: spec.pre ?? 'default',
        tokenToId: this.tokenToId,
        tokens: spec.tokens,
        merges: spec.merges,
        mergesKey: 'merges',
      })
    } else {
      const byteIds = new Int32Array(256).fill(-1)
      for (let b = 0; b < 256; b++) {
        const id = this.tokenToId.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
        if (id !== undefined && spec.tokenTypes[id] === TOKEN_TYPE.BYTE) byteIds[b] = id
      }
      this.model = new SentencePieceBPE({
        tokens: spec.tokens,
        tokenToId: this.tokenToId,
        merges: spec.merges,
        scores: spec.scores,
        byteIds,
        unk: spec.unk,
        addSpacePrefix: spec.addSpacePrefix,
      })
    }
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    checkOptions('tokenizer.encode', opts, ENCODE_KEYS)
    if (typeof text !== 'string')
      throw new TsgradError(`tokenizer.encode: expected a string, got ${typeof text}`)
    const addBos = opts?.addBos ?? this.addBos
    if (addBos && this.bos === undefined)
      throw new TsgradError('tokenizer.encode: addBos, but this vocabulary has no BOS token')
    const out: number[] = []
    if (addBos) out.push(this.bos as number)
    // lone surrogates cannot be UTF-8: they become U+FFFD, as TextEncoder and Hugging Face make them
    const t = text.replace(/\p{Cs}/gu, '\uFFFD')
    const re = this.specialRegex[(opts?.parseSpecial ?? true) ? 0 : 1]
    if (!re) this.model.encode(t, out)
    else {
      let at = 0
      for (const m of t.matchAll(re)) {
        if (m.index > at) this.model.encode(t.slice(at, m.index), out)
        out.push(this.tokenToId.get(m[0]) as number)
        at = m.index + m[0].length
      }
      if (at < t.length) this.model.encode(t.slice(at), out)
    }
    if (this.spec.addEos && this.eos !== undefined) out.push(this.eos)
    return out
  }

  decode(ids: readonly number[], opts?: DecodeOptions): string {
    const s = this.streamDecoder(opts)
    let out = ''
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids))
      throw new TsgradError(`tokenizer.decode: expected an array of token ids, got ${typeof ids}`)
    for (const id of ids) out += s.push(id)
    return out + s.flush()
  }

  streamDecoder(opts?: DecodeOptions): StreamDecoder {
    checkOptions('tokenizer.streamDecoder', opts, DECODE_KEYS)
    const skipSpecial = opts?.skipSpecial ?? true
    let strip = this.kind === 'spm' && this.spec.addSpacePrefix && (opts?.stripPrefixSpace ?? true)
    const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })
    return {
      push: (id: number): string => {
        const bytes = this.tokenBytes(id, skipSpecial)
        if (bytes.length === 0) return ''
        const b = strip && bytes[0] === 0x20 ? bytes.subarray(1) : bytes
        strip = false
        return utf8.decode(b, { stream: true })
      },
      flush: (): string => utf8.decode(),
    }
  }

  tokenId(text: string): number | undefined {
    return this.tokenToId.get(text)
  }

  /** The bytes token `id` stands for (none for a skipped special token). */
  private tokenBytes(id: number, skipSpecial: boolean): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      throw new TsgradError(
        `tokenizer.decode: token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`,
      )
    const type = this.spec.tokenTypes[id]
    if (skipSpecial && (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.UNKNOWN)) return EMPTY
    const hit = this.bytesCache[id]
    if (hit) return hit
    const text = this.spec.tokens[id]
    let bytes: Uint8Array
    if (type === TOKEN_TYPE.NORMAL || type === TOKEN_TYPE.BYTE) {
      const byte = type === TOKEN_TYPE.BYTE ? /^<0x([0-9A-Fa-f]{2})>$/.exec(text) : null
      if (byte) bytes = Uint8Array.of(Number.parseInt(byte[1], 16))
      else if (this.kind === 'bpe') bytes = byteLevelTokenBytes(text)
      else bytes = new TextEncoder().encode(text.replaceAll(SPM_SPACE, ' '))
    } else bytes = new TextEncoder().encode(text)
    this.bytesCache[id] = bytes
    return bytes
  }
}

const EMPTY = new Uint8Array(0)

/** A regex matching any of `texts`, longest first (undefined for none). */
function alternation(texts: readonly string[]): RegExp | undefined {
  if (texts.length === 0) return undefined
  const sorted = [...new Set(texts)].sort((a, b) => b.length - a.length)
  // in a 'u' regex only syntax characters and '/' may be escaped ('\-' is an error)
  return new RegExp(sorted.map((t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'gu')
}
