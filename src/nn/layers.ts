// nn layers, written on the public Tensor API only.
//
// Conventions (shared with ./state.ts):
// - A "module" is any object. Its parameters and buffers are the Tensors reachable through its own
//   enumerable properties, arrays and nested objects (see getStateDict in ./state.ts). Properties
//   whose name starts with `_` are private and never part of the state.
// - State-dict keys are the property names as written, joined with '.' (`layers[0].weight` ->
//   `layers.0.weight`), as in PyTorch. The built-in layers' tensors carry PyTorch's attribute
//   names, so checkpoints port key for key: `weight`, `bias`, and BatchNorm's `running_mean`,
//   `running_var`, `num_batches_tracked` (with camelCase accessors `runningMean`, ... that are not
//   own properties, so they add no keys).
// - Trainable parameters are created with `requiresGrad = true` and realized into their own buffer
//   (so optimizers and loadStateDict can `assign` into them). Buffers that are state but not
//   trainable (BatchNorm running statistics) are registered with `markBuffer`, have
//   `requiresGrad = false` and are left out of getParameters.
// - Initialization follows PyTorch: Linear/Conv weights and biases U(-1/sqrt(fanIn), 1/sqrt(fanIn))
//   (torch's kaiming_uniform_(a=sqrt(5)) bound), norm weights 1 and biases 0, Embedding N(0, 1).
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'
import { markBuffer, markPending, pendingHas, realizePendingOf } from './state.js'

type Pair = number | [number, number]

function pair(v: Pair, what: string, layer: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]]
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Error(`${layer}: ${what} must be a non-negative integer or a pair of them, got ${String(v)}`)
  }
  return p
}

function checkPositiveInt(v: number, what: string, layer: string): void {
  if (!Number.isInteger(v) || v <= 0)
    throw new Error(`${layer}: ${what} must be a positive integer, got ${v}`)
}

/** Make `t` a trainable parameter: its own realized buffer, requiresGrad = true. */
function parameter(t: Tensor): Tensor {
  // clone, not contiguous: identical lazy graphs (two Tensor.zeros([n])) must not share a buffer
  const p = t.clone()
  p.realize()
  p.requiresGrad = true
  return p
}

/** A non-trainable state tensor (running statistics): own realized buffer, requiresGrad = false. */
function buffer(t: Tensor): Tensor {
  const b = t.clone()
  b.realize()
  b.requiresGrad = false
  markBuffer(b)
  return b
}

/**
 * A layer's weight and (optional) bias drawn from U(-bound, bound), realized in one schedule: their
 * two kernels are built together (on a cold CPU cache: one compiler process, not two, ~0.2 s of gcc
 * each). The weight draws first, as when each was realized alone, so the values are the same.
 */
function uniformParams(weightShape: number[], biasShape: number[] | undefined, bound: number) {
  const weight = Tensor.uniform(weightShape, -bound, bound).clone()
  const bias = biasShape && Tensor.uniform(biasShape, -bound, bound).clone()
  Tensor.realize(...(bias ? [weight, bias] : [weight]))
  weight.requiresGrad = true
  if (bias) bias.requiresGrad = true
  return { weight, bias }
}

/** Shape [1, C, 1, ...] that broadcasts a per-channel vector over axis 1 of an `ndim`-d input. */
function channelShape(c: number, ndim: number): number[] {
  const s = new Array<number>(ndim).fill(1)
  s[1] = c
  return s
}

function range(a: number, b: number): number[] {
  const r: number[] = []
  for (let i = a; i < b; i++) r.push(i)
  return r
}

// ---------------------------------------------------------------------------------------------

export interface LinearOptions {
  bias?: boolean
}
const LINEAR_OPTS: KeySet<LinearOptions> = { bias: true }

/** y = x @ weight.T + bias, weight [outFeatures, inFeatures] as in PyTorch. */
export class Linear {
  weight: Tensor
  bias: Tensor | undefined
  readonly inFeatures: number
  readonly outFeatures: number

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    checkOptions('Linear', opts, LINEAR_OPTS)
    const { bias = true } = opts
    checkPositiveInt(inFeatures, 'inFeatures', 'Linear')
    checkPositiveInt(outFeatures, 'outFeatures', 'Linear')
    this.inFeatures = inFeatures
    this.outFeatures = outFeatures
    const bound = 1 / Math.sqrt(inFeatures)
    const p = uniformParams([outFeatures, inFeatures], bias ? [outFeatures] : undefined, bound)
    this.weight = p.weight
    this.bias = p.bias
  }

  call(x: Tensor): Tensor {
    const last = x.shape[x.shape.length - 1]
    if (last !== this.inFeatures) {
      throw new Error(`Linear: expected input with last dimension ${this.inFeatures}, got shape [${x.shape}]`)
    }
    return x.linear(this.weight.T, this.bias)
  }
}

// ---------------------------------------------------------------------------------------------

export interface Conv2dOptions {
  stride?: Pair
  padding?: Pair
  dilation?: Pair
  groups?: number
  bias?: boolean
}
const CONV2D_OPTS: KeySet<Conv2dOptions> = {
  stride: true,
  padding: true,
  dilation: true,
  groups: true,
  bias: true,
}

/** 2-d convolution over NCHW input, weight [outCh, inCh / groups, kh, kw] (OIHW). */
export class Conv2d {
  weight: Tensor
  bias: Tensor | undefined
  readonly inChannels: number
  readonly outChannels: number
  readonly kernelSize: [number, number]
  readonly stride: [number, number]
  readonly padding: [number, number]
  readonly dilation: [number, number]
  readonly groups: number

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    checkOptions('Conv2d', opts, CONV2D_OPTS)
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true } = opts
    checkPositiveInt(inChannels, 'inChannels', 'Conv2d')
    checkPositiveInt(outChannels, 'outChannels', 'Conv2d')
    checkPositiveInt(groups, 'groups', 'Conv2d')
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`,
      )
    }
    this.inChannels = inChannels
    this.outChannels = outChannels
    this.kernelSize = pair(kernelSize, 'kernelSize', 'Conv2d')
    this.stride = pair(stride, 'stride', 'Conv2d')
    this.padding = pair(padding, 'padding', 'Conv2d')
    this.dilation = pair(dilation, 'dilation', 'Conv2d')
    this.groups = groups
    const [kh, kw] = this.kernelSize
    const fanIn = (inChannels / groups) * kh * kw
    const bound = 1 / Math.sqrt(fanIn)
    const p = uniformParams(
      [outChannels, inChannels / groups, kh, kw],
      bias ? [outChannels] : undefined,
      bound,
    )
    this.weight = p.weight
    this.bias = p.bias
  }

  call(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(`Conv2d: expected NCHW input with C=${this.inChannels}, got shape [${x.shape}]`)
    }
    return x.conv2d(this.weight, {
      bias: this.bias,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    })
  }
}

// ---------------------------------------------------------------------------------------------

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair
}
const CONV_TRANSPOSE2D_OPTS: KeySet<ConvTranspose2dOptions> = {
  stride: true,
  padding: true,
  dilation: true,
  groups: true,
  bias: true,
  outputPadding: true,
}

/** Transposed 2-d convolution, weight [inCh, outCh / groups, kh, kw] as in PyTorch. */
export class ConvTranspose2d {
  weight: Tensor
  bias: Tensor | undefined
  readonly inChannels: number
  readonly outChannels: number
  readonly kernelSize: [number, number]
  readonly stride: [number, number]
  readonly padding: [number, number]
  readonly outputPadding: [number, number]
  readonly dilation: [number, number]
  readonly groups: number

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: ConvTranspose2dOptions = {}) {
    checkOptions('ConvTranspose2d', opts, CONV_TRANSPOSE2D_OPTS)
    const { stride = 1, padding = 0, outputPadding = 0, dilation = 1, groups = 1, bias = true } = opts
    checkPositiveInt(inChannels, 'inChannels', 'ConvTranspose2d')
    checkPositiveInt(outChannels, 'outChannels', 'ConvTranspose2d')
    checkPositiveInt(groups, 'groups', 'ConvTranspose2d')
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `ConvTranspose2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`,
      )
    }
    this.inChannels = inChannels
    this.outChannels = outChannels
    this.kernelSize = pair(kernelSize, 'kernelSize', 'ConvTranspose2d')
    this.stride = pair(stride, 'stride', 'ConvTranspose2d')
    this.padding = pair(padding, 'padding', 'ConvTranspose2d')
    this.outputPadding = pair(outputPadding, 'outputPadding', 'ConvTranspose2d')
    this.dilation = pair(dilation, 'dilation', 'ConvTranspose2d')
    this.groups = groups
    const [kh, kw] = this.kernelSize
    // torch computes fan_in from weight.shape[1] * kh * kw for transposed convs
    const fanIn = (outChannels / groups) * kh * kw
    const bound = 1 / Math.sqrt(fanIn)
    const p = uniformParams(
      [inChannels, outChannels / groups, kh, kw],
      bias ? [outChannels] : undefined,
      bound,
    )
    this.weight = p.weight
    this.bias = p.bias
  }

  call(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(
        `ConvTranspose2d: expected NCHW input with C=${this.inChannels}, got shape [${x.shape}]`,
      )
    }
    return x.convTranspose2d(this.weight, {
      bias: this.bias,
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      dilation: this.dilation,
      groups: this.groups,
    })
  }
}

// ---------------------------------------------------------------------------------------------

export interface BatchNormOptions {
  eps?: number
  /** Weight of the new batch statistic in the running average; null = cumulative average (torch). */
  momentum?: number | null
  affine?: boolean
  trackRunningStats?: boolean
}
const BATCH_NORM_OPTS: KeySet<BatchNormOptions> = {
  eps: true,
  momentum: true,
  affine: true,
  trackRunningStats: true,
}

/**
 * Batch normalization over axis 1 of an (N, C, ...) input (works for NC, NCL and NCHW).
 *
 * With `Tensor.training` it normalizes with the batch statistics (biased variance) and updates
 * the running statistics lazily with `assign` (running_var gets the unbiased variance, as in
 * PyTorch). The update is realized by the next optimizer `step()` (together with the parameters,
 * in one realize), or at the latest by the next training-mode call of this layer. In eval mode
 * (or with trackRunningStats = false: never) it uses the running statistics.
 */
export class BatchNorm {
  weight: Tensor | undefined
  bias: Tensor | undefined
  // PyTorch's buffer names: they are the state-dict keys
  running_mean: Tensor | undefined
  running_var: Tensor | undefined
  num_batches_tracked: Tensor | undefined
  readonly numFeatures: number
  readonly eps: number
  readonly momentum: number | null
  readonly affine: boolean
  readonly trackRunningStats: boolean

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    checkOptions('BatchNorm', opts, BATCH_NORM_OPTS)
    const { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true } = opts
    checkPositiveInt(numFeatures, 'numFeatures', 'BatchNorm')
    this.numFeatures = numFeatures
    this.eps = eps
    this.momentum = momentum
    this.affine = affine
    this.trackRunningStats = trackRunningStats
    this.weight = affine ? parameter(Tensor.ones([numFeatures])) : undefined
    this.bias = affine ? parameter(Tensor.zeros([numFeatures])) : undefined
    if (trackRunningStats) {
      this.running_mean = buffer(Tensor.zeros([numFeatures]))
      this.running_var = buffer(Tensor.ones([numFeatures]))
      this.num_batches_tracked = buffer(Tensor.zeros([], { dtype: 'int32' }))
    }
  }

  /** camelCase accessors of the buffers (prototype getters: not state-dict keys) */
  get runningMean(): Tensor | undefined {
    return this.running_mean
  }
  get runningVar(): Tensor | undefined {
    return this.running_var
  }
  get numBatchesTracked(): Tensor | undefined {
    return this.num_batches_tracked
  }

  call(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numFeatures) {
      throw new Error(`BatchNorm: expected input (N, ${this.numFeatures}, ...), got shape [${x.shape}]`)
    }
    const axes = [0, ...range(2, x.ndim)]
    const cshape = channelShape(this.numFeatures, x.ndim)
    let mean: Tensor
    let invstd: Tensor
    if (Tensor.training || !this.trackRunningStats) {
      const n = x.numel() / this.numFeatures
      mean = x.mean(axes)
      const centered = x.sub(mean.reshape(cshape))
      const varBiased = centered.square().mean(axes)
      invstd = varBiased.add(this.eps).rsqrt()
      if (Tensor.training && this.trackRunningStats) {
        this.updateRunningStats(mean.detach(), varBiased.detach(), n)
      }
      const y = centered.mul(invstd.reshape(cshape))
      return this.affineOut(y, cshape)
    }
    mean = this.running_mean!
    invstd = this.running_var!.add(this.eps).rsqrt()
    return this.affineOut(x.sub(mean.reshape(cshape)).mul(invstd.reshape(cshape)), cshape)
  }

  private affineOut(y: Tensor, cshape: number[]): Tensor {
    if (this.weight) y = y.mul(this.weight.reshape(cshape))
    if (this.bias) y = y.add(this.bias.reshape(cshape))
    return y
  }

  private updateRunningStats(mean: Tensor, varBiased: Tensor, n: number): void {
    const rm = this.running_mean!
    const rv = this.running_var!
    const nbt = this.num_batches_tracked!
    // a previous update nobody realized (no optimizer step since): realize it now so the lazy
    // graph does not grow without bound.
    if (pendingHas(rm) || pendingHas(rv) || pendingHas(nbt)) realizePendingOf([rm, rv, nbt])
    Tensor.noGrad(() => {
      const varUnbiased = n > 1 ? varBiased.mul(n / (n - 1)) : varBiased
      const nbtNew = nbt.add(1)
      if (this.momentum === null) {
        // cumulative moving average: factor = 1 / num_batches_tracked (after the increment)
        const f = nbtNew.cast(rm.dtype).reciprocal()
        rm.assign(rm.add(mean.sub(rm).mul(f)))
        rv.assign(rv.add(varUnbiased.sub(rv).mul(f)))
      } else {
        const m = this.momentum
        rm.assign(rm.mul(1 - m).add(mean.mul(m)))
        rv.assign(rv.mul(1 - m).add(varUnbiased.mul(m)))
      }
      nbt.assign(nbtNew)
    })
    markPending(rm, rv, nbt)
  }
}

/** Alias with PyTorch's name for the 2-d (NCHW) case; same class. */
export const BatchNorm2d = BatchNorm

// ---------------------------------------------------------------------------------------------

export interface LayerNormOptions {
  eps?: number
  elementwiseAffine?: boolean
  bias?: boolean
}
const LAYER_NORM_OPTS: KeySet<LayerNormOptions> = { eps: true, elementwiseAffine: true, bias: true }

/** Normalizes over the last `normalizedShape.length` axes, with optional elementwise affine. */
export class LayerNorm {
  weight: Tensor | undefined
  bias: Tensor | undefined
  readonly normalizedShape: number[]
  readonly eps: number

  constructor(normalizedShape: number | number[], opts: LayerNormOptions = {}) {
    checkOptions('LayerNorm', opts, LAYER_NORM_OPTS)
    const { eps = 1e-5, elementwiseAffine = true, bias = true } = opts
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape]
    for (const d of this.normalizedShape) checkPositiveInt(d, 'normalizedShape', 'LayerNorm')
    this.eps = eps
    this.weight = elementwiseAffine ? parameter(Tensor.ones(this.normalizedShape)) : undefined
    this.bias = elementwiseAffine && bias ? parameter(Tensor.zeros(this.normalizedShape)) : undefined
  }

  call(x: Tensor): Tensor {
    const k = this.normalizedShape.length
    const tail = x.shape.slice(x.ndim - k)
    if (x.ndim < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new Error(`LayerNorm: expected input ending in [${this.normalizedShape}], got shape [${x.shape}]`)
    }
    const axes = range(x.ndim - k, x.ndim)
    const mean = x.mean(axes, { keepdim: true })
    const centered = x.sub(mean)
    const v = centered.square().mean(axes, { keepdim: true })
    let y = centered.mul(v.add(this.eps).rsqrt())
    if (this.weight) y = y.mul(this.weight)
    if (this.bias) y = y.add(this.bias)
    return y
  }
}

// ---------------------------------------------------------------------------------------------

export interface RMSNormOptions {
  eps?: number
  elementwiseAffine?: boolean
}
const RMS_NORM_OPTS: KeySet<RMSNormOptions> = { eps: true, elementwiseAffine: true }

/** y = x / sqrt(mean(x^2, -1) + eps) * weight, over the last axis (size `dim`). */
export class RMSNorm {
  weight: Tensor | undefined
  readonly dim: number
  readonly eps: number

  constructor(dim: number, opts: RMSNormOptions = {}) {
    checkOptions('RMSNorm', opts, RMS_NORM_OPTS)
    const { eps = 1e-6, elementwiseAffine = true } = opts
    checkPositiveInt(dim, 'dim', 'RMSNorm')
    this.dim = dim
    this.eps = eps
    this.weight = elementwiseAffine ? parameter(Tensor.ones([dim])) : undefined
  }

  call(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.dim) {
      throw new Error(`RMSNorm: expected last dimension ${this.dim}, got shape [${x.shape}]`)
    }
    const y = x.rmsnorm(-1, this.eps)
    return this.weight ? y.mul(this.weight) : y
  }
}

// ---------------------------------------------------------------------------------------------

export interface GroupNormOptions {
  eps?: number
  affine?: boolean
}
const GROUP_NORM_OPTS: KeySet<GroupNormOptions> = { eps: true, affine: true }

/** Splits the channels (axis 1) into groups and normalizes each group over (C/G, *spatial). */
export class GroupNorm {
  weight: Tensor | undefined
  bias: Tensor | undefined
  readonly numGroups: number
  readonly numChannels: number
  readonly eps: number

  constructor(numGroups: number, numChannels: number, opts: GroupNormOptions = {}) {
    checkOptions('GroupNorm', opts, GROUP_NORM_OPTS)
    const { eps = 1e-5, affine = true } = opts
    checkPositiveInt(numGroups, 'numGroups', 'GroupNorm')
    checkPositiveInt(numChannels, 'numChannels', 'GroupNorm')
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`)
    }
    this.numGroups = numGroups
    this.numChannels = numChannels
    this.eps = eps
    this.weight = affine ? parameter(Tensor.ones([numChannels])) : undefined
    this.bias = affine ? parameter(Tensor.zeros([numChannels])) : undefined
  }

  call(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new Error(`GroupNorm: expected input (N, ${this.numChannels}, ...), got shape [${x.shape}]`)
    }
    const n = x.shape[0]!
    const g = x.reshape([n, this.numGroups, -1])
    const mean = g.mean(-1, { keepdim: true })
    const centered = g.sub(mean)
    const v = centered.square().mean(-1, { keepdim: true })
    let y = centered.mul(v.add(this.eps).rsqrt()).reshape(x.shape)
    const cshape = channelShape(this.numChannels, x.ndim)
    if (this.weight) y = y.mul(this.weight.reshape(cshape))
    if (this.bias) y = y.add(this.bias.reshape(cshape))
    return y
  }
}

// ---------------------------------------------------------------------------------------------

export interface GatedMLPOptions {
  bias?: boolean
}
const GATED_MLP_OPTS: KeySet<GatedMLPOptions> = { bias: true }

/**
 * LLaMA's feed-forward block: down(silu(gate(x)) * up(x)), gate and up [dim -> hidden], down
 * [hidden -> dim]; no biases unless `bias` (state keys gate.weight, up.weight, down.weight).
 */
export class GatedMLP {
  gate: Linear
  up: Linear
  down: Linear

  constructor(dim: number, hidden: number, opts: GatedMLPOptions = {}) {
    checkOptions('GatedMLP', opts, GATED_MLP_OPTS)
    const { bias = false } = opts
    this.gate = new Linear(dim, hidden, { bias })
    this.up = new Linear(dim, hidden, { bias })
    this.down = new Linear(hidden, dim, { bias })
  }

  call(x: Tensor): Tensor {
    return this.down.call(this.gate.call(x).silu().mul(this.up.call(x)))
  }
}

// ---------------------------------------------------------------------------------------------

/** Lookup table: integer indices of any shape -> [..., embedSize]. weight ~ N(0, 1) as in torch. */
export class Embedding {
  weight: Tensor
  readonly vocabSize: number
  readonly embedSize: number

  constructor(vocabSize: number, embedSize: number) {
    checkPositiveInt(vocabSize, 'vocabSize', 'Embedding')
    checkPositiveInt(embedSize, 'embedSize', 'Embedding')
    this.vocabSize = vocabSize
    this.embedSize = embedSize
    this.weight = parameter(Tensor.normal([vocabSize, embedSize], 0, 1))
  }

  call(idx: Tensor): Tensor {
    return idx.embedding(this.weight)
  }
}
