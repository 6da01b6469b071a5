// Reductions: sum/max/prod over axes (one REDUCE_AXIS node each), and what is built from them:
// mean, var, std, min, argmax, any/all, logsumexp, softmax, cumsum.
import { type DType, dtypes } from '../dtype.js'
import { fmtShape, normAxis, range, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { reduce } from '../uop/graph.js'
import { fmtSShape, isSym } from '../uop/sint.js'
import type { ReduceOp } from '../uop/ops.js'
import { withCustomGrad } from './custom_grad.js'
import { asFloat } from './elementwise.js'
import { Tensor } from './tensor.js'

export type Axis = number | readonly number[] | undefined | null
export interface ReduceOptions {
  keepdim?: boolean
}
export interface SumOptions extends ReduceOptions {
  dtype?: DType
}
export interface VarOptions extends ReduceOptions {
  correction?: number
}
const REDUCE_OPTS: KeySet<ReduceOptions> = { keepdim: true }
const SUM_OPTS: KeySet<SumOptions> = { keepdim: true, dtype: true }
const VAR_OPTS: KeySet<VarOptions> = { keepdim: true, correction: true }

declare module './tensor.js' {
  interface Tensor {
    sum(axis?: Axis, opts?: SumOptions): Tensor
    mean(axis?: Axis, opts?: ReduceOptions): Tensor
    max(axis?: Axis, opts?: ReduceOptions): Tensor
    min(axis?: Axis, opts?: ReduceOptions): Tensor
    prod(axis?: Axis, opts?: ReduceOptions): Tensor
    var(axis?: Axis, opts?: VarOptions): Tensor
    std(axis?: Axis, opts?: VarOptions): Tensor
    argmax(axis?: number | null, opts?: ReduceOptions): Tensor
    argmin(axis?: number | null, opts?: ReduceOptions): Tensor
    any(axis?: Axis, opts?: ReduceOptions): Tensor
    all(axis?: Axis, opts?: ReduceOptions): Tensor
    logsumexp(axis?: Axis, opts?: ReduceOptions): Tensor
    softmax(axis?: number): Tensor
    logSoftmax(axis?: number): Tensor
    cumsum(axis?: number): Tensor
  }
}

const P = Tensor.prototype

function axesOf(op: string, t: Tensor, axis: Axis): number[] {
  if (axis === undefined || axis === null) return range(t.ndim)
  const list = typeof axis === 'number' ? [axis] : [...axis]
  return [...new Set(list.map((a) => normAxis(op, a, t.ndim, t.shape)))]
}

/** reduce over axes; keepdim keeps the reduced axes as size 1 */
function reduceOp(t: Tensor, op: ReduceOp, opName: string, axis: Axis, keepdim = false): Tensor {
  const axes = axesOf(opName, t, axis)
  const r = Tensor.fromUOp(reduce(t.uop, op, axes), t)
  if (keepdim) return r
  return r.reshape(t.sshape.filter((_, i) => !axes.includes(i)))
}

/** Ops that divide by an axis length need it as a number: a symbolic axis would bake the bound value in. */
function concreteAxes(op: string, t: Tensor, axes: readonly number[]): void {
  for (const a of axes)
    if (isSym(t.sshape[a]!))
      throw new TsgradError(
        `${op}: axis ${a} of shape ${fmtSShape(t.sshape)} is symbolic (a Variable); ${op} over a symbolic axis is not supported (sum() and divide by the length instead)`,
      )
}

/** the dtype sums accumulate in: small ints and bools widen to int32, half floats to float32 */
function sumDType(dt: DType): DType {
  if (dt.isBool || (dt.isInt && dt.bits < 32)) return dt.isUnsigned ? dtypes.uint32 : dtypes.int32
  if (dt === dtypes.float16 || dt === dtypes.bfloat16) return dtypes.float32
  return dt
}

P.sum = function (axis, opts = {}) {
  checkOptions('sum', opts, SUM_OPTS)
  const acc = opts.dtype ?? sumDType(this.dtype)
  const r = reduceOp(this.cast(acc), 'ADD', 'sum', axis, opts.keepdim)
  return this.dtype.isFloat && !opts.dtype ? r.cast(this.dtype) : r
}
P.prod = function (axis, opts = {}) {
  checkOptions('prod', opts, REDUCE_OPTS)
  const acc = sumDType(this.dtype)
  const r = reduceOp(this.cast(acc), 'MUL', 'prod', axis, opts.keepdim)
  return this.dtype.isFloat ? r.cast(this.dtype) : r
}
P.max = function (axis, opts = {}) {
  checkOptions('max', opts, REDUCE_OPTS)
  return reduceOp(this, 'MAX', 'max', axis, opts.keepdim)
}
P.min = function (axis, opts = {}) {
  checkOptions('min', opts, REDUCE_OPTS)
  if (this.dtype.isBool) return this.logicalNot().max(axis, opts).logicalNot()
  if (this.dtype.isUnsigned) {
    const top = 2 ** this.dtype.bits - 1
    return this.mul(-1).add(top).max(axis, opts).mul(-1).add(top)
  }
  return this.neg().max(axis, opts).neg()
}
P.mean = function (axis, opts = {}) {
  checkOptions('mean', opts, REDUCE_OPTS)
  const axes = axesOf('mean', this, axis)
  concreteAxes('mean', this, axes)
  const n = axes.reduce((a, i) => a * this.shape[i]!, 1)
  const x = asFloat(this)
  return x.sum(axes, opts).div(n)
}
P.var = function (axis, opts = {}) {
  checkOptions('var', opts, VAR_OPTS)
  const axes = axesOf('var', this, axis)
  concreteAxes('var', this, axes)
  const n = axes.reduce((a, i) => a * this.shape[i]!, 1)
  const x = asFloat(this)
  const d = x.sub(x.mean(axes, { keepdim: true }))
  return d
    .square()
    .sum(axes, { keepdim: opts.keepdim })
    .div(Math.max(0, n - (opts.correction ?? 1)))
}
P.std = function (axis, opts = {}) {
  checkOptions('std', opts, VAR_OPTS)
  const v = this.var(axis, opts)
  const s = v.sqrt()
  // as PyTorch, a zero std has gradient 0 (sqrt's 1 / (2 s) is inf there, times var's 0: NaN)
  return withCustomGrad(s, [v], (g, _, o) => [o.eq(0).where(0, g.div(o.mul(2)))])
}
P.any = function (axis, opts = {}) {
  checkOptions('any', opts, REDUCE_OPTS)
  return reduceOp(this.cast(dtypes.bool), 'MAX', 'any', axis, opts.keepdim)
}
P.all = function (axis, opts = {}) {
  checkOptions('all', opts, REDUCE_OPTS)
  return this.logicalNot().any(axis, opts).logicalNot()
}

function argExtreme(t: Tensor, name: string, axis: number | null | undefined, keepdim: boolean): Tensor {
  if (axis === undefined || axis === null) {
    const r = argExtreme(t.flatten(), name, 0, false)
    return keepdim ? r.reshape(t.shape.map(() => 1)) : r
  }
  const ax = normAxis(name, axis, t.ndim, t.shape)
  const n = t.shape[ax]!
  if (n === 0)
    throw new TsgradError(
      `${name}: dimension ${ax} of ${fmtShape(t.shape)} is empty; there is no index to return`,
    )
  // NaN counts as the maximum (max propagates it, and NaN == NaN is false): first NaN, as numpy
  const m = t.max(ax, { keepdim: true })
  const isMax = t.dtype.isFloat ? m.eq(t).logicalOr(t.ne(t)) : m.eq(t)
  // first occurrence: the largest (n - index) among the maxima
  const shape = t.shape.map((d, i) => (i === ax ? d : 1))
  const rev = Tensor.iota(n, t.device).mul(-1).add(n).reshape(shape)
  const r = isMax.where(rev, 0).max(ax, { keepdim })
  // int32 indices, or int64 along an axis longer than int32 can index (they would wrap)
  return r
    .mul(-1)
    .add(n)
    .cast(n - 1 > 2 ** 31 - 1 ? dtypes.int64 : dtypes.int32)
}
P.argmax = function (axis, opts = {}) {
  checkOptions('argmax', opts, REDUCE_OPTS)
  return argExtreme(this.detach(), 'argmax', axis, opts.keepdim ?? false)
}
P.argmin = function (axis, opts = {}) {
  checkOptions('argmin', opts, REDUCE_OPTS)
  const x = this.dtype.isBool
    ? this.logicalNot()
    : this.dtype.isUnsigned
      ? this.cast(dtypes.int64).neg()
      : this.neg()
  return argExtreme(x.detach(), 'argmin', axis, opts.keepdim ?? false)
}
P.logsumexp = function (axis, opts = {}) {
  checkOptions('logsumexp', opts, REDUCE_OPTS)
  const axes = axesOf('logsumexp', this, axis)
  const x = asFloat(this)
  const m = x.max(axes, { keepdim: true }).detach()
  // an infinite max (a row of all -inf, or one holding +inf) shifts by 0: -inf and +inf come out
  // instead of NaN from inf - inf
  const mm = m.abs().eq(Number.POSITIVE_INFINITY).where(0, m)
  const r = x.sub(mm).exp().sum(axes, { keepdim: true }).log().add(mm)
  // gradient softmax(x) = exp(x - r), 0 on a row of all -inf (where the structural one is 0/0)
  const out = withCustomGrad(r, [x], (g, [xt], out) => {
    const o = out.expand(xt!.shape)
    const p = o.eq(Number.NEGATIVE_INFINITY).where(0, xt!.sub(o).exp())
    return [g.expand(xt!.shape).mul(p)]
  })
  return opts.keepdim ? out : out.reshape(this.sshape.filter((_, i) => !axes.includes(i)))
}
P.softmax = function (axis = -1) {
  axis = normAxis('softmax', axis, this.ndim, this.shape)
  const x = asFloat(this)
  const e = x.sub(x.max(axis, { keepdim: true }).detach()).exp()
  // one reciprocal per row and a multiply per element (a vector divide per element costs more)
  return e.mul(e.sum(axis, { keepdim: true }).reciprocal())
}
P.logSoftmax = function (axis = -1) {
  axis = normAxis('logSoftmax', axis, this.ndim, this.shape)
  const x = asFloat(this)
  const s = x.sub(x.max(axis, { keepdim: true }).detach())
  return s.sub(s.exp().sum(axis, { keepdim: true }).log())
}
P.cumsum = function (axis = 0) {
  if (this.ndim === 0) return this
  const ax = normAxis('cumsum', axis, this.ndim, this.shape)
  concreteAxes('cumsum', this, [ax])
  const x = this.transpose(ax, -1)
  const n = x.shape[x.ndim - 1]!
  if (n === 0) return this.cast(sumDType(this.dtype))
  if (n <= 1) return this.sum(ax, { keepdim: true }).cast(sumDType(this.dtype))
  // windows of length n over x padded with n-1 zeros in front: out[i] = sum(xp[i .. i+n-1])
  const lead = x.shape.slice(0, -1)
  const L = 2 * n - 1
  const xp = x.pad([...lead.map(() => [0, 0] as [number, number]), [n - 1, 0]])
  const win = xp
    .unsqueeze(-2)
    .expand([...lead, n, L])
    .reshape([...lead, n * L])
    .pad([...lead.map(() => [0, 0] as [number, number]), [0, n]])
    .reshape([...lead, n, L + 1])
    .shrink([...lead.map((d) => [0, d] as [number, number]), [0, n], [0, n]])
  return win.sum(-1).transpose(ax, -1)
}
