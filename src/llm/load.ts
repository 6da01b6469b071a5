// `llm.load(path)`: a .gguf file or a Hugging Face model folder, told apart by what is there.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Device } from '../runtime/device.js'
import { nodeBuiltins } from '../runtime/node.js'
import { createLLM } from './llm.js'
import type { LoadModelOptions } from './load_model.js'
import { loadGGUFParts, loadHFParts } from './loaders.js'
import type { LLM } from './types.js'

export interface LoadOptions {
  /** the KV cache's length in tokens (default: the model's context length, as the loader caps it) */
  maxContext?: number
  /** convert the weights at load (e.g. 'F16', 'Q8_0'; the model loader says which it takes) */
  dtype?: string
  /**
   * CPU threads for the kernels (OpenMP's OMP_NUM_THREADS): takes effect only when set before the
   * first CPU kernel of the process runs
   */
  threads?: number
  /** the KV cache's type (default 'f16', as llama.cpp's: half the memory of 'f32', which keeps keys and values unrounded) */
  kvDtype?: 'f32' | 'f16'
  /**
   * products with Q8_0/Q4_0 weights (decode and prompts) as integer dot products, as llama.cpp (x rounded to
   * int8 per block of 32; default true; false: float32 products, logits ~1e-2 relative closer to
   * an exact product)
   */
  intDot?: boolean
}

const LOAD_KEYS: KeySet<LoadOptions> = {
  maxContext: true,
  dtype: true,
  threads: true,
  kvDtype: true,
  intDot: true,
}
const HF_FILES = 'config.json, *.safetensors, tokenizer.json and tokenizer_config.json'

function checkLoadOptions(opts: LoadOptions): void {
  checkOptions('llm.load', opts, LOAD_KEYS)
  const { maxContext, dtype, threads } = opts
  if (maxContext !== undefined && !(Number.isInteger(maxContext) && maxContext >= 2))
    throw new TsgradError(`llm.load: maxContext must be an integer >= 2, got ${String(maxContext)}`)
  if (dtype !== undefined && (typeof dtype !== 'string' || dtype === ''))
    throw new TsgradError(`llm.load: dtype must be a type name such as 'F16' or 'Q8_0', got ${String(dtype)}`)
  if (opts.kvDtype !== undefined && opts.kvDtype !== 'f32' && opts.kvDtype !== 'f16')
    throw new TsgradError(`llm.load: kvDtype must be 'f32' or 'f16', got ${String(opts.kvDtype)}`)
  if (opts.intDot !== undefined && typeof opts.intDot !== 'boolean')
    throw new TsgradError(`llm.load: intDot must be a boolean, got ${String(opts.intDot)}`)
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1))
    throw new TsgradError(`llm.load: threads must be an integer >= 1, got ${String(threads)}`)
}

/** Load a model with its tokenizer and chat template from a .gguf file or a Hugging Face folder. */
export async function load(path: string, opts: LoadOptions = {}): Promise<LLM> {
  checkLoadOptions(opts)
  const node = nodeBuiltins()
  if (!node) throw new TsgradError('llm.load needs Node.js (files are read from disk)')
  const { fs, path: paths } = node
  if (typeof path !== 'string' || path === '')
    throw new TsgradError(`llm.load: expected a path, got ${String(path)}`)
  if (opts.threads !== undefined) process.env.OMP_NUM_THREADS = String(opts.threads)
  // the model loader's options; type names are taken in either case ('F16' or 'f16')
  const modelOpts: LoadModelOptions = {}
  if (opts.maxContext !== undefined) modelOpts.maxContext = opts.maxContext
  if (opts.dtype !== undefined) modelOpts.dtype = opts.dtype.toLowerCase() as LoadModelOptions['dtype']
  if (opts.kvDtype !== undefined) modelOpts.kvDtype = opts.kvDtype
  if (opts.intDot !== undefined) modelOpts.intDot = opts.intDot
  let stat: ReturnType<typeof fs.statSync>
  try {
    stat = fs.statSync(path)
  } catch {
    throw new TsgradError(
      `llm.load: ${path} does not exist (expected a .gguf file or a folder with ${HF_FILES})`,
    )
  }
  // before the weights: with TSGRAD_COMPACT_MEMORY=1, they and everything after in plain buffers
  // from glibc's malloc (a LLaMA-1B Q4_0 bench run peaked ~190 MB lower, decoded 8-14% slower)
  Device.get(Device.DEFAULT).allocator.compact?.()
  if (stat.isDirectory()) {
    const names = fs.readdirSync(path)
    const missing = ['config.json', 'tokenizer.json'].filter((n) => !names.includes(n))
    if (!names.some((n) => n.endsWith('.safetensors'))) missing.push('*.safetensors')
    if (missing.length)
      throw new TsgradError(
        `llm.load: ${path} is a folder but not a Hugging Face model: it lacks ${missing.join(', ')} (expected ${HF_FILES})`,
      )
    const readJson = (name: string): unknown => {
      const p = paths.join(path, name)
      if (!fs.existsSync(p)) return {}
      try {
        return JSON.parse(fs.readFileSync(p, 'utf8'))
      } catch (e) {
        throw new TsgradError(`llm.load: ${p} is not valid JSON: ${(e as Error).message}`)
      }
    }
    const parts = await loadHFParts(
      path,
      readJson('tokenizer.json'),
      readJson('tokenizer_config.json'),
      modelOpts,
    )
    return createLLM(parts)
  }
  const magic = Buffer.alloc(4)
  const fd = fs.openSync(path, 'r')
  try {
    fs.readSync(fd, magic, 0, 4, 0)
  } finally {
    fs.closeSync(fd)
  }
  if (magic.toString('latin1') !== 'GGUF')
    throw new TsgradError(
      `llm.load: ${path} is neither a GGUF file (it does not start with the bytes 'GGUF') nor a folder with ${HF_FILES}`,
    )
  return createLLM(await loadGGUFParts(path, modelOpts))
}
