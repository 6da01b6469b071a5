// Test doubles for the LLM app that are real implementations of the interfaces in src/llm/types.ts:
// a byte-level tokenizer (each UTF-8 byte one token, plus three special tokens), a ChatML-style
// template, a scripted model (its logits put the most weight on a fixed token per position) and a
// runner over the small random-weight LLaMA of test/nn/tiny_llama.ts.
import { jit, nn, type sint, Tensor, Variable } from '../../src/index.ts'
import type { LLMParts } from '../../src/llm/loaders.ts'
import type {
  ChatMessage,
  ChatTemplate,
  DecodeOptions,
  EncodeOptions,
  LLMConfig,
  ModelRunner,
  StreamDecoder,
  Tokenizer,
} from '../../src/llm/types.ts'
import { TinyLlama, type TinyLlamaConfig } from '../nn/tiny_llama.ts'

export const BOS = 256
export const EOS = 257
export const EOT = 258
const SPECIALS: readonly string[] = ['<s>', '</s>', '<|eot|>', '<|im_start|>', '<|im_end|>']
export const IM_START = 259
export const IM_END = 260
export const BYTE_VOCAB = 261

/** Bytes 0..255 are tokens 0..255; specials follow. */
export class ByteTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const
  readonly vocabSize = BYTE_VOCAB
  readonly bos = BOS
  readonly eos = EOS
  readonly addBos: boolean
  readonly stopIds: ReadonlySet<number> = new Set([EOS, EOT, IM_END])
  constructor(opts: { addBos?: boolean } = {}) {
    this.addBos = opts.addBos ?? true
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = (opts.addBos ?? this.addBos) ? [BOS] : []
    const bytes = (s: string) => out.push(...new TextEncoder().encode(s))
    if (opts.parseSpecial === false) {
      bytes(text)
      return out
    }
    let rest = text
    for (;;) {
      let at = -1
      let which = -1
      SPECIALS.forEach((s, i) => {
        const j = rest.indexOf(s)
        if (j >= 0 && (at < 0 || j < at)) {
          at = j
          which = i
        }
      })
      if (at < 0) break
      bytes(rest.slice(0, at))
      out.push(256 + which)
      rest = rest.slice(at + SPECIALS[which]!.length)
    }
    bytes(rest)
    return out
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const d = this.streamDecoder(opts)
    return ids.map((id) => d.push(id)).join('') + d.flush()
  }

  streamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const skip = opts.skipSpecial ?? true
    const utf8 = new TextDecoder('utf-8')
    return {
      push: (id) => {
        if (id < 256) return utf8.decode(Uint8Array.of(id), { stream: true })
        // a special token ends any incomplete character
        const before = utf8.decode()
        return skip ? before : before + SPECIALS[id - 256]!
      },
      flush: () => utf8.decode(),
    }
  }

  tokenId(text: string): number | undefined {
    const i = SPECIALS.indexOf(text)
    if (i >= 0) return 256 + i
    const b = new TextEncoder().encode(text)
    return b.length === 1 ? b[0] : undefined
  }
}

/** ChatML: `<|im_start|>role\ncontent<|im_end|>\n` per message. */
export class ChatMLTemplate implements ChatTemplate {
  readonly name = 'chatml' as const
  apply(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    let s = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')
    if (opts.addGenerationPrompt) s += '<|im_start|>assistant\n'
    return s
  }
}

function configFor(vocab: number, cfg: Partial<TinyLlamaConfig> = {}): LLMConfig {
  return {
    arch: 'llama',
    vocabSize: vocab,
    dim: cfg.dim ?? 0,
    layers: cfg.layers ?? 0,
    heads: cfg.heads ?? 1,
    kvHeads: cfg.kvHeads ?? 1,
    headDim: cfg.dim && cfg.heads ? cfg.dim / cfg.heads : 0,
    hidden: cfg.hidden ?? 0,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeLayout: 'normal',
    contextLength: cfg.maxLen ?? 0,
    tiedEmbeddings: false,
  }
}

/**
 * A model whose next token after position p is `script(p)` (logits: 10 there, 0 elsewhere, so
 * greedy follows the script). It records every step and checks the contract: steps continue the
 * sequence it holds (start <= its length) and stay within maxContext.
 */
export class ScriptedRunner implements ModelRunner {
  readonly config: LLMConfig
  readonly weightBytes = 1000
  steps: { tokens: number[]; start: number }[] = []
  /** the tokens the "cache" holds */
  held: number[] = []
  constructor(
    readonly script: (pos: number, held: readonly number[]) => number,
    readonly maxContext = 64,
    vocab = BYTE_VOCAB,
  ) {
    this.config = configFor(vocab)
  }

  private row(pos: number): Float32Array {
    const l = new Float32Array(this.config.vocabSize)
    l[this.script(pos, this.held)] = 10
    return l
  }

  async step(tokens: readonly number[], start: number): Promise<Float32Array> {
    if (start > this.held.length) throw new Error(`step at ${start} past the ${this.held.length} held tokens`)
    if (start + tokens.length > this.maxContext)
      throw new Error(`step past the context: ${start}+${tokens.length}`)
    this.steps.push({ tokens: [...tokens], start })
    this.held = [...this.held.slice(0, start), ...tokens]
    await new Promise((r) => setImmediate(r))
    return this.row(this.held.length)
  }

  async logitsAll(tokens: readonly number[]): Promise<Float32Array> {
    const out = new Float32Array(tokens.length * this.config.vocabSize)
    this.held = [...tokens]
    for (let i = 0; i < tokens.length; i++) out.set(this.row(i + 1), i * this.config.vocabSize)
    return out
  }
}

/** A script that emits the bytes of `text` after the prompt, then `end` (EOS by default). */
export function textScript(promptLen: number, text: string, end = EOS): (pos: number) => number {
  const bytes = [...new TextEncoder().encode(text)]
  return (pos) => {
    const i = pos - promptLen
    return i < bytes.length ? bytes[i]! : end
  }
}

/** The random-weight TinyLlama as a ModelRunner: prefill at concrete positions, decode under jit. */
export class TinyLlamaRunner implements ModelRunner {
  readonly model: TinyLlama
  readonly config: LLMConfig
  readonly maxContext: number
  readonly weightBytes: number
  private readonly pos: Variable
  private readonly decode = jit((tok: Tensor, sp: sint) => this.model.logits(tok, sp, true).realize())

  constructor(
    readonly cfg: TinyLlamaConfig,
    seed = 7,
  ) {
    Tensor.manualSeed(seed)
    this.model = new TinyLlama(cfg)
    this.config = configFor(cfg.vocab, cfg)
    this.maxContext = cfg.maxLen
    this.weightBytes = nn.getParameters(this.model).reduce((n, w) => n + w.numel() * 4, 0)
    this.pos = Variable('start_pos', 0, cfg.maxLen - 1)
  }

  async step(tokens: readonly number[], start: number): Promise<Float32Array> {
    const V = this.cfg.vocab
    if (tokens.length === 1) {
      const out = this.decode(new Tensor([[tokens[0]!]], { dtype: 'int32' }), this.pos.bind(start))
      return (await out.data()) as Float32Array
    }
    const out = this.model.logits(new Tensor([[...tokens]], { dtype: 'int32' }), start, true)
    const all = (await out.data()) as Float32Array
    return all.slice((tokens.length - 1) * V)
  }

  async logitsAll(tokens: readonly number[]): Promise<Float32Array> {
    const out = this.model.logits(new Tensor([[...tokens]], { dtype: 'int32' }), 0, false)
    return (await out.data()) as Float32Array
  }
}

export const TINY_CFG: TinyLlamaConfig = {
  vocab: BYTE_VOCAB,
  dim: 32,
  heads: 4,
  kvHeads: 2,
  hidden: 48,
  layers: 2,
  maxLen: 48,
}

/** The parts of a tiny byte-level chat model (random weights). */
export function tinyParts(cfg: TinyLlamaConfig = TINY_CFG, seed = 7): LLMParts {
  return {
    runner: new TinyLlamaRunner(cfg, seed),
    tokenizer: new ByteTokenizer(),
    template: new ChatMLTemplate(),
  }
}

/** Collect a generation's pieces and its return value. */
export async function collect<T>(
  gen: AsyncGenerator<string, T>,
): Promise<{ pieces: string[]; text: string; stats: T }> {
  const pieces: string[] = []
  for (;;) {
    const r = await gen.next()
    if (r.done) return { pieces, text: pieces.join(''), stats: r.value }
    pieces.push(r.value)
  }
}
