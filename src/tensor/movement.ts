// Movement ops: views of a tensor (reshape, permute, expand, pad, shrink, flip and what is built
// from them). No data is copied; each becomes index math when a kernel reads the view.
import { checkFitsDType, dtypeMax, dtypeMin } from '../dtype.js'
import { fmtShape, normAxis, prod, range, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import * as G from '../uop/graph.js'
import { checkSize } from './shapes.js'
import { type PadOptions, Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    reshape(shape: readonly number[] | number, ...rest: number[]): Tensor
    permute(order: readonly number[] | number, ...rest: number[]): Tensor
    expand(shape: readonly number[] | number, ...rest: number[]): Tensor
    pad(pads: readonly (readonly [number, number] | null)[], opts?: PadOptions): Tensor
    shrink(arg: readonly (readonly [number, number] | null)[]): Tensor
    flip(axis: number | readonly number[]): Tensor
    transpose(d0?: number, d1?: number): Tensor
    flatten(start?: number, end?: number): Tensor
    unflatten(dim: number, sizes: readonly number[]): Tensor
    squeeze(dim?: number | readonly number[]): Tensor
    unsqueeze(dim: number): Tensor
  }
}

const PAD_OPTS: KeySet<PadOptions> = { value: true }
const P = Tensor.prototype

P.reshape = function (shape, ...rest) {
  const s0 = typeof shape === 'number' ? [shape, ...rest] : [...shape]
  if (!s0.every((d) => Number.isInteger(d) && d >= -1))
    throw new TsgradError(`reshape: invalid shape ${fmtShape(s0)}`)
  const neg = s0.filter((d) => d === -1).length
  if (neg > 1)
    throw new TsgradError(
      `reshape: only one -1 allowed, got ${fmtShape(s0)} for a tensor of shape ${fmtShape(this.shape)}`,
    )
  const known = prod(s0.filter((d) => d !== -1))
  const s = s0.map((d) => (d === -1 ? (known === 0 ? 0 : this.numel() / known) : d))
  if (prod(s) !== this.numel() || !s.every(Number.isInteger))
    throw new TsgradError(
      `reshape: cannot reshape tensor of shape ${fmtShape(this.shape)} (${this.numel()} elements) into ${fmtShape(s0)}`,
    )
  return Tensor.fromUOp(G.reshape(this.uop, checkSize('reshape', s)), this)
}

P.permute = function (order, ...rest) {
  const o0 = typeof order === 'number' ? [order, ...rest] : [...order]
  const o = o0.map((a) => normAxis('permute', a, this.ndim, this.shape))
  if (o.length !== this.ndim || new Set(o).size !== o.length)
    throw new TsgradError(
      `permute: order ${fmtShape(o0)} is not a permutation of ${this.ndim} axes (shape ${fmtShape(this.shape)})`,
    )
  return Tensor.fromUOp(G.permute(this.uop, o), this)
}

P.expand = function (shape, ...rest) {
  const s0 = typeof shape === 'number' ? [shape, ...rest] : [...shape]
  if (s0.length < this.ndim)
    throw new TsgradError(`expand: target ${fmtShape(s0)} has fewer dimensions than ${fmtShape(this.shape)}`)
  if (!s0.every((d) => Number.isInteger(d) && d >= -1))
    throw new TsgradError(
      `expand: sizes must be non-negative integers (or -1 to keep one), got ${fmtShape(s0)} for shape ${fmtShape(this.shape)}`,
    )
  const src = [...Array(s0.length - this.ndim).fill(1), ...this.shape]
  const s = s0.map((d, i) => (d === -1 ? src[i]! : d))
  checkSize('expand', s)
  s.forEach((d, i) => {
    if (src[i] !== d && src[i] !== 1)
      throw new TsgradError(
        `expand: cannot expand shape ${fmtShape(this.shape)} to ${fmtShape(s0)} (dimension ${i}: ${src[i]} vs ${d})`,
      )
  })
  return Tensor.fromUOp(G.expand(G.reshape(this.uop, src), s), this)
}

P.pad = function (pads, opts = {}) {
  checkOptions('pad', opts, PAD_OPTS)
  if (!Array.isArray(pads) || pads.length > this.ndim)
    throw new TsgradError(
      `pad: expected at most ${this.ndim} [before, after] pairs for shape ${fmtShape(this.shape)}`,
    )
  const p = range(this.ndim).map((i) => pads[i] ?? [0, 0])
  for (const pr of p)
    if (!Array.isArray(pr) || pr.length !== 2 || !pr.every(Number.isInteger))
      throw new TsgradError(`pad: each axis needs [before, after] integers, got ${JSON.stringify(pr)}`)
  // negative padding shrinks
  const shrinkArg = p.map(
    ([b, a], i) => [Math.max(0, -b), this.shape[i]! - Math.max(0, -a)] as [number, number],
  )
  if (shrinkArg.some(([s, e]) => e < s))
    throw new TsgradError(`pad: negative padding larger than shape ${fmtShape(this.shape)}`)
  const base = G.shrink(this.uop, shrinkArg)
  const pp = p.map(([b, a]) => [Math.max(0, b), Math.max(0, a)] as [number, number])
  checkSize(
    'pad',
    shrinkArg.map(([s, e], i) => e - s + pp[i]![0] + pp[i]![1]),
  )
  let value = opts.value ?? 0
  // -inf/+inf (max/min pooling) pad an integer tensor with its extreme value; other values must fit
  if (this.dtype.isInt && (value === Number.NEGATIVE_INFINITY || value === Number.POSITIVE_INFINITY))
    value = value < 0 ? dtypeMin(this.dtype) : dtypeMax(this.dtype)
  if (pp.some(([b, a]) => b > 0 || a > 0)) checkFitsDType('pad', value, this.dtype, ' (the pad value)')
  return Tensor.fromUOp(G.pad(base, pp, value), this)
}

P.shrink = function (arg) {
  if (!Array.isArray(arg) || arg.length > this.ndim)
    throw new TsgradError(
      `shrink: expected at most ${this.ndim} [start, end] pairs for shape ${fmtShape(this.shape)}`,
    )
  const a = range(this.ndim).map((i) => arg[i] ?? [0, this.shape[i]!])
  a.forEach(([s, e], i) => {
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > this.shape[i]! || s > e)
      throw new TsgradError(
        `shrink: invalid range [${s}, ${e}] for dimension ${i} of shape ${fmtShape(this.shape)}`,
      )
  })
  return Tensor.fromUOp(G.shrink(this.uop, a), this)
}

P.flip = function (axis) {
  const axes = (typeof axis === 'number' ? [axis] : axis).map((a) =>
    normAxis('flip', a, this.ndim, this.shape),
  )
  return Tensor.fromUOp(
    G.flip(
      this.uop,
      range(this.ndim).map((i) => axes.includes(i)),
    ),
    this,
  )
}

P.transpose = function (d0 = 1, d1 = 0) {
  const a = normAxis('transpose', d0, this.ndim, this.shape)
  const b = normAxis('transpose', d1, this.ndim, this.shape)
  const order = range(this.ndim)
  order[a] = b
  order[b] = a
  return this.permute(order)
}

P.flatten = function (start = 0, end = -1) {
  if (this.ndim === 0) return this.reshape([1])
  const s = normAxis('flatten', start, this.ndim, this.shape)
  const e = normAxis('flatten', end, this.ndim, this.shape)
  if (e < s) return this
  const sh = this.shape
  return this.reshape([...sh.slice(0, s), prod(sh.slice(s, e + 1)), ...sh.slice(e + 1)])
}

P.unflatten = function (dim, sizes) {
  const d = normAxis('unflatten', dim, this.ndim, this.shape)
  const sh = this.shape
  const known = prod(sizes.filter((x) => x !== -1))
  if (
    sizes.filter((x) => x === -1).length > 1 ||
    (sizes.includes(-1) ? sh[d]! % known !== 0 : known !== sh[d])
  )
    throw new TsgradError(
      `unflatten: sizes ${fmtShape(sizes)} do not multiply to ${sh[d]} (dimension ${d} of ${fmtShape(sh)})`,
    )
  return this.reshape([...sh.slice(0, d), ...sizes, ...sh.slice(d + 1)])
}

P.squeeze = function (dim?) {
  const sh = this.shape
  if (dim === undefined) return this.reshape(sh.filter((d) => d !== 1))
  const dims = (typeof dim === 'number' ? [dim] : dim).map((d) => normAxis('squeeze', d, this.ndim, sh))
  return this.reshape(sh.filter((d, i) => !(dims.includes(i) && d === 1)))
}

P.unsqueeze = function (dim) {
  const d = normAxis('unsqueeze', dim, this.ndim + 1, this.shape)
  const sh = this.shape
  return this.reshape([...sh.slice(0, d), 1, ...sh.slice(d)])
}
