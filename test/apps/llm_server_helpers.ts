// Shared by the LLM server tests: a request helper, error and SSE checks, a server around a
// scripted model double for one test, and a seeded random source for the fuzz tests.
import assert from 'node:assert/strict'
import { type LLMServer, serveLLM } from '../../src/apps/llm/server.ts'
import type { ScriptedLLM } from './scripted_llm.ts'

export const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms))

export function post(
  server: LLMServer,
  path: string,
  body: unknown,
  init: RequestInit = {},
): Promise<Response> {
  return fetch(new URL(path, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

export async function expectError(
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
export function sseEvents(text: string): string[] {
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
export async function withServer(
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

/** a seeded xorshift, so a failing fuzz case can be replayed */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 2 ** 32
  }
}
