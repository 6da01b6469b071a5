// A preallocated key/value cache for autoregressive decoding, on the public Tensor API only.
//
// Keys and values live in two (batch, kvHeads, maxLen, headDim) buffers allocated once. A step
// writes its new keys/values into positions startPos..startPos+T with an assign into a shrink
// view of each buffer, which writes only those B*Hkv*T*D elements in place (no copy of the cache),
// and attends over the views [0, startPos+T). The buffers are private (`_k`, `_v`), so a model
// holding a cache keeps it out of its state dict.
import { checkOptions, type KeySet } from '../options.js'
import { isSymbolic, type sint, Tensor, type TensorOptions } from '../tensor/index.js'
import { TsgradError } from '../helpers.js'
import { Device } from '../runtime/device.js'

export interface KVCacheOptions {
  dtype?: TensorOptions['dtype']
  device?: string
}
const KV_CACHE_OPTS: KeySet<KVCacheOptions> = { dtype: true, device: true }

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`

export class KVCache {
  private readonly _k: Tensor
  private readonly _v: Tensor
  readonly shape: readonly [batch: number, kvHeads: number, maxLen: number, headDim: number]

  constructor(batch: number, kvHeads: number, maxLen: number, headDim: number, opts: KVCacheOptions = {}) {
    checkOptions('KVCache', opts, KV_CACHE_OPTS)
    const dims = [batch, kvHeads, maxLen, headDim] as const
    if (!dims.every((d) => Number.isInteger(d) && d > 0))
      throw new TsgradError(
        `KVCache: batch, kvHeads, maxLen and headDim must be positive integers, got ${fmt(dims as readonly number[])}`,
      )
    this.shape = dims
    // left unwritten: a step attends over positions it (or an earlier step) wrote, never past them,
    // and on host memory an untouched page is not resident (zero filled, a LLaMA-1B f16 cache of
    // 2048 positions held 67 MB from the load on, however few tokens came); in small pages, so
    // that what a prompt writes is what becomes resident (a huge page is 2 MiB at its first write)
    const allocator = Device.get(opts.device ?? Device.DEFAULT).allocator
    const make = () =>
      Tensor.fromBytes([...dims], opts.dtype ?? 'float32', (bytes) => allocator.adviseSmallPages?.(bytes), {
        ...(opts.device !== undefined && { device: opts.device }),
      })
    this._k = make()
    this._v = make()
  }

  /** the whole key buffer (batch, kvHeads, maxLen, headDim) */
  get k(): Tensor {
    return this._k
  }
  /** the whole value buffer (batch, kvHeads, maxLen, headDim) */
  get v(): Tensor {
    return this._v
  }

  /**
   * Write `k` and `v` (batch, kvHeads, T, headDim) at positions startPos..startPos+T (in place: a
   * kernel per buffer over those elements only) and return the cached keys and values of positions
   * 0..startPos+T, views of the buffers to attend over (`q.scaledDotProductAttention(keys, values,
   * { isCausal: true, causalAlign: 'bottomRight' })` for a prefill of T > 1 tokens).
   * `startPos` may be a bound Variable (`sp.bind(i)`): the kernels then take the position as an
   * argument, so a decode loop compiles them once and `jit` replays one capture for every position.
   * Its range must fit: `max + T <= maxLen` (a replay does not rerun this check, and a write past
   * the cache would be out of bounds).
   */
  update(k: Tensor, v: Tensor, startPos: sint): [keys: Tensor, values: Tensor] {
    const [B, H, S, D] = this.shape
    for (const [name, t] of [
      ['k', k],
      ['v', v],
    ] as const) {
      if (!(t instanceof Tensor)) throw new TsgradError(`KVCache.update: ${name} must be a Tensor`)
      const s = t.shape
      if (s.length !== 4 || s[0] !== B || s[1] !== H || s[3] !== D || s[2]! < 1)
        throw new TsgradError(
          `KVCache.update: ${name} of shape ${fmt(s)} does not fit the cache ${fmt(this.shape)}: expected [${B}, ${H}, T, ${D}] with T >= 1`,
        )
    }
    const T = k.shape[2]!
    if (v.shape[2] !== T)
      throw new TsgradError(`KVCache.update: k and v lengths differ (${fmt(k.shape)} vs ${fmt(v.shape)})`)
    if (typeof startPos !== 'number') {
      if (!isSymbolic(startPos) || startPos.vmin < 0 || startPos.vmax + T > S)
        throw new TsgradError(
          `KVCache.update: a symbolic startPos must be an integer size with range in [0, ${S - T}] (maxLen ${S} - ${T} new), got ${isSymbolic(startPos) ? `${startPos} with range [${startPos.vmin}, ${startPos.vmax}]` : String(startPos)}`,
        )
    } else if (!Number.isInteger(startPos) || startPos < 0 || startPos + T > S)
      throw new TsgradError(
        `KVCache.update: positions ${startPos}..${startPos + T} (startPos ${startPos}, ${T} new) do not fit the cache of maxLen ${S}`,
      )
    const end: sint = typeof startPos === 'number' ? startPos + T : startPos.add(T)
    const at = (lo: sint, hi: sint): [sint, sint][] => [
      [0, B],
      [0, H],
      [lo, hi],
      [0, D],
    ]
    this._k.shrink(at(startPos, end)).assign(k.cast(this._k.dtype))
    this._v.shrink(at(startPos, end)).assign(v.cast(this._v.dtype))
    return [this._k.shrink(at(0, end)), this._v.shrink(at(0, end))]
  }
}
