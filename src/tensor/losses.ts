// Losses with PyTorch's options (torch.nn.functional names in camelCase): cross entropy and NLL
// over a class axis (class weights, ignoreIndex, label smoothing), binary cross entropy (weights,
// posWeight), regression losses (MSE, L1, smooth L1, Huber) and KL divergence. Every loss takes
// `reduction`: 'mean' (default), 'sum' or 'none'.
import { fmtShape, normAxis, shapeEq, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { withCustomGrad } from './custom_grad.js'
import { checkKnownIndices } from './index_check.js'
import { Tensor } from './tensor.js'

export type Reduction = 'mean' | 'sum' | 'none'
export interface ClassLossOptions {
  /** per-class rescaling weight, shape [C] */
  weight?: Tensor
  /** class-index targets equal to it add nothing to the loss or to the 'mean' divisor (default -100) */
  ignoreIndex?: number
  /** mix the target with the uniform distribution: (1 - s) * target + s / C (crossEntropy only) */
  labelSmoothing?: number
  reduction?: Reduction
}
export type NllLossOptions = Omit<ClassLossOptions, 'labelSmoothing'>
export interface BinaryLossOptions {
  /** rescaling weight, broadcast against the loss */
  weight?: Tensor
  reduction?: Reduction
}
export interface BinaryLogitsLossOptions extends BinaryLossOptions {
  /** weight of the positive term per class, broadcast along the last axis */
  posWeight?: Tensor
}
export interface LossOptions {
  reduction?: Reduction
}
export interface SmoothL1Options extends LossOptions {
  /** the |x - y| where the loss turns from quadratic to linear (default 1) */
  beta?: number
}
export interface HuberOptions extends LossOptions {
  /** the |x - y| where the loss turns from quadratic to linear (default 1) */
  delta?: number
}
export interface KlDivOptions {
  /** 'batchmean' divides the sum by the batch size (the mathematically correct KL) */
  reduction?: Reduction | 'batchmean'
  /** the target is given as log-probabilities */
  logTarget?: boolean
}

const CLASS_OPTS: KeySet<ClassLossOptions> = {
  weight: true,
  ignoreIndex: true,
  labelSmoothing: true,
  reduction: true,
}
const NLL_OPTS: KeySet<NllLossOptions> = { weight: true, ignoreIndex: true, reduction: true }
const BINARY_OPTS: KeySet<BinaryLossOptions> = { weight: true, reduction: true }
const BINARY_LOGITS_OPTS: KeySet<BinaryLogitsLossOptions> = { weight: true, posWeight: true, reduction: true }
const LOSS_OPTS: KeySet<LossOptions> = { reduction: true }
const SMOOTH_L1_OPTS: KeySet<SmoothL1Options> = { reduction: true, beta: true }
const HUBER_OPTS: KeySet<HuberOptions> = { reduction: true, delta: true }
const KL_OPTS: KeySet<KlDivOptions> = { reduction: true, logTarget: true }

declare module './tensor.js' {
  interface Tensor {
    crossEntropy(target: Tensor, opts?: ClassLossOptions): Tensor
    nllLoss(target: Tensor, opts?: NllLossOptions): Tensor
    binaryCrossentropy(target: Tensor, opts?: BinaryLossOptions): Tensor
    binaryCrossentropyLogits(target: Tensor, opts?: BinaryLogitsLossOptions): Tensor
    mseLoss(target: Tensor, opts?: LossOptions): Tensor
    l1Loss(target: Tensor, opts?: LossOptions): Tensor
    smoothL1Loss(target: Tensor, opts?: SmoothL1Options): Tensor
    huberLoss(target: Tensor, opts?: HuberOptions): Tensor
    klDiv(target: Tensor, opts?: KlDivOptions): Tensor
  }
}

const P = Tensor.prototype

export function reduceLoss(loss: Tensor, reduction: Reduction | undefined, op: string): Tensor {
  const r = reduction ?? 'mean'
  if (r === 'none') return loss
  if (r === 'sum') return loss.sum()
  if (r === 'mean') return loss.mean()
  throw new TsgradError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`)
}

function checkTensor(op: string, what: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor))
    throw new TsgradError(`${op}: ${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`)
}

function classWeight(op: string, w: Tensor | undefined, C: number): Tensor | undefined {
  if (w === undefined) return undefined
  checkTensor(op, 'weight', w)
  if (w.ndim !== 1 || w.shape[0] !== C)
    throw new TsgradError(`${op}: weight must have shape [${C}] (one per class), got ${fmtShape(w.shape)}`)
  return w
}

/** [1, .., C, .., 1]: a per-class vector broadcast along the class axis `ax` of `x` */
const alongClass = (v: Tensor, x: Tensor, ax: number): Tensor =>
  v.reshape(x.shape.map((d, i) => (i === ax ? d : 1)))

/**
 * Negative log-likelihood of class-index targets over axis `ax` of log-probabilities `logp`, with
 * PyTorch's semantics: each sample's term is weighted by weight[target]; 'mean' divides by the sum
 * of those weights over the samples not ignored; label smoothing adds s/C of the (weighted)
 * cross entropy with the uniform distribution.
 */
function classIndexLoss(
  op: string,
  logp: Tensor,
  target: Tensor,
  ax: number,
  opts: ClassLossOptions,
): Tensor {
  const C = logp.shape[ax]!
  const expect = logp.shape.filter((_, i) => i !== ax)
  if (!shapeEq(target.shape, expect))
    throw new TsgradError(
      `${op}: class-index target shape ${fmtShape(target.shape)} does not match input ${fmtShape(logp.shape)} (expected ${fmtShape(expect)})`,
    )
  const ignoreIndex = opts.ignoreIndex ?? -100
  if (!Number.isInteger(ignoreIndex))
    throw new TsgradError(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`)
  checkKnownIndices(op, target, 0, C - 1, `${C} classes (input ${fmtShape(logp.shape)})`, ignoreIndex)
  const w = classWeight(op, opts.weight, C)
  const ls = opts.labelSmoothing ?? 0
  const t = target.unsqueeze(ax)
  const hit = t.eq(alongClass(Tensor.iota(C, logp.device), logp, ax).cast(target.dtype))
  const keep = target.ne(ignoreIndex)
  const wl = w ? logp.mul(alongClass(w.cast(logp.dtype), logp, ax)) : logp
  // weight of each sample's target class (0 where ignored)
  const wt = w
    ? hit
        .where(alongClass(w.cast(logp.dtype), logp, ax), 0)
        .sum(ax)
        .mul(keep.cast(logp.dtype))
    : keep.cast(logp.dtype)
  let loss = keep.where(hit.where(wl, 0).sum(ax).neg(), 0)
  if (ls > 0) loss = loss.mul(1 - ls).add(keep.where(wl.sum(ax).neg(), 0).mul(ls / C))
  // a lazy target out of range (no host check could see it) gives a NaN loss, never a plausible one
  loss = keep.where(target.ge(0).logicalAnd(target.lt(C)).where(loss, Number.NaN), loss)
  const r = opts.reduction ?? 'mean'
  if (r === 'mean') return loss.sum().div(wt.sum())
  return reduceLoss(loss, r, op)
}

function checkSmoothing(op: string, ls: number | undefined): void {
  if (ls !== undefined && !(typeof ls === 'number' && ls >= 0 && ls <= 1))
    throw new TsgradError(`${op}: labelSmoothing must be a number in [0, 1], got ${ls}`)
}

P.crossEntropy = function (target, opts = {}) {
  checkOptions('crossEntropy', opts, CLASS_OPTS)
  checkTensor('crossEntropy', 'target', target)
  checkSmoothing('crossEntropy', opts.labelSmoothing)
  // the class axis is 1, or 0 for a single unbatched sample of shape [C]
  const ax = this.ndim === 1 ? 0 : normAxis('crossEntropy', 1, this.ndim, this.shape)
  const C = this.shape[ax]!
  const logp = this.logSoftmax(ax)
  if (target.dtype.isInt) return classIndexLoss('crossEntropy', logp, target, ax, opts)
  // class probabilities: -sum_c w_c t_c log p_c per sample; 'mean' divides by the sample count
  if (!shapeEq(target.shape, this.shape))
    throw new TsgradError(
      `crossEntropy: probability target shape ${fmtShape(target.shape)} does not match input ${fmtShape(this.shape)} (class indices need an integer tensor: { dtype: 'int32' })`,
    )
  if (opts.ignoreIndex !== undefined)
    throw new TsgradError('crossEntropy: ignoreIndex needs class-index (integer) targets, got probabilities')
  let t = target.cast(logp.dtype)
  const ls = opts.labelSmoothing ?? 0
  if (ls > 0) t = t.mul(1 - ls).add(ls / C)
  const w = classWeight('crossEntropy', opts.weight, C)
  const wl = w ? logp.mul(alongClass(w.cast(logp.dtype), logp, ax)) : logp
  return reduceLoss(t.mul(wl).sum(ax).neg(), opts.reduction, 'crossEntropy')
}

P.nllLoss = function (target, opts = {}) {
  checkOptions('nllLoss', opts, NLL_OPTS)
  checkTensor('nllLoss', 'target', target)
  if (!target.dtype.isInt)
    throw new TsgradError(`nllLoss: target must be integer class indices, got ${target.dtype.name}`)
  const ax = this.ndim === 1 ? 0 : normAxis('nllLoss', 1, this.ndim, this.shape)
  return classIndexLoss('nllLoss', this, target, ax, opts)
}

function binaryTarget(op: string, x: Tensor, target: Tensor): Tensor {
  checkTensor(op, 'target', target)
  if (!shapeEq(target.shape, x.shape))
    throw new TsgradError(
      `${op}: target shape ${fmtShape(target.shape)} does not match input ${fmtShape(x.shape)}`,
    )
  return target.cast(x.dtype)
}
function weighted(op: string, loss: Tensor, w: Tensor | undefined, what = 'weight'): Tensor {
  if (w === undefined) return loss
  checkTensor(op, what, w)
  return loss.mul(w.cast(loss.dtype))
}

P.binaryCrossentropy = function (target, opts = {}) {
  checkOptions('binaryCrossentropy', opts, BINARY_OPTS)
  const t = binaryTarget('binaryCrossentropy', this, target)
  // PyTorch clamps the logs at -100
  const lp = this.log().maximum(-100)
  const lq = this.mul(-1).add(1).log().maximum(-100)
  const plain = t.mul(lp).add(t.mul(-1).add(1).mul(lq)).neg()
  // PyTorch's gradient (p - t) / max(p (1 - p), 1e-12): finite at p = 0 and 1, where the clamped
  // logs' structural gradient is 0 (a saturated wrong prediction would never move) or NaN
  const loss = withCustomGrad(plain, [this, t], (g, [pi, ti]) => {
    const [p, tt] = [pi!, ti!]
    const dp = p.sub(tt).div(p.mul(p.neg().add(1)).maximum(1e-12))
    const dt = p.neg().add(1).log().maximum(-100).sub(p.log().maximum(-100))
    return [g.mul(dp), g.mul(dt)]
  })
  return reduceLoss(weighted('binaryCrossentropy', loss, opts.weight), opts.reduction, 'binaryCrossentropy')
}

P.binaryCrossentropyLogits = function (target, opts = {}) {
  const op = 'binaryCrossentropyLogits'
  checkOptions(op, opts, BINARY_LOGITS_OPTS)
  const t = binaryTarget(op, this, target)
  // -log sigmoid(-x) = softplus(-x), stable (and with the gradient -1/2 at x = 0)
  const spNeg = this.neg().softplus()
  // (1 - t) x + (1 + (posWeight - 1) t) softplus(-x); posWeight = 1 gives the plain loss
  let loss: Tensor
  if (opts.posWeight === undefined) loss = t.neg().add(1).mul(this).add(spNeg)
  else {
    checkTensor(op, 'posWeight', opts.posWeight)
    const l = opts.posWeight.cast(this.dtype).sub(1).mul(t).add(1)
    loss = t.neg().add(1).mul(this).add(l.mul(spNeg))
  }
  return reduceLoss(weighted(op, loss, opts.weight), opts.reduction, op)
}

function pointwise(op: string, x: Tensor, target: Tensor): Tensor {
  checkTensor(op, 'target', target)
  return x.sub(target)
}

P.mseLoss = function (target, opts = {}) {
  checkOptions('mseLoss', opts, LOSS_OPTS)
  return reduceLoss(pointwise('mseLoss', this, target).square(), opts.reduction, 'mseLoss')
}
P.l1Loss = function (target, opts = {}) {
  checkOptions('l1Loss', opts, LOSS_OPTS)
  return reduceLoss(pointwise('l1Loss', this, target).abs(), opts.reduction, 'l1Loss')
}

/** 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; scaled by `scale` (Huber: delta). */
function quadraticLinear(d: Tensor, beta: number, scale: number): Tensor {
  const a = d.abs()
  if (beta === 0) return a.mul(scale)
  return a
    .lt(beta)
    .where(d.square().mul(0.5 / beta), a.sub(0.5 * beta))
    .mul(scale)
}
P.smoothL1Loss = function (target, opts = {}) {
  checkOptions('smoothL1Loss', opts, SMOOTH_L1_OPTS)
  const beta = opts.beta ?? 1
  if (!(typeof beta === 'number' && beta >= 0))
    throw new TsgradError(`smoothL1Loss: beta must be a non-negative number, got ${beta}`)
  const d = pointwise('smoothL1Loss', this, target)
  return reduceLoss(quadraticLinear(d, beta, 1), opts.reduction, 'smoothL1Loss')
}
P.huberLoss = function (target, opts = {}) {
  checkOptions('huberLoss', opts, HUBER_OPTS)
  const delta = opts.delta ?? 1
  if (!(typeof delta === 'number' && delta > 0))
    throw new TsgradError(`huberLoss: delta must be a positive number, got ${delta}`)
  const d = pointwise('huberLoss', this, target)
  return reduceLoss(quadraticLinear(d, delta, delta), opts.reduction, 'huberLoss')
}

P.klDiv = function (target, opts = {}) {
  checkOptions('klDiv', opts, KL_OPTS)
  checkTensor('klDiv', 'target', target)
  // input holds log-probabilities: target * (log target - input), with 0 log 0 = 0 (xlogy)
  const t = target.cast(this.dtype)
  const loss = opts.logTarget
    ? t.exp().mul(t.sub(this))
    : t
        .eq(0)
        .where(0, t.mul(t.eq(0).where(1, t).log()))
        .sub(t.mul(this))
  if (opts.reduction === 'batchmean') return loss.sum().div(this.ndim ? this.shape[0]! : 1)
  return reduceLoss(loss, opts.reduction, 'klDiv')
}
