// The request checks and response shapes of the LLM server (src/apps/llm/openai_protocol.ts) on
// plain objects: the rules the HTTP tests do not reach one by one.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  ApiError,
  completionBody,
  MAX_STOP_STRINGS,
  parseChatRequest,
  parseTextRequest,
  streamChunk,
  usageChunk,
} from '../../src/apps/llm/openai_protocol.ts'
import type { GenerationStats } from '../../src/llm/types.ts'

const user = [{ role: 'user', content: 'hi' }]

function refused(fn: () => unknown, status: number, msg: RegExp, param?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e))
    assert.equal(e.status, status)
    assert.match(e.message, msg)
    if (param !== undefined) assert.equal(e.param, param)
    return true
  })
}

test('max_completion_tokens wins over max_tokens; both are checked', () => {
  assert.equal(
    parseChatRequest({ messages: user, max_tokens: 9, max_completion_tokens: 3 }).options.maxTokens,
    3,
  )
  assert.equal(parseChatRequest({ messages: user, max_tokens: 9 }).options.maxTokens, 9)
  refused(
    () => parseChatRequest({ messages: user, max_tokens: 'x', max_completion_tokens: 3 }),
    400,
    /max_tokens/,
  )
  // null is "left out", as OpenAI's clients send it
  assert.equal(parseChatRequest({ messages: user, max_tokens: null }).options.maxTokens, undefined)
})

test('stop: a string or a list; empty strings dropped; too many refused', () => {
  assert.deepEqual(parseTextRequest({ prompt: 'a', stop: '\n' }).options.stop, ['\n'])
  assert.deepEqual(parseTextRequest({ prompt: 'a', stop: ['', 'x'] }).options.stop, ['x'])
  assert.equal(parseTextRequest({ prompt: 'a', stop: [''] }).options.stop, undefined)
  const many = Array.from({ length: MAX_STOP_STRINGS + 1 }, (_, i) => `s${i}`)
  refused(() => parseTextRequest({ prompt: 'a', stop: many }), 400, /at most 16 strings, got 17/, 'stop')
})

test('numbers: NaN-like and out-of-range values name the field and the range', () => {
  refused(
    () => parseTextRequest({ prompt: 'a', temperature: 3 }),
    400,
    /'temperature' must be in \[0, 2\], got 3/,
  )
  refused(() => parseTextRequest({ prompt: 'a', top_k: -1 }), 400, /'top_k' must be an integer in \[0, /)
  refused(() => parseTextRequest({ prompt: 'a', min_p: '0.1' }), 400, /'min_p' must be a number, got string/)
  refused(
    () => parseTextRequest({ prompt: 'a', repetition_penalty: 0 }),
    400,
    /'repetition_penalty' must be in/,
  )
  refused(() => parseTextRequest({ prompt: 'a', seed: 2 ** 60 }), 400, /'seed' must be an integer in/)
  refused(() => parseTextRequest({ prompt: 'a', n: 0 }), 400, /'n' must be an integer in \[1, /)
})

test('messages: developer is system, assistant content may be null, text parts join', () => {
  const r = parseChatRequest({
    messages: [
      { role: 'developer', content: 'rules' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
      { role: 'assistant', content: null },
      { role: 'tool', content: 'result' },
    ],
  })
  assert.deepEqual(r.input, [
    { role: 'system', content: 'rules' },
    { role: 'user', content: 'ab' },
    { role: 'assistant', content: '' },
    { role: 'tool', content: 'result' },
  ])
  refused(
    () => parseChatRequest({ messages: [{ role: 'user', content: null }] }),
    400,
    /messages\[0\]\.content/,
  )
  refused(() => parseChatRequest({ messages: [null] }), 400, /'messages\[0\]' must be an object, got null/)
  refused(
    () => parseChatRequest({ messages: [{ content: 'x' }] }),
    400,
    /'messages\[0\].role' must be a string/,
  )
  refused(
    () => parseChatRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 1 }] }] }),
    400,
    /'messages\[0\].content\[0\].text' must be a string, got number/,
  )
})

test('prompt: one string or an array of one string', () => {
  assert.equal(parseTextRequest({ prompt: ['only'] }).input, 'only')
  assert.equal(parseTextRequest({ prompt: '' }).input, '')
  refused(() => parseTextRequest({ prompt: [] }), 400, /'prompt' must be a string, got array/)
})

test('response shapes: whole, chunks, usage chunk', () => {
  const stats: GenerationStats = {
    promptTokens: 5,
    completionTokens: 2,
    finishReason: 'length',
    prefillMs: 1,
    decodeMs: 1,
  }
  const head = { id: 'id-1', created: 7, model: 'm' }
  const chat = parseChatRequest({ messages: user, stream: true, stream_options: { include_usage: true } })
  assert.deepEqual(completionBody(chat, head, 'yo', stats), {
    id: 'id-1',
    object: 'chat.completion',
    created: 7,
    model: 'm',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'yo', refusal: null },
        logprobs: null,
        finish_reason: 'length',
      },
    ],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  })
  assert.deepEqual(streamChunk(chat, head, { text: 'a' }).choices, [
    { index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: null },
  ])
  assert.equal(streamChunk(chat, head, { text: 'a' }).usage, null)
  assert.deepEqual(streamChunk(chat, head, { finish: 'stop' }).choices, [
    { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' },
  ])
  assert.deepEqual(usageChunk(chat, head, stats).choices, [])
  const text = parseTextRequest({ prompt: 'p', stream: true })
  const c = streamChunk(text, head, { text: 'z' })
  assert.equal(c.object, 'text_completion')
  assert.equal('usage' in c, false, 'no usage field without include_usage')
  // an aborted run (only when the server shuts down) is reported as OpenAI's 'stop'
  assert.equal(
    (
      completionBody(text, head, '', { ...stats, finishReason: 'abort' }).choices as {
        finish_reason: string
      }[]
    )[0]!.finish_reason,
    'stop',
  )
})
