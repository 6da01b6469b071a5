// The one place that names the other parts' loaders (model runner, tokenizer, chat template) for
// the two model formats. `load.ts` finds out which format a path holds and calls these.
// TODO(lead): wire the real loaders where marked when the model and tokenizer branches merge.
import { TsgradError } from '../helpers.js'
import { ggufLoad } from '../nn/gguf.js'
import type { ChatTemplate, ModelRunner, Tokenizer } from './types.js'

/** What a model needs besides its weights: the tokenizer and (when the metadata names one) the chat template. */
export interface LLMParts {
  runner: ModelRunner
  tokenizer: Tokenizer
  template: ChatTemplate | undefined
}

/** Options passed on to the model loaders. */
export interface ModelLoadOptions {
  /** the KV cache's length (default: the model's context length, capped by the loader) */
  maxContext?: number
  /** convert the weights at load (e.g. 'F16', 'Q8_0'); default: keep the file's types */
  dtype?: string
}

/** A .gguf file: configuration, weights, tokenizer and template from the one file. */
export async function loadGGUFParts(path: string, opts: ModelLoadOptions): Promise<LLMParts> {
  // TODO(lead): const file = await ggufLoad(path)
  // return {
  //   runner: loadGGUFModel(file, opts),
  //   tokenizer: tokenizerFromGGUF(file.metadata),
  //   template: chatTemplateFromGGUF(file.metadata),
  // }
  void ggufLoad
  void opts
  throw new TsgradError(`llm.load: ${path}: the GGUF model loader is not part of this build yet`)
}

/**
 * A Hugging Face folder: `config.json`, `*.safetensors` (sharded or not), `tokenizer.json` and
 * `tokenizer_config.json` (parsed JSON; `{}` when the folder has none).
 */
export async function loadHFParts(
  dir: string,
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  opts: ModelLoadOptions,
): Promise<LLMParts> {
  // TODO(lead): return {
  //   runner: await loadHFModel(dir, opts),
  //   tokenizer: tokenizerFromHF(tokenizerJson, tokenizerConfig),
  //   template: chatTemplateFromHF(tokenizerConfig),
  // }
  void tokenizerJson
  void tokenizerConfig
  void opts
  throw new TsgradError(`llm.load: ${dir}: the Hugging Face model loader is not part of this build yet`)
}
