// Processing ops: matmul (broadcast multiply + sum, no special op), convolution and pooling
// (pad + sliding-window view + multiply/reduce), normalization, dropout, attention and losses.
import { defaultFloat, dtypes } from '../dtype.js'
import { setCustomGrad } from '../gradient.js'
import { fmtShape, normAxis, prod, range, TsgradError } from '../helpers.js'
import { conv2dFast, padSpatial, windows } from './conv.js'
import { matmul } from './matmul.js'
import { negAbs } from './elementwise.js'
import { checkKnownIndices } from './index_check.js'
import { Tensor } from './tensor.js'

type Pair = number | readonly [number, number]
export interface ConvOptions {
  bias?: Tensor
  stride?: Pair
  padding?: Pair | readonly [number, number, number, number]
  dilation?: Pair
  groups?: number
}
export type Reduction = 'mean' | 'sum' | 'none'

declare module './tensor.js' {
  interface Tensor {
    matmul(x: Tensor): Tensor
    dot(x: Tensor): Tensor
    linear(weight: Tensor, bias?: Tensor): Tensor
    conv2d(weight: Tensor, opts?: ConvOptions): Tensor
    convTranspose2d(weight: Tensor, opts?: ConvOptions & { outputPadding?: Pair }): Tensor
    maxPool2d(kernel: Pair, opts?: { stride?: Pair; padding?: Pair; dilation?: Pair }): Tensor
    avgPool2d(kernel: Pair, opts?: { stride?: Pair; padding?: Pair; countIncludePad?: boolean }): Tensor
    layernorm(axis?: number | number[], eps?: number): Tensor
    batchnorm(weight: Tensor | null, bias: Tensor | null, mean: Tensor, invstd: Tensor): Tensor
    dropout(p?: number): Tensor
    oneHot(numClasses: number): Tensor
    embedding(weight: Tensor): Tensor
    scaledDotProductAttention(
      key: Tensor,
      value: Tensor,
      opts?: { attnMask?: Tensor; isCausal?: boolean },
    ): Tensor
    sparseCategoricalCrossentropy(
      target: Tensor,
      opts?: { labelSmoothing?: number; reduction?: Reduction; ignoreIndex?: number },
    ): Tensor
    crossEntropy(target: Tensor, opts?: { labelSmoothing?: number; reduction?: Reduction }): Tensor
    binaryCrossentropy(target: Tensor, opts?: { reduction?: Reduction }): Tensor
    binaryCrossentropyLogits(target: Tensor, opts?: { reduction?: Reduction }): Tensor
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
    const out = conv2dFast(x, w, pads)
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
  return conv2dImpl(this, weight, opts)
}

P.convTranspose2d = function (weight, opts = {}) {
  if (!(weight instanceof Tensor))
    throw new TsgradError(`convTranspose2d: weight must be a Tensor, got ${typeof weight}`)
  if (this.ndim !== 4 || weight.ndim !== 4)
    throw new TsgradError(
      `convTranspose2d: expected input (N, C, H, W) and weight (C, O/groups, KH, KW), got ${fmtShape(this.shape)} and ${fmtShape(weight.shape)}`,
    )
  const groups = opts.groups ?? 1
  const [N, C, H, W] = this.shape as [number, number, number, number]
  const [Cw, Og, KH, KW] = weight.shape as [number, number, number, number]
  if (Cw !== C || C % groups !== 0)
    throw new TsgradError(
      `convTranspose2d: input ${fmtShape(this.shape)} and weight ${fmtShape(weight.shape)} do not match with groups=${groups}`,
    )
  const s = pair('convTranspose2d', opts.stride ?? 1, 'stride')
  const d = pair('convTranspose2d', opts.dilation ?? 1, 'dilation')
  const p = pair('convTranspose2d', (opts.padding ?? 0) as Pair, 'padding')
  const op = pair('convTranspose2d', opts.outputPadding ?? 0, 'outputPadding')
  // insert (stride-1) zeros between input pixels
  let x: Tensor = this
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

function pool(
  x: Tensor,
  op: string,
  kernel: Pair,
  stride: Pair | undefined,
  padding: Pair,
  dilation: Pair,
  value: number,
) {
  if (x.ndim < 2) throw new TsgradError(`${op}: needs at least 2 dimensions, got ${fmtShape(x.shape)}`)
  const k = pair(op, kernel, 'kernel')
  const s = pair(op, stride ?? k, 'stride')
  const p = pair(op, padding, 'padding')
  const d = pair(op, dilation, 'dilation')
  const lead = x.shape.slice(0, -2).map(() => null)
  const xp = x.pad([...lead, [p[0], p[0]], [p[1], p[1]]], { value })
  if (s[0] === k[0] && s[1] === k[1] && d[0] === 1 && d[1] === 1) {
    // non-overlapping windows are a reshape: plain index math, and a gradient without col2im
    const n = xp.ndim
    const [H, W] = [xp.shape[n - 2]!, xp.shape[n - 1]!]
    const [OH, OW] = [Math.floor(H / k[0]), Math.floor(W / k[1])]
    if (OH < 1 || OW < 1)
      throw new TsgradError(
        `${op}: window ${fmtShape(k)} is larger than the padded input ${fmtShape([H, W])}`,
      )
    const win = xp
      .shrink([...lead, [0, OH * k[0]], [0, OW * k[1]]])
      .reshape([...xp.shape.slice(0, -2), OH, k[0], OW, k[1]])
      .permute([...range(n - 2), n - 2, n, n - 1, n + 1])
    return { win, k }
  }
  return { win: windows(xp, k, s, d), k }
}
P.maxPool2d = function (kernel, opts = {}) {
  const { win } = pool(
    this,
    'maxPool2d',
    kernel,
    opts.stride,
    opts.padding ?? 0,
    opts.dilation ?? 1,
    Number.NEGATIVE_INFINITY,
  )
  return win.max([-2, -1])
}
P.avgPool2d = function (kernel, opts = {}) {
  const x = this.dtype.isFloat ? this : this.cast(defaultFloat)
  const { win, k } = pool(x, 'avgPool2d', kernel, opts.stride, opts.padding ?? 0, 1, 0)
  const sum = win.sum([-2, -1])
  if (opts.countIncludePad ?? true) return sum.div(k[0] * k[1])
  const ones = x.onesLike().shrink(x.shape.map((d, i) => [0, i < x.ndim - 2 ? 1 : d] as [number, number]))
  const cnt = pool(ones, 'avgPool2d', kernel, opts.stride, opts.padding ?? 0, 1, 0).win.sum([-2, -1])
  return sum.div(cnt)
}

P.layernorm = function (axis = -1, eps = 1e-5) {
  const axes = typeof axis === 'number' ? [axis] : axis
  const y = this.sub(this.mean(axes, { keepdim: true }))
  return y.mul(y.square().mean(axes, { keepdim: true }).add(eps).rsqrt())
}
P.batchnorm = function (weight, bias, mean, invstd) {
  const shape = this.shape.map((d, i) => (i === 1 ? d : 1))
  let x = this.sub(mean.reshape(shape))
  if (weight) x = x.mul(weight.reshape(shape))
  x = x.mul(invstd.ndim === 1 ? invstd.reshape(shape) : invstd)
  return bias ? x.add(bias.reshape(shape)) : x
}
P.dropout = function (p = 0.5) {
  if (p < 0 || p > 1) throw new TsgradError(`dropout: p must be in [0, 1], got ${p}`)
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
  // one-hot matmul: differentiable w.r.t. weight with plain elementwise + reduce ops
  const onehot = this.unsqueeze(-1)
    .eq(Tensor.arange(V, undefined, 1, { device: this.device }))
    .cast(weight.dtype)
  return onehot.matmul(weight)
}

P.scaledDotProductAttention = function (key, value, opts = {}) {
  const d = this.shape[this.ndim - 1]!
  let s = this.matmul(key.transpose(-1, -2)).mul(1 / Math.sqrt(d))
  if (opts.isCausal) {
    const [L, S] = s.shape.slice(-2) as [number, number]
    const causal = Tensor.ones([L, S], { device: this.device, dtype: dtypes.bool }).tril()
    s = causal.where(s, Number.NEGATIVE_INFINITY)
  }
  if (opts.attnMask)
    s = opts.attnMask.dtype.isBool ? opts.attnMask.where(s, Number.NEGATIVE_INFINITY) : s.add(opts.attnMask)
  return s.softmax(-1).matmul(value)
}

function reduceLoss(loss: Tensor, reduction: Reduction | undefined, op: string): Tensor {
  const r = reduction ?? 'mean'
  if (r === 'none') return loss
  if (r === 'sum') return loss.sum()
  if (r === 'mean') return loss.mean()
  throw new TsgradError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`)
}

P.sparseCategoricalCrossentropy = function (target, opts = {}) {
  if (!target.dtype.isInt)
    throw new TsgradError(
      `sparseCategoricalCrossentropy: target must be integer class indices, got ${target.dtype.name} (JS numbers make float32 tensors: create indices with { dtype: 'int32' })`,
    )
  const C = this.shape[this.ndim - 1]!
  if (target.ndim !== this.ndim - 1 || !target.shape.every((d, i) => d === this.shape[i]))
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

P.crossEntropy = function (target, opts = {}) {
  const ax = normAxis('crossEntropy', 1, this.ndim, this.shape)
  const C = this.shape[ax]!
  const logp = this.logSoftmax(ax)
  let t: Tensor
  if (target.dtype.isInt) {
    const expect = this.shape.filter((_, i) => i !== ax)
    if (target.ndim !== expect.length || !target.shape.every((d, i) => d === expect[i]))
      throw new TsgradError(
        `crossEntropy: class-index target shape ${fmtShape(target.shape)} does not match input ${fmtShape(this.shape)} (expected ${fmtShape(expect)})`,
      )
    checkKnownIndices('crossEntropy', target, 0, C - 1, `${C} classes (input ${fmtShape(this.shape)})`)
    // a lazy target out of range gives a NaN loss (its one-hot row would be all zeros: loss 0)
    const valid = target.ge(0).logicalAnd(target.lt(C)).unsqueeze(ax)
    t = target
      .unsqueeze(ax)
      .eq(Tensor.iota(C, this.device).reshape(this.shape.map((d, i) => (i === ax ? d : 1))))
      .cast(logp.dtype)
      .mul(valid.where(1, Number.NaN).cast(logp.dtype))
  } else {
    if (prod(target.shape) !== prod(this.shape) || target.ndim !== this.ndim)
      throw new TsgradError(
        `crossEntropy: probability target shape ${fmtShape(target.shape)} does not match input ${fmtShape(this.shape)} (class indices need an integer tensor: { dtype: 'int32' })`,
      )
    t = target.cast(logp.dtype)
  }
  const ls = opts.labelSmoothing ?? 0
  if (ls > 0) t = t.mul(1 - ls).add(ls / C)
  const loss = t.mul(logp).sum(ax).neg()
  return reduceLoss(loss, opts.reduction, 'crossEntropy')
}

P.binaryCrossentropy = function (target, opts = {}) {
  const t = target.cast(this.dtype)
  // PyTorch clamps the logs at -100
  const lp = this.log().maximum(-100)
  const lq = this.mul(-1).add(1).log().maximum(-100)
  const loss = t.mul(lp).add(t.mul(-1).add(1).mul(lq)).neg()
  // PyTorch's gradient (p - t) / max(p (1 - p), 1e-12): finite at p = 0 and 1, where the clamped
  // logs' structural gradient is 0 (a saturated wrong prediction would never move) or NaN
  setCustomGrad(loss.uop, {
    inputs: [this.uop, t.uop],
    backward: (g, [pin, tin]) => {
      const [p, tt] = [new Tensor(pin!), new Tensor(tin!)]
      const dp = p.sub(tt).div(p.mul(p.neg().add(1)).maximum(1e-12))
      const dt = p.neg().add(1).log().maximum(-100).sub(p.log().maximum(-100))
      return [new Tensor(g).mul(dp).uop, new Tensor(g).mul(dt).uop]
    },
  })
  return reduceLoss(loss, opts.reduction, 'binaryCrossentropy')
}
P.binaryCrossentropyLogits = function (target, opts = {}) {
  const t = target.cast(this.dtype)
  const loss = this.relu().sub(this.mul(t)).add(negAbs(this).exp().add(1).log())
  return reduceLoss(loss, opts.reduction, 'binaryCrossentropyLogits')
}
