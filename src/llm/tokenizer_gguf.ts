// Tokenizers to and from GGUF metadata (`tokenizer.ggml.*`, as llama.cpp's converter writes it).
// Every key is type- and range-checked: a malformed file is a TsgradError naming the key.
import { TsgradError } from '../helpers.js'
import type { GGUFValue } from '../nn/gguf.js'
import { TOKEN_TYPE, TokenizerImpl, type TokenizerSpec } from './tokenizer.js'
import { preTokenizer } from './tokenizer_bpe.js'
import type { Tokenizer } from './types.js'

const K = 'tokenizer.ggml.'

function fail(key: string, msg: string): never {
  throw new TsgradError(`tokenizerFromGGUF: metadata key '${key}' ${msg}`)
}

const describe = (v: unknown): string =>
  Array.isArray(v)
    ? 'an array'
    : ArrayBuffer.isView(v)
      ? `a ${v.constructor.name}`
      : `${typeof v} ${String(v).slice(0, 40)}`

function strings(md: Record<string, GGUFValue>, key: string, required: boolean): string[] | undefined {
  const v = md[key]
  if (v === undefined) return required ? fail(key, 'is missing') : undefined
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    fail(key, `must be an array of strings, got ${describe(v)}`)
  return v as string[]
}

function numbers(
  md: Record<string, GGUFValue>,
  key: string,
  n: number,
  integer: boolean,
): number[] | undefined {
  const v = md[key]
  if (v === undefined) return undefined
  const ok =
    (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) &&
    (v as ArrayLike<unknown>).length >= 0
  if (!ok) fail(key, `must be an array of numbers, got ${describe(v)}`)
  const arr = Array.from(v as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? Number(x) : x))
  if (arr.length !== n) fail(key, `has ${arr.length} entries for ${n} tokens`)
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i]
    if (typeof x !== 'number' || Number.isNaN(x) || (integer && !Number.isInteger(x)))
      fail(key, `[${i}] is ${describe(x)}, expected ${integer ? 'an integer' : 'a number'}`)
  }
  return arr as number[]
}

function tokenId(md: Record<string, GGUFValue>, key: string, n: number): number | undefined {
  const v = md[key]
  if (v === undefined) return undefined
  const x = typeof v === 'bigint' ? Number(v) : v
  if (typeof x !== 'number' || !Number.isInteger(x))
    fail(key, `must be an integer token id, got ${describe(v)}`)
  if (x < 0 || x >= n) fail(key, `is ${x}, outside the vocabulary (0..${n - 1})`)
  return x
}

function bool(md: Record<string, GGUFValue>, key: string): boolean | undefined {
  const v = md[key]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') fail(key, `must be a boolean, got ${describe(v)}`)
  return v
}

/** The tokenizer a GGUF file's metadata describes ('gpt2' byte-level BPE or 'llama' SentencePiece). */
export function tokenizerFromGGUF(metadata: Record<string, GGUFValue>): Tokenizer {
  if (metadata === null || typeof metadata !== 'object')
    throw new TsgradError(`tokenizerFromGGUF: expected the metadata object, got ${describe(metadata)}`)
  const md = metadata
  const model = md[`${K}model`]
  if (model === undefined) fail(`${K}model`, 'is missing (the file has no tokenizer)')
  if (model !== 'gpt2' && model !== 'llama')
    fail(
      `${K}model`,
      `is ${describe(model)}; supported: 'gpt2' (byte-level BPE), 'llama' (SentencePiece BPE)`,
    )
  const tokens = strings(md, `${K}tokens`, true) as string[]
  const n = tokens.length
  if (n === 0) fail(`${K}tokens`, 'is empty')
  const types = numbers(md, `${K}token_type`, n, true)
  if (types)
    for (let i = 0; i < n; i++)
      if (types[i] < 0 || types[i] > 6) fail(`${K}token_type`, `[${i}] is ${types[i]}, expected 0..6`)
  const scores = numbers(md, `${K}scores`, n, false)
  const merges = strings(md, `${K}merges`, model === 'gpt2')
  const pre = md[`${K}pre`]
  if (pre !== undefined && typeof pre !== 'string') fail(`${K}pre`, `must be a string, got ${describe(pre)}`)
  const spec: TokenizerSpec = {
    model,
    pre: model === 'gpt2' ? (pre ?? 'default') : undefined,
    tokens,
    tokenTypes: Int32Array.from(types ?? new Array(n).fill(TOKEN_TYPE.NORMAL)),
    scores: scores ? Float32Array.from(scores) : undefined,
    merges: merges,
    bos: tokenId(md, `${K}bos_token_id`, n),
    eos: tokenId(md, `${K}eos_token_id`, n),
    eot: tokenId(md, `${K}eot_token_id`, n),
    eom: tokenId(md, `${K}eom_token_id`, n),
    unk: tokenId(md, `${K}unknown_token_id`, n),
    pad: tokenId(md, `${K}padding_token_id`, n),
    // llama.cpp's defaults: SentencePiece and LLaMA-3 (the pre-tokenizer that ignores merges) start with BOS
    addBos:
      bool(md, `${K}add_bos_token`) ??
      (model === 'llama' || preTokenizer(pre ?? 'default')?.ignoreMerges === true),
    addEos: bool(md, `${K}add_eos_token`) ?? false,
    addSpacePrefix: bool(md, `${K}add_space_prefix`) ?? true,
  }
  try {
    return new TokenizerImpl(spec)
  } catch (e) {
    if (e instanceof TsgradError) throw new TsgradError(`tokenizerFromGGUF: ${e.message}`)
    throw e
  }
}

/**
 * The `tokenizer.ggml.*` metadata that stores `tok` in a GGUF file (for `ggufSave`'s metadata);
 * `tokenizerFromGGUF` of it encodes and decodes exactly as `tok` does.
 */
export function tokenizerToGGUFMetadata(tok: Tokenizer): Record<string, GGUFValue> {
  if (!(tok instanceof TokenizerImpl))
    throw new TsgradError(
      'tokenizerToGGUFMetadata: expected a tokenizer made by tokenizerFromGGUF or tokenizerFromHF',
    )
  const s = tok.spec
  const md: Record<string, GGUFValue> = {
    [`${K}model`]: s.model,
    [`${K}tokens`]: [...s.tokens],
    [`${K}token_type`]: Int32Array.from(s.tokenTypes),
  }
  if (s.pre !== undefined) md[`${K}pre`] = s.pre
  if (s.merges) {
    md[`${K}merges`] = s.merges.map((m, i) => {
      const [a, b] = typeof m === 'string' ? [m] : m
      if (b === undefined) return a
      if (a.includes(' ') || b.includes(' '))
        throw new TsgradError(
          `tokenizerToGGUFMetadata: merge ${i} ('${a}', '${b}') has a space, which GGUF's 'left right' merges cannot hold`,
        )
      return `${a} ${b}`
    })
  }
  if (s.model === 'llama') md[`${K}scores`] = s.scores ? Float32Array.from(s.scores) : scoresFromMerges(s)
  const ids = {
    bos: 'bos_token_id',
    eos: 'eos_token_id',
    eot: 'eot_token_id',
    eom: 'eom_token_id',
    unk: 'unknown_token_id',
    pad: 'padding_token_id',
  } as const
  for (const [k, key] of Object.entries(ids)) {
    const id = s[k as keyof typeof ids]
    if (id !== undefined) md[`${K}${key}`] = id
  }
  md[`${K}add_bos_token`] = s.addBos
  md[`${K}add_eos_token`] = s.addEos
  if (s.model === 'llama') md[`${K}add_space_prefix`] = s.addSpacePrefix
  return md
}

/** SentencePiece scores that order merges as the merge list does: -rank of the merge making a token. */
function scoresFromMerges(s: TokenizerSpec): Float32Array {
  const ids = new Map(s.tokens.map((t, i) => [t, i]))
  const scores = new Float32Array(s.tokens.length)
  const done = new Set<number>()
  for (const [r, m] of (s.merges ?? []).entries()) {
    const merged = typeof m === 'string' ? m.replace(' ', '') : m[0] + m[1]
    const id = ids.get(merged)
    if (id !== undefined && !done.has(id)) {
      done.add(id)
      scores[id] = -1 - r
    }
  }
  return scores
}
