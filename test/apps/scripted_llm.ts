// A test double of `LLM` for the server tests: no weights, a scripted reply. The tokenizer is
// word-level (each whitespace-led word is one token), the chat template is ChatML-shaped, and the
// reply is the last user message's words in reverse order, one word per token, with a delay per
// token. It honours what the real generation loop promises: `maxTokens` and the context end it
// with 'length', `stop` strings end it with 'stop' (held back while they may still match, never
// part of the output), an aborted `signal` ends it at the next token with 'abort', and the returned
// counts are real. It records every call so tests can see order, overlap and aborts.
import { TsgradError } from '../../src/index.ts'
import type {
  ChatMessage,
  ChatTemplate,
  GenerateOptions,
  GenerationStats,
  LLM,
  LLMConfig,
  ModelRunner,
  StreamDecoder,
  Tokenizer,
} from '../../src/llm/types.ts'

const BOS = 1
const EOS = 2
const FIRST_WORD = 3
const VOCAB = 4096

/** Word-level tokenizer: ids assigned to words as they are first seen. */
class WordTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const
  readonly vocabSize = VOCAB
  readonly bos = BOS
  readonly eos = EOS
  readonly addBos = true
  readonly stopIds: ReadonlySet<number> = new Set([EOS])
  private readonly ids = new Map<string, number>()
  private readonly words: string[] = []

  encode(text: string, opts: { addBos?: boolean } = {}): number[] {
    const out = (opts.addBos ?? this.addBos) ? [BOS] : []
    for (const w of text.match(/\s*\S+|\s+$/g) ?? []) out.push(this.idOf(w))
    return out
  }

  private idOf(w: string): number {
    let id = this.ids.get(w)
    if (id === undefined) {
      id = FIRST_WORD + (this.words.length % (VOCAB - FIRST_WORD))
      this.ids.set(w, id)
      this.words[id - FIRST_WORD] = w
    }
    return id
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => (id >= FIRST_WORD ? (this.words[id - FIRST_WORD] ?? '') : '')).join('')
  }

  streamDecoder(): StreamDecoder {
    return { push: (id) => this.decode([id]), flush: () => '' }
  }

  tokenId(text: string): number | undefined {
    return this.ids.get(text)
  }
}

const chatml: ChatTemplate = {
  name: 'chatml',
  apply(messages: readonly ChatMessage[], opts = {}) {
    const turns = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')
    return opts.addGenerationPrompt ? `${turns}<|im_start|>assistant\n` : turns
  },
}

export interface ScriptedOptions {
  /** the KV cache length (default 64) */
  maxContext?: number
  /** ms per generated token (default 0) */
  delayMs?: number
  /**
   * ms of synchronous work per token (a busy wait, as compute-bound kernels block the thread): the
   * generator then never gives the event loop a turn on its own
   */
  busyMs?: number
  /** repeat the reply's words forever (until maxTokens, the context, a stop string or an abort) */
  endless?: boolean
  /** throw this error after `failAfter` pieces (default: never) */
  failWith?: Error
  failAfter?: number
  /** a chat template (default ChatML-shaped); null: the model has none */
  template?: ChatTemplate | null
}

export interface ScriptedCall {
  input: string | readonly ChatMessage[]
  opts: GenerateOptions
  startedAt: number
  /** pieces handed out so far */
  pieces: string[]
  endedAt?: number
  stats?: GenerationStats
}

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms))

export class ScriptedLLM implements LLM {
  readonly tokenizer = new WordTokenizer()
  readonly template: ChatTemplate | undefined
  readonly config: LLMConfig = {
    arch: 'llama',
    vocabSize: VOCAB,
    dim: 8,
    layers: 1,
    heads: 1,
    kvHeads: 1,
    headDim: 8,
    hidden: 16,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeLayout: 'normal',
    contextLength: 64,
    tiedEmbeddings: true,
  }
  readonly runner: ModelRunner
  readonly calls: ScriptedCall[] = []
  /** generations running now, and the most that ever ran at once */
  active = 0
  maxActive = 0
  private readonly abortWaiters: (() => void)[] = []

  constructor(readonly script: ScriptedOptions = {}) {
    this.template = script.template === null ? undefined : (script.template ?? chatml)
    const maxContext = script.maxContext ?? 64
    // logits that put all weight on the token after the last one: enough for `logits` callers
    const oneHot = (tokens: readonly number[], rows: number): Float32Array => {
      const out = new Float32Array(rows * VOCAB)
      for (let r = 0; r < rows; r++)
        out[r * VOCAB + (((tokens[tokens.length - rows + r] ?? 0) + 1) % VOCAB)] = 1
      return out
    }
    this.runner = {
      config: this.config,
      maxContext,
      weightBytes: 0,
      step: async (tokens) => oneHot(tokens, 1),
      logitsAll: async (tokens) => oneHot(tokens, tokens.length),
    }
  }

  logits(ids: readonly number[]): Promise<Float32Array> {
    return this.runner.logitsAll(ids)
  }

  /** resolves when some generation has observed an aborted signal */
  waitForAbort(timeoutMs = 5000): Promise<void> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no abort observed in ${timeoutMs} ms`)), timeoutMs)
      this.abortWaiters.push(() => {
        clearTimeout(timer)
        ok()
      })
    })
  }

  /** the reply's words for a prompt: the last user message (or the prompt text) reversed */
  replyPieces(input: string | readonly ChatMessage[]): string[] {
    const text =
      typeof input === 'string' ? input : ([...input].reverse().find((m) => m.role === 'user')?.content ?? '')
    const words = text.split(/\s+/).filter((w) => w !== '')
    return words.reverse().map((w, i) => (i === 0 ? w : ` ${w}`))
  }

  async *generate(
    input: string | readonly ChatMessage[],
    opts: GenerateOptions = {},
  ): AsyncGenerator<string, GenerationStats> {
    if (typeof input !== 'string' && !this.template)
      throw new TsgradError('generate: this model has no chat template; pass a string prompt')
    const prompt =
      typeof input === 'string' ? input : this.template!.apply(input, { addGenerationPrompt: true })
    const promptTokens = this.tokenizer.encode(prompt).length
    const ctx = this.runner.maxContext
    if (promptTokens >= ctx)
      throw new TsgradError(`generate: the prompt is ${promptTokens} tokens, the context holds ${ctx}`)
    const call: ScriptedCall = { input, opts, startedAt: performance.now(), pieces: [] }
    this.calls.push(call)
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    const t0 = performance.now()
    let prefillMs = 0
    const script = this.replyPieces(input)
    const stops = opts.stop ?? []
    let completionTokens = 0
    let pending = '' // text held back while it may be the start of a stop string
    let finishReason: GenerationStats['finishReason'] = 'stop'
    const emit = function* (text: string) {
      if (text === '') return
      call.pieces.push(text)
      yield text
    }
    try {
      for (let i = 0; ; i++) {
        if (opts.signal?.aborted) {
          finishReason = 'abort'
          for (const w of this.abortWaiters.splice(0)) w()
          break
        }
        if (opts.maxTokens !== undefined && completionTokens >= opts.maxTokens) {
          finishReason = 'length'
          break
        }
        if (promptTokens + completionTokens >= ctx) {
          finishReason = 'length'
          break
        }
        if (i >= script.length && !(this.script.endless && script.length > 0)) break // the scripted EOS
        if (this.script.failWith && i >= (this.script.failAfter ?? 0)) throw this.script.failWith
        if (this.script.delayMs) await sleep(this.script.delayMs)
        if (this.script.busyMs)
          for (const end = performance.now() + this.script.busyMs; performance.now() < end; );
        if (i === 0) prefillMs = performance.now() - t0
        completionTokens++
        pending += script[i % script.length]!
        const at = stops.map((s) => pending.indexOf(s)).filter((k) => k >= 0)
        if (at.length) {
          yield* emit(pending.slice(0, Math.min(...at)))
          pending = ''
          finishReason = 'stop'
          return this.finish(call, { promptTokens, completionTokens, finishReason, prefillMs, t0 })
        }
        // hand out all but the longest tail that is still the beginning of some stop string
        let keep = 0
        for (const s of stops)
          for (let k = Math.min(s.length - 1, pending.length); k > keep; k--)
            if (s.startsWith(pending.slice(pending.length - k))) {
              keep = k
              break
            }
        yield* emit(pending.slice(0, pending.length - keep))
        pending = pending.slice(pending.length - keep)
      }
      yield* emit(pending)
      return this.finish(call, { promptTokens, completionTokens, finishReason, prefillMs, t0 })
    } finally {
      this.active--
      call.endedAt ??= performance.now()
    }
  }

  private finish(call: ScriptedCall, r: Omit<GenerationStats, 'decodeMs'> & { t0: number }): GenerationStats {
    const stats: GenerationStats = {
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      finishReason: r.finishReason,
      prefillMs: r.prefillMs,
      decodeMs: performance.now() - r.t0 - r.prefillMs,
    }
    call.stats = stats
    call.endedAt = performance.now()
    return stats
  }
}
