// Movement ops: views of a tensor (reshape, permute, expand, pad, shrink, flip and what is built
// from them). No data is copied; each becomes index math when a kernel reads the view.
import { checkFitsDType, dtypeMax, dtypeMin } from '../dtype.js'
import { fmtShape, normAxis, prod, range, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import * as G from '../uop/graph.js'
import { type sint, UOp } from '../uop/ops.js'
import { fmtSint, fmtSShape, isSym, smax, smin, sprod, sSub } from '../uop/sint.js'
import { checkSizes, checkSym, fmtPairs, shrinkFits, symbolicReshape } from './symbolic_shapes.js'
import { checkSize } from './shapes.js'
import { type PadOptions, Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    reshape(shape: readonly sint[] | sint, ...rest: sint[]): Tensor
    permute(order: readonly number[] | number, ...rest: number[]): Tensor
    expand(shape: readonly sint[] | sint, ...rest: sint[]): Tensor
    pad(pads: readonly (readonly [sint, sint] | null)[], opts?: PadOptions): Tensor
    shrink(arg: readonly (readonly [sint, sint] | null)[]): Tensor
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
  const s0 = typeof shape === 'number' || shape instanceof UOp ? [shape, ...rest] : [...shape]
  if (s0.some(isSym) || this.isSymbolic) return symbolicReshape(this, s0)
  const n0 = s0 as number[]
  if (!n0.every((d) => Number.isInteger(d) && d >= -1))
    throw new TsgradError(`reshape: invalid shape ${fmtShape(n0)}`)
  const neg = n0.filter((d) => d === -1).length
  if (neg > 1)
    throw new TsgradError(
      `reshape: only one -1 allowed, got ${fmtShape(n0)} for a tensor of shape ${fmtShape(this.shape)}`,
    )
  const known = prod(n0.filter((d) => d !== -1))
  const s = n0.map((d) => (d === -1 ? (known === 0 ? 0 : this.numel() / known) : d))
  if (prod(s) !== this.numel() || !s.every(Number.isInteger))
    throw new TsgradError(
      `reshape: cannot reshape tensor of shape ${fmtShape(this.shape)} (${this.numel()} elements) into ${fmtShape(n0)}`,
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
  const s0 = typeof shape === 'number' || shape instanceof UOp ? [shape, ...rest] : [...shape]
  const sh = this.sshape
  if (s0.length < this.ndim)
    throw new TsgradError(`expand: target ${fmtSShape(s0)} has fewer dimensions than ${fmtSShape(sh)}`)
  checkSizes('expand', s0, sh, true)
  const src = [...Array<sint>(s0.length - this.ndim).fill(1), ...sh]
  const s = s0.map((d, i) => (d === -1 ? src[i]! : d))
  checkSize('expand', s.map(smax))
  s.forEach((d, i) => {
    if (src[i] !== d && src[i] !== 1)
      throw new TsgradError(
        `expand: cannot expand shape ${fmtSShape(sh)} to ${fmtSShape(s0)} (dimension ${i}: ${fmtSint(src[i]!)} vs ${fmtSint(d)})`,
      )
  })
  return Tensor.fromUOp(G.expand(G.reshape(this.uop, src), s), this)
}

P.pad = function (pads, opts = {}) {
  checkOptions('pad', opts, PAD_OPTS)
  if (!Array.isArray(pads) || pads.length > this.ndim)
    throw new TsgradError(
      `pad: expected at most ${this.ndim} [before, after] pairs for shape ${fmtSShape(this.sshape)}`,
    )
  const p = range(this.ndim).map((i) => pads[i] ?? [0, 0])
  for (const pr of p)
    if (
      !Array.isArray(pr) ||
      pr.length !== 2 ||
      !pr.every((x) => Number.isInteger(x) || (x instanceof UOp && checkSym('pad', x)))
    )
      throw new TsgradError(`pad: each axis needs [before, after] integers, got ${fmtPairs([pr as never])}`)
  const sh = this.sshape
  // negative padding shrinks (numbers only: a symbolic pad is a size, >= 0)
  const num = (x: sint): number => (typeof x === 'number' ? x : 0)
  const shrinkArg = p.map(
    ([b, a], i) => [Math.max(0, -num(b)), sSub(sh[i]!, Math.max(0, -num(a)))] as [sint, sint],
  )
  if (shrinkArg.some(([s, e]) => smax(e) < smin(s)))
    throw new TsgradError(`pad: negative padding larger than shape ${fmtSShape(sh)}`)
  const base = G.shrink(this.uop, shrinkArg)
  const pp = p.map(
    ([b, a]) =>
      [typeof b === 'number' ? Math.max(0, b) : b, typeof a === 'number' ? Math.max(0, a) : a] as [
        sint,
        sint,
      ],
  )
  checkSize(
    'pad',
    shrinkArg.map(([s, e], i) => smax(e) - smin(s) + smax(pp[i]![0]) + smax(pp[i]![1])),
  )
  let value = opts.value ?? 0
  // -inf/+inf (max/min pooling) pad an integer tensor with its extreme value; other values must fit
  if (this.dtype.isInt && (value === Number.NEGATIVE_INFINITY || value === Number.POSITIVE_INFINITY))
    value = value < 0 ? dtypeMin(this.dtype) : dtypeMax(this.dtype)
  if (pp.some(([b, a]) => smax(b) > 0 || smax(a) > 0))
    checkFitsDType('pad', value, this.dtype, ' (the pad value)')
  return Tensor.fromUOp(G.pad(base, pp, value), this)
}

P.shrink = function (arg) {
  const sh = this.sshape
  if (!Array.isArray(arg) || arg.length > this.ndim)
    throw new TsgradError(
      `shrink: expected at most ${this.ndim} [start, end] pairs for shape ${fmtSShape(sh)}`,
    )
  const a = range(this.ndim).map((i) => arg[i] ?? ([0, sh[i]!] as const))
  a.forEach(([s, e], i) => {
    const d = sh[i]!
    const ok = (x: sint): boolean => Number.isInteger(x) || (x instanceof UOp && checkSym('shrink', x))
    if (!Array.isArray(a[i]) || !ok(s) || !ok(e) || !shrinkFits(s, e, d))
      throw new TsgradError(
        `shrink: invalid range [${fmtSint(s)}, ${fmtSint(e)}] for dimension ${i} of shape ${fmtSShape(sh)}` +
          (isSym(s) || isSym(e) || isSym(d)
            ? ` (a symbolic range must satisfy 0 <= start <= end <= size at every value of its variables and at the bound values)`
            : ''),
      )
  })
  return Tensor.fromUOp(
    G.shrink(
      this.uop,
      a.map(([s, e]) => [s, e] as [sint, sint]),
    ),
    this,
  )
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
  const sh = this.sshape
  return this.reshape([...sh.slice(0, s), sprod(sh.slice(s, e + 1)), ...sh.slice(e + 1)])
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
  const sh = this.sshape
  if (dim === undefined) return this.reshape(sh.filter((d) => d !== 1))
  const dims = (typeof dim === 'number' ? [dim] : dim).map((d) =>
    normAxis('squeeze', d, this.ndim, this.shape),
  )
  return this.reshape(sh.filter((d, i) => !(dims.includes(i) && d === 1)))
}

P.unsqueeze = function (dim) {
  const d = normAxis('unsqueeze', dim, this.ndim + 1, this.shape)
  const sh = this.sshape
  return this.reshape([...sh.slice(0, d), 1, ...sh.slice(d)])
}
