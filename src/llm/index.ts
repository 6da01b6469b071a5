// The LLM app's public API (`import { llm } from 'tsgrad'`).
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
export { tokenizerFromGGUF, tokenizerToGGUFMetadata } from './tokenizer_gguf.js'
export { ggufTokenizerMetadataFromHF, tokenizerFromHF } from './tokenizer_hf.js'
export type * from './types.js'
