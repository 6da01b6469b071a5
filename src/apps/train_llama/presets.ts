// Model sizes of the trainer: `tiny` (~0.85M parameters, for tests) and `small` (~14M, the real run
// on a laptop-class CPU). Flags override any field (`--dim 256 --layers 4`).

export interface ModelShape {
  /** vocabulary size of the BPE tokenizer the trainer builds */
  vocabSize: number
  dim: number
  layers: number
  heads: number
  /** key/value heads (grouped-query attention: heads is a multiple of kvHeads) */
  kvHeads: number
  /** SwiGLU feed-forward width */
  hidden: number
  /** training sequence length (the exported model's context length) */
  seqLen: number
  /** lm_head shares the embedding matrix */
  tiedEmbeddings: boolean
  normEps: number
  ropeTheta: number
}

export const PRESETS = {
  tiny: {
    vocabSize: 512,
    dim: 128,
    layers: 4,
    heads: 4,
    kvHeads: 2,
    hidden: 384,
    seqLen: 64,
    tiedEmbeddings: true,
    normEps: 1e-5,
    ropeTheta: 10000,
  },
  small: {
    vocabSize: 4096,
    dim: 384,
    layers: 8,
    heads: 6,
    kvHeads: 2,
    hidden: 1024,
    seqLen: 256,
    tiedEmbeddings: true,
    normEps: 1e-5,
    ropeTheta: 10000,
  },
} as const satisfies Record<string, ModelShape>

export type PresetName = keyof typeof PRESETS

/** Training-loop defaults per preset (batch, steps, schedule); flags override them too. */
export const TRAIN_DEFAULTS: Record<
  PresetName,
  { batchSize: number; steps: number; lr: number; warmup: number; evalEvery: number; saveEvery: number }
> = {
  tiny: { batchSize: 8, steps: 200, lr: 3e-3, warmup: 20, evalEvery: 50, saveEvery: 100 },
  small: { batchSize: 16, steps: 2000, lr: 1.5e-3, warmup: 100, evalEvery: 100, saveEvery: 200 },
}

/** The number of trainable parameters of a model of this shape. */
export function parameterCount(s: ModelShape): number {
  const hd = s.dim / s.heads
  const attn = s.dim * s.heads * hd * 2 + s.dim * s.kvHeads * hd * 2
  const mlp = 3 * s.dim * s.hidden
  const perLayer = attn + mlp + 2 * s.dim
  const embed = s.vocabSize * s.dim
  return s.layers * perLayer + embed * (s.tiedEmbeddings ? 1 : 2) + s.dim
}

/** Shape checks with messages that name the flag to change. */
export function checkShape(s: ModelShape): void {
  const bad = (msg: string): never => {
    throw new Error(msg)
  }
  for (const k of ['vocabSize', 'dim', 'layers', 'heads', 'kvHeads', 'hidden', 'seqLen'] as const)
    if (!(Number.isInteger(s[k]) && s[k] > 0)) bad(`${k} must be a positive integer, got ${s[k]}`)
  if (s.dim % s.heads !== 0) bad(`--dim ${s.dim} must be a multiple of --heads ${s.heads}`)
  if ((s.dim / s.heads) % 2 !== 0)
    bad(`the head size --dim / --heads = ${s.dim / s.heads} must be even (rope)`)
  if (s.heads % s.kvHeads !== 0) bad(`--heads ${s.heads} must be a multiple of --kv-heads ${s.kvHeads}`)
  if (s.vocabSize < 258)
    bad(`--vocab-size must be at least 258 (256 bytes + special tokens), got ${s.vocabSize}`)
}
