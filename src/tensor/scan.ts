// Cumulative ops beside cumsum (reduce.ts): cumprod, cummax, cummin, logcumsumexp. Each is a
// reduction over prefix windows: the axis is moved last and broadcast to (..., n, n), where row i
// holds x[0..i] and the rest is the reduction's identity; so they fuse, differentiate through the
// reduce rules (cumprod exactly with zeros) and cost n^2 per row, like cumsum.
import { dtypeMax, dtypeMin, dtypes } from '../dtype.js'
import { normAxis } from '../helpers.js'
import { Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    cumprod(axis?: number): Tensor
    /** running maximum and the index where it was reached (the last one among ties), as PyTorch */
    cummax(axis?: number): [Tensor, Tensor]
    cummin(axis?: number): [Tensor, Tensor]
    logcumsumexp(axis?: number): Tensor
  }
}

const P = Tensor.prototype

/** x with `axis` moved last, as (..., n, n): [.., i, j] = x[.., j] for j <= i, else `fill` */
function prefixWindows(x: Tensor, ax: number, fill: number): { win: Tensor; mask: Tensor } {
  const y = x.transpose(ax, -1)
  const n = y.shape[y.ndim - 1]!
  const i = Tensor.iota(n, x.device).reshape([n, 1])
  const j = Tensor.iota(n, x.device).reshape([1, n])
  const mask = j.le(i)
  const win = mask.where(y.unsqueeze(-2), fill).cast(y.dtype)
  return { win, mask }
}

/** (..., n) with the original axis last -> the input's layout */
const back = (r: Tensor, ax: number): Tensor => r.transpose(ax, -1)

function axisOf(op: string, x: Tensor, axis: number): number {
  return normAxis(op, axis, x.ndim, x.shape)
}

P.cumprod = function (axis = 0) {
  if (this.ndim === 0) return this
  const ax = axisOf('cumprod', this, axis)
  return back(prefixWindows(this, ax, 1).win.prod(-1), ax)
}

function cumExtreme(x: Tensor, op: string, axis: number, isMax: boolean): [Tensor, Tensor] {
  if (x.ndim === 0) return [x, x.zerosLike({ dtype: dtypes.int32 })]
  const ax = axisOf(op, x, axis)
  // the identity of max/min in x's own dtype (int32's bounds wrapped to 0/-1 in an int8 window)
  const lowest = dtypeMin(x.dtype)
  const highest = dtypeMax(x.dtype)
  const { win, mask } = prefixWindows(x, ax, isMax ? lowest : highest)
  const values = isMax ? win.max(-1) : win.min(-1)
  // the last index within the prefix whose value equals the running extreme
  const n = win.shape[win.ndim - 1]!
  const at = mask.logicalAnd(win.detach().eq(values.detach().unsqueeze(-1)))
  const idx = at.where(Tensor.iota(n, x.device).reshape([1, n]), -1).max(-1)
  return [back(values, ax), back(idx.cast(dtypes.int32), ax)]
}
P.cummax = function (axis = 0) {
  return cumExtreme(this, 'cummax', axis, true)
}
P.cummin = function (axis = 0) {
  return cumExtreme(this, 'cummin', axis, false)
}

P.logcumsumexp = function (axis = 0) {
  if (this.ndim === 0) return this
  const ax = axisOf('logcumsumexp', this, axis)
  const x = this.dtype.isFloat ? this : this.float()
  return back(prefixWindows(x, ax, Number.NEGATIVE_INFINITY).win.logsumexp(-1), ax)
}
