// The LLM app's public API (`import { llm } from 'tsgrad'`): loading, tokenizers, chat templates,
// the generation loop and the sampler.
export {
  type ChatMLOptions,
  chatmlTemplate,
  chatTemplateByName,
  chatTemplateFromGGUF,
  chatTemplateFromHF,
  chatTemplateFromText,
  type Llama3Options,
  llama3Template,
} from './chat_template.js'
export { TOKEN_TYPE, type TokenizerSpec } from './tokenizer.js'
export { type TrainBPEOptions, trainBPE } from './bpe_train.js'
export { tokenizerFromGGUF, tokenizerToGGUFMetadata } from './tokenizer_gguf.js'
export { ggufTokenizerMetadataFromHF, tokenizerFromHF } from './tokenizer_hf.js'
export { type TokenizerToHFOptions, tokenizerToHF } from './tokenizer_hf_write.js'
export type * from './types.js'
export { generate, type SequenceState, StopStringFilter } from './generate.js'
export { createLLM, encodePrompt } from './llm.js'
export { type LoadOptions, load } from './load.js'
export type { LLMParts } from './loaders.js'
export { probabilities, Rng, SAMPLING_DEFAULTS, Sampler } from './sampling.js'
export { configFromGGUF, configFromHF } from './config.js'
export { type LoadModelOptions, loadGGUFModel, loadHFModel } from './load_model.js'
export { type ExportModelOptions, exportModel } from './export_model.js'
