// The one place that names the other parts' loaders (model runner, tokenizer, chat template) for
// the two model formats. `load.ts` finds out which format a path holds and calls these.
import { ggufLoad } from '../nn/gguf.js'
import { chatTemplateFromGGUF, chatTemplateFromHF } from './chat_template.js'
import { type LoadModelOptions, loadGGUFModel, loadHFModel } from './load_model.js'
import { tokenizerFromGGUF } from './tokenizer_gguf.js'
import { tokenizerFromHF } from './tokenizer_hf.js'
import type { ChatTemplate, ModelRunner, Tokenizer } from './types.js'

/** What a model needs besides its weights: the tokenizer and (when the metadata names one) the chat template. */
export interface LLMParts {
  runner: ModelRunner
  tokenizer: Tokenizer
  template: ChatTemplate | undefined
}

/** A .gguf file: configuration, weights, tokenizer and template from the one file. */
export async function loadGGUFParts(path: string, opts: LoadModelOptions): Promise<LLMParts> {
  const file = await ggufLoad(path)
  // the tokenizer first: a file without one fails before any weight is converted
  const tokenizer = tokenizerFromGGUF(file.metadata)
  return {
    runner: loadGGUFModel(file, opts),
    tokenizer,
    template: chatTemplateFromGGUF(file.metadata),
  }
}

/**
 * A Hugging Face folder: `config.json`, `*.safetensors` (sharded or not), `tokenizer.json` and
 * `tokenizer_config.json` (parsed JSON; `{}` when the folder has none).
 */
export async function loadHFParts(
  dir: string,
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  opts: LoadModelOptions,
): Promise<LLMParts> {
  const tokenizer = tokenizerFromHF(tokenizerJson, tokenizerConfig)
  return {
    runner: await loadHFModel(dir, opts),
    tokenizer,
    template: chatTemplateFromHF(tokenizerConfig),
  }
}
