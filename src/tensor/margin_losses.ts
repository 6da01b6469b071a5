// Margin and likelihood losses of torch.nn.functional (camelCase, called on the input):
// marginRankingLoss, hingeEmbeddingLoss, softMarginLoss, cosineEmbeddingLoss, tripletMarginLoss,
// poissonNllLoss, gaussianNllLoss. Labels y are +1 / -1 as PyTorch.
import { fmtShape, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { type Reduction, reduceLoss } from './losses.js'
import { Tensor } from './tensor.js'

export interface MarginOptions {
  margin?: number
  reduction?: Reduction
}
export interface SoftMarginOptions {
  reduction?: Reduction
}
export interface TripletMarginOptions {
  margin?: number
  /** the norm's order of the distances (default 2) */
  p?: number
  eps?: number
  /** use the smaller of d(anchor, negative) and d(positive, negative) (the distance swap) */
  swap?: boolean
  reduction?: Reduction
}
export interface PoissonNllOptions {
  /** the input is log(rate) (default true) */
  logInput?: boolean
  /** add Stirling's approximation of log(target!) */
  full?: boolean
  eps?: number
  reduction?: Reduction
}
export interface GaussianNllOptions {
  /** add 0.5 log(2 pi) */
  full?: boolean
  /** lower bound of the variance (default 1e-6) */
  eps?: number
  reduction?: Reduction
}
const MARGIN_OPTS: KeySet<MarginOptions> = { margin: true, reduction: true }
const SOFT_MARGIN_OPTS: KeySet<SoftMarginOptions> = { reduction: true }
const TRIPLET_OPTS: KeySet<TripletMarginOptions> = {
  margin: true,
  p: true,
  eps: true,
  swap: true,
  reduction: true,
}
const POISSON_OPTS: KeySet<PoissonNllOptions> = { logInput: true, full: true, eps: true, reduction: true }
const GAUSSIAN_OPTS: KeySet<GaussianNllOptions> = { full: true, eps: true, reduction: true }

declare module './tensor.js' {
  interface Tensor {
    marginRankingLoss(x2: Tensor, y: Tensor, opts?: MarginOptions): Tensor
    hingeEmbeddingLoss(y: Tensor, opts?: MarginOptions): Tensor
    softMarginLoss(y: Tensor, opts?: SoftMarginOptions): Tensor
    cosineEmbeddingLoss(x2: Tensor, y: Tensor, opts?: MarginOptions): Tensor
    tripletMarginLoss(positive: Tensor, negative: Tensor, opts?: TripletMarginOptions): Tensor
    poissonNllLoss(target: Tensor, opts?: PoissonNllOptions): Tensor
    gaussianNllLoss(target: Tensor, variance: Tensor, opts?: GaussianNllOptions): Tensor
  }
}

const P = Tensor.prototype

function tensors(op: string, named: Record<string, unknown>): void {
  for (const [k, t] of Object.entries(named))
    if (!(t instanceof Tensor))
      throw new TsgradError(`${op}: ${k} must be a Tensor, got ${t === null ? 'null' : typeof t}`)
}

P.marginRankingLoss = function (x2, y, opts = {}) {
  checkOptions('marginRankingLoss', opts, MARGIN_OPTS)
  tensors('marginRankingLoss', { x2, y })
  // max(0, -y (x1 - x2) + margin)
  const loss = y
    .neg()
    .mul(this.sub(x2))
    .add(opts.margin ?? 0)
    .relu()
  return reduceLoss(loss, opts.reduction, 'marginRankingLoss')
}

P.hingeEmbeddingLoss = function (y, opts = {}) {
  checkOptions('hingeEmbeddingLoss', opts, MARGIN_OPTS)
  tensors('hingeEmbeddingLoss', { y })
  // x where y = 1, max(0, margin - x) where y = -1
  const margin = opts.margin ?? 1
  const loss = y
    .eq(1)
    .where(this, 0)
    .add(y.eq(-1).where(this.neg().add(margin).relu(), 0))
  return reduceLoss(loss, opts.reduction, 'hingeEmbeddingLoss')
}

P.softMarginLoss = function (y, opts = {}) {
  checkOptions('softMarginLoss', opts, SOFT_MARGIN_OPTS)
  tensors('softMarginLoss', { y })
  // log(1 + exp(-y x))
  return reduceLoss(y.neg().mul(this).softplus(), opts.reduction, 'softMarginLoss')
}

P.cosineEmbeddingLoss = function (x2, y, opts = {}) {
  checkOptions('cosineEmbeddingLoss', opts, MARGIN_OPTS)
  tensors('cosineEmbeddingLoss', { x2, y })
  if (this.ndim < 1 || this.ndim > 2)
    throw new TsgradError(`cosineEmbeddingLoss: expected input (N, D) or (D), got ${fmtShape(this.shape)}`)
  // PyTorch's form: dot / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12)) over the last axis
  const eps = 1e-12
  const dot = this.mul(x2).sum(-1)
  const cos = dot.div(this.square().sum(-1).add(eps).mul(x2.square().sum(-1).add(eps)).sqrt())
  const loss = y
    .eq(1)
    .where(cos.neg().add(1), 0)
    .add(y.eq(-1).where(cos.sub(opts.margin ?? 0).relu(), 0))
  return reduceLoss(loss, opts.reduction, 'cosineEmbeddingLoss')
}

P.tripletMarginLoss = function (positive, negative, opts = {}) {
  checkOptions('tripletMarginLoss', opts, TRIPLET_OPTS)
  tensors('tripletMarginLoss', { positive, negative })
  const d = { p: opts.p ?? 2, eps: opts.eps ?? 1e-6 }
  const dPos = this.pairwiseDistance(positive, d)
  let dNeg = this.pairwiseDistance(negative, d)
  if (opts.swap) dNeg = dNeg.minimum(positive.pairwiseDistance(negative, d))
  return reduceLoss(
    dPos
      .sub(dNeg)
      .add(opts.margin ?? 1)
      .relu(),
    opts.reduction,
    'tripletMarginLoss',
  )
}

P.poissonNllLoss = function (target, opts = {}) {
  checkOptions('poissonNllLoss', opts, POISSON_OPTS)
  tensors('poissonNllLoss', { target })
  const t = target.cast(this.dtype)
  let loss =
    (opts.logInput ?? true) ? this.exp().sub(t.mul(this)) : this.sub(t.mul(this.add(opts.eps ?? 1e-8).log()))
  if (opts.full) {
    // Stirling's term t log t - t + log(2 pi t) / 2, where t > 1
    const ts = t.gt(1).where(t, 1)
    const stirling = ts
      .mul(ts.log())
      .sub(ts)
      .add(
        ts
          .mul(2 * Math.PI)
          .log()
          .mul(0.5),
      )
    loss = loss.add(t.gt(1).where(stirling, 0))
  }
  return reduceLoss(loss, opts.reduction, 'poissonNllLoss')
}

P.gaussianNllLoss = function (target, variance, opts = {}) {
  checkOptions('gaussianNllLoss', opts, GAUSSIAN_OPTS)
  tensors('gaussianNllLoss', { target, variance })
  // one variance per sample ([..., 1] or the input's shape without its last axis) broadcasts
  let v = variance
  if (v.ndim === this.ndim - 1 && v.shape.every((d, i) => d === this.shape[i])) v = v.unsqueeze(-1)
  const eps = opts.eps ?? 1e-6
  // clamped at eps without cutting the gradient (PyTorch clamps in place under no_grad)
  const vc = v.add(v.maximum(eps).sub(v).detach())
  let loss = vc.log().add(this.sub(target).square().div(vc)).mul(0.5)
  if (opts.full) loss = loss.add(0.5 * Math.log(2 * Math.PI))
  return reduceLoss(loss, opts.reduction, 'gaussianNllLoss')
}
