// The generation loop: prefill the prompt through the model runner, then sample and decode one
// token per step, streaming text through the tokenizer's stream decoder. Ends on a stop token, a
// stop string, `maxTokens`, a full context or an abort signal.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { SAMPLING_KEYS, Sampler } from './sampling.js'
import type { GenerateOptions, GenerationStats, ModelRunner, Tokenizer } from './types.js'

const GENERATE_KEYS: KeySet<GenerateOptions> = { ...SAMPLING_KEYS, maxTokens: true, stop: true, signal: true }

/**
 * What the runner's KV cache holds: the tokens at positions 0..n-1. A generation given this state
 * runs only the part of its prompt after the common prefix (a chat's next turn re-sends the whole
 * conversation) and leaves the state describing the cache when it ends.
 */
export interface SequenceState {
  tokens: number[]
}

/**
 * Holds back text that could be the start of a stop string and cuts the text before the first stop
 * string found, so a stop string split across tokens is never emitted, not even in part.
 */
export class StopStringFilter {
  private pending = ''
  stopped = false
  constructor(private readonly stops: readonly string[]) {}

  /** add text; returns what can be emitted now */
  push(text: string): string {
    if (this.stopped) return ''
    if (this.stops.length === 0) return text
    this.pending += text
    let cut = -1
    for (const s of this.stops) {
      const i = this.pending.indexOf(s)
      if (i >= 0 && (cut < 0 || i < cut)) cut = i
    }
    if (cut >= 0) {
      this.stopped = true
      const out = this.pending.slice(0, cut)
      this.pending = ''
      return out
    }
    // keep the longest tail that is a proper prefix of some stop string
    let hold = 0
    for (const s of this.stops)
      for (let n = Math.min(s.length - 1, this.pending.length); n > hold; n--)
        if (this.pending.endsWith(s.slice(0, n))) {
          hold = n
          break
        }
    const out = this.pending.slice(0, this.pending.length - hold)
    this.pending = this.pending.slice(this.pending.length - hold)
    return out
  }

  /** the end of the text: what is still held back (no stop string completed) */
  flush(): string {
    const out = this.stopped ? '' : this.pending
    this.pending = ''
    return out
  }
}

function checkGenerateOptions(opts: GenerateOptions): void {
  checkOptions('generate', opts, GENERATE_KEYS)
  const { maxTokens, stop, signal } = opts
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens >= 0))
    throw new TsgradError(`generate: maxTokens must be an integer >= 0, got ${String(maxTokens)}`)
  if (stop !== undefined) {
    if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s.length === 0))
      throw new TsgradError(
        `generate: stop must be an array of non-empty strings, got ${JSON.stringify(stop)}`,
      )
  }
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TsgradError(`generate: signal must be an AbortSignal, got ${String(signal)}`)
}

/**
 * Generate a continuation of `promptIds`, yielding text pieces as they are decoded; the return
 * value has the counts and timings. Options and the prompt are checked when this is called (a
 * TsgradError before any work): a prompt that leaves no room in the runner's context for one
 * generated token (prompt length >= maxContext) is an error. The sampling options are the
 * `Sampler`'s; the prompt's tokens count for the repetition penalty. `state`, when given, is what
 * the runner's cache holds (see SequenceState): its common prefix with the prompt is not recomputed.
 */
export function generate(
  runner: ModelRunner,
  tokenizer: Tokenizer,
  promptIds: readonly number[],
  opts: GenerateOptions = {},
  state?: SequenceState,
): AsyncGenerator<string, GenerationStats> {
  checkGenerateOptions(opts)
  const { maxTokens, stop, signal, ...sampling } = opts
  const sampler = new Sampler(sampling)
  const vocab = runner.config.vocabSize
  if (!Array.isArray(promptIds) || promptIds.length === 0)
    throw new TsgradError('generate: the prompt has no tokens (encode some text, or add BOS)')
  for (const id of promptIds)
    if (!Number.isInteger(id) || id < 0 || id >= vocab)
      throw new TsgradError(
        `generate: prompt token ${String(id)} is not an id in 0..${vocab - 1} (the vocabulary)`,
      )
  if (promptIds.length >= runner.maxContext)
    throw new TsgradError(
      `generate: the prompt has ${promptIds.length} tokens but the context holds ${runner.maxContext}` +
        ` (at most ${runner.maxContext - 1} prompt tokens leave room to generate; raise maxContext or shorten the prompt)`,
    )
  return run(
    runner,
    tokenizer,
    [...promptIds],
    maxTokens ?? Number.POSITIVE_INFINITY,
    stop ?? [],
    signal,
    sampler,
    state,
  )
}

async function* run(
  runner: ModelRunner,
  tokenizer: Tokenizer,
  prompt: number[],
  maxTokens: number,
  stops: readonly string[],
  signal: AbortSignal | undefined,
  sampler: Sampler,
  state: SequenceState | undefined,
): AsyncGenerator<string, GenerationStats> {
  const t0 = performance.now()
  const stats: GenerationStats = {
    promptTokens: prompt.length,
    completionTokens: 0,
    finishReason: 'length',
    prefillMs: 0,
    decodeMs: 0,
  }
  if (signal?.aborted) return { ...stats, finishReason: 'abort' }
  if (maxTokens === 0) return stats
  for (const id of prompt) sampler.accept(id)

  // the cache's tokens stay valid only while each step completes: until then the state is cleared
  const cached = state?.tokens ?? []
  let reuse = 0
  while (reuse < cached.length && reuse < prompt.length - 1 && cached[reuse] === prompt[reuse]) reuse++
  const step = async (tokens: number[], start: number): Promise<Float32Array> => {
    if (state) state.tokens.length = Math.min(state.tokens.length, start)
    const logits = await runner.step(tokens, start)
    if (state) state.tokens.push(...tokens)
    return logits
  }
  let logits = await step(prompt.slice(reuse), reuse)

  // a continuation: SentencePiece must keep the first piece's leading space
  const decoder = tokenizer.streamDecoder({ stripPrefixSpace: false })
  const filter = new StopStringFilter(stops)
  let tFirst = t0
  for (let pos = prompt.length; ; pos++) {
    if (signal?.aborted) {
      stats.finishReason = 'abort'
      break
    }
    const id = sampler.sample(logits)
    if (pos === prompt.length) {
      tFirst = performance.now()
      stats.prefillMs = tFirst - t0
    }
    if (tokenizer.stopIds.has(id)) {
      stats.finishReason = 'stop'
      break
    }
    stats.completionTokens++
    sampler.accept(id)
    const text = filter.push(decoder.push(id))
    if (text) yield text
    if (filter.stopped) {
      stats.finishReason = 'stop'
      break
    }
    // the token sits at `pos`: the context is full when it is the last position
    if (stats.completionTokens >= maxTokens || pos + 1 >= runner.maxContext) break
    if (signal?.aborted) {
      stats.finishReason = 'abort'
      break
    }
    logits = await step([id], pos)
  }
  const tail = filter.push(decoder.flush()) + filter.flush()
  if (filter.stopped && stats.finishReason === 'length') stats.finishReason = 'stop'
  if (tail) yield tail
  stats.decodeMs = performance.now() - tFirst
  return stats
}
