import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import type { Axis } from './reduce.js'
import { asFloat } from './elementwise.js'
import { Tensor } from './tensor.js'

export interface NormOptions {
  keepdim?: boolean
}
export interface NormalizeOptions {
  /** the norm's order (default 2) */
  p?: number
  /** the axis normalized (default 1) */
  axis?: number
  /** lower bound of the divisor (default 1e-12) */
  eps?: number
}
export interface CosineSimilarityOptions {
  axis?: number
  /** lower bound of the product of the norms (default 1e-8) */
  eps?: number
}
export interface PairwiseDistanceOptions {
  p?: number
  /** added to the difference, as PyTorch (default 1e-6) */
  eps?: number
  keepdim?: boolean
}
const NORM_OPTS: KeySet<NormOptions> = { keepdim: true }
const NORMALIZE_OPTS: KeySet<NormalizeOptions> = { p: true, axis: true, eps: true }
const COSINE_OPTS: KeySet<CosineSimilarityOptions> = { axis: true, eps: true }
const PAIRWISE_OPTS: KeySet<PairwiseDistanceOptions> = { p: true, eps: true, keepdim: true }

declare module './tensor.js' {
  interface Tensor {
    /** vector p-norm over `axis` (all axes when left out); p = Infinity / -Infinity: max / min |x| */
    norm(p?: number, axis?: Axis, opts?: NormOptions): Tensor
    normalize(opts?: NormalizeOptions): Tensor
    cosineSimilarity(x2: Tensor, opts?: CosineSimilarityOptions): Tensor
    pairwiseDistance(x2: Tensor, opts?: PairwiseDistanceOptions): Tensor
  }
}

const P = Tensor.prototype

/** sqrt with gradient 0 at 0 (the norm of a zero vector) */
function safeSqrt(s: Tensor): Tensor {
  const pos = s.gt(0)
  return pos.where(pos.where(s, 1).sqrt(), 0)
}

P.norm = function (p = 2, axis, opts = {}) {
  checkOptions('norm', opts, NORM_OPTS)
  if (typeof p !== 'number' || Number.isNaN(p))
    throw new TsgradError(`norm: p must be a number, got ${String(p)}`)
  const x = asFloat(this)
  const keepdim = opts.keepdim ?? false
  const a = x.abs()
  if (p === Number.POSITIVE_INFINITY) return a.max(axis, { keepdim })
  if (p === Number.NEGATIVE_INFINITY) return a.min(axis, { keepdim })
  if (p === 0) return a.ne(0).cast(x.dtype).sum(axis, { keepdim })
  if (p === 2) return safeSqrt(x.square().sum(axis, { keepdim }))
  if (p === 1) return a.sum(axis, { keepdim })
  const s = a.pow(p).sum(axis, { keepdim })
  const pos = s.gt(0)
  return pos.where(pos.where(s, 1).pow(1 / p), 0)
}

P.normalize = function (opts = {}) {
  checkOptions('normalize', opts, NORMALIZE_OPTS)
  const eps = opts.eps ?? 1e-12
  return this.div(this.norm(opts.p ?? 2, opts.axis ?? 1, { keepdim: true }).maximum(eps))
}

P.cosineSimilarity = function (x2, opts = {}) {
  checkOptions('cosineSimilarity', opts, COSINE_OPTS)
  const [a, b] = Tensor.broadcast('cosineSimilarity', [this, x2]) as [Tensor, Tensor]
  const axis = opts.axis ?? 1
  const eps = opts.eps ?? 1e-8
  // x1 . x2 / max(|x1| |x2|, eps)
  const dot = a.mul(b).sum(axis)
  const den = a
    .square()
    .sum(axis)
    .mul(b.square().sum(axis))
    .maximum(eps * eps)
  return dot.div(den.sqrt())
}

P.pairwiseDistance = function (x2, opts = {}) {
  checkOptions('pairwiseDistance', opts, PAIRWISE_OPTS)
  const [a, b] = Tensor.broadcast('pairwiseDistance', [this, x2]) as [Tensor, Tensor]
  const d = a.sub(b).add(opts.eps ?? 1e-6)
  return d.norm(opts.p ?? 2, -1, { keepdim: opts.keepdim ?? false })
}
