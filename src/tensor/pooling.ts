// Pooling over the last two axes (NCHW or CHW), with PyTorch's options: stride, padding,
// dilation, ceilMode, countIncludePad, divisorOverride; the 1-d forms over the last axis; and
// adaptive pooling (output size given, window i covers [floor(i*I/O), ceil((i+1)*I/O))).
//
// A window is a view (`windows` in conv.ts); ceilMode pads the right edge so the last partial
// window exists. Windows with stride = kernel are a reshape instead (plain index math and a
// gradient without col2im), and adaptive pooling with I divisible by O is that reshape too.
import { defaultFloat } from '../dtype.js'
import { fmtShape, range, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { windows } from './conv.js'
import { asFloat } from './elementwise.js'
import { Tensor } from './tensor.js'

type Pair = number | readonly [number, number]
export interface MaxPoolOptions {
  stride?: Pair
  padding?: Pair
  dilation?: Pair
  ceilMode?: boolean
}
export interface AvgPoolOptions {
  stride?: Pair
  padding?: Pair
  ceilMode?: boolean
  countIncludePad?: boolean
  divisorOverride?: number
}
/** Output size per axis; null keeps the input's size (as None in PyTorch). */
export type AdaptiveSize = number | null | readonly [number | null, number | null]

const MAX_OPTS: KeySet<MaxPoolOptions> = { stride: true, padding: true, dilation: true, ceilMode: true }
const AVG_OPTS: KeySet<AvgPoolOptions> = {
  stride: true,
  padding: true,
  ceilMode: true,
  countIncludePad: true,
  divisorOverride: true,
}

declare module './tensor.js' {
  interface Tensor {
    maxPool2d(kernel: Pair, opts?: MaxPoolOptions): Tensor
    avgPool2d(kernel: Pair, opts?: AvgPoolOptions): Tensor
    maxPool1d(kernel: number, opts?: MaxPoolOptions): Tensor
    avgPool1d(kernel: number, opts?: AvgPoolOptions): Tensor
    adaptiveAvgPool2d(outputSize: AdaptiveSize): Tensor
    adaptiveMaxPool2d(outputSize: AdaptiveSize): Tensor
    adaptiveAvgPool1d(outputSize: number): Tensor
    adaptiveMaxPool1d(outputSize: number): Tensor
  }
}

const P = Tensor.prototype

function pair(op: string, v: Pair, name: string, min: number): [number, number] {
  const r = (typeof v === 'number' ? [v, v] : Array.isArray(v) ? [...v] : [v]) as [number, number]
  if (r.length !== 2 || !r.every((x) => Number.isInteger(x) && x >= min))
    throw new TsgradError(
      `${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`,
    )
  return r
}

/** Output length of one pooled axis (PyTorch's formula, with its rule that the last window of
 * ceil mode must start inside the input or the left padding). */
function outLen(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = n + 2 * p - d * (k - 1) - 1
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1
  if (ceil && (o - 1) * s >= n + p) o--
  return o
}

interface Geometry {
  k: [number, number]
  s: [number, number]
  p: [number, number]
  d: [number, number]
  out: [number, number]
  /** padding after the right/bottom edge beyond `p` (ceil mode's partial windows) */
  extra: [number, number]
}

function geometry(
  x: Tensor,
  op: string,
  kernel: Pair,
  o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean },
): Geometry {
  if (x.ndim < 2) throw new TsgradError(`${op}: needs at least 2 dimensions, got ${fmtShape(x.shape)}`)
  const k = pair(op, kernel, 'kernel', 1)
  const s = pair(op, o.stride ?? k, 'stride', 1)
  const p = pair(op, o.padding ?? 0, 'padding', 0)
  const d = pair(op, o.dilation ?? 1, 'dilation', 1)
  const hw = x.shape.slice(-2) as [number, number]
  const out: [number, number] = [0, 0]
  const extra: [number, number] = [0, 0]
  for (const i of [0, 1]) {
    const eff = d[i]! * (k[i]! - 1) + 1
    if (2 * p[i]! > eff)
      throw new TsgradError(
        `${op}: padding ${fmtShape(p)} must be at most half the (dilated) kernel ${fmtShape(k)}`,
      )
    out[i] = outLen(hw[i]!, k[i]!, s[i]!, p[i]!, d[i]!, o.ceilMode ?? false)
    if (out[i]! < 1)
      throw new TsgradError(
        `${op}: kernel ${fmtShape(k)} (dilation ${fmtShape(d)}) is larger than the padded input ${fmtShape(hw.map((n, j) => n + 2 * p[j]!))} of shape ${fmtShape(x.shape)}`,
      )
    extra[i] = Math.max(0, (out[i]! - 1) * s[i]! + eff - (hw[i]! + 2 * p[i]!))
  }
  return { k, s, p, d, out, extra }
}

/** The pooling windows of x padded with `value`: (..., OH, OW, KH, KW). */
function poolWindows(x: Tensor, g: Geometry, value: number): Tensor {
  const lead = x.shape.slice(0, -2).map(() => null)
  const { k, s, p, d, out } = g
  const xp = x.pad([...lead, [p[0], p[0] + g.extra[0]], [p[1], p[1] + g.extra[1]]], { value })
  if (s[0] === k[0] && s[1] === k[1] && d[0] === 1 && d[1] === 1) {
    // non-overlapping windows are a reshape: plain index math, and a gradient without col2im
    const n = xp.ndim
    return xp
      .shrink([...lead, [0, out[0] * k[0]], [0, out[1] * k[1]]])
      .reshape([...xp.shape.slice(0, -2), out[0], k[0], out[1], k[1]])
      .permute([...range(n - 2), n - 2, n, n - 1, n + 1])
  }
  return windows(xp, k, s, d)
}

/** the value max-pooling pads with: below every value of the dtype */
const lowest = (x: Tensor): number =>
  x.dtype.isFloat
    ? Number.NEGATIVE_INFINITY
    : x.dtype.isBool || x.dtype.isUnsigned
      ? 0
      : -(2 ** (x.dtype.bits - 1))

P.maxPool2d = function (kernel, opts = {}) {
  checkOptions('maxPool2d', opts, MAX_OPTS)
  const g = geometry(this, 'maxPool2d', kernel, opts)
  return poolWindows(this, g, lowest(this)).max([-2, -1])
}

P.avgPool2d = function (kernel, opts = {}) {
  checkOptions('avgPool2d', opts, AVG_OPTS)
  const g = geometry(this, 'avgPool2d', kernel, opts)
  const x = asFloat(this)
  const sum = poolWindows(x, g, 0).sum([-2, -1])
  const div = opts.divisorOverride
  if (div !== undefined) {
    if (!Number.isInteger(div) || div <= 0)
      throw new TsgradError(`avgPool2d: divisorOverride must be a positive integer, got ${div}`)
    return sum.div(div)
  }
  const includePad = opts.countIncludePad ?? true
  const padded = g.p[0] > 0 || g.p[1] > 0
  if ((includePad || !padded) && g.extra[0] === 0 && g.extra[1] === 0) return sum.div(g.k[0] * g.k[1])
  // per-window count of the positions that count: inside the input, or (countIncludePad) inside
  // the input and its padding; never the extra edge of ceil mode
  const [H, W] = x.shape.slice(-2) as [number, number]
  const like = { device: x.device, dtype: x.dtype }
  const cnt = includePad
    ? poolWindows(Tensor.ones([H + 2 * g.p[0], W + 2 * g.p[1]], like), { ...g, p: [0, 0] }, 0)
    : poolWindows(Tensor.ones([H, W], like), g, 0)
  return sum.div(cnt.sum([-2, -1]))
}

/** The 1-d form: pool (..., L) with a (1, kernel) window. */
function as1d(op: string, opts: object, keys: Readonly<Record<string, true>>): Record<string, unknown> {
  checkOptions(op, opts, keys)
  const o: Record<string, unknown> = { ...opts }
  for (const key of ['stride', 'padding', 'dilation'])
    if (o[key] !== undefined) {
      if (typeof o[key] !== 'number')
        throw new TsgradError(`${op}: ${key} must be a number, got ${JSON.stringify(o[key])}`)
      o[key] = [key === 'padding' ? 0 : 1, o[key]]
    }
  return o
}
P.maxPool1d = function (kernel, opts = {}) {
  if (this.ndim < 1)
    throw new TsgradError(`maxPool1d: needs at least 1 dimension, got ${fmtShape(this.shape)}`)
  const o = as1d('maxPool1d', opts, MAX_OPTS) as MaxPoolOptions
  return this.unsqueeze(-2)
    .maxPool2d([1, kernel], { ...o, stride: o.stride ?? [1, kernel] })
    .squeeze(-2)
}
P.avgPool1d = function (kernel, opts = {}) {
  if (this.ndim < 1)
    throw new TsgradError(`avgPool1d: needs at least 1 dimension, got ${fmtShape(this.shape)}`)
  const o = as1d('avgPool1d', opts, AVG_OPTS) as AvgPoolOptions
  return this.unsqueeze(-2)
    .avgPool2d([1, kernel], { ...o, stride: o.stride ?? [1, kernel] })
    .squeeze(-2)
}

/** (O, I) bool mask: row i selects adaptive window i, [floor(i*I/O), ceil((i+1)*I/O)). */
function adaptiveMask(I: number, O: number, device: string): Tensor {
  const i = Tensor.iota(O, device).reshape([O, 1])
  const j = Tensor.iota(I, device).reshape([1, I])
  return i
    .mul(I)
    .lt(j.add(1).mul(O))
    .logicalAnd(j.mul(O).lt(i.add(1).mul(I)))
}

function adaptiveSizes(op: string, x: Tensor, size: AdaptiveSize, axes: number): number[] {
  if (x.ndim < axes)
    throw new TsgradError(`${op}: needs at least ${axes} dimensions, got ${fmtShape(x.shape)}`)
  const raw = Array.isArray(size) ? [...size] : Array<number | null>(axes).fill(size as number | null)
  const inp = x.shape.slice(-axes)
  if (raw.length !== axes || !raw.every((o) => o === null || (Number.isInteger(o) && o >= 1)))
    throw new TsgradError(
      `${op}: outputSize must be a positive integer${axes > 1 ? ', null or a pair of them' : ''}, got ${JSON.stringify(size)}`,
    )
  return raw.map((o, i) => o ?? inp[i]!)
}

/** Adaptive pooling over the last `out.length` axes, one axis at a time (both reductions separate). */
function adaptive(x: Tensor, out: number[], max: boolean): Tensor {
  const n = x.ndim
  const axes = range(out.length).map((i) => n - out.length + i)
  const ins = axes.map((a) => x.shape[a]!)
  if (ins.every((I, i) => I % out[i]! === 0)) {
    // equal windows: an ordinary pool with kernel = stride = I / O
    const k = ins.map((I, i) => I / out[i]!)
    const y = out.length === 1 ? x.unsqueeze(-2) : x
    const kk: [number, number] = out.length === 1 ? [1, k[0]!] : [k[0]!, k[1]!]
    const r = max ? y.maxPool2d(kk) : y.avgPool2d(kk)
    return out.length === 1 ? r.squeeze(-2) : r
  }
  let y = max || x.dtype.isFloat ? x : x.cast(defaultFloat)
  for (let i = 0; i < axes.length; i++) {
    const ax = axes[i]!
    const I = ins[i]!
    const O = out[i]!
    // (..., I, ...) -> (..., O, I, ...) masked, then reduced over I
    const m = adaptiveMask(I, O, x.device).reshape([O, I, ...Array(n - 1 - ax).fill(1)])
    const v = y.unsqueeze(ax)
    if (max) {
      y = m.where(v, lowest(y)).max(ax + 1)
    } else
      y = m
        .where(v, 0)
        .sum(ax + 1)
        .div(m.sum(1).reshape([O, ...Array(n - 1 - ax).fill(1)]))
  }
  return y
}

P.adaptiveAvgPool2d = function (outputSize) {
  return adaptive(this, adaptiveSizes('adaptiveAvgPool2d', this, outputSize, 2), false)
}
P.adaptiveMaxPool2d = function (outputSize) {
  return adaptive(this, adaptiveSizes('adaptiveMaxPool2d', this, outputSize, 2), true)
}
P.adaptiveAvgPool1d = function (outputSize) {
  return adaptive(this, adaptiveSizes('adaptiveAvgPool1d', this, outputSize, 1), false)
}
P.adaptiveMaxPool1d = function (outputSize) {
  return adaptive(this, adaptiveSizes('adaptiveMaxPool1d', this, outputSize, 1), true)
}
