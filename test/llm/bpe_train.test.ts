// trainBPE against the independent reference trainer of scripts/gen_bpe_train_fixtures.py
// (test/fixtures/bpe_train.json): the same merges in the same order, the same vocabulary, the same
// encodings; round trips of arbitrary UTF-8; the GGUF metadata of a trained tokenizer; bad input;
// tokenizerToHF read back by tokenizerFromHF.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { TsgradError } from '../../src/index.ts'
import { trainBPE } from '../../src/llm/bpe_train.ts'
import { tokenizerFromGGUF, tokenizerToGGUFMetadata } from '../../src/llm/tokenizer_gguf.ts'
import { tokenizerFromHF } from '../../src/llm/tokenizer_hf.ts'
import { tokenizerToHF } from '../../src/llm/tokenizer_hf_write.ts'
import type { Tokenizer } from '../../src/llm/types.ts'
import { lenmlFiles, randomCorpus, rng } from './tokenizer_corpus.ts'

interface Case {
  name: string
  pretokenizer: 'llama3' | 'gpt2'
  vocabSize: number
  tokens: string[]
  merges: string[]
  encodings: number[][]
}
const FIX = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'bpe_train.json'), 'utf8'),
) as { corpus: string[]; specials: string[]; encodeTexts: string[]; cases: Case[] }

const merges = (tok: Tokenizer): string[] => tokenizerToGGUFMetadata(tok)['tokenizer.ggml.merges'] as string[]
const tokens = (tok: Tokenizer): string[] => tokenizerToGGUFMetadata(tok)['tokenizer.ggml.tokens'] as string[]

/** random strings of every kind of code point: ASCII, Latin-1, CJK, astral (emoji), combining marks, whitespace */
function randomUnicode(seed: number, count: number): string[] {
  const r = rng(seed)
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0x09, 0x0d],
    [0xa0, 0x17f],
    [0x300, 0x36f],
    [0x4e00, 0x4fff],
    [0x1f300, 0x1f64f],
    [0x10000, 0x10ffff],
    [0x2000, 0x206f],
  ]
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    let s = ''
    const n = Math.floor(r() * 40)
    for (let j = 0; j < n; j++) {
      const [lo, hi] = ranges[Math.floor(r() * ranges.length)]!
      let cp = lo + Math.floor(r() * (hi - lo + 1))
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41
      s += String.fromCodePoint(cp)
    }
    out.push(s)
  }
  return out
}

for (const c of FIX.cases) {
  test(`trainBPE ${c.name}: merges, vocabulary and encodings equal the reference trainer's`, () => {
    const tok = trainBPE(FIX.corpus, { vocabSize: c.vocabSize, pretokenizer: c.pretokenizer })
    assert.deepEqual(merges(tok), c.merges)
    assert.deepEqual(tokens(tok), c.tokens)
    assert.equal(tok.vocabSize, c.tokens.length)
    assert.equal(tok.bos, tok.tokenId('<|begin_of_text|>'))
    assert.equal(tok.eos, tok.tokenId('<|end_of_text|>'))
    assert.equal(tok.bos, c.tokens.length - 2)
    assert.ok(tok.stopIds.has(tok.eos!))
    for (const [i, text] of FIX.encodeTexts.entries())
      assert.deepEqual(tok.encode(text, { addBos: false }), c.encodings[i], `encode ${JSON.stringify(text)}`)
  })
}

test('trainBPE: encode/decode round-trips arbitrary UTF-8 (unseen bytes included), and GGUF metadata round-trips', () => {
  for (const pretokenizer of ['llama3', 'gpt2'] as const) {
    const tok = trainBPE(FIX.corpus, { vocabSize: 400, pretokenizer })
    const back = tokenizerFromGGUF(tokenizerToGGUFMetadata(tok))
    const texts = [...randomUnicode(7, 200), ...randomCorpus(3, 100, [], false), ...FIX.encodeTexts]
    for (const text of texts) {
      const ids = tok.encode(text, { parseSpecial: false })
      assert.equal(tok.decode(ids, { skipSpecial: false }), text, `round trip of ${JSON.stringify(text)}`)
      assert.deepEqual(back.encode(text), tok.encode(text), `GGUF tokenizer on ${JSON.stringify(text)}`)
    }
  }
})

test('trainBPE: deterministic, learns no merge across special-token text, stops early on a tiny corpus', () => {
  const a = trainBPE(FIX.corpus, { vocabSize: 380 })
  const b = trainBPE([...FIX.corpus].reverse(), { vocabSize: 380 })
  assert.deepEqual(merges(a), merges(b))
  // special tokens are cut out: '>She' (after <|end_of_text|>) never forms a merge with '>'
  const tok = trainBPE(['x<|end_of_text|>x<|end_of_text|>x<|end_of_text|>'], { vocabSize: 300 })
  assert.deepEqual(merges(tok), [])
  assert.equal(tok.vocabSize, 258)
  const tiny = trainBPE(['abab abab'], { vocabSize: 1000, specialTokens: ['<s>', '</s>', '<pad>'] })
  assert.equal(tiny.vocabSize, 256 + merges(tiny).length + 3)
  assert.equal(tiny.bos, tiny.tokenId('<s>'))
  assert.equal(tiny.eos, tiny.tokenId('</s>'))
  assert.deepEqual(tiny.encode('abab<pad>'), [tiny.tokenId('abab')!, tiny.tokenId('<pad>')!])
  // no special tokens at all: no BOS/EOS
  const plain = trainBPE(['hello hello'], { vocabSize: 260, specialTokens: [] })
  assert.equal(plain.bos, undefined)
  assert.equal(plain.eos, undefined)
  assert.equal(trainBPE(['hi'], { vocabSize: 300, addBos: true }).encode('hi')[0], 256 + 1)
})

test('trainBPE: bad input is a TsgradError naming the problem', () => {
  const bad: [() => unknown, RegExp][] = [
    [() => trainBPE(['a'], { vocabSize: 200 }), /vocabSize must be an integer from 258/],
    [() => trainBPE(['a'], { vocabSize: 300.5 }), /vocabSize/],
    [() => trainBPE(['a'], { vocabSize: 300, specialTokens: ['<s>', '<s>'] }), /duplicate/],
    [() => trainBPE(['a'], { vocabSize: 300, specialTokens: [''] }), /non-empty strings/],
    [() => trainBPE(['a', 3 as unknown as string], { vocabSize: 300 }), /texts\[1\] is number/],
    [() => trainBPE(5 as unknown as string[], { vocabSize: 300 }), /iterable of strings/],
    [() => trainBPE('some text', { vocabSize: 300 }), /got one string \(put it in an array\)/],
    [() => trainBPE(['a'], { vocabSize: 300, pretokenizer: 'bert' as 'gpt2' }), /pretokenizer must be/],
    [() => trainBPE(['a'], { vocabSize: 300, vocab_size: 3 } as never), /unknown option 'vocab_size'/],
    [() => trainBPE(['a'], undefined as never), /expected options/],
  ]
  for (const [f, re] of bad) assert.throws(f, (e: unknown) => e instanceof TsgradError && re.test(e.message))
})

test('tokenizerToHF: tokenizerFromHF reads the files back to the same encodings (trained, LLaMA-3 and Qwen3 tokenizers)', () => {
  const texts = [
    ...randomUnicode(11, 60),
    ...randomCorpus(5, 60, ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|im_start|>'], false),
    ...FIX.encodeTexts,
  ]
  const tokenizers: [string, Tokenizer][] = [
    ['trained llama3', trainBPE(FIX.corpus, { vocabSize: 400, addBos: true })],
    ['trained gpt2', trainBPE(FIX.corpus, { vocabSize: 400, pretokenizer: 'gpt2' })],
    ['LLaMA-3', tokenizerFromHF(lenmlFiles('llama3').json, lenmlFiles('llama3').config)],
    ['Qwen3', tokenizerFromHF(lenmlFiles('qwen3').json, lenmlFiles('qwen3').config)],
  ]
  for (const [name, tok] of tokenizers) {
    const { tokenizerJson, tokenizerConfig } = tokenizerToHF(tok, { chatTemplate: '{{ bos_token }}' })
    // through JSON text, as the files are read
    const back = tokenizerFromHF(
      JSON.parse(JSON.stringify(tokenizerJson)),
      JSON.parse(JSON.stringify(tokenizerConfig)),
    )
    assert.equal(back.vocabSize, tok.vocabSize, name)
    assert.equal(back.bos, tok.bos, name)
    assert.equal(back.eos, tok.eos, name)
    assert.equal(back.addBos, tok.addBos, name)
    assert.deepEqual([...back.stopIds].sort(), [...tok.stopIds].sort(), name)
    assert.equal(tokenizerConfig.chat_template, '{{ bos_token }}')
    for (const text of texts) {
      const ids = tok.encode(text)
      assert.deepEqual(back.encode(text), ids, `${name}: ${JSON.stringify(text)}`)
      assert.equal(back.decode(ids, { skipSpecial: false }), tok.decode(ids, { skipSpecial: false }))
    }
  }
  assert.equal(tokenizers[0]![1].addBos, true)
  assert.throws(
    () => tokenizerToHF(tokenizerFromHF(lenmlFiles('llama2').json, lenmlFiles('llama2').config)),
    (e: unknown) => e instanceof TsgradError && /only byte-level BPE/.test(e.message),
  )
  assert.throws(() => tokenizerToHF({} as Tokenizer), /expected a tokenizer made by trainBPE/)
})

test('tokenizerToHF: transformers.js (@lenml/tokenizers, an independent tokenizer.json implementation) encodes as the trained tokenizer', async () => {
  const { TokenizerLoader } = await import('@lenml/tokenizers')
  const texts = [
    ...FIX.encodeTexts,
    ...randomCorpus(13, 150, ['<|begin_of_text|>', '<|end_of_text|>'], false),
    ...randomUnicode(17, 50),
  ]
  for (const [pretokenizer, addBos] of [
    ['llama3', true],
    ['gpt2', false],
  ] as const) {
    const tok = trainBPE(FIX.corpus, { vocabSize: 400, pretokenizer, addBos })
    const { tokenizerJson, tokenizerConfig } = tokenizerToHF(tok)
    const ref = TokenizerLoader.fromPreTrained({
      tokenizerJSON: JSON.parse(JSON.stringify(tokenizerJson)),
      tokenizerConfig: JSON.parse(JSON.stringify(tokenizerConfig)),
    })
    for (const text of texts) {
      const ids = tok.encode(text)
      assert.deepEqual(Array.from(ref.encode(text)), ids, `${pretokenizer}: ${JSON.stringify(text)}`)
      if (ids.length > 0)
        assert.equal(ref.decode(ids, { skip_special_tokens: false }), tok.decode(ids, { skipSpecial: false }))
    }
  }
})
