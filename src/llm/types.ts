// The contracts between the parts of the LLM app: the tokenizer (./tokenizer*), the model runner
// (./model*), the generation loop (./generate.ts) and the front ends (CLI, server). Each part
// depends on these interfaces, not on another part's classes.

/** One chat message, as OpenAI's API and the chat templates take it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string
}

export interface EncodeOptions {
  /** prepend BOS (default: the tokenizer's `addBos`, from `tokenizer.ggml.add_bos_token` / tokenizer_config) */
  addBos?: boolean
  /** recognise special-token text such as `<|im_start|>` in the input as one token (default true) */
  parseSpecial?: boolean
}

export interface DecodeOptions {
  /** leave control/special tokens (BOS, EOS, `<|eot_id|>` ...) out of the text (default true) */
  skipSpecial?: boolean
  /**
   * SentencePiece tokenizers: drop the space that encode put before the text when the ids start
   * with it (default true, as Hugging Face's decode; pass false for a continuation, e.g. generated
   * tokens after a prompt, whose leading space is part of the text)
   */
  stripPrefixSpace?: boolean
}

/** Turns streamed token ids into text without ever splitting a UTF-8 character across pieces. */
export interface StreamDecoder {
  /** the text that `id` completes (possibly '' while a multi-byte character is incomplete) */
  push(id: number): string
  /** whatever is still held back (an incomplete character decodes as U+FFFD) */
  flush(): string
}

export interface Tokenizer {
  /** 'bpe' (byte-level, GPT-2 style) or 'spm' (SentencePiece-style BPE with byte fallback) */
  readonly kind: 'bpe' | 'spm'
  readonly vocabSize: number
  readonly bos: number | undefined
  readonly eos: number | undefined
  /** whether `encode` prepends BOS by default */
  readonly addBos: boolean
  /** ids that end a generation: EOS plus end-of-turn tokens such as `<|eot_id|>`, `<|im_end|>` */
  readonly stopIds: ReadonlySet<number>
  encode(text: string, opts?: EncodeOptions): number[]
  decode(ids: readonly number[], opts?: DecodeOptions): string
  streamDecoder(opts?: DecodeOptions): StreamDecoder
  /** the id of a token by its exact text (special tokens included), or undefined */
  tokenId(text: string): number | undefined
}

/** Renders messages into the prompt text the model was trained on (LLaMA-3, ChatML, LLaMA-2). */
export interface ChatTemplate {
  readonly name: 'llama3' | 'chatml' | 'llama2'
  /**
   * with `addGenerationPrompt` (default true) the text ends where the assistant's reply begins.
   * The text has BOS where the model's Jinja template puts it: encode it with `{ addBos: false }`.
   */
  apply(messages: readonly ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string
}

/** The architecture hyperparameters, read from GGUF metadata or a Hugging Face config.json. */
export interface LLMConfig {
  /**
   * 'llama' (LLaMA 1/2/3, Mistral), 'qwen2' (q/k/v biases), 'qwen3' (q/k RMS norm), 'mixtral' (MoE);
   * Qwen2-MoE and Qwen3-MoE are 'qwen2' / 'qwen3' with `experts`
   */
  arch: 'llama' | 'qwen2' | 'qwen3' | 'mixtral'
  vocabSize: number
  dim: number
  layers: number
  heads: number
  kvHeads: number
  headDim: number
  /** the feed-forward width (of each expert, for MoE) */
  hidden: number
  normEps: number
  ropeTheta: number
  /** LLaMA-3 style frequency scaling, when the model has it */
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPos: number }
  /** 'normal' pairs (2i, 2i+1) as GGUF llama weights are permuted for; 'neox' pairs (i, i + d/2) */
  ropeLayout: 'normal' | 'neox'
  /** the context the model was trained for */
  contextLength: number
  tiedEmbeddings: boolean
  /**
   * mixture of experts: experts per layer, experts used per token, softmax before or after top-k,
   * and (Qwen2-MoE) the width of a shared expert every token also goes through, gated by a sigmoid
   */
  experts?: { count: number; used: number; gating: 'softmax-topk' | 'topk-softmax'; sharedHidden?: number }
}

/** A loaded model's forward pass with its KV cache (one sequence). */
export interface ModelRunner {
  readonly config: LLMConfig
  /** the KV cache's length: positions 0..maxContext-1 */
  readonly maxContext: number
  /** bytes of weights read by one decode step (for GB/s figures) */
  readonly weightBytes: number
  /**
   * Runs `tokens` at positions start..start+T-1, writing their keys/values into the cache (positions
   * from `start` on are overwritten; earlier ones are reused), and returns the logits of the last
   * token (vocabSize floats). Prefill and decode both go through here.
   */
  step(tokens: readonly number[], start: number): Promise<Float32Array>
  /** logits of every position (T x vocabSize, row-major) of a fresh sequence, for tests and `llm.logits` */
  logitsAll(tokens: readonly number[]): Promise<Float32Array>
}

export interface SamplingOptions {
  /** 0 = greedy (default 0.8, as llama.cpp) */
  temperature?: number
  /** keep the k most likely tokens (0 = off) */
  topK?: number
  /** keep the smallest set whose probability reaches p (1 = off) */
  topP?: number
  /** drop tokens below minP x the top probability (0 = off) */
  minP?: number
  /** divide positive logits / multiply negative ones of recent tokens (1 = off) */
  repetitionPenalty?: number
  /** how many recent tokens the penalty looks at (default 64) */
  repeatLastN?: number
  seed?: number
}

export interface GenerateOptions extends SamplingOptions {
  /** the most tokens to generate (default: until a stop token or the context is full) */
  maxTokens?: number
  /** generation ends before any of these strings; they are not part of the output */
  stop?: readonly string[]
  /** aborting ends the generation at the next token (finishReason 'abort') */
  signal?: AbortSignal
}

export interface GenerationStats {
  promptTokens: number
  completionTokens: number
  finishReason: 'stop' | 'length' | 'abort'
  /** time to first token (prefill + first sample), ms */
  prefillMs: number
  decodeMs: number
}

/** What `llm.load` returns: a model with its tokenizer and chat template. */
export interface LLM {
  readonly config: LLMConfig
  readonly tokenizer: Tokenizer
  /** undefined when the metadata names no template the app knows */
  readonly template: ChatTemplate | undefined
  readonly runner: ModelRunner
  /** logits of every position of `ids` (T x vocabSize, row-major) */
  logits(ids: readonly number[]): Promise<Float32Array>
  /** a string is continued as is; messages go through the chat template. The return value has the counts. */
  generate(
    input: string | readonly ChatMessage[],
    opts?: GenerateOptions,
  ): AsyncGenerator<string, GenerationStats>
}
