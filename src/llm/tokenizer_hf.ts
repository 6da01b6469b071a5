// Tokenizers from Hugging Face's `tokenizer.json` (+ `tokenizer_config.json`): a BPE model with a
// byte-level pre-tokenizer (LLaMA-3, Qwen, GPT-2) or SentencePiece-style with byte fallback
// (LLaMA 1/2, Mistral), turned into the GGUF-shaped TokenizerSpec the way llama.cpp's converter
// does (added special tokens -> CONTROL, other added tokens -> USER_DEFINED, <0xNN> -> BYTE).
import { TsgradError } from '../helpers.js'
import type { GGUFValue } from '../nn/gguf.js'
import { TOKEN_TYPE, TokenizerImpl, type TokenizerSpec } from './tokenizer.js'
import { HF_SPLIT_PATTERNS } from './tokenizer_bpe.js'
import { tokenizerToGGUFMetadata } from './tokenizer_gguf.js'
import type { Tokenizer } from './types.js'

type Json = Record<string, unknown>

function fail(key: string, msg: string): never {
  throw new TsgradError(`tokenizerFromHF: ${key} ${msg}`)
}

const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v)

function obj(v: unknown, key: string): Json {
  if (!isObj(v))
    fail(key, `must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`)
  return v
}

/** The parts of a pre-tokenizer / normalizer (a 'Sequence' of them, or one). */
function parts(v: unknown, key: string, listKey: string): Json[] {
  if (v === null || v === undefined) return []
  const o = obj(v, key)
  if (o.type !== 'Sequence') return [o]
  const list = o[listKey]
  if (!Array.isArray(list)) fail(`${key}.${listKey}`, 'must be an array')
  return list.map((p, i) => obj(p, `${key}.${listKey}[${i}]`))
}

/** A special token's text from tokenizer_config (a string or an AddedToken object). */
function tokenText(v: unknown, key: string): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string') return v
  if (isObj(v) && typeof v.content === 'string') return v.content
  return fail(`tokenizer_config.${key}`, 'must be a string or { content }')
}

function specFromHF(json: unknown, config: unknown): TokenizerSpec {
  const tj = obj(json, 'tokenizer.json')
  const cfg = config === undefined ? {} : obj(config, 'tokenizer_config')
  const model = obj(tj.model, 'tokenizer.json model')
  if (model.type !== 'BPE')
    fail('tokenizer.json model.type', `is '${String(model.type)}'; only 'BPE' is supported`)
  const vocab = obj(model.vocab, 'tokenizer.json model.vocab')
  const mergesRaw = model.merges
  if (!Array.isArray(mergesRaw)) fail('tokenizer.json model.merges', 'must be an array')
  const merges = mergesRaw.map((m, i): string | readonly [string, string] => {
    if (typeof m === 'string') return m
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')
      return [m[0], m[1]]
    return fail(`tokenizer.json model.merges[${i}]`, "must be 'left right' or [left, right]")
  })
  const added = tj.added_tokens ?? []
  if (!Array.isArray(added)) fail('tokenizer.json added_tokens', 'must be an array')

  // the id space: vocabulary and added tokens; holes become unused [PADn] tokens as llama.cpp's converter makes them
  const tokens: (string | undefined)[] = []
  for (const text in vocab) {
    const id = vocab[text]
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 2 ** 24)
      fail(`tokenizer.json model.vocab['${text}']`, `is ${String(id)}, expected a token id`)
    tokens[id as number] = text
  }
  const addedList = added.map((a, i) => {
    const o = obj(a, `tokenizer.json added_tokens[${i}]`)
    if (
      typeof o.content !== 'string' ||
      !Number.isInteger(o.id) ||
      (o.id as number) < 0 ||
      (o.id as number) >= 2 ** 24
    )
      fail(`tokenizer.json added_tokens[${i}]`, 'needs a string content and an integer id')
    return { id: o.id as number, content: o.content, special: o.special === true }
  })
  for (const a of addedList) tokens[a.id] = a.content
  const n = tokens.length
  // a few unused ids are normal (padding to a round size); millions come from a corrupt file
  const given = Object.keys(vocab).length + addedList.length
  if (n > given + 65536)
    fail('tokenizer.json', `has token ids up to ${n - 1} for ${given} tokens (more than 65536 unused ids)`)
  const types = new Int32Array(n).fill(TOKEN_TYPE.NORMAL)
  for (let i = 0; i < n; i++)
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`
      types[i] = TOKEN_TYPE.UNUSED
    }
  // an added token overrides a vocabulary entry of the same text
  const idOfText = (text: string): number | undefined => {
    for (const a of addedList) if (a.content === text) return a.id
    const id = Object.hasOwn(vocab, text) ? (vocab[text] as number) : undefined
    return id !== undefined && tokens[id] === text ? id : undefined
  }
  const idOf = (text: string | undefined, key: string): number | undefined => {
    if (text === undefined) return undefined
    const id = idOfText(text)
    if (id === undefined) fail(key, `'${text}' is not in the vocabulary`)
    return id
  }
  const unk = idOf(
    typeof model.unk_token === 'string' ? model.unk_token : undefined,
    'tokenizer.json model.unk_token',
  )
  for (const a of addedList)
    types[a.id] = a.special
      ? a.id === unk
        ? TOKEN_TYPE.UNKNOWN
        : TOKEN_TYPE.CONTROL
      : TOKEN_TYPE.USER_DEFINED

  // which kind: a ByteLevel pre-tokenizer, or SentencePiece's '▁' normalizer / Metaspace
  const pres = parts(tj.pre_tokenizer, 'tokenizer.json pre_tokenizer', 'pretokenizers')
  const norms = parts(tj.normalizer, 'tokenizer.json normalizer', 'normalizers')
  const byteLevel = pres.find((p) => p.type === 'ByteLevel')
  let spec: Pick<TokenizerSpec, 'model' | 'pre' | 'addSpacePrefix'>
  if (byteLevel) {
    const split = pres.find((p) => p.type === 'Split')
    let pre: string
    if (split) {
      const pattern = isObj(split.pattern) ? split.pattern.Regex : undefined
      const known = Object.entries(HF_SPLIT_PATTERNS).find(([, p]) => p === pattern)
      if (!known)
        fail(
          'tokenizer.json pre_tokenizer',
          `has a Split pattern of no known family (${JSON.stringify(pattern)?.slice(0, 80)}); known: LLaMA-3, Qwen2`,
        )
      pre = known[0]
    } else if (byteLevel.use_regex !== false) pre = 'gpt-2'
    else fail('tokenizer.json pre_tokenizer', 'is ByteLevel without a split pattern')
    const other = pres.find((p) => p.type !== 'ByteLevel' && p.type !== 'Split')
    if (other) fail('tokenizer.json pre_tokenizer', `has an unsupported '${String(other.type)}' step`)
    // Qwen's NFC is part of the 'qwen2' pre-tokenizer (GGUF has no normalizer key)
    const norm = norms.find((p) => !(p.type === 'NFC' && pre === 'qwen2'))
    if (norm)
      fail(
        'tokenizer.json normalizer',
        `has an unsupported '${String(norm.type)}' step for pre-tokenizer '${pre}'`,
      )
    spec = { model: 'gpt2', pre, addSpacePrefix: false }
  } else {
    const prepend = norms.some((p) => p.type === 'Prepend' && p.prepend === '\u2581')
    const meta = pres.find((p) => p.type === 'Metaspace')
    // Metaspace with prepend_scheme 'first' puts the space only before the first text run;
    // like llama.cpp (add_space_prefix) we put it before every run
    const otherPre = pres.find((p) => p.type !== 'Metaspace')
    if (otherPre) fail('tokenizer.json pre_tokenizer', `has an unsupported '${String(otherPre.type)}' step`)
    if (meta && (meta.split === true || (meta.replacement !== undefined && meta.replacement !== '\u2581')))
      fail(
        'tokenizer.json pre_tokenizer',
        "is a Metaspace that splits words or does not use '▁' (unsupported)",
      )
    const spaceNorm = (p: Json): boolean =>
      (p.type === 'Prepend' && p.prepend === '\u2581') ||
      (p.type === 'Replace' && isObj(p.pattern) && p.pattern.String === ' ' && p.content === '\u2581')
    const norm = norms.find((p) => !spaceNorm(p))
    if (norm) fail('tokenizer.json normalizer', `has an unsupported '${String(norm.type)}' step`)
    const metaPrefix =
      meta !== undefined && meta.prepend_scheme !== 'never' && meta.add_prefix_space !== false
    if (!prepend && !meta && model.byte_fallback !== true)
      fail(
        'tokenizer.json',
        'is neither byte-level BPE (a ByteLevel pre-tokenizer) nor SentencePiece-style (byte_fallback, ▁ spaces)',
      )
    spec = { model: 'llama', pre: undefined, addSpacePrefix: prepend || metaPrefix }
    if (model.byte_fallback === true)
      for (let b = 0; b < 256; b++) {
        const id = idOfText(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
        if (id !== undefined && types[id] === TOKEN_TYPE.NORMAL) types[id] = TOKEN_TYPE.BYTE
      }
  }

  const post = isObj(tj.post_processor) ? tj.post_processor : undefined
  const postFirst =
    post?.type === 'TemplateProcessing' && Array.isArray(post.single) ? post.single[0] : undefined
  const postBos = isObj(postFirst) && isObj(postFirst.SpecialToken) ? postFirst.SpecialToken.id : undefined
  const bosText = tokenText(cfg.bos_token, 'bos_token') ?? (typeof postBos === 'string' ? postBos : undefined)
  const bos = idOf(bosText, 'tokenizer_config.bos_token')
  const addBosCfg = cfg.add_bos_token
  if (addBosCfg !== undefined && typeof addBosCfg !== 'boolean')
    fail('tokenizer_config.add_bos_token', 'must be a boolean')
  const addEosCfg = cfg.add_eos_token
  if (addEosCfg !== undefined && typeof addEosCfg !== 'boolean')
    fail('tokenizer_config.add_eos_token', 'must be a boolean')
  return {
    ...spec,
    tokens: tokens as string[],
    tokenTypes: types,
    scores: undefined,
    merges,
    bos,
    eos: idOf(tokenText(cfg.eos_token, 'eos_token'), 'tokenizer_config.eos_token'),
    eot: undefined,
    eom: undefined,
    unk,
    pad: idOf(tokenText(cfg.pad_token, 'pad_token'), 'tokenizer_config.pad_token'),
    // the post-processor decides where the config does not (LLaMA-2's template starts with <s>)
    addBos: addBosCfg ?? (bos !== undefined && postBos === bosText),
    addEos: addEosCfg ?? false,
  }
}

/** The tokenizer of a Hugging Face `tokenizer.json` (parsed JSON) and its `tokenizer_config.json`. */
export function tokenizerFromHF(tokenizerJson: unknown, tokenizerConfig?: unknown): Tokenizer {
  const spec = specFromHF(tokenizerJson, tokenizerConfig)
  try {
    return new TokenizerImpl(spec)
  } catch (e) {
    if (e instanceof TsgradError) throw new TsgradError(`tokenizerFromHF: ${e.message}`)
    throw e
  }
}

/** The chat template string of a tokenizer_config (a string, or the 'default' of a named list). */
export function hfChatTemplateText(tokenizerConfig: unknown): string | undefined {
  if (!isObj(tokenizerConfig)) return undefined
  const ct = tokenizerConfig.chat_template
  if (typeof ct === 'string') return ct
  if (Array.isArray(ct)) {
    const d = ct.find((t) => isObj(t) && t.name === 'default')
    if (isObj(d) && typeof d.template === 'string') return d.template
  }
  return undefined
}

/**
 * GGUF tokenizer metadata (`tokenizer.ggml.*` and `tokenizer.chat_template`) for a Hugging Face
 * tokenizer, as llama.cpp's converter writes it: embed it in a GGUF with `ggufSave`.
 */
export function ggufTokenizerMetadataFromHF(
  tokenizerJson: unknown,
  tokenizerConfig?: unknown,
): Record<string, GGUFValue> {
  const md = tokenizerToGGUFMetadata(tokenizerFromHF(tokenizerJson, tokenizerConfig))
  const ct = hfChatTemplateText(tokenizerConfig)
  if (ct !== undefined) md['tokenizer.chat_template'] = ct
  return md
}
