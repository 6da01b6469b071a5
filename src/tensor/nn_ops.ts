// Processing ops: matmul (broadcast multiply + sum, no special op), convolution (pad +
// sliding-window view + multiply/reduce), normalization, dropout and the sparse categorical cross
// entropy (pooling.ts has the pools, losses.ts the other losses, attention.ts attention).
import { dtypes } from '../dtype.js'
import { fmtShape, normAxis, prod, shapeEq, TsgradError } from '../helpers.js'
import { asFloat } from './elementwise.js'
import { conv2dUnit, padSpatial, windows } from './conv.js'
import { matmul } from './matmul.js'
import { checkKnownIndices } from './index_check.js'
import { indexedLoad } from './indexed_load.js'
import { type Reduction, reduceLoss } from './losses.js'
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from './tensor.js'

type Pair = number | readonly [number, number]
export interface ConvOptions {
  bias?: Tensor
  stride?: Pair
  padding?: Pair | readonly [number, number, number, number]
  dilation?: Pair
  groups?: number
}
export interface ConvTranspose2dOptions extends ConvOptions {
  outputPadding?: Pair
}
export interface SparseCrossentropyOptions {
  labelSmoothing?: number
  reduction?: Reduction
  ignoreIndex?: number
}
const CONV_OPTS: KeySet<ConvOptions> = {
  bias: true,
  stride: true,
  padding: true,
  dilation: true,
  groups: true,
}
const CONV_T_OPTS: KeySet<ConvTranspose2dOptions> = { ...CONV_OPTS, outputPadding: true }
const SPARSE_CE_OPTS: KeySet<SparseCrossentropyOptions> = {
  labelSmoothing: true,
  reduction: true,
  ignoreIndex: true,
}

declare module './tensor.js' {
  interface Tensor {
    matmul(x: Tensor): Tensor
    dot(x: Tensor): Tensor
    linear(weight: Tensor, bias?: Tensor): Tensor
    conv2d(weight: Tensor, opts?: ConvOptions): Tensor
    convTranspose2d(weight: Tensor, opts?: ConvTranspose2dOptions): Tensor
    layernorm(axis?: number | number[], eps?: number): Tensor
    /** x / sqrt(mean(x^2, axis) + eps) (no affine; nn.RMSNorm adds the weight) */
    rmsnorm(axis?: number, eps?: number): Tensor
    batchnorm(weight: Tensor | null, bias: Tensor | null, mean: Tensor, invstd: Tensor): Tensor
    dropout(p?: number): Tensor
    oneHot(numClasses: number): Tensor
    embedding(weight: Tensor): Tensor
    sparseCategoricalCrossentropy(target: Tensor, opts?: SparseCrossentropyOptions): Tensor
  }
}

const P = Tensor.prototype
const pair = (op: string, v: Pair, name: string): [number, number] => {
  const r = (typeof v === 'number' ? [v, v] : [...v]) as [number, number]
  if (r.length !== 2 || !r.every((x) => Number.isInteger(x) && x >= 0))
    throw new TsgradError(`${op}: ${name} must be a non-negative integer or a pair, got ${JSON.stringify(v)}`)
  return r
}

P.matmul = function (x) {
  return matmul(this, x)
}
P.dot = P.matmul
P.linear = function (weight, bias) {
  const out = this.matmul(weight)
  return bias ? out.add(bias) : out
}

function conv2dImpl(x: Tensor, w: Tensor, opts: ConvOptions): Tensor {
  if (!(w instanceof Tensor)) throw new TsgradError(`conv2d: weight must be a Tensor, got ${typeof w}`)
  if (x.ndim !== 4 || w.ndim !== 4)
    throw new TsgradError(
      `conv2d: expected input (N, C, H, W) and weight (O, C/groups, KH, KW), got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`,
    )
  const groups = opts.groups ?? 1
  const [N, C] = x.shape as [number, number]
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number]
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || O % groups !== 0 || Cg !== C / groups)
    throw new TsgradError(
      `conv2d: input ${fmtShape(x.shape)} and weight ${fmtShape(w.shape)} do not match with groups=${groups}`,
    )
  const s = pair('conv2d', opts.stride ?? 1, 'stride')
  const d = pair('conv2d', opts.dilation ?? 1, 'dilation')
  const p = opts.padding ?? 0
  const pads: [number, number, number, number] =
    typeof p === 'number'
      ? [p, p, p, p]
      : p.length === 2
        ? [p[0]!, p[0]!, p[1]!, p[1]!]
        : ([...p] as [number, number, number, number])
  const fast = groups === 1 && s[0] === 1 && s[1] === 1 && d[0] === 1 && d[1] === 1
  if (fast && pads[0] < KH && pads[1] < KH && pads[2] < KW && pads[3] < KW) {
    const out = conv2dUnit(x, w, pads)
    return opts.bias ? out.add(opts.bias.reshape([1, O, 1, 1])) : out
  }
  const xp = padSpatial(x, pads)
  const win = windows(xp, [KH, KW], s, d) // (N, C, OH, OW, KH, KW)
  const OH = win.shape[2]!
  const OW = win.shape[3]!
  const xg = win.reshape([N, groups, 1, Cg, OH, OW, KH, KW])
  const wg = w.reshape([1, groups, O / groups, Cg, 1, 1, KH, KW])
  let out = xg.mul(wg).sum([3, 6, 7]).reshape([N, O, OH, OW])
  if (opts.bias) out = out.add(opts.bias.reshape([1, O, 1, 1]))
  return out
}
P.conv2d = function (weight, opts = {}) {
  checkOptions('conv2d', opts, CONV_OPTS)
  // composite: the window views made on the way are internal, not lazy readers of the
  // weights (a jitted step's update realized each of them as its own copy kernel: MNIST 0.40 ->
  // 0.48 s/step)
  return Tensor.composite(() => conv2dImpl(this, weight, opts))
}

P.convTranspose2d = function (weight, opts = {}) {
  checkOptions('convTranspose2d', opts, CONV_T_OPTS)
  return Tensor.composite(() => convTranspose2dImpl(this, weight, opts))
}

function convTranspose2dImpl(input: Tensor, weight: Tensor, opts: ConvTranspose2dOptions): Tensor {
  if (!(weight instanceof Tensor))
    throw new TsgradError(`convTranspose2d: weight must be a Tensor, got ${typeof weight}`)
  if (input.ndim !== 4 || weight.ndim !== 4)
    throw new TsgradError(
      `convTranspose2d: expected input (N, C, H, W) and weight (C, O/groups, KH, KW), got ${fmtShape(input.shape)} and ${fmtShape(weight.shape)}`,
    )
  const groups = opts.groups ?? 1
  const [N, C, H, W] = input.shape as [number, number, number, number]
  const [Cw, Og, KH, KW] = weight.shape as [number, number, number, number]
  if (Cw !== C || C % groups !== 0)
    throw new TsgradError(
      `convTranspose2d: input ${fmtShape(input.shape)} and weight ${fmtShape(weight.shape)} do not match with groups=${groups}`,
    )
  const s = pair('convTranspose2d', opts.stride ?? 1, 'stride')
  const d = pair('convTranspose2d', opts.dilation ?? 1, 'dilation')
  const p = pair('convTranspose2d', (opts.padding ?? 0) as Pair, 'padding')
  const op = pair('convTranspose2d', opts.outputPadding ?? 0, 'outputPadding')
  // insert (stride-1) zeros between input pixels
  let x: Tensor = input
  if (s[0] > 1 || s[1] > 1) {
    x = x
      .reshape([N, C, H, 1, W, 1])
      .pad([null, null, null, [0, s[0] - 1], null, [0, s[1] - 1]])
      .reshape([N, C, H * s[0], W * s[1]])
      .shrink([null, null, [0, (H - 1) * s[0] + 1], [0, (W - 1) * s[1] + 1]])
  }
  // weight (C, O/g, KH, KW) -> (O, C/g, KH, KW), flipped spatially
  const w = weight
    .reshape([groups, C / groups, Og, KH, KW])
    .transpose(1, 2)
    .reshape([groups * Og, C / groups, KH, KW])
    .flip([2, 3])
  const ph = d[0] * (KH - 1) - p[0]
  const pw = d[1] * (KW - 1) - p[1]
  return conv2dImpl(x, w, {
    bias: opts.bias,
    dilation: d,
    groups,
    padding: [ph, ph + op[0], pw, pw + op[1]],
  })
}

P.layernorm = function (axis = -1, eps = 1e-5) {
  const axes = typeof axis === 'number' ? [axis] : axis
  const y = this.sub(this.mean(axes, { keepdim: true }))
  return y.mul(y.square().mean(axes, { keepdim: true }).add(eps).rsqrt())
}
P.rmsnorm = function (axis = -1, eps = 1e-6) {
  const ax = normAxis('rmsnorm', axis, this.ndim, this.shape)
  if (!(typeof eps === 'number' && eps >= 0))
    throw new TsgradError(`rmsnorm: eps must be a number >= 0, got ${eps}`)
  // half inputs are normalized in float32 and rounded once (as HF's LlamaRMSNorm): the mean of
  // squares would overflow float16 at |x| ~ 256
  const half = this.dtype === dtypes.float16 || this.dtype === dtypes.bfloat16
  const x = half ? this.cast(dtypes.float32) : asFloat(this)
  // over the last axis the mean is a row reduce fused into the output kernel: one kernel
  const y = x.mul(x.square().mean(ax, { keepdim: true }).add(eps).rsqrt())
  return half ? y.cast(this.dtype) : y
}
P.batchnorm = function (weight, bias, mean, invstd) {
  const shape = this.shape.map((d, i) => (i === 1 ? d : 1))
  let x = this.sub(mean.reshape(shape))
  if (weight) x = x.mul(weight.reshape(shape))
  x = x.mul(invstd.ndim === 1 ? invstd.reshape(shape) : invstd)
  return bias ? x.add(bias.reshape(shape)) : x
}
P.dropout = function (p = 0.5) {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1))
    throw new TsgradError(`dropout: p must be a number in [0, 1], got ${JSON.stringify(p)}`)
  if (!Tensor.training || p === 0) return this
  if (p === 1) return this.zerosLike()
  const keep = Tensor.rand(this.shape, { device: this.device }).ge(p)
  return keep.where(this.div(1 - p), 0).cast(this.dtype)
}
P.oneHot = function (numClasses) {
  if (!this.dtype.isInt)
    throw new TsgradError(
      `oneHot: needs an integer tensor, got ${this.dtype.name} (JS numbers make float32 tensors: create indices with { dtype: 'int32' })`,
    )
  if (!Number.isInteger(numClasses) || numClasses <= 0)
    throw new TsgradError(`oneHot: numClasses must be a positive integer, got ${numClasses}`)
  // a lazy index outside 0..numClasses-1 gives an all-zero row
  checkKnownIndices('oneHot', this, 0, numClasses - 1, `${numClasses} classes`)
  const ar = Tensor.iota(numClasses, this.device).reshape([...this.shape.map(() => 1), numClasses])
  return this.unsqueeze(-1).eq(ar).cast(dtypes.int32)
}

P.embedding = function (weight) {
  if (!this.dtype.isInt)
    throw new TsgradError(
      `embedding: expected an integer index tensor, got ${this.dtype.name} of shape ${fmtShape(this.shape)} (make it with { dtype: 'int32' })`,
    )
  if (!(weight instanceof Tensor) || weight.ndim !== 2)
    throw new TsgradError(
      `embedding: weight must be a 2-d Tensor (vocabulary, embedding size), got ${weight instanceof Tensor ? fmtShape(weight.shape) : typeof weight}`,
    )
  const V = weight.shape[0]!
  // PyTorch raises on an out-of-range index; a lazy index outside the vocabulary gives a zero row
  checkKnownIndices('embedding', this, 0, V - 1, `a vocabulary of ${V} (weight ${fmtShape(weight.shape)})`)
  // one indexed load per token and column: an (N, D) index (each token's id along its row) into
  // the (V, D) table along axis 0 reads N rows, not the N x V x D of a one-hot product
  const D = weight.shape[1]!
  const N = prod(this.shape)
  const rows = indexedLoad(weight, this.reshape([N, 1]).expand([N, D]), 0)
  return rows.reshape([...this.shape, D])
}

P.sparseCategoricalCrossentropy = function (target, opts = {}) {
  checkOptions('sparseCategoricalCrossentropy', opts, SPARSE_CE_OPTS)
  if (!target.dtype.isInt)
    throw new TsgradError(
      `sparseCategoricalCrossentropy: target must be integer class indices, got ${target.dtype.name} (JS numbers make float32 tensors: create indices with { dtype: 'int32' })`,
    )
  const C = this.shape[this.ndim - 1]!
  if (!shapeEq(target.shape, this.shape.slice(0, -1)))
    throw new TsgradError(
      `sparseCategoricalCrossentropy: target shape ${fmtShape(target.shape)} does not match logits ${fmtShape(this.shape)} (expected ${fmtShape(this.shape.slice(0, -1))})`,
    )
  const ls = opts.labelSmoothing ?? 0
  const ignore = opts.ignoreIndex ?? -1
  checkKnownIndices(
    'sparseCategoricalCrossentropy',
    target,
    0,
    C - 1,
    `${C} classes (logits ${fmtShape(this.shape)})`,
    ignore,
  )
  const logp = this.logSoftmax(-1)
  const mask = target.ne(ignore)
  const hit = target.unsqueeze(-1).eq(Tensor.iota(C, this.device).reshape([...target.shape.map(() => 1), C]))
  const nll = hit.where(logp, 0).sum(-1).neg()
  const smooth = logp.mean(-1).neg()
  // a lazy target out of range (no host check could see it) gives a NaN loss, never a plausible one
  const valid = target.ge(0).logicalAnd(target.lt(C))
  const loss = mask.where(valid.where(nll.mul(1 - ls).add(smooth.mul(ls)), Number.NaN), 0)
  const r = opts.reduction ?? 'mean'
  if (r === 'mean') return loss.sum().div(mask.sum().cast(loss.dtype).maximum(1))
  return reduceLoss(loss, r, 'sparseCategoricalCrossentropy')
}
