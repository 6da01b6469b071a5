// A tiny byte-level BPE vocabulary in GGUF metadata form (256 byte tokens, a few merges, special
// tokens), for tests that need a tokenizer without loading a real vocabulary.
import type { GGUFValue } from '../../src/nn/gguf.ts'
import { BYTE_CHARS } from '../../src/llm/tokenizer_bpe.ts'

export const TINY_MERGES = ['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ a', 'Ġa n', 'Ġan d', '1 2']

export function tinyByteLevelMetadata(): Record<string, GGUFValue> {
  const tokens = [
    ...BYTE_CHARS,
    ...TINY_MERGES.map((m) => m.replace(' ', '')),
    '<|begin_of_text|>',
    '<|eot_id|>',
    '<tool>',
  ]
  const types = tokens.map((_, i) => (i < tokens.length - 3 ? 1 : i < tokens.length - 1 ? 3 : 4))
  return {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': 'llama-bpe',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': Int32Array.from(types),
    'tokenizer.ggml.merges': [...TINY_MERGES],
    'tokenizer.ggml.bos_token_id': tokens.length - 3,
    'tokenizer.ggml.eos_token_id': tokens.length - 2,
    'tokenizer.ggml.add_bos_token': true,
  }
}

/** A tiny SentencePiece vocabulary: <unk>, <s>, </s>, 256 byte tokens, characters and merges with scores. */
export function tinySpmMetadata(): Record<string, GGUFValue> {
  const tokens = ['<unk>', '<s>', '</s>']
  const types = [2, 3, 3]
  const scores = [0, 0, 0]
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
    types.push(6)
    scores.push(0)
  }
  const pieces = [
    '▁',
    'a',
    'b',
    'c',
    'h',
    'e',
    'l',
    'o',
    't',
    '▁t',
    'he',
    '▁the',
    'll',
    'ell',
    'hell',
    'hello',
    '▁hello',
    'ab',
    'abc',
  ]
  pieces.forEach((p, i) => {
    tokens.push(p)
    types.push(1)
    scores.push(p.length === 1 ? -100 - i : -i)
  })
  return {
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': Int32Array.from(types),
    'tokenizer.ggml.scores': Float32Array.from(scores),
    'tokenizer.ggml.bos_token_id': 1,
    'tokenizer.ggml.eos_token_id': 2,
    'tokenizer.ggml.unknown_token_id': 0,
  }
}

/** The same tiny byte-level vocabulary as a Hugging Face tokenizer.json + tokenizer_config. */
export function tinyHFTokenizer(): { json: Record<string, unknown>; config: Record<string, unknown> } {
  const md = tinyByteLevelMetadata()
  const tokens = md['tokenizer.ggml.tokens'] as string[]
  const vocab: Record<string, number> = {}
  tokens.slice(0, -3).forEach((t, i) => {
    vocab[t] = i
  })
  const added = tokens.slice(-3).map((content, k) => ({ id: tokens.length - 3 + k, content, special: k < 2 }))
  return {
    json: {
      model: { type: 'BPE', vocab, merges: [...TINY_MERGES], ignore_merges: true },
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          {
            type: 'Split',
            pattern: {
              Regex:
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            },
            behavior: 'Isolated',
          },
          { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
        ],
      },
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>' } }] },
    },
    config: { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', add_bos_token: true },
  }
}
