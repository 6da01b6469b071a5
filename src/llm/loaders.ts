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

/** Options passed on to the model loaders. */
export interface ModelLoadOptions {
  /** the KV cache's length (default: the model's context length, capped by the loader) */
  maxContext?: number
  /** convert the weights at load (e.g. 'F16', 'Q8_0'); default: keep the file's types */
  dtype?: string
  /** the KV cache's type (default 'f32') */
  kvDtype?: 'f32' | 'f16'
}

/** A .gguf file: configuration, weights, tokenizer and template from the one file. */
export async function loadGGUFParts(path: string, opts: ModelLoadOptions): Promise<LLMParts> {
  const file = await ggufLoad(path)
  // the tokenizer first: a file without one fails before any weight is converted
  const tokenizer = tokenizerFromGGUF(file.metadata)
  return {
    runner: loadGGUFModel(file, modelOptions(opts)),
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
  opts: ModelLoadOptions,
): Promise<LLMParts> {
  const tokenizer = tokenizerFromHF(tokenizerJson, tokenizerConfig)
  return {
    runner: await loadHFModel(dir, modelOptions(opts)),
    tokenizer,
    template: chatTemplateFromHF(tokenizerConfig),
  }
}

/** The model loader's options: type names are taken in either case ('F16' or 'f16'). */
function modelOptions(opts: ModelLoadOptions): LoadModelOptions {
  const out: LoadModelOptions = {}
  if (opts.maxContext !== undefined) out.maxContext = opts.maxContext
  if (opts.dtype !== undefined) out.dtype = opts.dtype.toLowerCase() as LoadModelOptions['dtype']
  if (opts.kvDtype !== undefined) out.kvDtype = opts.kvDtype
  return out
}
