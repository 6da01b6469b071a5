// The OpenAI wire format for the LLM server: request bodies checked field by field into the
// options of `LLM.generate`, and the response objects (whole and streamed chunks) in OpenAI's
// exact shapes. No I/O here, so every rule is testable on plain objects.
import type { ChatMessage, GenerateOptions, GenerationStats } from '../../llm/types.js'

/** An error answered as OpenAI's `{ error: { message, type, param, code } }` with an HTTP status. */
export class ApiError extends Error {
  /** extra response headers (405's Allow) */
  headers: Record<string, string> = {}

  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message)
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

/** A request checked and turned into what the server runs. */
export interface CompletionRequest {
  kind: 'chat' | 'text'
  /** the prompt text (completions) or the conversation (chat) */
  input: string | ChatMessage[]
  stream: boolean
  includeUsage: boolean
  /** `LLM.generate` options without the signal (the server adds it) */
  options: Omit<GenerateOptions, 'signal'>
}

/** Most stop strings one request may give (OpenAI allows 4; llama.cpp more). */
export const MAX_STOP_STRINGS = 16

type Json = Record<string, unknown>

const kindOf = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'array'
      : typeof v === 'number' && !Number.isFinite(v)
        ? 'NaN'
        : typeof v

function typeError(field: string, expected: string, v: unknown): ApiError {
  return new ApiError(400, `'${field}' must be ${expected}, got ${kindOf(v)}`, field, 'invalid_type')
}

function valueError(field: string, msg: string): ApiError {
  return new ApiError(400, `'${field}' ${msg}`, field, 'invalid_value')
}

/** A number field in [min, max] (undefined/null when left out). */
function num(body: Json, field: string, min: number, max: number): number | undefined {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(field, 'a number', v)
  if (v < min || v > max) throw valueError(field, `must be in [${min}, ${max}], got ${v}`)
  return v
}

/** An integer field >= min (undefined/null when left out). */
function int(body: Json, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(field, 'an integer', v)
  if (v < min || v > max) throw valueError(field, `must be an integer in [${min}, ${max}], got ${v}`)
  return v
}

function bool(body: Json, field: string): boolean | undefined {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'boolean') throw typeError(field, 'a boolean', v)
  return v
}

function stopStrings(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined
  const list = typeof v === 'string' ? [v] : v
  if (!Array.isArray(list)) throw typeError('stop', 'a string or an array of strings', v)
  if (list.length > MAX_STOP_STRINGS)
    throw valueError('stop', `may hold at most ${MAX_STOP_STRINGS} strings, got ${list.length}`)
  list.forEach((s, i) => {
    if (typeof s !== 'string') throw typeError(`stop[${i}]`, 'a string', s)
  })
  // an empty stop string would end every generation before its first character
  const out = (list as string[]).filter((s) => s.length > 0)
  return out.length ? out : undefined
}

/**
 * Fields of OpenAI's API that this server does not implement. Each may be sent with its neutral
 * value (what clients send by default); any other value is a 400 rather than silently ignored.
 */
const NEUTRAL: Record<string, (v: unknown) => boolean> = {
  frequency_penalty: (v) => v === 0,
  presence_penalty: (v) => v === 0,
  logprobs: (v) => v === false || v === 0,
  top_logprobs: (v) => v === 0,
  logit_bias: (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0,
  tools: (v) => Array.isArray(v) && v.length === 0,
  functions: (v) => Array.isArray(v) && v.length === 0,
  tool_choice: (v) => v === 'none' || v === 'auto',
  function_call: (v) => v === 'none' || v === 'auto',
  response_format: (v) => typeof v === 'object' && v !== null && (v as Json).type === 'text',
  best_of: (v) => v === 1,
  echo: (v) => v === false,
  suffix: (v) => v === '',
}

function checkNeutral(body: Json): void {
  for (const [field, ok] of Object.entries(NEUTRAL)) {
    const v = body[field]
    if (v === undefined || v === null || ok(v)) continue
    const hint = field.endsWith('_penalty') ? ' (use repetition_penalty)' : ''
    throw new ApiError(
      400,
      `'${field}' is not supported by this server${hint}; got ${JSON.stringify(v).slice(0, 60)}`,
      field,
      'unsupported_parameter',
    )
  }
}

/** The sampling, length and stop fields shared by both endpoints. */
function generateOptions(body: Json): Omit<GenerateOptions, 'signal'> {
  checkNeutral(body)
  const n = int(body, 'n', 1)
  if (n !== undefined && n !== 1)
    throw valueError('n', `must be 1: one model runs one sequence at a time (got ${n})`)
  // max_completion_tokens is OpenAI's newer name for max_tokens; it wins when both are given
  const legacyMax = int(body, 'max_tokens', 1)
  const maxTokens = int(body, 'max_completion_tokens', 1) ?? legacyMax
  const opts: Omit<GenerateOptions, 'signal'> = {
    maxTokens,
    temperature: num(body, 'temperature', 0, 2),
    topP: num(body, 'top_p', 0, 1),
    topK: int(body, 'top_k', 0),
    minP: num(body, 'min_p', 0, 1),
    repetitionPenalty: num(body, 'repetition_penalty', Number.MIN_VALUE, 10),
    repeatLastN: int(body, 'repeat_last_n', 0),
    seed: int(body, 'seed', Number.MIN_SAFE_INTEGER),
    stop: stopStrings(body.stop),
  }
  // leave unset fields out, so the generation loop's defaults apply
  for (const k of Object.keys(opts) as (keyof typeof opts)[]) if (opts[k] === undefined) delete opts[k]
  return opts
}

function streamFields(body: Json): { stream: boolean; includeUsage: boolean } {
  const stream = bool(body, 'stream') ?? false
  const so = body.stream_options
  if (so === undefined || so === null) return { stream, includeUsage: false }
  if (typeof so !== 'object' || Array.isArray(so)) throw typeError('stream_options', 'an object', so)
  if (!stream) throw valueError('stream_options', 'is only allowed with stream: true')
  return { stream, includeUsage: bool(so as Json, 'include_usage') ?? false }
}

function modelField(body: Json): void {
  const m = body.model
  if (m !== undefined && typeof m !== 'string') throw typeError('model', 'a string', m)
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

/** A message's content: a string, or an array of `{type: 'text', text}` parts (joined). */
function messageContent(v: unknown, field: string, role: string): string {
  if (typeof v === 'string') return v
  if (v === null && role === 'assistant') return ''
  if (!Array.isArray(v)) throw typeError(field, 'a string or an array of text parts', v)
  return v
    .map((part, j) => {
      const p = part as Json
      if (typeof part !== 'object' || part === null || Array.isArray(part))
        throw typeError(`${field}[${j}]`, 'an object', part)
      if (p.type !== 'text')
        throw valueError(
          `${field}[${j}].type`,
          `must be 'text' (only text is supported), got ${JSON.stringify(p.type)}`,
        )
      if (typeof p.text !== 'string') throw typeError(`${field}[${j}].text`, 'a string', p.text)
      return p.text
    })
    .join('')
}

function chatMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v)) throw typeError('messages', 'an array of messages', v)
  if (v.length === 0) throw valueError('messages', 'must hold at least one message')
  return v.map((m, i) => {
    const f = `messages[${i}]`
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw typeError(f, 'an object', m)
    const raw = (m as Json).role
    if (typeof raw !== 'string') throw typeError(`${f}.role`, 'a string', raw)
    // OpenAI's newer 'developer' role is the system prompt under another name
    const role = raw === 'developer' ? 'system' : raw
    if (!ROLES.has(role))
      throw valueError(`${f}.role`, `must be one of system, developer, user, assistant, tool; got '${raw}'`)
    const content = messageContent((m as Json).content, `${f}.content`, role)
    return { role: role as ChatMessage['role'], content }
  })
}

function promptText(v: unknown): string {
  if (typeof v === 'string') return v
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0]
  if (Array.isArray(v) && v.length > 1 && v.every((s) => typeof s === 'string'))
    throw valueError('prompt', `must be one prompt (a batch of ${v.length} prompts is not supported)`)
  if (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'number' || Array.isArray(s)))
    throw valueError('prompt', 'must be text: prompts as token ids are not supported')
  throw typeError('prompt', 'a string', v)
}

function bodyObject(body: unknown): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError(
      400,
      `the request body must be a JSON object, got ${kindOf(body)}`,
      null,
      'invalid_body',
    )
  return body as Json
}

/** Checks a `POST /v1/chat/completions` body. */
export function parseChatRequest(raw: unknown): CompletionRequest {
  const body = bodyObject(raw)
  modelField(body)
  if (body.messages === undefined) throw new ApiError(400, "'messages' is required", 'messages', 'missing')
  const input = chatMessages(body.messages)
  return { kind: 'chat', input, ...streamFields(body), options: generateOptions(body) }
}

/** Checks a `POST /v1/completions` body. */
export function parseTextRequest(raw: unknown): CompletionRequest {
  const body = bodyObject(raw)
  modelField(body)
  if (body.prompt === undefined) throw new ApiError(400, "'prompt' is required", 'prompt', 'missing')
  const input = promptText(body.prompt)
  return { kind: 'text', input, ...streamFields(body), options: generateOptions(body) }
}

// ---- responses ----

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export function usageOf(stats: GenerationStats): Usage {
  return {
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.completionTokens,
    total_tokens: stats.promptTokens + stats.completionTokens,
  }
}

/** OpenAI knows 'stop' and 'length'; an aborted run is only seen when the server shuts down. */
export function finishReason(stats: GenerationStats): 'stop' | 'length' {
  return stats.finishReason === 'length' ? 'length' : 'stop'
}

/** What every response object of one request shares. */
export interface ResponseHead {
  id: string
  created: number
  model: string
}

export function completionBody(
  req: CompletionRequest,
  head: ResponseHead,
  text: string,
  stats: GenerationStats,
): Json {
  const finish_reason = finishReason(stats)
  if (req.kind === 'chat')
    return {
      id: head.id,
      object: 'chat.completion',
      created: head.created,
      model: head.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null },
          logprobs: null,
          finish_reason,
        },
      ],
      usage: usageOf(stats),
    }
  return {
    id: head.id,
    object: 'text_completion',
    created: head.created,
    model: head.model,
    choices: [{ text, index: 0, logprobs: null, finish_reason }],
    usage: usageOf(stats),
  }
}

/**
 * One streamed chunk. `piece` is text (the first chat chunk carries the role), `finish` the last
 * chunk's reason. With `include_usage`, every chunk has `usage: null` and a final chunk with no
 * choices carries the counts (`usageChunk`).
 */
export function streamChunk(
  req: CompletionRequest,
  head: ResponseHead,
  piece: { text: string; first?: boolean } | { finish: 'stop' | 'length' },
): Json {
  const finish_reason = 'finish' in piece ? piece.finish : null
  const text = 'text' in piece ? piece.text : ''
  const chunk: Json =
    req.kind === 'chat'
      ? {
          id: head.id,
          object: 'chat.completion.chunk',
          created: head.created,
          model: head.model,
          choices: [
            {
              index: 0,
              delta:
                'finish' in piece
                  ? {}
                  : piece.first
                    ? { role: 'assistant', content: text }
                    : { content: text },
              logprobs: null,
              finish_reason,
            },
          ],
        }
      : {
          id: head.id,
          object: 'text_completion',
          created: head.created,
          model: head.model,
          choices: [{ text, index: 0, logprobs: null, finish_reason }],
        }
  if (req.includeUsage) chunk.usage = null
  return chunk
}

export function usageChunk(req: CompletionRequest, head: ResponseHead, stats: GenerationStats): Json {
  return {
    id: head.id,
    object: req.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: head.created,
    model: head.model,
    choices: [],
    usage: usageOf(stats),
  }
}

export function modelsBody(model: string, created: number): Json {
  return { object: 'list', data: [{ id: model, object: 'model', created, owned_by: 'tsgrad' }] }
}
