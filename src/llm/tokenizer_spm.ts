// SentencePiece-style BPE with byte fallback (LLaMA 1/2, Mistral): spaces become '▁', one '▁' is
// put before each run of plain text (after BOS and after every special token, as llama.cpp and
// the Hugging Face "legacy" LLaMA tokenizer do), the text's characters are merged — by merge rank
// when the vocabulary comes with merges, else by the score of the merged token (higher first) —
// and a character without a token is spelled with its UTF-8 bytes as `<0xNN>` tokens.
import { TsgradError } from '../helpers.js'
import { bpeMerge, MAX_WORD_SYMBOLS, MergeTable } from './bpe_merge.js'

export const SPM_SPACE = '\u2581'

export interface SpmInput {
  tokens: readonly string[]
  tokenToId: ReadonlyMap<string, number>
  /** merge strings in rank order (Hugging Face), preferred over scores */
  merges: readonly (string | readonly [string, string])[] | undefined
  /** per-token scores (GGUF `tokenizer.ggml.scores`), used when there are no merges */
  scores: ArrayLike<number> | undefined
  /** id of each byte's `<0xNN>` token, -1 where missing */
  byteIds: Int32Array
  unk: number | undefined
  addSpacePrefix: boolean
}

export class SentencePieceBPE {
  private readonly inp: SpmInput
  private readonly merges: MergeTable | undefined
  /** left * V + right -> rank * 2^24 + result id: memo of the score rule */
  private readonly pairs = new Map<number, number>()
  /** score rank of each token (0 = highest score), for the score rule */
  private readonly scoreRank: Int32Array | undefined
  private readonly cache = new Map<string, readonly number[]>()

  constructor(inp: SpmInput) {
    this.inp = inp
    const V = inp.tokens.length
    if (inp.merges) {
      this.merges = new MergeTable(inp.merges, 'merges', inp.tokens, inp.tokenToId)
    } else {
      // dense ranks of the scores: equal scores share a rank, so the leftmost pair wins the tie
      const s = inp.scores ?? new Float32Array(V)
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => s[b] - s[a])
      this.scoreRank = new Int32Array(V)
      let rank = 0
      for (let k = 0; k < V; k++) {
        if (k > 0 && s[order[k]] !== s[order[k - 1]]) rank++
        this.scoreRank[order[k]] = rank
      }
    }
  }

  /** Encodes one run of plain text (no special tokens). */
  encode(text: string, out: number[]): void {
    if (text === '') return
    const t = (this.inp.addSpacePrefix ? SPM_SPACE : '') + text.replaceAll(' ', SPM_SPACE)
    const hit = this.cache.get(t)
    if (hit) {
      for (const id of hit) out.push(id)
      return
    }
    const ids = this.encodeText(t)
    if (t.length < 256) {
      if (this.cache.size > 50_000) this.cache.clear()
      this.cache.set(t, ids)
    }
    for (const id of ids) out.push(id)
  }

  private encodeText(t: string): number[] {
    const { tokenToId, byteIds, unk } = this.inp
    const V = this.inp.tokens.length
    // symbols: a character's token, or -(1 + k) for the k-th character without one
    const syms: number[] = []
    const unknown: string[] = []
    for (const ch of t) {
      const id = tokenToId.get(ch)
      if (id !== undefined) syms.push(id)
      else {
        syms.push(-1 - unknown.length)
        unknown.push(ch)
      }
    }
    if (syms.length >= MAX_WORD_SYMBOLS)
      throw new TsgradError(`tokenizer: a text of ${syms.length} characters is too long`)
    const merges = this.merges
    const merged = bpeMerge(syms, (a, b) => {
      if (a < 0 || b < 0) return -1
      if (merges) return merges.pair(a, b)
      const key = a * V + b
      const hit = this.pairs.get(key)
      if (hit !== undefined || !this.scoreRank) return hit ?? -1
      const id = tokenToId.get(this.inp.tokens[a] + this.inp.tokens[b])
      const m = id === undefined ? -1 : this.scoreRank[id] * 2 ** 24 + id
      this.pairs.set(key, m)
      return m
    })
    const out: number[] = []
    for (const id of merged) {
      if (id >= 0) {
        out.push(id)
        continue
      }
      const bytes = new TextEncoder().encode(unknown[-1 - id])
      if (bytes.every((b) => byteIds[b] >= 0)) for (const b of bytes) out.push(byteIds[b])
      else if (unk !== undefined) out.push(unk)
      else
        throw new TsgradError(
          `tokenizer: '${unknown[-1 - id]}' has no token, and the vocabulary has neither its <0xNN> byte tokens nor an unknown token`,
        )
    }
    return out
  }
}
