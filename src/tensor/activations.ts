// More of torch.nn.functional's activations and Tensor math (camelCase names), composed from the
// core elementwise ops: logsigmoid, softsign, hardshrink, softshrink, tanhshrink, celu, selu,
// glu, softmin, threshold, prelu; expm1, log1p (accurate near 0), log10, sinh, cosh, logaddexp,
// logit, xlogy, isnan, isinf, isfinite, maskedFill.
import { dtypes } from '../dtype.js'
import { fmtShape, normAxis, TsgradError } from '../helpers.js'
import { withCustomGrad } from './custom_grad.js'
import { asFloat } from './elementwise.js'
import { type Operand, Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    logsigmoid(): Tensor
    softsign(): Tensor
    hardshrink(lambd?: number): Tensor
    softshrink(lambd?: number): Tensor
    tanhshrink(): Tensor
    celu(alpha?: number): Tensor
    selu(): Tensor
    glu(axis?: number): Tensor
    softmin(axis?: number): Tensor
    threshold(threshold: number, value: number): Tensor
    expm1(): Tensor
    log1p(): Tensor
    log10(): Tensor
    sinh(): Tensor
    cosh(): Tensor
    logaddexp(x: Operand): Tensor
    isnan(): Tensor
    isinf(): Tensor
    isfinite(): Tensor
    /** x >= 0 ? x : weight * x, weight of shape [1] or [C] (per channel, axis 1) */
    prelu(weight: Tensor): Tensor
    /** log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given */
    logit(eps?: number): Tensor
    /** x * log(y), 0 where x = 0 */
    xlogy(y: Operand): Tensor
    /** value where mask is true */
    maskedFill(mask: Tensor, value: Operand): Tensor
  }
}

const P = Tensor.prototype
const checkLambd = (op: string, l: number): void => {
  if (!(typeof l === 'number' && l >= 0)) throw new TsgradError(`${op}: lambd must be >= 0, got ${l}`)
}

P.logsigmoid = function () {
  // -softplus(-x): stable for large |x|, gradient 1/2 at 0 as sigmoid(-0)
  return this.neg().softplus().neg()
}
P.softsign = function () {
  const x = asFloat(this)
  return x.div(x.abs().add(1))
}
P.hardshrink = function (lambd = 0.5) {
  checkLambd('hardshrink', lambd)
  return this.abs().gt(lambd).where(this, 0).cast(this.dtype)
}
P.softshrink = function (lambd = 0.5) {
  checkLambd('softshrink', lambd)
  return this.gt(lambd)
    .where(this.sub(lambd), this.lt(-lambd).where(this.add(lambd), 0))
    .cast(this.dtype)
}
P.tanhshrink = function () {
  return this.sub(this.tanh())
}
P.celu = function (alpha = 1) {
  if (!(typeof alpha === 'number' && alpha !== 0))
    throw new TsgradError(`celu: alpha must be non-zero, got ${alpha}`)
  const x = asFloat(this)
  // at 0 the exp branch's slope (1), as PyTorch: a mask, not minimum(x, 0), whose tie splits it
  const pos = x.gt(0)
  return pos.where(x, pos.where(0, x).div(alpha).expm1().mul(alpha))
}
const SELU_ALPHA = 1.6732632423543772
const SELU_SCALE = 1.0507009873554805
P.selu = function () {
  return this.elu(SELU_ALPHA).mul(SELU_SCALE)
}
P.glu = function (axis = -1) {
  const ax = normAxis('glu', axis, this.ndim, this.shape)
  const n = this.shape[ax]!
  if (n % 2 !== 0)
    throw new TsgradError(`glu: dimension ${ax} of ${fmtShape(this.shape)} must have an even size, got ${n}`)
  const [a, b] = this.split(n / 2, ax) as [Tensor, Tensor]
  return a.mul(b.sigmoid())
}
P.softmin = function (axis = -1) {
  return asFloat(this).neg().softmax(axis)
}
P.threshold = function (threshold, value) {
  return this.gt(threshold).where(this, value)
}

P.expm1 = function () {
  // Kahan: u = exp(x); u == 1 ? x : (u - 1) * x / log(u) keeps full precision near 0
  const x = asFloat(this)
  const u = x.exp()
  // exp(x) = 0 or inf: -1 or inf (the formula would give 0 or NaN there)
  const edge = u.eq(0).where(-1, u)
  const exact = u.eq(0).logicalOr(u.eq(Number.POSITIVE_INFINITY))
  const out = u
    .eq(1)
    .where(x, exact.where(edge, u.sub(1).mul(x).div(u.log())))
    .cast(x.dtype)
  // d/dx = exp(x); the structural gradient of the formula loses digits near 0
  return withCustomGrad(out, [x], (g, _, o) => [g.mul(o.add(1))])
}
P.log1p = function () {
  // Kahan: u = 1 + x; u == 1 ? x : log(u) * x / (u - 1)
  const x = asFloat(this)
  const u = x.add(1)
  const out = u
    .eq(1)
    .where(x, u.eq(Number.POSITIVE_INFINITY).where(u, u.log().mul(x).div(u.sub(1))))
    .cast(x.dtype)
  return withCustomGrad(out, [x], (g, [xi]) => [g.div(xi!.add(1))])
}
P.log10 = function () {
  return asFloat(this).log().mul(Math.LOG10E)
}
P.sinh = function () {
  // through expm1: no cancellation near 0
  const x = asFloat(this)
  return x.expm1().sub(x.neg().expm1()).mul(0.5)
}
P.cosh = function () {
  const x = asFloat(this)
  return x.exp().add(x.neg().exp()).mul(0.5)
}
P.logaddexp = function (other) {
  const [a, b] = Tensor.broadcast('logaddexp', [asFloat(this), other]) as [Tensor, Tensor]
  const x = asFloat(a)
  const y = asFloat(b)
  const m = x.maximum(y)
  // both -inf: -inf (not NaN from inf - inf)
  const safe = m.eq(Number.NEGATIVE_INFINITY).where(0, m).detach()
  return x.sub(safe).exp().add(y.sub(safe).exp()).log().add(safe)
}
P.isnan = function () {
  return this.dtype.isFloat ? this.ne(this) : this.zerosLike({ dtype: dtypes.bool })
}
P.isinf = function () {
  return this.dtype.isFloat ? this.abs().eq(Number.POSITIVE_INFINITY) : this.zerosLike({ dtype: dtypes.bool })
}
P.isfinite = function () {
  return this.dtype.isFloat
    ? this.isnan().logicalOr(this.isinf()).logicalNot()
    : this.onesLike({ dtype: dtypes.bool })
}

P.prelu = function (weight) {
  if (!(weight instanceof Tensor))
    throw new TsgradError(`prelu: weight must be a Tensor, got ${weight === null ? 'null' : typeof weight}`)
  const n = weight.numel()
  if (weight.ndim > 1 || (n !== 1 && (this.ndim < 2 || this.shape[1] !== n)))
    throw new TsgradError(
      `prelu: weight ${fmtShape(weight.shape)} must have 1 element or one per channel (axis 1 of ${fmtShape(this.shape)})`,
    )
  const w = n === 1 ? weight.reshape([]) : weight.reshape(this.shape.map((d, i) => (i === 1 ? d : 1)))
  return this.ge(0).where(this, this.mul(w))
}
P.logit = function (eps) {
  let p = asFloat(this)
  if (eps !== undefined) p = p.clip(eps, 1 - eps)
  return p.div(p.neg().add(1)).log()
}
P.xlogy = function (y) {
  const [a, b] = Tensor.broadcast('xlogy', [asFloat(this), y]) as [Tensor, Tensor]
  const x = asFloat(a)
  // at x = 0 the value is 0 and the gradient log(y) where that is finite (PyTorch)
  const l = asFloat(b).log()
  const zero = x.eq(0).logicalAnd(b.isnan().logicalNot())
  return x.mul(zero.logicalAnd(l.isfinite().logicalNot()).where(0, l))
}
P.maskedFill = function (mask, value) {
  if (!(mask instanceof Tensor) || !mask.dtype.isBool)
    throw new TsgradError(
      `maskedFill: mask must be a bool Tensor, got ${mask instanceof Tensor ? mask.dtype.name : typeof mask}`,
    )
  return mask.where(value, this).cast(this.dtype)
}
