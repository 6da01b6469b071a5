// The tokenizer's own behaviour: streaming decode, options, special tokens, stop ids, bad input,
// speed; and tokenizerFromGGUF on corrupted metadata (TsgradError naming the key, never a crash).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TsgradError } from '../../src/index.ts'
import { tokenizerFromGGUF, tokenizerToGGUFMetadata } from '../../src/llm/tokenizer_gguf.ts'
import { tokenizerFromHF } from '../../src/llm/tokenizer_hf.ts'
import type { Tokenizer } from '../../src/llm/types.ts'
import type { GGUFValue } from '../../src/nn/gguf.ts'
import { lenmlFiles, randomCorpus, rng } from './tokenizer_corpus.ts'
import { cpuMs } from '../cpu_time.ts'
import { tinyByteLevelMetadata, tinyHFTokenizer, tinySpmMetadata } from './tokenizer_tiny.ts'

const hf = (f: 'llama3' | 'qwen3' | 'llama2'): Tokenizer => {
  const { json, config } = lenmlFiles(f)
  return tokenizerFromHF(json, config)
}
const llama3 = hf('llama3')
const llama2 = hf('llama2')

function streamPieces(tok: Tokenizer, ids: readonly number[], opts?: { skipSpecial?: boolean }): string[] {
  const s = tok.streamDecoder(opts)
  const pieces = ids.map((id) => s.push(id))
  pieces.push(s.flush())
  return pieces
}

const BROKEN = /\p{Cs}|\uFFFD/u

test('streamDecoder: pieces join to decode(all) and never split a character (emoji and CJK in byte tokens)', () => {
  const texts = [
    '😀👍🏽👨‍👩‍👧‍👦 🦙🦙 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 東京タワー 你好',
    '한국어 ✨🔥 naïve',
    ...randomCorpus(3, 200, [], false),
  ]
  for (const tok of [llama3, llama2]) {
    let splitChars = 0
    for (const text of texts) {
      const ids = tok.encode(text, { addBos: false })
      const pieces = streamPieces(tok, ids)
      assert.equal(pieces.join(''), tok.decode(ids), `stream of ${JSON.stringify(text)}`)
      assert.equal(pieces.join(''), text)
      for (const p of pieces)
        assert.ok(!BROKEN.test(p), `piece ${JSON.stringify(p)} of ${JSON.stringify(text)}`)
      splitChars += pieces.filter((p) => p === '').length
    }
    // the corpus really has characters spread over several tokens (byte tokens held back)
    assert.ok(splitChars > 20, `${tok.kind}: ${splitChars} held-back pieces`)
  }
  // LLaMA-2 spells a character it has no token for with <0xNN> byte tokens
  const ids = llama2.encode('𝔘', { addBos: false })
  assert.ok(ids.length >= 4)
  assert.deepEqual(
    streamPieces(llama2, ids).filter((p) => p !== ''),
    ['𝔘'],
  )
})

test('streamDecoder: random ids (invalid UTF-8 included) stream to exactly decode(all)', () => {
  const r = rng(9)
  for (const tok of [llama3, llama2]) {
    for (let k = 0; k < 200; k++) {
      // byte tokens and the ids of multi-byte pieces, so sequences are often cut mid-character
      const ids = Array.from({ length: 1 + Math.floor(r() * 12) }, () =>
        tok.kind === 'spm' ? 3 + Math.floor(r() * 256) : Math.floor(r() * tok.vocabSize),
      )
      const pieces = streamPieces(tok, ids, { skipSpecial: false })
      assert.equal(pieces.join(''), tok.decode(ids, { skipSpecial: false }))
      for (const p of pieces) assert.ok(!/\p{Cs}/u.test(p))
    }
  }
  // an incomplete character at the end comes out of flush as U+FFFD
  const s = llama2.streamDecoder()
  assert.equal(s.push(3 + 0xf0), '')
  assert.equal(s.push(3 + 0x9f), '')
  assert.equal(s.flush(), '\uFFFD')
})

test('tokenizer options: addBos, parseSpecial, skipSpecial, stripPrefixSpace', () => {
  const bos = llama2.bos as number
  assert.equal(llama2.addBos, true)
  assert.equal(llama2.encode('hi')[0], bos)
  assert.notEqual(llama2.encode('hi', { addBos: false })[0], bos)
  assert.equal(llama3.addBos, false) // this tokenizer.json's post-processor adds no BOS
  assert.equal(llama3.encode('hi', { addBos: true })[0], 128000)
  // special-token text: one token, or plain text when parseSpecial is false
  const eot = llama3.tokenId('<|eot_id|>') as number
  assert.deepEqual(llama3.encode('<|eot_id|>'), [eot])
  const plain = llama3.encode('<|eot_id|>', { parseSpecial: false })
  assert.ok(plain.length > 1 && !plain.includes(eot))
  assert.equal(llama3.decode(plain), '<|eot_id|>')
  assert.equal(llama3.decode([eot, ...llama3.encode('ok')]), 'ok')
  assert.equal(llama3.decode([eot, ...llama3.encode('ok')], { skipSpecial: false }), '<|eot_id|>ok')
  // SentencePiece: the space encode puts first is dropped, unless decoding a continuation
  const ids = llama2.encode('Hello world', { addBos: false })
  assert.equal(llama2.decode(ids), 'Hello world')
  assert.equal(llama2.decode(ids.slice(1)), 'world')
  assert.equal(llama2.decode(ids.slice(1), { stripPrefixSpace: false }), ' world')
  assert.equal(streamPieces(llama2, ids.slice(1)).join(''), 'world')
  const s = llama2.streamDecoder({ stripPrefixSpace: false })
  assert.equal(s.push(ids[1]) + s.flush(), ' world')
  for (const bad of [{ addBOS: true }, { parse_special: false }])
    assert.throws(() => llama3.encode('x', bad as never), TsgradError)
  assert.throws(() => llama3.decode([1], { skip: true } as never), /unknown option 'skip'/)
})

test('tokenizer stop ids and special ids', () => {
  assert.deepEqual([...llama3.stopIds].sort(), [128001, 128009])
  const qwen = hf('qwen3')
  assert.equal(qwen.bos, undefined)
  assert.equal(qwen.eos, qwen.tokenId('<|im_end|>'))
  assert.ok(qwen.stopIds.has(qwen.tokenId('<|endoftext|>') as number))
  assert.deepEqual([...llama2.stopIds], [2])
  assert.throws(() => qwen.encode('x', { addBos: true }), /no BOS token/)
  // a non-special added token (<think>) is matched even when special tokens are not parsed
  const think = qwen.tokenId('<think>') as number
  assert.deepEqual(qwen.encode('<think>', { parseSpecial: false }), [think])
  assert.equal(qwen.decode([think]), '<think>')
})

test('tokenizer bad input: TsgradErrors naming what is wrong', () => {
  assert.throws(() => llama3.encode(42 as never), /expected a string, got number/)
  assert.throws(() => llama3.decode([llama3.vocabSize]), /token id 128256 is outside the vocabulary/)
  assert.throws(() => llama3.decode([-1]), /outside the vocabulary/)
  assert.throws(() => llama3.decode([1.5]), /outside the vocabulary/)
  assert.throws(() => llama3.decode('abc' as never), /expected an array of token ids/)
  assert.throws(() => tokenizerFromHF(null), /tokenizer.json must be an object/)
  assert.throws(() => tokenizerFromHF({ model: { type: 'Unigram' } }), /only 'BPE' is supported/)
  const { json } = lenmlFiles('llama2') as { json: { model: Record<string, unknown> } }
  assert.throws(
    () => tokenizerFromHF({ ...json, model: { ...json.model, merges: ['▁zz'] } }),
    /merges\[0\] = '▁zz' is not 'left right'/,
  )
  assert.throws(
    () => tokenizerFromHF({ ...json, model: { ...json.model, merges: ['▁ a', 'a ▁'] } }).encode('a a'),
    /merges\[1\] = 'a ▁': 'a▁' is not in the vocabulary/,
  )
  assert.throws(
    () => tokenizerFromHF(json, { bos_token: '<nope>' }),
    /bos_token '<nope>' is not in the vocabulary/,
  )
})

test('tokenizerFromHF: the Metaspace form of a SentencePiece tokenizer.json; unsupported steps are errors', () => {
  const { json, config } = lenmlFiles('llama2') as {
    json: Record<string, unknown>
    config: Record<string, unknown>
  }
  // what transformers' LlamaConverter writes with legacy=False
  const metaspace = {
    ...json,
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
  }
  const tok = tokenizerFromHF(metaspace, config)
  for (const text of randomCorpus(8, 100, [], true))
    assert.deepEqual(tok.encode(text), llama2.encode(text), text)
  assert.throws(
    () =>
      tokenizerFromHF(
        { ...metaspace, pre_tokenizer: { type: 'Metaspace', replacement: '▁', split: true } },
        config,
      ),
    /Metaspace that splits words/,
  )
  assert.throws(
    () => tokenizerFromHF({ ...json, normalizer: { type: 'NFKC' } }, config),
    /unsupported 'NFKC' step/,
  )
  const l3 = lenmlFiles('llama3') as { json: Record<string, unknown> }
  assert.throws(
    () => tokenizerFromHF({ ...l3.json, normalizer: { type: 'NFC' } }),
    /unsupported 'NFC' step for pre-tokenizer 'llama-bpe'/,
  )
  assert.throws(
    () =>
      tokenizerFromHF({
        ...l3.json,
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [{ type: 'Split', pattern: { Regex: '\\w+' } }, { type: 'ByteLevel' }],
        },
      }),
    /Split pattern of no known family/,
  )
})

// Guards against quadratic encoding, not a speed target: a bound ~10x a quiet run's CPU time.
test('tokenizer complexity: 100 KB of mixed text and a 100 KB word encode in seconds, not minutes', () => {
  const text = randomCorpus(11, 2500, ['<|eot_id|>'], false).join('\n').slice(0, 120_000)
  assert.ok(text.length > 100_000)
  for (const tok of [llama3, llama2]) {
    let ids: number[] = []
    const ms = cpuMs(() => {
      ids = tok.encode(text)
    })
    console.log(`# ${tok.kind}: ${text.length} chars -> ${ids.length} tokens in ${ms.toFixed(0)} ms CPU`)
    assert.ok(ms < 3000, `${ms} ms`)
    // a single 100 KB "word" (spaces): the merge loop is O(n log n)
    const wordMs = cpuMs(() => tok.encode(' '.repeat(100_000)))
    assert.ok(wordMs < 3000, `${wordMs} ms`)
  }
})

test('tiny vocabularies from GGUF metadata: byte-level and SentencePiece with scores', () => {
  const bpe = tokenizerFromGGUF(tinyByteLevelMetadata())
  const ids = bpe.encode('the and 123 in<|eot_id|><tool>')
  assert.equal(ids[0], bpe.bos)
  assert.deepEqual(ids.slice(1, 4), [bpe.tokenId('t'), bpe.tokenId('he'), bpe.tokenId('Ġand')])
  assert.equal(bpe.decode(ids), 'the and 123 in<tool>')
  assert.ok(bpe.stopIds.has(bpe.tokenId('<|eot_id|>') as number))
  const spm = tokenizerFromGGUF(tinySpmMetadata())
  // scores decide: '▁hello' (highest among the merges it can reach), byte fallback for 'z'
  assert.deepEqual(spm.encode('hello z', { addBos: false }), [
    spm.tokenId('▁hello'),
    spm.tokenId('▁'),
    spm.tokenId('<0x7A>'),
  ])
  assert.equal(spm.decode(spm.encode('hello zab the')), 'hello zab the')
  // and back to metadata
  const again = tokenizerFromGGUF(tokenizerToGGUFMetadata(spm))
  assert.deepEqual(again.encode('abc the hello'), spm.encode('abc the hello'))
})

/** Each mutation of valid metadata: a TsgradError (naming a tokenizer key) or a working tokenizer. */
test('tokenizerFromGGUF: corrupted metadata is a TsgradError, never a crash', () => {
  const r = rng(123)
  const bases = [tinyByteLevelMetadata(), tinySpmMetadata()]
  const junk: GGUFValue[] = [
    7,
    -1,
    1e9,
    2.5,
    'x',
    '',
    true,
    [],
    ['a'],
    [1, 2],
    new Int32Array([99, -5]),
    new Float32Array([Number.NaN]),
    [['nested']],
    7n,
  ]
  let errors = 0
  let ok = 0
  for (let k = 0; k < 1500; k++) {
    const base = bases[k % 2]
    const md: Record<string, GGUFValue> = { ...base }
    const keys = Object.keys(md)
    const key = keys[Math.floor(r() * keys.length)]
    const what = r()
    if (what < 0.25) delete md[key]
    else if (what < 0.6) md[key] = junk[Math.floor(r() * junk.length)]
    else if (what < 0.8) {
      const v = md[key]
      if (Array.isArray(v) || ArrayBuffer.isView(v)) {
        const a = Array.from(v as ArrayLike<GGUFValue>)
        const i = Math.floor(r() * a.length)
        if (r() < 0.5) a.splice(i, 1)
        else a[i] = junk[Math.floor(r() * junk.length)]
        md[key] = a as GGUFValue
      } else md[key] = junk[Math.floor(r() * junk.length)]
    } else {
      // an id just outside the vocabulary, or a merge/token made inconsistent
      const n = (base['tokenizer.ggml.tokens'] as string[]).length
      if (r() < 0.5) md['tokenizer.ggml.eos_token_id'] = n
      else md['tokenizer.ggml.merges'] = ['Ġ q', 'zz yy', 'nospace']
    }
    try {
      const tok = tokenizerFromGGUF(md)
      tok.decode(tok.encode('the hello <|eot_id|> 😀'))
      ok++
    } catch (e) {
      assert.ok(e instanceof TsgradError, `mutation ${k} of '${key}': ${String(e)}`)
      assert.match(e.message, /tokenizer/)
      errors++
    }
  }
  assert.ok(errors > 500 && ok > 50, `${errors} errors, ${ok} ok`)
  assert.throws(() => tokenizerFromGGUF({}), /'tokenizer.ggml.model' is missing/)
  assert.throws(
    () => tokenizerFromGGUF({ ...tinySpmMetadata(), 'tokenizer.ggml.model': 'bert' }),
    /supported: 'gpt2'/,
  )
  const md = tinySpmMetadata()
  assert.throws(
    () => tokenizerFromGGUF({ ...md, 'tokenizer.ggml.scores': new Float32Array(3) }),
    /'tokenizer.ggml.scores' has 3 entries for 278 tokens/,
  )
  assert.throws(
    () => tokenizerFromGGUF({ ...md, 'tokenizer.ggml.bos_token_id': 9999 }),
    /'tokenizer.ggml.bos_token_id' is 9999, outside/,
  )
  // llama.cpp's other names for the same pre-tokenizers
  const tiny = tinyByteLevelMetadata()
  const { 'tokenizer.ggml.add_bos_token': _, ...noAddBos } = tiny
  for (const pre of ['llama3', 'llama-v3', 'falcon3'])
    assert.deepEqual(
      tokenizerFromGGUF({ ...noAddBos, 'tokenizer.ggml.pre': pre }).encode('the 1234'),
      tokenizerFromGGUF(tiny).encode('the 1234'),
    )
  assert.equal(tokenizerFromGGUF({ ...noAddBos, 'tokenizer.ggml.pre': 'deepseek-r1-qwen' }).addBos, false)
  assert.throws(
    () => tokenizerFromGGUF({ ...tinyByteLevelMetadata(), 'tokenizer.ggml.pre': 'falcon' }),
    /unknown pre-tokenizer 'falcon'/,
  )
  assert.throws(
    () => tokenizerFromGGUF({ ...tinyByteLevelMetadata(), 'tokenizer.ggml.merges': ['Ġ q'] }).encode(' q'),
    /merges\[0\] = 'Ġ q': 'Ġq' is not in the vocabulary/,
  )
})

test('special tokens with regex syntax characters in their text are matched literally', () => {
  const md = tinyByteLevelMetadata()
  const specials = ['<|fim-prefix|>', '[MASK]', '(.*)', 'a\\b', '{x}', '$^', 'a|b', '<-->', '/x/']
  const tokens = [...(md['tokenizer.ggml.tokens'] as string[]), ...specials]
  const types = Int32Array.from([
    ...(md['tokenizer.ggml.token_type'] as Int32Array),
    ...specials.map(() => 3),
  ])
  const tok = tokenizerFromGGUF({
    ...md,
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
  })
  for (const s of specials) {
    assert.deepEqual(
      tok.encode(`x${s}y`, { addBos: false }),
      [tok.tokenId('x'), tok.tokenId(s), tok.tokenId('y')],
      s,
    )
    assert.equal(tok.decode(tok.encode(`x${s}y`), { skipSpecial: false }), `<|begin_of_text|>x${s}y`)
  }
  // '(.*)' is not a pattern: other text stays text
  assert.ok(!tok.encode('(..)', { addBos: false }).includes(tok.tokenId('(.*)') as number))
})

/** Replaces the value at a random path of a JSON tree (objects and arrays) with junk. */
function mutateJson(v: unknown, r: () => number, junk: readonly unknown[], depth = 0): unknown {
  const pick = () => junk[Math.floor(r() * junk.length)]
  if (v === null || typeof v !== 'object' || depth > 5 || r() < 0.25) return pick()
  if (Array.isArray(v)) {
    if (v.length === 0) return pick()
    const a = [...v]
    const i = Math.floor(r() * a.length)
    a[i] = mutateJson(a[i], r, junk, depth + 1)
    return a
  }
  const o = { ...(v as Record<string, unknown>) }
  const keys = Object.keys(o)
  if (keys.length === 0) return pick()
  const k = keys[Math.floor(r() * keys.length)]
  if (r() < 0.15) delete o[k]
  else o[k] = mutateJson(o[k], r, junk, depth + 1)
  return o
}

test('tokenizerFromHF: corrupted tokenizer.json / tokenizer_config is a TsgradError, never a crash', () => {
  const { json, config } = tinyHFTokenizer()
  const base = tokenizerFromHF(json, config)
  assert.deepEqual(
    base.encode('the and<|eot_id|>'),
    tokenizerFromGGUF(tinyByteLevelMetadata()).encode('the and<|eot_id|>'),
  )
  const r = rng(77)
  const junk = [
    null,
    0,
    -1,
    2 ** 24,
    1e7,
    0.5,
    '',
    'x',
    '<nope>',
    true,
    [],
    [1],
    ['a b'],
    {},
    { type: 'Sequence' },
    { content: 3 },
  ]
  let errors = 0
  let ok = 0
  for (let k = 0; k < 1500; k++) {
    const which = r() < 0.8
    const j = which ? mutateJson(json, r, junk) : json
    const c = which ? config : mutateJson(config, r, junk)
    try {
      const tok = tokenizerFromHF(j, c)
      tok.decode(tok.encode('the and 12 <|eot_id|><tool> 😀'))
      ok++
    } catch (e) {
      assert.ok(e instanceof TsgradError, `mutation ${k}: ${String(e)}\n${JSON.stringify(j).slice(0, 300)}`)
      errors++
    }
  }
  assert.ok(errors > 300 && ok > 100, `${errors} errors, ${ok} ok`)
  assert.throws(
    () => tokenizerFromHF({ ...json, added_tokens: [{ id: 5_000_000, content: 'far' }] }),
    /ids up to 5000000 for 265 tokens/,
  )
})
