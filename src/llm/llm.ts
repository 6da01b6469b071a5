// The LLM object `llm.load` returns: a model runner with its tokenizer and chat template, one
// sequence at a time. Generations queue (the runner has one KV cache) and reuse the cache's common
// prefix with the previous sequence, so a chat's next turn runs only the new messages.
import { TsgradError } from '../helpers.js'
import { generate, type SequenceState } from './generate.js'
import type { LLMParts } from './loaders.js'
import type {
  ChatMessage,
  ChatTemplate,
  GenerateOptions,
  GenerationStats,
  LLM,
  LLMConfig,
  ModelRunner,
  Tokenizer,
} from './types.js'

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

function checkMessages(messages: readonly ChatMessage[]): void {
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || !ROLES.has(m.role) || typeof m.content !== 'string')
      throw new TsgradError(
        `generate: message ${i} must be { role: 'system' | 'user' | 'assistant' | 'tool', content: string }, got ${JSON.stringify(m)}`,
      )
  })
}

/**
 * The token ids of a prompt: a string is encoded as is (BOS as the tokenizer adds it); messages are
 * rendered by the chat template with the generation prompt (BOS included where the template puts
 * it), then encoded with special tokens parsed and no BOS added.
 */
export function encodePrompt(
  tokenizer: Tokenizer,
  template: ChatTemplate | undefined,
  input: string | readonly ChatMessage[],
): number[] {
  if (typeof input === 'string') return tokenizer.encode(input)
  if (!Array.isArray(input))
    throw new TsgradError(
      `generate: the input must be a string or an array of chat messages, got ${typeof input}`,
    )
  if (!template)
    throw new TsgradError(
      'generate: this model has no chat template (its metadata names none this app knows); pass a string prompt instead of messages',
    )
  checkMessages(input)
  // the template writes BOS where the model's own template puts it (LLaMA-2: before every [INST]),
  // so these are the ids of Hugging Face's apply_chat_template(..., tokenize=True)
  const text = template.apply(input, { addGenerationPrompt: true })
  return tokenizer.encode(text, { addBos: false, parseSpecial: true })
}

/** Wrap a runner, tokenizer and template (e.g. your own) as an `LLM`. */
export function createLLM(parts: LLMParts): LLM {
  return new LoadedLLM(parts.runner, parts.tokenizer, parts.template)
}

class LoadedLLM implements LLM {
  readonly config: LLMConfig
  private readonly state: SequenceState = { tokens: [] }
  private queue: Promise<void> = Promise.resolve()

  constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: Tokenizer,
    readonly template: ChatTemplate | undefined,
  ) {
    this.config = runner.config
  }

  /** wait for the previous user of the runner; returns the release */
  private async acquire(): Promise<() => void> {
    let release!: () => void
    const mine = new Promise<void>((r) => {
      release = r
    })
    const prev = this.queue
    this.queue = prev.then(() => mine)
    await prev
    return release
  }

  async logits(ids: readonly number[]): Promise<Float32Array> {
    const vocab = this.config.vocabSize
    if (!Array.isArray(ids) || ids.length === 0)
      throw new TsgradError('logits: expected a non-empty array of token ids')
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new TsgradError(`logits: token ${String(id)} is not an id in 0..${vocab - 1} (the vocabulary)`)
    if (ids.length > this.runner.maxContext)
      throw new TsgradError(
        `logits: ${ids.length} tokens do not fit the context of ${this.runner.maxContext}`,
      )
    const release = await this.acquire()
    try {
      // the runner may compute these through its KV cache
      this.state.tokens.length = 0
      return await this.runner.logitsAll(ids)
    } finally {
      release()
    }
  }

  generate(
    input: string | readonly ChatMessage[],
    opts: GenerateOptions = {},
  ): AsyncGenerator<string, GenerationStats> {
    const ids = encodePrompt(this.tokenizer, this.template, input)
    // checks the options and the prompt now; runs when iterated, after earlier generations
    const inner = generate(this.runner, this.tokenizer, ids, opts, this.state)
    return this.queued(inner)
  }

  private async *queued(
    inner: AsyncGenerator<string, GenerationStats>,
  ): AsyncGenerator<string, GenerationStats> {
    const release = await this.acquire()
    try {
      return yield* inner
    } finally {
      release()
    }
  }
}
