// The LLM app's library surface: `llm.load`, the generation loop and the sampler.
export type {
  ChatMessage,
  ChatTemplate,
  DecodeOptions,
  EncodeOptions,
  GenerateOptions,
  GenerationStats,
  LLM,
  LLMConfig,
  ModelRunner,
  SamplingOptions,
  StreamDecoder,
  Tokenizer,
} from './types.js'
export { generate, type SequenceState, StopStringFilter } from './generate.js'
export { createLLM, encodePrompt } from './llm.js'
export { type LoadOptions, load } from './load.js'
export type { LLMParts, ModelLoadOptions } from './loaders.js'
export { probabilities, Rng, SAMPLING_DEFAULTS, Sampler } from './sampling.js'
