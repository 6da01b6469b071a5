// The LLM server under abuse and load, against the scripted model double: random and mutated
// request bodies and raw garbage on the socket never crash it; a client that disconnects
// (streaming or not, running or queued) aborts its generation; requests run one at a time, in order.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, test } from 'node:test'
import OpenAI from 'openai'
import { serveLLM } from '../../src/apps/llm/server.ts'
import { expectError, post, rng, sleep, sseEvents, withServer } from './llm_server_helpers.ts'
import { ScriptedLLM } from './scripted_llm.ts'

test('fuzz: random and mutated bodies get 200 or a 4xx JSON error, never a crash', {
  timeout: 120_000,
}, async () => {
  const llm = new ScriptedLLM({ maxContext: 48 })
  await withServer(
    llm,
    async (s) => {
      const rand = rng(1234)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
      const values: unknown[] = [
        null,
        true,
        false,
        0,
        -1,
        1,
        2.5,
        1e308,
        -0,
        '',
        'x',
        'user',
        '\u0000\ud800',
        [],
        [1],
        ['a'],
        {},
        { type: 'text', text: 'hi' },
        { role: 'user', content: 'a b' },
        { include_usage: true },
        'a '.repeat(60),
      ]
      const fields = [
        'model',
        'messages',
        'prompt',
        'max_tokens',
        'max_completion_tokens',
        'temperature',
        'top_p',
        'top_k',
        'min_p',
        'seed',
        'stop',
        'n',
        'stream',
        'stream_options',
        'repetition_penalty',
        'frequency_penalty',
        'logprobs',
        'tools',
        '__proto__',
        'constructor',
      ]
      const valid = (): Record<string, unknown> =>
        rand() < 0.5
          ? { messages: [{ role: 'user', content: 'a b c' }], max_tokens: 3 }
          : { prompt: 'a b c', max_tokens: 3 }
      const bodies = (i: number): string | Uint8Array => {
        switch (i % 5) {
          case 0: {
            // random bytes
            const n = Math.floor(rand() * 64)
            return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256))
          }
          case 1: {
            // a valid body cut short or with a byte changed
            const t = JSON.stringify(valid())
            const k = Math.floor(rand() * t.length)
            return rand() < 0.5
              ? t.slice(0, k)
              : t.slice(0, k) + String.fromCharCode(Math.floor(rand() * 128)) + t.slice(k + 1)
          }
          default: {
            // a valid body with 1-3 fields set to random values
            const b = valid()
            for (let j = 0; j < 1 + Math.floor(rand() * 3); j++) b[pick(fields)] = pick(values)
            if (rand() < 0.3 && Array.isArray(b.messages)) b.messages = [pick(values)]
            return JSON.stringify(b)
          }
        }
      }
      const counts = new Map<number, number>()
      for (let i = 0; i < 250; i++) {
        const body = bodies(i)
        const path = pick(['/v1/chat/completions', '/v1/completions'])
        const res = await fetch(new URL(path, s.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        })
        const text = await res.text()
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1)
        const what = `case ${i} ${path} ${typeof body === 'string' ? body : `bytes ${Buffer.from(body).toString('hex')}`}`
        assert.ok(
          res.status === 200 || (res.status >= 400 && res.status < 500),
          `${what}: status ${res.status} ${text}`,
        )
        if (res.status !== 200) {
          const e = JSON.parse(text).error
          assert.ok(typeof e.message === 'string' && e.message.length > 0, what)
          assert.equal(e.type, 'invalid_request_error', what)
        }
      }
      assert.ok((counts.get(200) ?? 0) > 10, `some valid requests: ${[...counts]}`)
      assert.ok((counts.get(400) ?? 0) > 50, `many refused: ${[...counts]}`)
      assert.equal(llm.active, 0)
      const ok = await post(s, '/v1/completions', { prompt: 'alive' })
      assert.equal((await ok.json()).choices[0].text, 'alive')
    },
    { maxBodyBytes: 4096 },
  )
})

test('fuzz: garbage on the socket gets a 4xx or a closed connection; the server keeps serving', {
  timeout: 60_000,
}, async () => {
  await withServer(new ScriptedLLM(), async (s) => {
    const rand = rng(99)
    const u = new URL(s.url)
    const heads = [
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /v1/completions HTTP/1.1\r\nHost: HOST\r\ncontent-length: -5\r\n\r\n',
      'POST /v1/completions HTTP/1.1\r\nHost: HOST\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n',
      'POST /v1/completions HTTP/1.1\r\nHost: HOST\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\nzz\r\n',
      'BREW /v1/models HTTP/1.1\r\nHost: HOST\r\n\r\n',
      'GET /%%%% HTTP/1.1\r\nHost: HOST\r\n\r\n',
      'GET /v1/models/%E0%A4%A HTTP/1.1\r\nHost: HOST\r\n\r\n',
      'GET /v1/models HTTP/9.9\r\nHost: HOST\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: HOST\r\nx: ${'a'.repeat(20000)}\r\n\r\n`,
    ]
    const cases: Buffer[] = heads.map((h) => Buffer.from(h.replaceAll('HOST', u.host)))
    for (let i = 0; i < 20; i++)
      cases.push(
        Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))),
      )
    for (const bytes of cases) {
      const answer = await new Promise<string>((ok) => {
        const sock = connect(Number(u.port), u.hostname)
        let got = ''
        const timer = setTimeout(() => {
          sock.destroy()
          ok(got)
        }, 1000)
        sock.on('data', (d) => (got += d.toString('latin1')))
        sock.on('error', () => {})
        sock.on('close', () => {
          clearTimeout(timer)
          ok(got)
        })
        sock.end(bytes)
      })
      const status = Number(answer.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0)
      assert.ok(
        answer === '' || (status >= 400 && status < 500),
        `${JSON.stringify(bytes.toString('latin1').slice(0, 80))} -> ${answer.slice(0, 200)}`,
      )
    }
    const res = await post(s, '/v1/completions', { prompt: 'fine' })
    assert.equal((await res.json()).choices[0].text, 'fine')
  })
})

describe('disconnects and the queue', () => {
  test('a client that disconnects mid-stream aborts its generation; the next request runs', {
    timeout: 30_000,
  }, async () => {
    const llm = new ScriptedLLM({ delayMs: 10, endless: true, maxContext: 100_000 })
    await withServer(llm, async (s) => {
      const ac = new AbortController()
      const res = await post(
        s,
        '/v1/chat/completions',
        { messages: [{ role: 'user', content: 'on and on' }], stream: true },
        {
          signal: ac.signal,
        },
      )
      const reader = res.body!.getReader()
      let seen = ''
      while ((seen.match(/"content":"[^"]+"/g) ?? []).length < 3) {
        const r = await reader.read()
        assert.ok(!r.done)
        seen += new TextDecoder().decode(r.value)
      }
      const aborted = llm.waitForAbort()
      ac.abort()
      await aborted
      const call = llm.calls[0]!
      await sleep(20)
      assert.equal(call.stats?.finishReason, 'abort')
      assert.ok(call.pieces.length < 100, `stopped early (${call.pieces.length} pieces)`)
      assert.equal(llm.active, 0)
      const next = await post(s, '/v1/completions', { prompt: 'x y', max_tokens: 2 })
      assert.equal((await next.json()).choices[0].text, 'y x')
    })
  })

  test('a disconnect is seen even when the generation never yields to the event loop', {
    timeout: 30_000,
  }, async () => {
    const llm = new ScriptedLLM({ busyMs: 2, endless: true, maxContext: 100_000 })
    await withServer(llm, async (s) => {
      const ac = new AbortController()
      const res = await post(
        s,
        '/v1/completions',
        { prompt: 'busy busy', stream: true },
        { signal: ac.signal },
      )
      const reader = res.body!.getReader()
      const r = await reader.read()
      assert.ok(!r.done)
      const aborted = llm.waitForAbort(10_000)
      ac.abort()
      await aborted
      // 100_000 tokens at 2 ms would take minutes: stopped within a handful of tokens of the abort
      assert.ok(llm.calls[0]!.pieces.length < 1000, `${llm.calls[0]!.pieces.length} pieces`)
      // the server keeps serving
      const next = await post(s, '/v1/completions', { prompt: 'next', max_tokens: 1 })
      assert.equal((await next.json()).choices[0].text, 'next')
    })
  })

  test('a non-streaming client that disconnects aborts its generation too', { timeout: 30_000 }, async () => {
    const llm = new ScriptedLLM({ delayMs: 10, endless: true, maxContext: 100_000 })
    await withServer(llm, async (s) => {
      const ac = new AbortController()
      const pending = post(s, '/v1/completions', { prompt: 'forever more' }, { signal: ac.signal }).catch(
        (e: Error) => e,
      )
      for (let i = 0; i < 500 && (llm.calls[0]?.pieces.length ?? 0) < 3; i++) await sleep(5)
      assert.ok(llm.calls[0]!.pieces.length >= 3, 'the generation is running')
      const aborted = llm.waitForAbort()
      ac.abort()
      await aborted
      assert.equal(((await pending) as Error).name, 'AbortError')
      await sleep(20)
      assert.equal(llm.calls[0]!.stats?.finishReason, 'abort')
      assert.equal(llm.active, 0)
    })
  })

  test('two concurrent requests run one at a time, first come first served, both complete', {
    timeout: 30_000,
  }, async () => {
    const llm = new ScriptedLLM({ delayMs: 15 })
    await withServer(llm, async (s) => {
      const client = new OpenAI({ baseURL: `${s.url}v1`, apiKey: 'x', maxRetries: 0 })
      const first = client.chat.completions.create({
        model: 'x',
        messages: [{ role: 'user', content: 'a1 a2 a3 a4' }],
      })
      for (let i = 0; i < 200 && llm.calls.length === 0; i++) await sleep(2)
      const second = client.completions.create({ model: 'x', prompt: 'b1 b2 b3', stream: true })
      const [a, bStream] = await Promise.all([first, second])
      let b = ''
      for await (const c of bStream) b += c.choices[0]?.text ?? ''
      assert.equal(a.choices[0]!.message.content, 'a4 a3 a2 a1')
      assert.equal(b, 'b3 b2 b1')
      assert.equal(llm.maxActive, 1, 'never two generations at once')
      assert.equal(llm.calls.length, 2)
      assert.equal(typeof llm.calls[0]!.input, 'object', 'the first request ran first')
      assert.ok(llm.calls[1]!.startedAt >= llm.calls[0]!.endedAt!, 'the second started after the first ended')
    })
  })

  test('a queued client that leaves never runs; the queue moves on', { timeout: 30_000 }, async () => {
    const llm = new ScriptedLLM({ delayMs: 10, endless: true, maxContext: 100_000 })
    await withServer(llm, async (s) => {
      const a = new AbortController()
      const b = new AbortController()
      const ra = post(s, '/v1/completions', { prompt: 'first' }, { signal: a.signal }).catch((e: Error) => e)
      for (let i = 0; i < 200 && llm.calls.length === 0; i++) await sleep(2)
      const rb = post(s, '/v1/completions', { prompt: 'second', stream: true }, { signal: b.signal })
      const resB = await rb // streaming headers come at once, while it waits
      assert.equal(resB.status, 200)
      b.abort()
      await sleep(30)
      const aborted = llm.waitForAbort()
      a.abort()
      await aborted
      await ra
      const rc = await post(s, '/v1/completions', { prompt: 'third', max_tokens: 1 })
      assert.equal((await rc.json()).choices[0].text, 'third')
      assert.deepEqual(
        llm.calls.map((c) => c.input),
        ['first', 'third'],
        'the request that left the queue never ran',
      )
    })
  })

  test('a full queue answers 429', { timeout: 30_000 }, async () => {
    const llm = new ScriptedLLM({ delayMs: 10, endless: true, maxContext: 100_000 })
    await withServer(
      llm,
      async (s) => {
        const ac = new AbortController()
        const running = post(s, '/v1/completions', { prompt: 'busy' }, { signal: ac.signal }).catch(
          (e: Error) => e,
        )
        for (let i = 0; i < 200 && llm.calls.length === 0; i++) await sleep(2)
        // a streaming request gets its headers once it is in the queue: no guessing with sleeps
        const waiting = await post(s, '/v1/completions', { prompt: 'waits', max_tokens: 1, stream: true })
        assert.equal(waiting.status, 200)
        await expectError(await post(s, '/v1/completions', { prompt: 'refused' }), 429, /server is busy/)
        await expectError(
          await post(s, '/v1/completions', { prompt: 'refused', stream: true }),
          429,
          /server is busy/,
        )
        ac.abort()
        await running
        const events = sseEvents(await waiting.text())
        assert.equal(JSON.parse(events[0]!).choices[0].text, 'waits')
      },
      { maxQueue: 1 },
    )
  })

  test('close() aborts a running generation and stops listening', { timeout: 30_000 }, async () => {
    const llm = new ScriptedLLM({ delayMs: 10, endless: true, maxContext: 100_000 })
    const s = await serveLLM(llm)
    const pending = post(s, '/v1/completions', { prompt: 'until closed' }).catch((e: Error) => e)
    for (let i = 0; i < 200 && (llm.calls[0]?.pieces.length ?? 0) < 2; i++) await sleep(5)
    await s.close()
    assert.equal(llm.calls[0]!.stats?.finishReason, 'abort')
    assert.ok((await pending) instanceof Error)
    await assert.rejects(fetch(s.url))
  })
})
