// Rotary position embeddings: `Tensor.ropeTables` computes the cos/sin tables once (host, float64,
// rounded to float32) and `x.rope(cos, sin)` rotates pairs of x's last axis by them. The tables
// come in already sliced to x's positions (a `shrink`, whose start may be a symbolic position in a
// decode loop), so the rotation itself is position-free elementwise math: one fused kernel.
import { fmtShape, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from './tensor.js'

/** LLaMA-3's frequency rescaling (HF transformers' rope_type "llama3"). */
export interface RopeScaling {
  factor: number
  lowFreqFactor: number
  highFreqFactor: number
  /** the context length the model was trained at (HF original_max_position_embeddings) */
  originalMaxPositions: number
}
export interface RopeTableOptions {
  /** base of the frequencies (HF rope_theta), default 10000 */
  theta?: number
  scaling?: RopeScaling
  device?: string
}
export interface RopeOptions {
  /**
   * 'neox' (default; HF LLaMA/Qwen rotate_half): pairs (x[i], x[i + D/2]); 'normal' (GPT-J,
   * llama.cpp's normal rope, GGUF LLaMA weights): adjacent pairs (x[2i], x[2i + 1])
   */
  layout?: 'neox' | 'normal'
}
const TABLE_OPTS: KeySet<RopeTableOptions> = { theta: true, scaling: true, device: true }
const SCALING_KEYS: KeySet<RopeScaling> = {
  factor: true,
  lowFreqFactor: true,
  highFreqFactor: true,
  originalMaxPositions: true,
}
const ROPE_OPTS: KeySet<RopeOptions> = { layout: true }

declare module './tensor.js' {
  interface Tensor {
    /** rotate x (..., T, D) by tables cos, sin of shape (T, D/2) (or broadcastable to (..., T, D/2)) */
    rope(cos: Tensor, sin: Tensor, opts?: RopeOptions): Tensor
  }
  namespace Tensor {
    /** [cos, sin], each (maxPositions, headDim / 2) float32: angle p * invFreq[i] */
    let ropeTables: (maxPositions: number, headDim: number, opts?: RopeTableOptions) => [Tensor, Tensor]
  }
}

/** theta^(-2i/dim) for i < dim/2, rescaled by LLaMA-3's rule when given. */
export function ropeFrequencies(headDim: number, theta: number, scaling?: RopeScaling): Float64Array {
  const inv = Float64Array.from({ length: headDim / 2 }, (_, i) => theta ** ((-2 * i) / headDim))
  if (!scaling) return inv
  const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: old } = scaling
  // wavelengths longer than old/lo are slowed down by `factor`, shorter than old/hi kept, and the
  // band between blends the two linearly in old/wavelength
  const longest = old / lo
  const shortest = old / hi
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f
    if (wavelen > longest) return f / factor
    if (wavelen < shortest) return f
    const smooth = (old / wavelen - lo) / (hi - lo)
    return ((1 - smooth) * f) / factor + smooth * f
  })
}

function checkScaling(s: RopeScaling): void {
  checkOptions('ropeTables scaling', s, SCALING_KEYS)
  for (const k of Object.keys(SCALING_KEYS) as (keyof RopeScaling)[]) {
    const v = s[k]
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0))
      throw new TsgradError(`ropeTables: scaling.${k} must be a positive number, got ${v}`)
  }
  if (!(s.highFreqFactor > s.lowFreqFactor))
    throw new TsgradError(
      `ropeTables: scaling.highFreqFactor (${s.highFreqFactor}) must be larger than lowFreqFactor (${s.lowFreqFactor})`,
    )
}

Tensor.ropeTables = (maxPositions, headDim, opts = {}) => {
  checkOptions('ropeTables', opts, TABLE_OPTS)
  const { theta = 10000, scaling, device } = opts
  if (!(Number.isInteger(maxPositions) && maxPositions > 0))
    throw new TsgradError(`ropeTables: maxPositions must be a positive integer, got ${maxPositions}`)
  if (!(Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0))
    throw new TsgradError(`ropeTables: headDim must be a positive even integer, got ${headDim}`)
  if (!(typeof theta === 'number' && Number.isFinite(theta) && theta > 0))
    throw new TsgradError(`ropeTables: theta must be a positive number, got ${theta}`)
  if (scaling !== undefined) checkScaling(scaling)
  const inv = ropeFrequencies(headDim, theta, scaling)
  const h = headDim / 2
  const cos = new Float32Array(maxPositions * h)
  const sin = new Float32Array(maxPositions * h)
  for (let p = 0; p < maxPositions; p++)
    for (let i = 0; i < h; i++) {
      const a = p * inv[i]!
      cos[p * h + i] = Math.cos(a)
      sin[p * h + i] = Math.sin(a)
    }
  const shape = [maxPositions, h]
  return [new Tensor(cos, { shape, device }), new Tensor(sin, { shape, device })]
}

Tensor.prototype.rope = function (cos, sin, opts = {}) {
  checkOptions('rope', opts, ROPE_OPTS)
  const { layout = 'neox' } = opts
  if (layout !== 'neox' && layout !== 'normal')
    throw new TsgradError(`rope: layout must be 'neox' or 'normal', got ${JSON.stringify(layout)}`)
  if (!(cos instanceof Tensor) || !(sin instanceof Tensor))
    throw new TsgradError(
      'rope: cos and sin must be Tensors (from Tensor.ropeTables, sliced to the positions)',
    )
  const D = this.shape[this.ndim - 1]
  if (!this.dtype.isFloat || this.ndim < 2 || D === undefined || D % 2 !== 0)
    throw new TsgradError(
      `rope: x must be a float tensor (..., T, D) with an even D, got ${this.dtype.name} ${fmtShape(this.shape)}`,
    )
  const h = D / 2
  const want = [...this.shape.slice(0, -1), h]
  for (const [name, t] of [
    ['cos', cos],
    ['sin', sin],
  ] as const) {
    const s = t.shape
    const ok =
      s.length >= 1 &&
      s.length <= want.length &&
      s.every((d, i) => d === 1 || d === want[want.length - s.length + i])
    if (!ok || s[s.length - 1] !== h)
      throw new TsgradError(
        `rope: ${name} ${fmtShape(s)} must broadcast to ${fmtShape(want)} (positions x D/2 for x ${fmtShape(this.shape)})`,
      )
  }
  // the tables in x's dtype, as HF does (a float16 model rotates in float16)
  const c = cos.cast(this.dtype)
  const s = sin.cast(this.dtype)
  const lead = this.shape.slice(0, -1)
  if (layout === 'neox') {
    const x1 = this.shrink([...lead.map(() => null), [0, h]])
    const x2 = this.shrink([...lead.map(() => null), [h, D]])
    return Tensor.cat([x1.mul(c).sub(x2.mul(s)), x2.mul(c).add(x1.mul(s))], -1)
  }
  const pairs = this.reshape([...lead, h, 2])
  const xe = pairs.shrink([...lead.map(() => null), null, [0, 1]])
  const xo = pairs.shrink([...lead.map(() => null), null, [1, 2]])
  const c2 = c.unsqueeze(-1)
  const s2 = s.unsqueeze(-1)
  return Tensor.cat([xe.mul(c2).sub(xo.mul(s2)), xe.mul(s2).add(xo.mul(c2))], -1).reshape(this.shape)
}
