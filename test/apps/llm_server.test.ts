// The OpenAI-compatible server (src/apps/llm/server.ts) against a scripted model double
// (./scripted_llm.ts): the official `openai` client for the happy paths (chat and completions,
// streaming and not, usage, stop, max_tokens), raw fetch for the wire format and the errors.
// Fuzzing, disconnects and the queue: llm_server_robustness.test.ts.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { type LLMServer, serveLLM } from '../../src/apps/llm/server.ts'
import { TsgradError } from '../../src/index.ts'
import { expectError, post, sleep, sseEvents, withServer } from './llm_server_helpers.ts'
import { ScriptedLLM } from './scripted_llm.ts'

describe('with the openai client', () => {
  const llm = new ScriptedLLM({ delayMs: 1, maxContext: 64 })
  let server: LLMServer
  let client: OpenAI
  const lines: string[] = []
  before(async () => {
    server = await serveLLM(llm, { modelName: 'scripted', log: (l) => lines.push(l) })
    client = new OpenAI({ baseURL: `${server.url}v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 })
  })
  after(() => server.close())

  const messages = [
    { role: 'system' as const, content: 'be brief' },
    { role: 'user' as const, content: 'one two three four' },
  ]
  // what the double's tokenizer makes of the templated prompt: the count `usage` must report
  const chatPromptTokens = (): number =>
    llm.tokenizer.encode(llm.template!.apply(messages, { addGenerationPrompt: true })).length

  test('chat completion: reply, finish_reason stop, usage counts, model name', async () => {
    const r = await client.chat.completions.create({ model: 'anything', messages })
    assert.equal(r.object, 'chat.completion')
    assert.match(r.id, /^chatcmpl-/)
    assert.equal(r.model, 'scripted')
    assert.equal(r.choices.length, 1)
    assert.equal(r.choices[0]!.message.role, 'assistant')
    assert.equal(r.choices[0]!.message.content, 'four three two one')
    assert.equal(r.choices[0]!.finish_reason, 'stop')
    assert.deepEqual(r.usage, {
      prompt_tokens: chatPromptTokens(),
      completion_tokens: 4,
      total_tokens: chatPromptTokens() + 4,
    })
    assert.ok(
      lines.some((l) => /^POST \/v1\/chat\/completions 200 .*completion=4 finish=stop/.test(l)),
      lines.join('\n'),
    )
  })

  test('chat streaming: role first, pieces in order, finish chunk, usage chunk with include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'scripted',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id))
    assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' })
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    assert.equal(text, 'four three two one')
    assert.equal(chunks.filter((c) => c.choices[0]?.delta.content).length, 4, 'one chunk per piece')
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason)
    assert.equal(finish.length, 1)
    assert.equal(finish[0]!.choices[0]!.finish_reason, 'stop')
    const last = chunks.at(-1)!
    assert.deepEqual(last.choices, [])
    assert.deepEqual(last.usage, {
      prompt_tokens: chatPromptTokens(),
      completion_tokens: 4,
      total_tokens: chatPromptTokens() + 4,
    })
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null))
  })

  test('chat streaming without include_usage sends no usage', async () => {
    const stream = await client.chat.completions.create({ model: 'scripted', messages, stream: true })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    assert.ok(chunks.every((c) => !('usage' in c) || c.usage === undefined))
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop')
  })

  test('text completion, whole and streamed', async () => {
    const prompt = 'alpha beta gamma'
    const r = await client.completions.create({ model: 'scripted', prompt })
    assert.equal(r.object, 'text_completion')
    assert.match(r.id, /^cmpl-/)
    assert.equal(r.choices[0]!.text, 'gamma beta alpha')
    assert.equal(r.choices[0]!.finish_reason, 'stop')
    const promptTokens = llm.tokenizer.encode(prompt).length
    assert.deepEqual(r.usage, {
      prompt_tokens: promptTokens,
      completion_tokens: 3,
      total_tokens: promptTokens + 3,
    })
    const stream = await client.completions.create({
      model: 'scripted',
      prompt,
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), 'gamma beta alpha')
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'stop')
    assert.equal(chunks.at(-1)!.usage?.completion_tokens, 3)
  })

  test("max_tokens and max_completion_tokens end with finish_reason 'length'", async () => {
    const a = await client.chat.completions.create({ model: 'scripted', messages, max_tokens: 2 })
    assert.equal(a.choices[0]!.message.content, 'four three')
    assert.equal(a.choices[0]!.finish_reason, 'length')
    assert.equal(a.usage!.completion_tokens, 2)
    const b = await client.chat.completions.create({ model: 'scripted', messages, max_completion_tokens: 1 })
    assert.equal(b.choices[0]!.message.content, 'four')
    assert.equal(b.choices[0]!.finish_reason, 'length')
    const stream = await client.completions.create({
      model: 'scripted',
      prompt: 'a b c d e',
      max_tokens: 3,
      stream: true,
    })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    assert.equal(chunks.map((c) => c.choices[0]!.text).join(''), 'e d c')
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length')
  })

  test('a generation that fills the context ends with length', async () => {
    const small = new ScriptedLLM({ maxContext: 8, endless: true })
    await withServer(small, async (s) => {
      const c = new OpenAI({ baseURL: `${s.url}v1`, apiKey: 'x', maxRetries: 0 })
      const r = await c.completions.create({ model: 'x', prompt: 'a b c' })
      assert.equal(r.choices[0]!.finish_reason, 'length')
      assert.equal(r.usage!.prompt_tokens + r.usage!.completion_tokens, 8)
    })
  })

  test('stop strings end the reply before them (string and array), streamed too', async () => {
    const a = await client.chat.completions.create({ model: 'scripted', messages, stop: ' two' })
    assert.equal(a.choices[0]!.message.content, 'four three')
    assert.equal(a.choices[0]!.finish_reason, 'stop')
    const b = await client.completions.create({
      model: 'scripted',
      prompt: 'red green blue',
      stop: ['xyz', 'en r'],
    })
    assert.equal(b.choices[0]!.text, 'blue gre')
    const stream = await client.chat.completions.create({
      model: 'scripted',
      messages,
      stop: ['thr'],
      stream: true,
    })
    let text = ''
    for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
    assert.equal(text, 'four ')
    assert.deepEqual(llm.calls.at(-1)!.opts.stop, ['thr'])
  })

  test('sampling fields reach the generation loop under their LLM names', async () => {
    await client.chat.completions.create({
      model: 'scripted',
      messages,
      temperature: 0,
      top_p: 0.9,
      seed: 42,
      n: 1,
      frequency_penalty: 0,
      presence_penalty: 0,
      // llama.cpp's extensions, not in the client's types
      ...({ top_k: 40, min_p: 0.05, repetition_penalty: 1.1, repeat_last_n: 32 } as object),
    })
    const o = llm.calls.at(-1)!.opts
    assert.equal(o.temperature, 0)
    assert.equal(o.topP, 0.9)
    assert.equal(o.topK, 40)
    assert.equal(o.minP, 0.05)
    assert.equal(o.repetitionPenalty, 1.1)
    assert.equal(o.repeatLastN, 32)
    assert.equal(o.seed, 42)
    assert.ok(o.signal instanceof AbortSignal)
    // fields left out are left out, so the loop's own defaults apply
    await client.chat.completions.create({ model: 'scripted', messages })
    assert.deepEqual(Object.keys(llm.calls.at(-1)!.opts), ['signal'])
  })

  test('GET /v1/models lists the model', async () => {
    const models = []
    for await (const m of client.models.list()) models.push(m)
    assert.equal(models.length, 1)
    assert.equal(models[0]!.id, 'scripted')
    assert.equal(models[0]!.object, 'model')
    const one = await client.models.retrieve('scripted')
    assert.equal(one.id, 'scripted')
    await assert.rejects(client.models.retrieve('other'), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 404)
      return true
    })
  })

  test('the client surfaces 400 errors with the message', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'scripted', messages, n: 2 }),
      (e: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(e.status, 400)
        assert.match(e.message, /'n' must be 1/)
        return true
      },
    )
  })
})

describe('wire format and errors (raw HTTP)', () => {
  const llm = new ScriptedLLM({ maxContext: 32 })
  let server: LLMServer
  before(async () => {
    server = await serveLLM(llm, { modelName: 'scripted', maxBodyBytes: 2000 })
  })
  after(() => server.close())

  test('SSE framing: data lines, blank-line separated, [DONE] last', async () => {
    const res = await post(server, '/v1/completions', { prompt: 'x y', stream: true })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/)
    const events = sseEvents(await res.text())
    assert.equal(events.at(-1), '[DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e))
    assert.deepEqual(
      chunks.map((c) => c.choices[0].text),
      ['y', ' x', ''],
    )
    assert.deepEqual(
      chunks.map((c) => c.choices[0].finish_reason),
      [null, null, 'stop'],
    )
  })

  test('malformed JSON, bad UTF-8, a body that is not an object: 400', async () => {
    await expectError(await post(server, '/v1/chat/completions', '{"messages": ['), 400, /not valid JSON/)
    await expectError(
      await post(server, '/v1/chat/completions', '', { body: new Uint8Array([0x7b, 0xff, 0x7d]) }),
      400,
      /not valid UTF-8/,
    )
    await expectError(await post(server, '/v1/completions', '[1,2]'), 400, /must be a JSON object, got array/)
    await expectError(await post(server, '/v1/completions', 'null'), 400, /must be a JSON object, got null/)
    await expectError(await post(server, '/v1/completions', ''), 400, /not valid JSON/)
  })

  test('wrong field types name the field and the expected type', async () => {
    const chat = (extra: object) =>
      post(server, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], ...extra })
    await expectError(
      await chat({ temperature: 'hot' }),
      400,
      /'temperature' must be a number, got string/,
      'temperature',
    )
    await expectError(
      await chat({ max_tokens: 2.5 }),
      400,
      /'max_tokens' must be an integer, got number/,
      'max_tokens',
    )
    await expectError(
      await chat({ max_tokens: 0 }),
      400,
      /'max_tokens' must be an integer in \[1, /,
      'max_tokens',
    )
    await expectError(await chat({ top_p: 1.5 }), 400, /'top_p' must be in \[0, 1\], got 1.5/, 'top_p')
    await expectError(await chat({ stream: 'yes' }), 400, /'stream' must be a boolean, got string/, 'stream')
    await expectError(
      await chat({ stop: 5 }),
      400,
      /'stop' must be a string or an array of strings, got number/,
    )
    await expectError(await chat({ stop: ['a', 3] }), 400, /'stop\[1\]' must be a string, got number/)
    await expectError(await chat({ seed: 'x' }), 400, /'seed' must be an integer/)
    await expectError(await chat({ model: 7 }), 400, /'model' must be a string/)
    await expectError(
      await chat({ stream_options: { include_usage: true } }),
      400,
      /only allowed with stream: true/,
    )
    await expectError(await chat({ n: 3 }), 400, /'n' must be 1/, 'n')
    await expectError(await chat({ frequency_penalty: 0.5 }), 400, /not supported.*repetition_penalty/)
    await expectError(await chat({ logprobs: true }), 400, /'logprobs' is not supported/)
    await expectError(await chat({ tools: [{ type: 'function' }] }), 400, /'tools' is not supported/)
    const msgs = (messages: unknown) => post(server, '/v1/chat/completions', { messages })
    await expectError(
      await post(server, '/v1/chat/completions', {}),
      400,
      /'messages' is required/,
      'messages',
    )
    await expectError(await msgs('hi'), 400, /'messages' must be an array of messages, got string/)
    await expectError(await msgs([]), 400, /at least one message/)
    await expectError(await msgs([{ role: 'bot', content: 'x' }]), 400, /'messages\[0\].role' must be one of/)
    await expectError(
      await msgs([{ role: 'user', content: 3 }]),
      400,
      /'messages\[0\].content' must be a string/,
    )
    await expectError(
      await msgs([{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }]),
      400,
      /only text is supported/,
    )
    await expectError(await post(server, '/v1/completions', {}), 400, /'prompt' is required/)
    await expectError(
      await post(server, '/v1/completions', { prompt: ['a', 'b'] }),
      400,
      /batch of 2 prompts/,
    )
    await expectError(
      await post(server, '/v1/completions', { prompt: [1, 2, 3] }),
      400,
      /token ids are not supported/,
    )
    await expectError(
      await post(server, '/v1/completions', { prompt: { a: 1 } }),
      400,
      /'prompt' must be a string/,
    )
  })

  test('neutral values of unsupported fields and text content parts are accepted', async () => {
    const res = await post(server, '/v1/chat/completions', {
      messages: [
        { role: 'developer', content: 'sys' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'p q' },
            { type: 'text', text: ' r' },
          ],
        },
      ],
      logprobs: false,
      tools: [],
      response_format: { type: 'text' },
      user: 'someone',
      unknown_extension: { anything: true },
    })
    assert.equal(res.status, 200)
    const body = await res.json()
    assert.equal(body.choices[0].message.content, 'r q p')
    assert.deepEqual(llm.calls.at(-1)!.input, [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'p q r' },
    ])
  })

  test('a prompt longer than the context: 400 with both lengths, nothing generated', async () => {
    const before = llm.calls.length
    const prompt = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ')
    const n = llm.tokenizer.encode(prompt).length
    await expectError(
      await post(server, '/v1/completions', { prompt, stream: true }),
      400,
      new RegExp(`the prompt is ${n} tokens but the model's context holds 32`),
      'prompt',
    )
    await expectError(
      await post(server, '/v1/chat/completions', { messages: [{ role: 'user', content: prompt }] }),
      400,
      /tokens but the model's context holds 32/,
      'messages',
    )
    assert.equal(llm.calls.length, before)
  })

  test('oversized bodies: 413 (declared length and chunked), reading stops, server keeps serving', async () => {
    const big = JSON.stringify({ prompt: 'x'.repeat(5000) })
    await expectError(await post(server, '/v1/completions', big), 413, /limit is 2000|over the limit of 2000/)
    // chunked upload without Content-Length: the server stops at the limit and answers
    const status = await new Promise<number>((ok, fail) => {
      const u = new URL('/v1/completions', server.url)
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume()
          ok(res.statusCode ?? 0)
        },
      )
      req.on('error', fail)
      req.write('{"prompt": "')
      const chunk = 'y'.repeat(1000)
      // keep sending (bounded) until the answer arrives
      let sent = 0
      const pump = (): void => {
        if (req.destroyed) return
        if (sent++ === 200) return void req.end('"}')
        req.write(chunk)
        setTimeout(pump, 2)
      }
      pump()
    })
    assert.equal(status, 413)
    const res = await post(server, '/v1/completions', { prompt: 'still here' })
    assert.equal(res.status, 200)
  })

  test('a client that hangs up while sending the body is a client error (logged 400), not a 500', async () => {
    const lines: string[] = []
    await withServer(
      new ScriptedLLM(),
      async (s) => {
        const u = new URL(s.url)
        const req = request({
          host: u.hostname,
          port: u.port,
          path: '/v1/completions',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': '100' },
        })
        req.on('error', () => {})
        req.write('{"prompt": "ab')
        await sleep(50)
        req.destroy()
        for (let i = 0; i < 200 && lines.length === 0; i++) await sleep(5)
        assert.match(lines[0] ?? '', /^POST \/v1\/completions 400 .*cut short after 14 bytes/)
        assert.equal((await post(s, '/v1/completions', { prompt: 'ok' })).status, 200)
      },
      { log: (l) => lines.push(l) },
    )
  })

  test('routes: unknown 404, wrong method 405, wrong content type 415, foreign Host or Origin 403', async () => {
    await expectError(await fetch(new URL('/v2/nothing', server.url)), 404, /no route GET \/v2\/nothing/)
    await expectError(await post(server, '/v1/embeddings', {}), 404, /no route POST/)
    await expectError(await fetch(new URL('/v1/models/%E0%A4%A', server.url)), 400, /bad percent-encoding/)
    await expectError(
      await fetch(new URL('/v1/chat/completions', server.url)),
      405,
      /GET is not allowed.*use POST/,
    )
    const wrong = await post(server, '/v1/models', {})
    assert.equal(wrong.headers.get('allow'), 'GET, HEAD')
    await expectError(wrong, 405, /POST is not allowed on \/v1\/models/)
    const options = await fetch(new URL('/v1/chat/completions', server.url), { method: 'OPTIONS' })
    assert.equal(options.headers.get('allow'), 'POST')
    assert.equal(options.headers.get('access-control-allow-origin'), null, 'no CORS grant')
    await expectError(options, 405, /OPTIONS is not allowed/)
    await expectError(await post(server, '/', {}), 405, /POST is not allowed on \//)
    await expectError(
      await post(server, '/v1/completions', '{"prompt":"a"}', { headers: { 'content-type': 'text/plain' } }),
      415,
      /Content-Type must be application\/json, got 'text\/plain'/,
    )
    const withHost = (host: string) =>
      new Promise<number>((ok, fail) => {
        const u = new URL(server.url)
        request({ host: u.hostname, port: u.port, path: '/v1/models', headers: { host } }, (res) => {
          res.resume()
          ok(res.statusCode ?? 0)
        })
          .on('error', fail)
          .end()
      })
    assert.equal(await withHost('evil.example:80'), 403)
    assert.equal(await withHost(new URL(server.url).host), 200)
    assert.equal(await withHost(`localhost:${server.port}`), 200)
    await expectError(
      await post(
        server,
        '/v1/completions',
        { prompt: 'a' },
        { headers: { 'content-type': 'application/json', origin: 'http://evil.example' } },
      ),
      403,
      /cross-origin/,
    )
    await expectError(
      await post(
        server,
        '/v1/completions',
        { prompt: 'a' },
        { headers: { 'content-type': 'application/json', origin: 'null' } },
      ),
      403,
      /cross-origin request from null/,
    )
    const same = await post(
      server,
      '/v1/completions',
      { prompt: 'a' },
      {
        headers: { 'content-type': 'application/json', origin: server.url.slice(0, -1) },
      },
    )
    assert.equal(same.status, 200)
  })

  test('the chat page is served at / as self-contained HTML', async () => {
    const res = await fetch(server.url)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type')!, /text\/html/)
    assert.match(res.headers.get('content-security-policy')!, /default-src 'none'/)
    const html = await res.text()
    assert.match(html, /<script>/)
    assert.doesNotMatch(html, /<script src|<link |https?:\/\//, 'nothing loaded from elsewhere')
    assert.doesNotMatch(html, /innerHTML/, 'text goes in as text')
  })

  test('a model without a chat template refuses chat with 400 and still completes text', async () => {
    await withServer(new ScriptedLLM({ template: null }), async (s) => {
      await expectError(
        await post(s, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }),
        400,
        /no chat template/,
      )
      assert.equal((await post(s, '/v1/completions', { prompt: 'hi' })).status, 200)
    })
  })

  test('a failing generation: 500 JSON, or an error event mid-stream; the server keeps serving', async () => {
    const failing = new ScriptedLLM({ failWith: new Error('device lost'), failAfter: 2 })
    await withServer(failing, async (s) => {
      await expectError(
        await post(s, '/v1/completions', { prompt: 'a b c d' }),
        500,
        /generation failed: device lost/,
      )
      const res = await post(s, '/v1/completions', { prompt: 'a b c d', stream: true })
      assert.equal(res.status, 200)
      const events = sseEvents(await res.text())
      assert.deepEqual(
        events.slice(0, 2).map((e) => JSON.parse(e).choices[0].text),
        ['d', ' c'],
      )
      assert.match(JSON.parse(events.at(-1)!).error.message, /device lost/)
      assert.equal(failing.active, 0)
    })
  })

  test('serveLLM checks its options', async () => {
    const llm2 = new ScriptedLLM()
    await assert.rejects(serveLLM(llm2, { prot: 1 } as object), (e: Error) => {
      assert.ok(e instanceof TsgradError)
      assert.match(e.message, /serveLLM: unknown option 'prot'/)
      return true
    })
    await assert.rejects(
      serveLLM(llm2, { port: -1 }),
      /serveLLM: port must be an integer in 0..65535, got -1/,
    )
    await assert.rejects(serveLLM(llm2, { maxBodyBytes: 0 }), /maxBodyBytes must be a positive integer/)
    await assert.rejects(serveLLM(llm2, { modelName: '' }), /modelName must be a non-empty string/)
  })
})
