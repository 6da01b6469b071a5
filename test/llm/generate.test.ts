// The generation loop over real implementations of the interfaces (test/llm/helpers.ts): a scripted
// model for exact control of the emitted tokens (stop strings split across tokens, UTF-8 streaming,
// limits, abort) and the random-weight TinyLlama for greedy decoding through the KV cache against
// its own full causal forward, and for the prefix reuse of a chat's next turn.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { TsgradError } from '../../src/index.ts'
import { generate, StopStringFilter } from '../../src/llm/generate.ts'
import { createLLM, encodePrompt } from '../../src/llm/llm.ts'
import {
  BOS,
  ByteTokenizer,
  ChatMLTemplate,
  collect,
  EOS,
  EOT,
  IM_END,
  ScriptedRunner,
  TINY_CFG,
  TinyLlamaRunner,
  textScript,
  tinyParts,
} from './helpers.ts'

const tok = new ByteTokenizer()
const greedy = { temperature: 0 }

describe('llm generate', () => {
  test('streams the scripted continuation, stops at EOS (not emitted), counts tokens', async () => {
    const prompt = tok.encode('Hi')
    const runner = new ScriptedRunner(textScript(prompt.length, ' there'))
    const r = await collect(generate(runner, tok, prompt, greedy))
    assert.equal(r.text, ' there')
    assert.deepEqual(r.stats.finishReason, 'stop')
    assert.equal(r.stats.promptTokens, 3)
    assert.equal(r.stats.completionTokens, 6)
    assert.ok(r.stats.prefillMs >= 0 && r.stats.decodeMs >= 0)
    // one prefill of the prompt, then one step per emitted token except the last (EOS ends it)
    assert.deepEqual(runner.steps[0], { tokens: prompt, start: 0 })
    assert.equal(runner.steps.length, 7)
    assert.deepEqual(
      runner.steps.slice(1).map((s) => s.start),
      [3, 4, 5, 6, 7, 8],
    )
    for (const stop of [EOT, IM_END]) {
      const out = await collect(generate(new ScriptedRunner(textScript(3, 'ab', stop)), tok, prompt, greedy))
      assert.equal(out.text, 'ab')
      assert.equal(out.stats.finishReason, 'stop')
    }
  })

  test('a stop string split across tokens is never emitted, not even in part', async () => {
    const prompt = tok.encode('x')
    const runner = new ScriptedRunner(textScript(prompt.length, 'STAR wars STOP and more'))
    const r = await collect(generate(runner, tok, prompt, { ...greedy, stop: ['STOP', 'zzz'] }))
    assert.equal(r.text, 'STAR wars ')
    assert.equal(r.stats.finishReason, 'stop')
    for (const p of r.pieces)
      assert.ok(!/S?T?O?P$/.test(p) || p.endsWith('wars ') || p === 'STAR', `piece ${p}`)
    // 'ST' of STAR was held back until 'A' showed it is not STOP, then emitted together
    assert.ok(r.pieces.includes('STA'), `pieces ${JSON.stringify(r.pieces)}`)
    assert.ok(!r.pieces.some((p) => p.includes('S') && p !== 'STA' && p !== 'STAR'), JSON.stringify(r.pieces))
    assert.equal(
      r.stats.completionTokens,
      'STAR wars STOP'.length,
      'generation ends at the token completing the stop',
    )
    // a held-back prefix that the generation ends in is emitted at the end
    const end = await collect(
      generate(new ScriptedRunner(textScript(2, 'go ST')), tok, prompt, { ...greedy, stop: ['STOP'] }),
    )
    assert.equal(end.text, 'go ST')
    assert.equal(end.stats.finishReason, 'stop')
    // the earliest of several stop strings wins; a multi-byte stop string split inside a character
    const multi = await collect(
      generate(new ScriptedRunner(textScript(2, 'a→b→c')), tok, prompt, { ...greedy, stop: ['c', '→b'] }),
    )
    assert.equal(multi.text, 'a')
  })

  test('StopStringFilter holds back exactly the longest possible stop prefix', () => {
    const f = new StopStringFilter(['<end>', 'ee'])
    assert.equal(f.push('abc<'), 'abc')
    assert.equal(f.push('en'), '')
    assert.equal(f.push('x e'), '<enx ')
    assert.equal(f.push('d'), 'ed')
    assert.equal(f.push('<end>tail'), '')
    assert.ok(f.stopped)
    assert.equal(f.flush(), '')
  })

  test('UTF-8 characters split across tokens are streamed whole', async () => {
    const prompt = tok.encode('q')
    const text = 'héllo wörld 😀 中文!'
    const r = await collect(
      generate(new ScriptedRunner(textScript(prompt.length, text)), tok, prompt, greedy),
    )
    assert.equal(r.text, text)
    for (const p of r.pieces)
      assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)} splits a character`)
    assert.ok(r.pieces.includes('😀'), 'the 4-byte character comes as one piece')
    // cut inside the emoji by maxTokens: the incomplete bytes flush as U+FFFD
    const cut = await collect(
      generate(new ScriptedRunner(textScript(prompt.length, '😀')), tok, prompt, { ...greedy, maxTokens: 2 }),
    )
    assert.equal(cut.text, '\uFFFD')
    assert.equal(cut.stats.finishReason, 'length')
  })

  test('maxTokens ends with finishReason length after exactly that many tokens', async () => {
    const prompt = tok.encode('p')
    const runner = new ScriptedRunner(textScript(prompt.length, 'abcdefghij'))
    const r = await collect(generate(runner, tok, prompt, { ...greedy, maxTokens: 4 }))
    assert.equal(r.text, 'abcd')
    assert.deepEqual([r.stats.completionTokens, r.stats.finishReason], [4, 'length'])
    assert.equal(runner.steps.length, 4, 'the last token is not run through the model')
    const none = await collect(generate(new ScriptedRunner(() => 97), tok, prompt, { maxTokens: 0 }))
    assert.deepEqual([none.text, none.stats.completionTokens, none.stats.finishReason], ['', 0, 'length'])
  })

  test('the context limit: a too-long prompt is an error before any work; a full context ends with length', async () => {
    const runner = new ScriptedRunner(() => 97, 8)
    const long = Array.from({ length: 8 }, () => 97)
    assert.throws(
      () => generate(runner, tok, long, greedy),
      (e: Error) =>
        e instanceof TsgradError &&
        /prompt has 8 tokens but the context holds 8/.test(e.message) &&
        /at most 7/.test(e.message),
    )
    assert.equal(runner.steps.length, 0)
    const r = await collect(generate(runner, tok, [BOS, 97, 98], greedy))
    assert.equal(r.stats.finishReason, 'length')
    assert.equal(r.stats.promptTokens + r.stats.completionTokens, 8, 'prompt + completion fill the context')
    assert.equal(r.text, 'aaaaa')
    assert.ok(runner.steps.every((s) => s.start + s.tokens.length <= 8))
  })

  test('abort ends the generation at the next token', async () => {
    const prompt = tok.encode('p')
    const ac = new AbortController()
    const runner = new ScriptedRunner(() => 97)
    const gen = generate(runner, tok, prompt, { ...greedy, signal: ac.signal })
    const pieces: string[] = []
    let stats: Awaited<ReturnType<typeof gen.next>>['value']
    for (;;) {
      const r = await gen.next()
      if (r.done) {
        stats = r.value
        break
      }
      pieces.push(r.value)
      if (pieces.length === 3) ac.abort()
    }
    assert.equal(pieces.join(''), 'aaa')
    assert.equal(typeof stats === 'object' && stats.finishReason, 'abort')
    assert.equal(runner.steps.length, 3, 'no step after the abort')
    const pre = new AbortController()
    pre.abort()
    const r2 = await collect(generate(runner, tok, prompt, { signal: pre.signal }))
    assert.deepEqual([r2.text, r2.stats.finishReason, runner.steps.length], ['', 'abort', 3])
  })

  test('bad options and prompts are TsgradErrors when generate is called', () => {
    const runner = new ScriptedRunner(() => 97)
    const bad: [object, RegExp][] = [
      [{ max_tokens: 3 }, /unknown option 'max_tokens' \(did you mean 'maxTokens'\?\)/],
      [{ maxTokens: -1 }, /maxTokens must be an integer >= 0/],
      [{ stop: 'x' }, /stop must be an array of non-empty strings/],
      [{ stop: [''] }, /stop must be an array of non-empty strings/],
      [{ temperature: -0.5 }, /temperature must be a number >= 0/],
      [{ signal: {} }, /signal must be an AbortSignal/],
    ]
    for (const [o, re] of bad) assert.throws(() => generate(runner, tok, [97], o), re)
    assert.throws(() => generate(runner, tok, [], greedy), /the prompt has no tokens/)
    assert.throws(() => generate(runner, tok, [97, 5000], greedy), /prompt token 5000 is not an id in 0..260/)
    assert.equal(runner.steps.length, 0)
  })

  test('greedy decoding through the KV cache equals argmax of the full causal forward (TinyLlama)', async () => {
    const runner = new TinyLlamaRunner(TINY_CFG)
    const prompt = tok.encode('The ')
    const r = await collect(generate(runner, tok, prompt, { ...greedy, maxTokens: 12 }))
    // reference: rerun the whole sequence without a cache for every token
    const seq = [...prompt]
    const V = TINY_CFG.vocab
    const ids: number[] = []
    for (let i = 0; i < 12; i++) {
      const all = await runner.logitsAll(seq)
      const last = all.subarray((seq.length - 1) * V)
      let best = 0
      for (let j = 1; j < V; j++) if (last[j]! > last[best]!) best = j
      if (tok.stopIds.has(best)) break
      ids.push(best)
      seq.push(best)
    }
    assert.equal(r.stats.completionTokens, ids.length)
    assert.equal(r.text, tok.decode(ids))
    assert.ok(ids.length >= 3, `the random model generates some tokens (${ids.length})`)
  })

  test("a chat's next turn reuses the cached prefix and generates what a fresh model does", async () => {
    const cfg = { ...TINY_CFG, maxLen: 96 }
    const parts = tinyParts(cfg)
    const runner = parts.runner as TinyLlamaRunner
    const calls: number[] = []
    const step = runner.step.bind(runner)
    runner.step = (t, s) => {
      calls.push(s, t.length)
      return step(t, s)
    }
    const m = createLLM(parts)
    const turn1 = [{ role: 'user' as const, content: 'hi' }]
    const a = await collect(m.generate(turn1, { ...greedy, maxTokens: 3 }))
    const p1 = encodePrompt(tok, parts.template, turn1)
    assert.deepEqual(calls.slice(0, 2), [0, p1.length])
    calls.length = 0
    const turn2 = [
      ...turn1,
      { role: 'assistant' as const, content: a.text },
      { role: 'user' as const, content: 'ok' },
    ]
    const p2 = encodePrompt(tok, parts.template, turn2)
    const b = await collect(m.generate(turn2, { ...greedy, maxTokens: 4 }))
    assert.ok(
      calls[0]! >= p1.length,
      `the second prefill starts at ${calls[0]}, after the first prompt (${p1.length})`,
    )
    assert.equal(calls[0]! + calls[1]!, p2.length)
    const fresh = createLLM(tinyParts(cfg))
    const c = await collect(fresh.generate(turn2, { ...greedy, maxTokens: 4 }))
    assert.equal(b.text, c.text)
    assert.equal(b.stats.completionTokens, c.stats.completionTokens)
  })

  test('LLM.generate: messages go through the template (BOS only where it writes one); no template is an error; runs queue', async () => {
    const runner = new ScriptedRunner((_, held) => (held.length < 30 ? 120 : EOS))
    const noTemplate = createLLM({ runner, tokenizer: tok, template: undefined })
    assert.throws(() => noTemplate.generate([{ role: 'user', content: 'x' }]), /has no chat template/)
    const ids = encodePrompt(tok, new ChatMLTemplate(), [{ role: 'user', content: 'x' }])
    // ChatML writes no BOS, and none is added (as apply_chat_template(..., tokenize=True))
    assert.equal(ids.filter((i) => i === BOS).length, 0)
    assert.equal(
      tok.decode(ids, { skipSpecial: false }),
      '<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n',
    )
    assert.throws(() => noTemplate.generate([{ role: 'robot', content: 'x' }] as never), TsgradError)
    // two generations started together run one after the other on the one cache
    const m = createLLM({ runner, tokenizer: tok, template: new ChatMLTemplate() })
    const [r1, r2] = await Promise.all([
      collect(m.generate('aaaa', greedy)),
      collect(m.generate('bbbbbbb', greedy)),
    ])
    assert.equal(r1.text, 'x'.repeat(30 - 5))
    assert.equal(r2.text, 'x'.repeat(30 - 8))
    const logits = await m.logits([BOS, 97])
    assert.equal(logits.length, 2 * runner.config.vocabSize)
    await assert.rejects(m.logits([BOS, 9999]), /token 9999 is not an id/)
  })
})
