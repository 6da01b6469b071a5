// Selection and sampling: topk (k largest or smallest along an axis) and multinomial (draws from
// rows of category weights, seeded by Tensor.manualSeed).
//
// topk packs each element into one exact integer key, orderKey(value) * 2^b + (2^b - 1 - index)
// with 2^b >= the row length (below 2^53: int64, or float64 on the JS device, whose int64 buffers
// are BigInt64Arrays converted per element, 5x slower there), so keys are distinct, larger for
// larger values and, among equal values, for lower indices. Pass j takes the largest key below pass j-1's: k max-reductions over the row,
// each reading the row and the previous result (O(k n) work; passes 2..k are one compiled kernel).
// The indices decode from the keys, the values are gathered from x (so gradients flow to them).
// A device without 64-bit integers (WEBGPU) keeps the key in int32 and the index apart: pass j
// takes the largest key among the elements after pass j-1's pick in (key desc, index asc) order,
// then the lowest index holding it (two reductions per pass instead of one).
import { type DType, dtypes } from '../dtype.js'
import { fmtShape, normAxis, prod, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Device } from '../runtime/device.js'
import { Ops, UOp } from '../uop/ops.js'
import { knownValues } from './index_check.js'
import { Tensor } from './tensor.js'

export interface TopkOptions {
  /** axis to select along (default -1) */
  dim?: number
  /** the k largest (default) or the k smallest */
  largest?: boolean
  /** accepted for PyTorch compatibility; the result is always sorted (best first) */
  sorted?: boolean
}
export interface MultinomialOptions {
  /** draw with replacement (default false, as PyTorch) */
  replacement?: boolean
}
const TOPK_OPTS: KeySet<TopkOptions> = { dim: true, largest: true, sorted: true }
const MULTINOMIAL_OPTS: KeySet<MultinomialOptions> = { replacement: true }

declare module './tensor.js' {
  interface Tensor {
    /** [values, indices (int32)] of the k largest (or smallest) entries along `dim`, best first */
    topk(k: number, opts?: TopkOptions): [Tensor, Tensor]
    /** `numSamples` category indices (int32) per row of weights (C) or (N, C) */
    multinomial(numSamples: number, opts?: MultinomialOptions): Tensor
  }
}

const P = Tensor.prototype
const U32 = 2 ** 32

/** A key in [0, 2^32) (integers in `kt`) ordered like the values; NaN above +inf (PyTorch's order). */
function orderKey(x: Tensor, largest: boolean, kt: DType): Tensor {
  const dt = x.dtype
  let key: Tensor
  let nan: Tensor | undefined
  if (dt.isFloat) {
    // float16/bfloat16 widen exactly; -0 counts as +0 (equal values tie by index)
    const f = dt === dtypes.float32 ? x : x.cast(dtypes.float32)
    const z = f.eq(0).where(0, f)
    const bits = Tensor.fromUOp(UOp.new(Ops.BITCAST, dtypes.int32, [z.uop]), z).cast(kt)
    // sign-magnitude bits to an order: positives above 2^31, negatives reversed below it
    key = bits.ge(0).where(bits.add(2 ** 31), bits.neg().sub(1))
    nan = f.ne(f)
  } else if (dt.isBool || dt.isUnsigned) key = x.cast(kt)
  else key = x.cast(kt).add(2 ** 31)
  if (!largest) key = key.neg().add(U32 - 1)
  // NaN: first among the largest, last among the smallest
  return nan ? nan.where(largest ? U32 - 1 : 0, key) : key
}

P.topk = function (k, opts = {}) {
  checkOptions('topk', opts, TOPK_OPTS)
  const { dim = -1, largest = true } = opts
  const ax = normAxis('topk', dim, Math.max(this.ndim, 1), this.ndim ? this.shape : [1])
  const x = this.ndim ? this : this.reshape([1])
  const n = x.shape[ax]!
  if (!(Number.isInteger(k) && k >= 0 && k <= n))
    throw new TsgradError(
      `topk: k must be an integer in 0..${n} (the size of dim ${ax} of ${fmtShape(this.shape)}), got ${k}`,
    )
  const wide = x.dtype === dtypes.float64 || x.dtype === dtypes.int64
  if (wide)
    throw new TsgradError(
      `topk: ${x.dtype.name} is not supported (keys are 32-bit); cast to float32 or int32`,
    )
  const b = Math.max(1, Math.ceil(Math.log2(n)))
  if (32 + b > 53)
    throw new TsgradError(`topk: rows longer than 2^21 are not supported, got ${n} along dim ${ax}`)
  const last = x.ndim - 1
  const xt = x.transpose(ax, last)
  const lead = xt.shape.slice(0, -1)
  let indices: Tensor
  if (k === 0) indices = Tensor.zeros([...lead, 0], { dtype: dtypes.int32, device: x.device })
  else if (!Device.supportsDType(x.device, dtypes.int64)) indices = topkIndices32(xt, k, largest)
  else {
    const kt = Device.get(x.device).renderer.name === 'js' ? dtypes.float64 : dtypes.int64
    const iota = Tensor.iota(n, x.device).cast(kt)
    // realized once (8 bytes per element) instead of recomputed in every pass: a pass is then a
    // plain compare + max over a row that stays in cache (0.02 ms vs 0.7 ms per 128K row)
    const key = orderKey(xt.detach(), largest, kt)
      .mul(2 ** b)
      .add(iota.neg().add(2 ** b - 1))
      .contiguous()
    const picks: Tensor[] = [key.max(-1, { keepdim: true })]
    for (let j = 1; j < k; j++)
      picks.push(
        key
          .lt(picks[j - 1]!)
          .where(key, -1)
          .max(-1, { keepdim: true }),
      )
    const packed = picks.length === 1 ? picks[0]! : Tensor.cat(picks, -1)
    indices = packed
      .mod(2 ** b)
      .neg()
      .add(2 ** b - 1)
      .cast(dtypes.int32)
  }
  indices = indices.transpose(ax, last)
  const values = x.gather(ax, indices)
  return this.ndim ? [values, indices] : [values.reshape([]), indices.reshape([])]
}

const I32_MIN = -(2 ** 31)
const I32_MAX = 2 ** 31 - 1

/** orderKey in int32 (its value - 2^31), computed without overflowing 32 bits; NaN at the end it belongs to. */
function orderKey32(x: Tensor, largest: boolean): Tensor {
  const dt = x.dtype
  let key: Tensor
  let nan: Tensor | undefined
  if (dt.isFloat) {
    const f = dt === dtypes.float32 ? x : x.cast(dtypes.float32)
    const z = f.eq(0).where(0, f)
    const bits = Tensor.fromUOp(UOp.new(Ops.BITCAST, dtypes.int32, [z.uop]), z)
    // a negative float of magnitude bits m (bits = -2^31 + m) -> -m - 1: below every positive one
    key = bits.ge(0).where(bits, bits.neg().sub(I32_MAX).sub(2))
    nan = f.ne(f)
  } else if (dt === dtypes.uint32)
    // u - 2^31 in wrapping int32 arithmetic (the devices on this path wrap, as WGSL does)
    key = x.cast(dtypes.int32).add(I32_MIN)
  else key = x.cast(dtypes.int32)
  if (!largest) key = key.neg().sub(1) // -1 - key: the order reversed, within int32
  return nan ? nan.where(largest ? I32_MAX : I32_MIN, key) : key
}

/** topk's indices (int32, along the last axis of `xt`) from 32-bit keys: two reductions per pass. */
function topkIndices32(xt: Tensor, k: number, largest: boolean): Tensor {
  const n = xt.shape[xt.ndim - 1]!
  const key = orderKey32(xt.detach(), largest).contiguous()
  const idx = Tensor.iota(n, xt.device).cast(dtypes.int32)
  const picks: Tensor[] = []
  let keyPrev: Tensor | undefined
  let idxPrev: Tensor | undefined
  for (let j = 0; j < k; j++) {
    // the elements after the previous pick: a smaller key, or its key at a higher index
    const after =
      keyPrev && idxPrev ? key.lt(keyPrev).logicalOr(key.eq(keyPrev).logicalAnd(idx.gt(idxPrev))) : undefined
    const best = (after ? after.where(key, I32_MIN) : key).max(-1, { keepdim: true })
    const holds = after ? after.logicalAnd(key.eq(best)) : key.eq(best)
    const at = holds.where(idx, n).min(-1, { keepdim: true })
    picks.push(at)
    keyPrev = best
    idxPrev = at
  }
  return catInGroups(picks)
}

/** Picks joined per this many at a time: a WebGPU kernel binds at most 16 storage buffers. */
const CAT_GROUP = 8

/** Tensor.cat along the last axis as a tree of cats of at most CAT_GROUP inputs each. */
function catInGroups(parts: Tensor[]): Tensor {
  while (parts.length > 1) {
    const next: Tensor[] = []
    for (let i = 0; i < parts.length; i += CAT_GROUP) {
      const g = parts.slice(i, i + CAT_GROUP)
      next.push(g.length === 1 ? g[0]! : Tensor.cat(g, -1).contiguous())
    }
    parts = next
  }
  return parts[0]!
}

/** PyTorch's errors for weights known at graph build (a realized host buffer or a constant). */
function checkKnownWeights(p: Tensor, numSamples: number, replacement: boolean): void {
  // float16/bfloat16 host buffers hold raw bits: only float32/float64 values are read
  if (p.dtype !== dtypes.float32 && p.dtype !== dtypes.float64) return
  const vals = knownValues(p)
  if (!vals) return
  const C = p.shape[p.ndim - 1]!
  const rows = p.ndim === 1 ? 1 : p.shape[0]!
  for (let r = 0; r < rows; r++) {
    let sum = 0
    let nonzero = 0
    for (let c = 0; c < C; c++) {
      const v = Number(vals.length === 1 ? vals[0]! : vals[r * C + c]!)
      if (!(v >= 0 && v < Number.POSITIVE_INFINITY))
        throw new TsgradError(
          `multinomial: the weights ${fmtShape(p.shape)} contain inf, nan or an element < 0 (${v} in row ${r})`,
        )
      sum += v
      if (v > 0) nonzero++
    }
    if (!(sum > 0))
      throw new TsgradError(
        `multinomial: row ${r} of the weights ${fmtShape(p.shape)} sums to 0 (no category to draw)`,
      )
    if (!replacement && nonzero < numSamples)
      throw new TsgradError(
        `multinomial: row ${r} of ${fmtShape(p.shape)} has ${nonzero} categories of non-zero weight, fewer than the ${numSamples} samples to draw without replacement`,
      )
  }
}

P.multinomial = function (numSamples, opts = {}) {
  checkOptions('multinomial', opts, MULTINOMIAL_OPTS)
  const { replacement = false } = opts
  if (!this.dtype.isFloat || (this.ndim !== 1 && this.ndim !== 2))
    throw new TsgradError(
      `multinomial: weights must be a float tensor (C) or (N, C), got ${this.dtype.name} ${fmtShape(this.shape)}`,
    )
  const C = this.shape[this.ndim - 1]!
  if (!(Number.isInteger(numSamples) && numSamples > 0))
    throw new TsgradError(`multinomial: numSamples must be a positive integer, got ${numSamples}`)
  if (C === 0) throw new TsgradError(`multinomial: the weights ${fmtShape(this.shape)} have no category`)
  if (!replacement && numSamples > C)
    throw new TsgradError(
      `multinomial: cannot draw ${numSamples} samples without replacement from ${C} categories (${fmtShape(this.shape)})`,
    )
  checkKnownWeights(this, numSamples, replacement)
  // exponential races: with E ~ Exp(1) per (draw, category), argmax p / E is category i with
  // probability p_i / sum(p) (any scale), and the order of p / E is a draw without replacement
  // (Efraimidis-Spirakis). Weights that are not > 0 (zero, negative, NaN) get -1: never drawn
  // while a positive weight is left.
  const p = (this.ndim === 1 ? this.reshape([1, C]) : this).detach().cast(dtypes.float32)
  const N = p.shape[0]!
  const draws = replacement ? numSamples : 1
  if (prod([N, draws, C]) >= 2 ** 31)
    throw new TsgradError(`multinomial: ${N} x ${draws} x ${C} random keys are too many for one call`)
  const u = Tensor.rand([N, draws, C], { device: this.device })
  const e = u.neg().add(1).log().neg() // -log(1 - u): u < 1, so e in [0, 16.7]
  const w = p.reshape([N, 1, C])
  const keys = w.gt(0).where(w.div(e), -1)
  const out = replacement ? keys.argmax(-1) : keys.reshape([N, C]).topk(numSamples, { dim: -1 })[1]
  return this.ndim === 1 ? out.reshape([numSamples]) : out
}
