// The OpenAI-compatible LLM server on node:http: `POST /v1/chat/completions`, `POST
// /v1/completions` (whole answers or server-sent events), `GET /v1/models` and the chat page at
// `/`. One model runs one sequence, so requests queue (FIFO, ./request_queue.ts); a client that
// goes away aborts its generation (or leaves the queue) and the server keeps serving.
//
// Safety on loopback: a web page elsewhere can point a name it controls at 127.0.0.1 (DNS
// rebinding), so when bound to loopback only requests whose Host is this server's loopback address
// are served; POSTs must be `application/json` (a cross-origin page cannot send that without a
// CORS preflight, which this server never grants) and a cross-origin Origin header is refused.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { checkOptions, type KeySet, TsgradError } from '../../index.js'
import type { GenerationStats, LLM } from '../../llm/types.js'
import { CHAT_PAGE_HTML } from './chat_page.js'
import {
  ApiError,
  type CompletionRequest,
  completionBody,
  finishReason,
  modelsBody,
  parseChatRequest,
  parseTextRequest,
  type ResponseHead,
  streamChunk,
  usageChunk,
} from './openai_protocol.js'
import { QueueFullError, RequestQueue } from './request_queue.js'

export interface ServeLLMOptions {
  /** the address to bind (default '127.0.0.1'; '0.0.0.0' serves every interface) */
  host?: string
  /** 0 (default): any free port; the chosen one is in `url` */
  port?: number
  /** the model id in responses and `/v1/models` (default `tsgrad-<arch>`); requests may name any model */
  modelName?: string
  /** the largest request body accepted (default 4 MiB); larger ones get 413 without being read */
  maxBodyBytes?: number
  /** how many requests may wait behind the running one (default 32); more get 429 */
  maxQueue?: number
  /** one line per request (method, path, status, time, token counts); default: silent */
  log?: (line: string) => void
}

export interface LLMServer {
  /** `http://host:port/` */
  url: string
  port: number
  /** aborts running and queued generations, closes every connection, and stops listening */
  close(): Promise<void>
}

const OPTION_KEYS: KeySet<ServeLLMOptions> = {
  host: true,
  port: true,
  modelName: true,
  maxBodyBytes: true,
  maxQueue: true,
  log: true,
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

function checkServeOptions(opts: ServeLLMOptions): void {
  checkOptions('serveLLM', opts, OPTION_KEYS)
  const bad = (what: string, v: unknown): never => {
    throw new TsgradError(`serveLLM: ${what}, got ${typeof v === 'string' ? `'${v}'` : String(v)}`)
  }
  const { host, port, modelName, maxBodyBytes, maxQueue, log } = opts
  if (host !== undefined && (typeof host !== 'string' || host === ''))
    bad('host must be a non-empty string', host)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    bad('port must be an integer in 0..65535', port)
  if (modelName !== undefined && (typeof modelName !== 'string' || modelName === ''))
    bad('modelName must be a non-empty string', modelName)
  if (maxBodyBytes !== undefined && (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1))
    bad('maxBodyBytes must be a positive integer', maxBodyBytes)
  if (maxQueue !== undefined && (!Number.isInteger(maxQueue) || maxQueue < 0))
    bad('maxQueue must be an integer >= 0', maxQueue)
  if (log !== undefined && typeof log !== 'function') bad('log must be a function', log)
}

/**
 * Reads the body, at most `limit` bytes: 413 before reading when Content-Length says more, and
 * reading stops (the request is paused, not drained) once the bytes pass the limit.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(
      new ApiError(
        413,
        `the request body is ${declared} bytes; the limit is ${limit}`,
        null,
        'body_too_large',
      ),
    )
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = []
    let size = 0
    const stop = (): void => {
      req.off('data', onData).off('end', onEnd).off('error', onCut).off('close', onCut)
      req.pause()
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= limit) return void chunks.push(chunk)
      stop()
      fail(new ApiError(413, `the request body is over the limit of ${limit} bytes`, null, 'body_too_large'))
    }
    const onEnd = (): void => {
      stop()
      ok(Buffer.concat(chunks))
    }
    // the client went away while sending: a client error, not the server's
    const onCut = (): void => {
      stop()
      fail(new ApiError(400, `the request body was cut short after ${size} bytes`, null, 'incomplete_body'))
    }
    req.on('data', onData).on('end', onEnd).on('error', onCut).on('close', onCut)
  })
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function parseJson(body: Buffer): unknown {
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    throw new ApiError(400, 'the request body is not valid UTF-8', null, 'invalid_json')
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new ApiError(
      400,
      `the request body is not valid JSON: ${(e as Error).message}`,
      null,
      'invalid_json',
    )
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  })
  res.end(text)
}

/** Writes, waiting for the socket to drain when its buffer is full; false once the client is gone. */
async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false
  if (res.write(text)) return true
  await new Promise<void>((ok) => {
    const done = (): void => {
      res.off('drain', done).off('close', done)
      ok()
    }
    res.on('drain', done).on('close', done)
  })
  return !res.destroyed
}

const sse = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`

let nextId = 0
const newId = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}${(nextId++).toString(36)}${Math.random().toString(36).slice(2, 8)}`

/** Serves `llm` over HTTP with OpenAI's API and a chat page. Resolves once listening. */
export async function serveLLM(llm: LLM, opts: ServeLLMOptions = {}): Promise<LLMServer> {
  checkServeOptions(opts)
  const host = opts.host ?? '127.0.0.1'
  const model = opts.modelName ?? `tsgrad-${llm.config.arch}`
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024
  const log = opts.log ?? (() => {})
  const queue = new RequestQueue(opts.maxQueue ?? 32)
  const created = Math.floor(Date.now() / 1000)
  const running = new Set<AbortController>()
  const handlers = new Set<Promise<void>>()
  let port = -1

  /** Host header check against DNS rebinding, for loopback binds. */
  const hostAllowed = (h: string | undefined): boolean => {
    if (!LOOPBACK.has(host)) return true
    const v = h?.toLowerCase()
    return v === `127.0.0.1:${port}` || v === `localhost:${port}` || v === `[::1]:${port}`
  }

  /** Tokens the prompt takes, to refuse prompts that do not fit the context before queueing. */
  const promptTokens = (r: CompletionRequest): number => {
    if (typeof r.input === 'string') return llm.tokenizer.encode(r.input).length
    if (!llm.template)
      throw new ApiError(
        400,
        'this model names no chat template the server knows; use /v1/completions with a formatted prompt',
        'messages',
        'no_chat_template',
      )
    return llm.tokenizer.encode(llm.template.apply(r.input, { addGenerationPrompt: true })).length
  }

  const complete = async (res: ServerResponse, r: CompletionRequest): Promise<string> => {
    const n = promptTokens(r)
    const ctx = llm.runner.maxContext
    if (n >= ctx)
      throw new ApiError(
        400,
        `the prompt is ${n} tokens but the model's context holds ${ctx} (at least one must be left to generate); shorten the ${r.kind === 'chat' ? 'messages' : 'prompt'}`,
        r.kind === 'chat' ? 'messages' : 'prompt',
        'context_length_exceeded',
      )
    const ac = new AbortController()
    // 'close' before the response ended: the client went away (streaming or not, queued or running)
    res.on('close', () => {
      if (!res.writableEnded) ac.abort(new Error('client disconnected'))
    })
    const head: ResponseHead = {
      id: newId(r.kind === 'chat' ? 'chatcmpl' : 'cmpl'),
      created: Math.floor(Date.now() / 1000),
      model,
    }
    // refused before any header goes out, so a streaming client gets the 429 too
    if (queue.full)
      throw new ApiError(
        429,
        `the server is busy: ${queue.length} requests are already waiting`,
        null,
        'queue_full',
      )
    let release: () => void
    if (r.stream) {
      // headers now, so a queued client sees its request was accepted
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      })
      res.flushHeaders()
    }
    try {
      release = await queue.acquire(ac.signal)
    } catch (e) {
      if (e instanceof QueueFullError)
        throw new ApiError(429, `the server is busy: ${e.message}`, null, 'queue_full')
      return 'client left the queue'
    }
    running.add(ac)
    let stats: GenerationStats | undefined
    try {
      stats = await generate(res, r, head, ac.signal)
    } finally {
      running.delete(ac)
      release()
    }
    return `prompt=${stats.promptTokens} completion=${stats.completionTokens} finish=${stats.finishReason}`
  }

  const generate = async (
    res: ServerResponse,
    r: CompletionRequest,
    head: ResponseHead,
    signal: AbortSignal,
  ): Promise<GenerationStats> => {
    const gen = llm.generate(r.input, { ...r.options, signal })
    let text = ''
    let started = false
    try {
      if (r.stream && r.kind === 'chat')
        await write(res, sse(streamChunk(r, head, { text: '', first: true })))
      for (let step = await gen.next(); ; step = await gen.next()) {
        if (step.done) {
          const stats = step.value
          if (r.stream) {
            await write(res, sse(streamChunk(r, head, { finish: finishReason(stats) })))
            if (r.includeUsage) await write(res, sse(usageChunk(r, head, stats)))
            await write(res, 'data: [DONE]\n\n')
            res.end()
          } else if (!signal.aborted) sendJson(res, 200, completionBody(r, head, text, stats))
          return stats
        }
        started = true
        // a turn of the event loop per token: compute-bound kernels block the thread, and without
        // this a disconnect (and every new connection) would be seen only after the whole reply
        await new Promise<void>((ok) => setImmediate(ok))
        if (step.value === '') continue
        if (r.stream) await write(res, sse(streamChunk(r, head, { text: step.value })))
        else text += step.value
      }
    } catch (e) {
      // a TsgradError before the first piece is about the request (e.g. an option the loop refuses)
      const err =
        e instanceof ApiError
          ? e
          : e instanceof TsgradError && !started
            ? new ApiError(400, e.message, null, 'invalid_request')
            : new ApiError(500, `generation failed: ${(e as Error)?.message ?? String(e)}`)
      if (!r.stream) throw err
      await write(res, sse(err.body()))
      res.end()
      throw err
    }
  }

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<string> => {
    if (!hostAllowed(req.headers.host))
      throw new ApiError(
        403,
        `forbidden: unexpected Host header ${JSON.stringify(req.headers.host ?? '')}`,
        null,
        'bad_host',
      )
    const origin = req.headers.origin
    if (origin !== undefined) {
      let same = false
      try {
        same = new URL(origin).host === req.headers.host?.toLowerCase()
      } catch {}
      if (!same)
        throw new ApiError(403, `forbidden: cross-origin request from ${origin}`, null, 'cross_origin')
    }
    let path: string
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname
    } catch {
      throw new ApiError(400, 'bad request path', null, 'bad_path')
    }
    const method = req.method ?? 'GET'
    const allow = (methods: string[]): void => {
      if (methods.includes(method)) return
      const e = new ApiError(
        405,
        `${method} is not allowed on ${path}; use ${methods.join(' or ')}`,
        null,
        'method_not_allowed',
      )
      e.headers = { allow: methods.join(', ') }
      throw e
    }
    if (path === '/' || path === '/index.html') {
      allow(['GET', 'HEAD'])
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // the page's own inline script and same-origin fetches, nothing else
        'content-security-policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
      })
      res.end(CHAT_PAGE_HTML)
      return ''
    }
    if (path === '/v1/models') {
      allow(['GET', 'HEAD'])
      sendJson(res, 200, modelsBody(model, created))
      return ''
    }
    if (path.startsWith('/v1/models/')) {
      allow(['GET', 'HEAD'])
      let id: string
      try {
        id = decodeURIComponent(path.slice('/v1/models/'.length))
      } catch {
        throw new ApiError(400, `bad percent-encoding in ${path}`, null, 'bad_path')
      }
      if (id !== model)
        throw new ApiError(404, `no model '${id}'; this server has '${model}'`, 'model', 'model_not_found')
      sendJson(res, 200, (modelsBody(model, created).data as unknown[])[0])
      return ''
    }
    const parse =
      path === '/v1/chat/completions'
        ? parseChatRequest
        : path === '/v1/completions'
          ? parseTextRequest
          : undefined
    if (!parse) throw new ApiError(404, `no route ${method} ${path}`, null, 'not_found')
    allow(['POST'])
    const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (ctype !== 'application/json')
      throw new ApiError(
        415,
        `Content-Type must be application/json, got '${ctype}'`,
        null,
        'unsupported_media_type',
      )
    const body = parseJson(await readBody(req, maxBody))
    return complete(res, parse(body))
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now()
    const task = route(req, res).then(
      (info) => info,
      (e: unknown) => {
        const err =
          e instanceof ApiError
            ? e
            : new ApiError(500, `internal error: ${(e as Error)?.message ?? String(e)}`)
        if (!res.headersSent) {
          // an unread body (413, or refused before reading) is not drained: close the connection
          const close = !req.complete
          sendJson(res, err.status, err.body(), { ...err.headers, ...(close ? { connection: 'close' } : {}) })
          if (close) res.once('finish', () => req.socket.destroySoon())
        } else if (!res.writableEnded) res.end()
        return `error ${err.status}: ${err.message}`
      },
    )
    const done = task.then((info) => {
      const ms = (performance.now() - t0).toFixed(0)
      log(`${req.method} ${req.url} ${res.statusCode} ${ms} ms${info ? ` ${info}` : ''}`)
    })
    handlers.add(done)
    void done.finally(() => handlers.delete(done))
  }

  const server = createServer(handle)
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail)
      ok()
    })
  })
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
    else socket.destroy()
  })
  port = (server.address() as AddressInfo).port
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  let closing: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${port}/`,
    port,
    close: () =>
      (closing ??= (async () => {
        for (const ac of running) ac.abort(new Error('server closing'))
        const stopped = new Promise<void>((ok) => server.close(() => ok()))
        server.closeAllConnections()
        await stopped
        await Promise.allSettled([...handlers])
      })()),
  }
}
