// The OpenAI-compatible server (src/apps/llm/server.ts) against a scripted model double
// (./scripted_llm.ts): the official `openai` client for the happy paths (chat and completions,
// streaming and not, usage, stop, max_tokens), raw fetch for the wire format, the errors and a
// fuzz of garbage bodies; disconnects abort generations; requests queue one at a time.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { type LLMServer, serveLLM } from '../../src/apps/llm/server.ts'
import { TsgradError } from '../../src/index.ts'
import { ScriptedLLM } from './scripted_llm.ts'

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms))

function post(server: LLMServer, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(path, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

async function expectError(
  res: Response,
  status: number,
  match: RegExp,
  param?: string | null,
): Promise<ErrorBody> {
  const text = await res.text()
  assert.equal(res.status, status, text)
  assert.match(res.headers.get('content-type') ?? '', /application\/json/)
  const body = JSON.parse(text) as ErrorBody
  assert.equal(typeof body.error.message, 'string')
  assert.equal(body.error.type, status >= 500 ? 'server_error' : 'invalid_request_error')
  assert.match(body.error.message, match)
  if (param !== undefined) assert.equal(body.error.param, param)
  return body
}

/** the data payloads of an SSE body, checking the framing: `data: ...` events split by blank lines */
function sseEvents(text: string): string[] {
  assert.ok(text.endsWith('\n\n'), 'the stream ends with a complete event')
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((ev) => {
      assert.match(ev, /^data: [^\n]*$/, `one data line per event: ${JSON.stringify(ev)}`)
      return ev.slice('data: '.length)
    })
}

/** a server on a fresh double, closed after `fn` */
async function withServer(
  llm: ScriptedLLM,
  fn: (s: LLMServer) => Promise<void>,
  opts: Parameters<typeof serveLLM>[1] = {},
): Promise<void> {
  const server = await serveLLM(llm, { modelName: 'scripted', ...opts })
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

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
    await expectError(await post(server, '/v1/models', {}), 405, /POST is not allowed on \/v1\/models/)
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

/** a seeded xorshift, so a failing fuzz case can be replayed */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 2 ** 32
  }
}

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
        const waiting = post(s, '/v1/completions', { prompt: 'waits', max_tokens: 1 })
        await sleep(30)
        await expectError(await post(s, '/v1/completions', { prompt: 'refused' }), 429, /server is busy/)
        await expectError(
          await post(s, '/v1/completions', { prompt: 'refused', stream: true }),
          429,
          /server is busy/,
        )
        ac.abort()
        await running
        assert.equal((await (await waiting).json()).choices[0].text, 'waits')
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
