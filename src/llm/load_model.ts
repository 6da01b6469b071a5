// Loading a model runner from a GGUF file (configuration from its metadata, weights in the file's
// types) or a Hugging Face folder (config.json + model.safetensors, or shards listed in
// model.safetensors.index.json).
import { TsgradError } from '../helpers.js'
import type { GGUFFile } from '../nn/gguf.js'
import { dequantize, ggmlTypeByName, quantizeQ4_0, quantizeQ8_0 } from '../nn/gguf_quant.js'
import { safeLoad } from '../nn/safetensors.js'
import { checkOptions, type KeySet } from '../options.js'
import { nodeBuiltins } from '../runtime/node.js'
import { Tensor } from '../tensor/index.js'
import { configFromGGUF, configFromHF } from './config.js'
import { ggufWeights } from './gguf_weights.js'
import { Transformer } from './model.js'
import type { QuantBlocks } from './rows.js'
import type { LLMConfig, ModelRunner } from './types.js'
import { collectWeights, type ModelWeights, renameHF } from './weights.js'

export interface LoadModelOptions {
  /** KV cache length (default: the trained context, at most 4096) */
  maxContext?: number
  /**
   * convert the weight matrices at load (default: keep the file's types, quantized ones included);
   * 'q8_0' / 'q4_0' quantize them with llama.cpp's reference quantizers (matrices whose rows are
   * not a multiple of 32 stay as they are)
   */
  dtype?: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0'
  /** a prompt's layers run over it in chunks of this many tokens (default 256) */
  prefillChunk?: number
  /** the KV cache's element type (default 'f16': half the memory of 'f32'; see TransformerOptions) */
  kvDtype?: 'f32' | 'f16'
  /** products with Q8_0/Q4_0 weights (decode and prompts) as integer dot products, x rounded to int8 per block of 32 as llama.cpp (default true) */
  intDot?: boolean
}
const LOAD_OPTS: KeySet<LoadModelOptions> = {
  maxContext: true,
  dtype: true,
  prefillChunk: true,
  kvDtype: true,
  intDot: true,
}
const DTYPES = { f32: 'float32', f16: 'float16', bf16: 'bfloat16', q8_0: 'Q8_0', q4_0: 'Q4_0' } as const
const QUANTIZERS: Record<string, (x: Float32Array) => Uint8Array> = { Q8_0: quantizeQ8_0, Q4_0: quantizeQ4_0 }

/** bytes a tensor takes in memory (for quantized ones: the block bytes it was read from) */
type ByteSize = (t: Tensor) => number
const plainBytes: ByteSize = (t) => t.numel() * t.dtype.itemsize

function checkLoadOptions(where: string, opts: LoadModelOptions): void {
  checkOptions(where, opts, LOAD_OPTS)
  if (opts.dtype !== undefined && !Object.hasOwn(DTYPES, opts.dtype))
    throw new TsgradError(
      `${where}: dtype must be one of ${Object.keys(DTYPES).join(', ')}, got ${JSON.stringify(opts.dtype)}`,
    )
}

/** `t` quantized on the host (through its float32 values): a lazy dequantization of new blocks */
function quantizeTensor(t: Tensor, name: string, blocks: Map<Tensor, QuantBlocks>): Tensor {
  const type = ggmlTypeByName(name)!
  if (t.shape[t.ndim - 1]! % type.blockSize !== 0) return t
  const raw = QUANTIZERS[name]!(t.cast('float32').dataSync() as Float32Array)
  const bytes = Tensor.fromBytes([raw.length], 'uint8', (dst) => dst.set(raw), { device: t.device })
  const q = dequantize(type, bytes, t.shape)
  blocks.set(q, { type, blocks: bytes })
  return q
}

/** Matrices converted to opts.dtype (norms, biases and rope factors stay as they are, as in llama.cpp). */
function convert(w: ModelWeights, opts: LoadModelOptions): ModelWeights {
  if (opts.dtype === undefined) return w
  const dt = DTYPES[opts.dtype]
  const blocks = new Map<Tensor, QuantBlocks>()
  const cv = <T extends Tensor | undefined>(t: T): T => {
    if (t === undefined || t.ndim < 2) return t
    if (Object.hasOwn(QUANTIZERS, dt)) return quantizeTensor(t, dt, blocks) as T
    return t.cast(dt).contiguous().realize() as T
  }
  const { blocks: _old, ...rest } = w // the file's block bytes are not read any more
  return {
    ...rest,
    blocks,
    embed: cv(w.embed),
    ...(w.output && { output: cv(w.output) }),
    layers: w.layers.map(
      (l) => Object.fromEntries(Object.entries(l).map(([k, t]) => [k, cv(t)])) as typeof l,
    ),
  }
}

/**
 * Bytes of weights one decode step reads: every layer's weights, the output projection, one row of
 * the embedding (all of it when tied, as the output), and `used / count` of each expert stack.
 */
function decodeBytes(c: LLMConfig, w: ModelWeights, size: ByteSize): number {
  let n = size(w.outputNorm) + (w.output ? size(w.output) + size(w.embed) / c.vocabSize : size(w.embed))
  const share = c.experts ? c.experts.used / c.experts.count : 1
  for (const l of w.layers)
    for (const [k, t] of Object.entries(l) as [string, Tensor][])
      n += k.endsWith('Exps') ? size(t) * share : size(t)
  return Math.round(n)
}

/** A ModelRunner over a parsed GGUF file's tensors (`ggufLoad(path)`). */
export function loadGGUFModel(file: GGUFFile, opts: LoadModelOptions = {}): ModelRunner {
  checkLoadOptions('loadGGUFModel', opts)
  if (
    file === null ||
    typeof file !== 'object' ||
    typeof file.metadata !== 'object' ||
    !Array.isArray(file.tensorInfos) ||
    typeof file.tensors !== 'object'
  )
    throw new TsgradError('loadGGUFModel: expected a GGUFFile (from nn.ggufLoad or nn.ggufParse)')
  const config = configFromGGUF(
    file.metadata,
    file.tensorInfos.map((t) => t.name),
  )
  const { tensors, bytes, blocks } = ggufWeights(file, config)
  const w = convert({ ...collectWeights(config, tensors, 'loadGGUFModel'), blocks }, opts)
  const size: ByteSize = (t) => w.blocks?.get(t)?.blocks.numel() ?? bytes.get(t) ?? plainBytes(t)
  const { maxContext, prefillChunk, kvDtype, intDot } = opts
  return new Transformer(config, w, decodeBytes(config, w, size), {
    maxContext,
    prefillChunk,
    kvDtype,
    intDot,
  })
}

/** A ModelRunner over a Hugging Face folder: config.json and model.safetensors or its shards. */
export async function loadHFModel(dir: string, opts: LoadModelOptions = {}): Promise<ModelRunner> {
  checkLoadOptions('loadHFModel', opts)
  const node = nodeBuiltins()
  if (!node) throw new TsgradError('loadHFModel needs Node.js')
  const { fs, path } = node
  const file = (name: string): string => path.join(dir, name)
  const readJSON = (name: string): unknown => {
    try {
      return JSON.parse(fs.readFileSync(file(name), 'utf8'))
    } catch (e) {
      throw new TsgradError(`loadHFModel: cannot read ${file(name)}: ${(e as Error).message}`)
    }
  }
  const config = configFromHF(readJSON('config.json'))
  let files: string[]
  if (fs.existsSync(file('model.safetensors.index.json'))) {
    const index = readJSON('model.safetensors.index.json') as { weight_map?: unknown }
    const map = index?.weight_map
    if (map === null || typeof map !== 'object')
      throw new TsgradError(`loadHFModel: ${file('model.safetensors.index.json')} has no weight_map object`)
    files = [...new Set(Object.values(map as Record<string, unknown>))].map(String)
    const outside = files.find((f) => path.basename(f) !== f)
    if (outside !== undefined)
      throw new TsgradError(
        `loadHFModel: the index names a shard outside the folder: ${JSON.stringify(outside)}`,
      )
  } else if (fs.existsSync(file('model.safetensors'))) files = ['model.safetensors']
  else
    throw new TsgradError(
      `loadHFModel: ${dir} has neither model.safetensors nor model.safetensors.index.json`,
    )
  const hf = Object.create(null) as Record<string, Tensor>
  for (const f of files) Object.assign(hf, await safeLoad(file(f)))
  const w = convert(collectWeights(config, renameHF(hf, config), 'loadHFModel'), opts)
  const { maxContext, prefillChunk, kvDtype, intDot } = opts
  const size: ByteSize = (t) => w.blocks?.get(t)?.blocks.numel() ?? plainBytes(t)
  return new Transformer(config, w, decodeBytes(config, w, size), {
    maxContext,
    prefillChunk,
    kvDtype,
    intDot,
  })
}
