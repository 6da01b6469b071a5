// A byte-level BPE tokenizer written as Hugging Face's `tokenizer.json` + `tokenizer_config.json`
// (the layout of LLaMA-3's and Qwen's files: a Split regex then ByteLevel, a BPE model with its
// merges, special tokens as added tokens). `tokenizerFromHF` reads the
// pair back to a tokenizer that encodes and decodes the same.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { TOKEN_TYPE, TokenizerImpl } from './tokenizer.js'
import { HF_SPLIT_PATTERNS, PRE_TOKENIZERS, preTokenizer } from './tokenizer_bpe.js'
import type { Tokenizer } from './types.js'

export interface TokenizerToHFOptions {
  /** a Jinja chat template for tokenizer_config.json */
  chatTemplate?: string
  /** tokenizer_config's model_max_length (the model's context length) */
  modelMaxLength?: number
}
const OPTS: KeySet<TokenizerToHFOptions> = { chatTemplate: true, modelMaxLength: true }

type Json = Record<string, unknown>

/** tokenizer.json and tokenizer_config.json (as objects, for JSON.stringify) of a byte-level BPE tokenizer. */
export function tokenizerToHF(
  tok: Tokenizer,
  opts: TokenizerToHFOptions = {},
): { tokenizerJson: Json; tokenizerConfig: Json } {
  checkOptions('tokenizerToHF', opts, OPTS)
  if (!(tok instanceof TokenizerImpl))
    throw new TsgradError(
      'tokenizerToHF: expected a tokenizer made by trainBPE, tokenizerFromGGUF or tokenizerFromHF',
    )
  const s = tok.spec
  if (s.model !== 'gpt2')
    throw new TsgradError(
      `tokenizerToHF: only byte-level BPE tokenizers (kind 'bpe') can be written, this one is '${tok.kind}'`,
    )
  if (opts.chatTemplate !== undefined && typeof opts.chatTemplate !== 'string')
    throw new TsgradError(`tokenizerToHF: chatTemplate must be a string, got ${typeof opts.chatTemplate}`)
  const pre = canonicalPre(s.pre ?? 'default')

  const vocab: Json = {}
  const added: Json[] = []
  const addedDecoder: Json = {}
  for (let id = 0; id < s.tokens.length; id++) {
    const text = s.tokens[id]!
    const type = s.tokenTypes[id]
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.UNKNOWN || type === TOKEN_TYPE.USER_DEFINED) {
      const special = type !== TOKEN_TYPE.USER_DEFINED
      const flags = { single_word: false, lstrip: false, rstrip: false, normalized: !special, special }
      added.push({ id, content: text, ...flags })
      addedDecoder[String(id)] = { content: text, ...flags }
    } else vocab[text] = id
  }
  // 'left right' strings as LLaMA-3's file has them (every tokenizers version reads those); the
  // newer [left, right] pairs only where a part holds a space
  const merges = (s.merges ?? []).map((m) => {
    if (typeof m === 'string') return m
    return m[0].includes(' ') || m[1].includes(' ') ? [m[0], m[1]] : `${m[0]} ${m[1]}`
  })
  const byteLevel = (useRegex: boolean): Json => ({
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: useRegex,
  })
  const preTok =
    pre === 'gpt-2'
      ? byteLevel(true)
      : {
          type: 'Sequence',
          pretokenizers: [
            {
              type: 'Split',
              pattern: { Regex: HF_SPLIT_PATTERNS[pre] },
              behavior: 'Isolated',
              invert: false,
            },
            byteLevel(false),
          ],
        }
  const text = (id: number | undefined): string | undefined => (id === undefined ? undefined : s.tokens[id])
  const bos = text(s.bos)
  const eos = text(s.eos)
  const template = (seq: Json[]): Json[] => [
    ...(s.addBos && bos !== undefined ? [{ SpecialToken: { id: bos, type_id: 0 } }] : []),
    ...seq,
    ...(s.addEos && eos !== undefined ? [{ SpecialToken: { id: eos, type_id: 0 } }] : []),
  ]
  const specialsUsed = [s.addBos ? s.bos : undefined, s.addEos ? s.eos : undefined].filter(
    (id): id is number => id !== undefined,
  )
  const post =
    specialsUsed.length > 0
      ? {
          type: 'TemplateProcessing',
          single: template([{ Sequence: { id: 'A', type_id: 0 } }]),
          pair: template([{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }]),
          special_tokens: Object.fromEntries(
            specialsUsed.map((id) => [s.tokens[id], { id: s.tokens[id], ids: [id], tokens: [s.tokens[id]] }]),
          ),
        }
      : { ...byteLevel(true), trim_offsets: false }
  const tokenizerJson: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: PRE_TOKENIZERS[pre]!.nfc ? { type: 'NFC' } : null,
    pre_tokenizer: preTok,
    post_processor: post,
    decoder: byteLevel(true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: text(s.unk) ?? null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: PRE_TOKENIZERS[pre]!.ignoreMerges,
      vocab,
      merges,
    },
  }
  const tokenizerConfig: Json = {
    add_bos_token: s.addBos,
    add_eos_token: s.addEos,
    added_tokens_decoder: addedDecoder,
    ...(bos !== undefined && { bos_token: bos }),
    ...(eos !== undefined && { eos_token: eos }),
    ...(s.unk !== undefined && { unk_token: text(s.unk) }),
    ...(s.pad !== undefined && { pad_token: text(s.pad) }),
    clean_up_tokenization_spaces: false,
    ...(opts.modelMaxLength !== undefined && { model_max_length: opts.modelMaxLength }),
    tokenizer_class: 'PreTrainedTokenizerFast',
    ...(opts.chatTemplate !== undefined && { chat_template: opts.chatTemplate }),
  }
  return { tokenizerJson, tokenizerConfig }
}

/** The pre-tokenizer's name among those tokenizer.json can express (aliases resolved). */
function canonicalPre(name: string): 'llama-bpe' | 'qwen2' | 'gpt-2' {
  const entry = preTokenizer(name)
  for (const canon of ['llama-bpe', 'qwen2', 'gpt-2'] as const)
    if (entry !== undefined && entry === PRE_TOKENIZERS[canon]) return canon
  // 'default' is GPT-2's pattern
  if (entry !== undefined && entry.pattern === PRE_TOKENIZERS['gpt-2']!.pattern && !entry.nfc) return 'gpt-2'
  throw new TsgradError(
    `tokenizerToHF: the pre-tokenizer '${name}' has no tokenizer.json form here (known: llama-bpe, qwen2, gpt-2)`,
  )
}
