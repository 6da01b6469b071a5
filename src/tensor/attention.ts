// Scaled dot-product attention with PyTorch's semantics (F.scaled_dot_product_attention), plus
// grouped-query attention and a bottom-right aligned causal mask for prefill against a KV cache.
//
// `scaledDotProductAttention` validates and dispatches (`attentionBackend`): `plainAttention` is
// the reference path (two matmuls around a masked softmax); `flashAttention` (custom kernels, O(T)
// memory) takes over where it applies and the score matrix would exceed 1 GiB, since on the CPU
// and JS devices it is slower (see the `backend` option).
//
// Grouped-query attention (k/v with Hkv heads, q with Hq = g * Hkv): q's g heads of one group are
// folded into the row axis of the products, (.., Hkv, g*Tq, D) @ (.., Hkv, D, Tk), so each key and
// value is read once per group by a plain batched matmul and no repeated k/v exists, not even as a
// broadcast view.
import { dtypes } from '../dtype.js'
import { fmtShape, TsgradError } from '../helpers.js'
import { fmtSint, isSym as isSymbolic, type sint, smax } from '../uop/sint.js'
import { checkOptions, type KeySet } from '../options.js'
import { flashAttention } from './flash_attention.js'
import { Tensor } from './tensor.js'

export interface AttentionOptions {
  /** bool: true keeps a score; float: added to the scores. Broadcast to (..., Hq, Tq, Tk). */
  attnMask?: Tensor
  /** mask out keys after the query (not together with attnMask, as PyTorch) */
  isCausal?: boolean
  /**
   * where the causal diagonal starts when Tq != Tk: 'topLeft' (PyTorch's isCausal: query i sees
   * keys <= i) or 'bottomRight' (query i sees keys <= Tk - Tq + i: a prefill of Tq tokens against a
   * cache that holds Tk - Tq earlier ones). Default 'topLeft'.
   */
  causalAlign?: 'topLeft' | 'bottomRight'
  /** scale of q @ k^T (default 1 / sqrt(head size)) */
  scale?: number
  /** dropout on the attention weights, applied whatever Tensor.training is (as PyTorch) */
  dropoutP?: number
  /**
   * which implementation computes it: 'math' (two matmuls around a masked softmax), 'flash'
   * (`flashAttention`: O(T) memory; 4-D inputs, no attnMask, no dropout, causal only top-left or
   * with Tq = Tk), or 'auto' (default): flash where it applies and the scores would take more than
   * FLASH_MIN_SCORE_BYTES, else math. On the CPU and JS devices flash is 7-8x slower than math at
   * T = 1024..4096 but needs a fraction of the memory, so 'auto' picks it only where the score
   * matrix itself is the problem.
   */
  backend?: 'auto' | 'math' | 'flash'
}
const ATTENTION_OPTS: KeySet<AttentionOptions> = {
  attnMask: true,
  isCausal: true,
  causalAlign: true,
  scale: true,
  dropoutP: true,
  backend: true,
}

/** Above this many bytes of attention scores, 'auto' computes attention with flashAttention. */
export const FLASH_MIN_SCORE_BYTES = 2 ** 30

declare module './tensor.js' {
  interface Tensor {
    /** softmax(q @ k^T * scale + mask) @ v on (..., H, T, D) tensors; k/v may have fewer heads (GQA). */
    scaledDotProductAttention(key: Tensor, value: Tensor, opts?: AttentionOptions): Tensor
  }
}

/** The checked shapes of one attention call. */
interface AttentionShape {
  /** query heads per key/value head (1 without GQA) */
  group: number
  tq: number
  /** key length: symbolic for a KV cache viewed up to a bound Variable position */
  tk: sint
}

const OP = 'scaledDotProductAttention'

function checkAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): AttentionShape {
  for (const [name, t] of [
    ['key', k],
    ['value', v],
  ] as const)
    if (!(t instanceof Tensor)) throw new TsgradError(`${OP}: ${name} must be a Tensor`)
  const shapes = `query ${fmtShape(q.shape)}, key ${fmtShape(k.shape)}, value ${fmtShape(v.shape)}`
  if (q.ndim < 2 || q.ndim !== k.ndim || q.ndim !== v.ndim)
    throw new TsgradError(`${OP}: query, key and value need the same rank >= 2 (..., T, D), got ${shapes}`)
  for (const t of [q, k, v])
    if (!t.dtype.isFloat) throw new TsgradError(`${OP}: needs float tensors, got ${t.dtype.name} (${shapes})`)
  const n = q.ndim
  const d = q.shape[n - 1]!
  if (k.shape[n - 1] !== d)
    throw new TsgradError(`${OP}: query and key head dims differ (${d} vs ${k.shape[n - 1]}): ${shapes}`)
  // the key length may be symbolic (a KV cache viewed up to a bound Variable position)
  const [tq, tk] = [q.shape[n - 2]!, k.sshape[n - 2]!]
  if (v.sshape[n - 2] !== tk)
    throw new TsgradError(
      `${OP}: key and value lengths differ (${fmtSint(tk)} vs ${fmtSint(v.sshape[n - 2]!)}): ${shapes}`,
    )
  let group = 1
  if (n >= 3) {
    const [hq, hk, hv] = [q.shape[n - 3]!, k.shape[n - 3]!, v.shape[n - 3]!]
    if (hk !== hv)
      throw new TsgradError(`${OP}: key and value head counts differ (${hk} vs ${hv}): ${shapes}`)
    if (hq % hk !== 0)
      throw new TsgradError(
        `${OP}: ${hq} query heads are not a multiple of ${hk} key/value heads (grouped-query attention needs Hq = g * Hkv): ${shapes}`,
      )
    group = hq / hk
    const lead = [q, k, v].map((t) => t.shape.slice(0, n - 3))
    if (lead.some((l) => fmtShape(l) !== fmtShape(lead[0]!)))
      throw new TsgradError(`${OP}: batch dimensions differ: ${shapes}`)
  }
  const { attnMask: mask, isCausal, causalAlign, scale, dropoutP } = opts
  if (mask !== undefined) {
    if (!(mask instanceof Tensor)) throw new TsgradError(`${OP}: attnMask must be a Tensor`)
    if (isSymbolic(tk))
      throw new TsgradError(
        `${OP}: attnMask with a symbolic key length ${fmtSint(tk)} is not supported: ${shapes}`,
      )
    if (isCausal)
      throw new TsgradError(
        `${OP}: attnMask and isCausal cannot both be set (as PyTorch); fold the causal mask into attnMask`,
      )
    const full = [...q.shape.slice(0, -1), tk]
    const m = mask.shape
    const fits = m.length <= n && m.every((s, i) => s === 1 || s === full[n - m.length + i])
    if (!fits)
      throw new TsgradError(
        `${OP}: attnMask of shape ${fmtShape(m)} does not broadcast to the scores ${fmtShape(full)} (..., Hq, Tq, Tk)`,
      )
    if (!mask.dtype.isBool && !mask.dtype.isFloat)
      throw new TsgradError(`${OP}: attnMask must be bool or float, got ${mask.dtype.name}`)
  }
  if (isCausal && isSymbolic(tk))
    throw new TsgradError(
      `${OP}: isCausal with a symbolic key length ${fmtSint(tk)} is not supported (a decode step of one query sees every cached key: leave isCausal off): ${shapes}`,
    )
  if (causalAlign !== undefined && causalAlign !== 'topLeft' && causalAlign !== 'bottomRight')
    throw new TsgradError(
      `${OP}: causalAlign must be 'topLeft' or 'bottomRight', got ${JSON.stringify(causalAlign)}`,
    )
  if (causalAlign !== undefined && !isCausal) throw new TsgradError(`${OP}: causalAlign needs isCausal: true`)
  if (scale !== undefined && !(typeof scale === 'number' && Number.isFinite(scale)))
    throw new TsgradError(`${OP}: scale must be a finite number, got ${JSON.stringify(scale)}`)
  if (dropoutP !== undefined && !(typeof dropoutP === 'number' && dropoutP >= 0 && dropoutP <= 1))
    throw new TsgradError(`${OP}: dropoutP must be a number in [0, 1], got ${JSON.stringify(dropoutP)}`)
  return { group, tq, tk }
}

/** Attention over (..., H, T, D) tensors (see AttentionOptions); checks shapes, then computes. */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): Tensor {
  checkOptions(OP, opts, ATTENTION_OPTS)
  const shape = checkAttention(q, k, v, opts)
  const backend = attentionBackend(q, opts, shape)
  if (backend === 'flash')
    return flashAttention(q, k, v, {
      causal: opts.isCausal ?? false,
      ...(opts.scale !== undefined && { scale: opts.scale }),
    })
  return plainAttention(q, k, v, opts, shape)
}

/** Which implementation `scaledDotProductAttention` uses for these inputs (see `backend`). */
export function attentionBackend(
  q: Tensor,
  opts: AttentionOptions,
  { tq, tk }: AttentionShape,
): 'math' | 'flash' {
  const want = opts.backend ?? 'auto'
  if (!['auto', 'math', 'flash'].includes(want))
    throw new TsgradError(`${OP}: backend must be 'auto', 'math' or 'flash', got ${JSON.stringify(want)}`)
  if (want === 'math') return 'math'
  const why =
    q.ndim !== 4
      ? `q is ${q.ndim}-D (flash takes (batch, heads, length, dim))`
      : opts.attnMask
        ? 'an attnMask is given'
        : (opts.dropoutP ?? 0) > 0
          ? 'dropoutP > 0'
          : opts.isCausal && (opts.causalAlign ?? 'topLeft') === 'bottomRight' && tq !== tk
            ? "causalAlign 'bottomRight' with Tq != Tk"
            : undefined
  if (want === 'flash') {
    if (!why && isSymbolic(tk))
      throw new TsgradError(`${OP}: backend 'flash' does not take a symbolic key length`)
    if (why) throw new TsgradError(`${OP}: backend 'flash' does not apply: ${why}`)
    return 'flash'
  }
  const scoreBytes = q.shape.slice(0, -1).reduce((a, b) => a * b, 1) * smax(tk) * 4
  return why === undefined && !isSymbolic(tk) && scoreBytes > FLASH_MIN_SCORE_BYTES ? 'flash' : 'math'
}

/** The causal mask (tq, tk): query i sees keys j <= i + offset. */
function causalMask(tq: number, tk: number, align: 'topLeft' | 'bottomRight', device: string): Tensor {
  const i = Tensor.arange(tq, undefined, 1, { device, dtype: dtypes.int32 }).reshape([tq, 1])
  const j = Tensor.arange(tk, undefined, 1, { device, dtype: dtypes.int32 }).reshape([1, tk])
  return j.le(align === 'bottomRight' ? i.add(tk - tq) : i)
}

/** softmax(q k^T scale + mask) @ v as two matmuls; GQA folds each group into the rows. */
export function plainAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions,
  { group, tq, tk }: AttentionShape,
): Tensor {
  const n = q.ndim
  const d = q.shape[n - 1]!
  const lead = q.shape.slice(0, -3)
  const hkv = n >= 3 ? k.shape[n - 3]! : 1
  // GQA: (..., Hkv, g, Tq, D) queries against (..., Hkv, 1, Tk, D) keys broadcast over the group.
  // Only the head axis is split (q's heads are usually a transposed view: folding the group into
  // the rows, (..., Hkv, g*Tq, D), made every load index a div/mod chain, 1 GFLOP/s at T=512)
  const qq = group > 1 ? q.reshape([...lead, hkv, group, tq, d]) : q
  const kk = group > 1 ? k.unsqueeze(-3) : k
  const vv = group > 1 ? v.unsqueeze(-3) : v
  // scores (..., Hkv, g, Tq, Tk), which the masks broadcast against as (..., Hq, Tq, Tk)
  let s = qq.matmul(kk.transpose(-1, -2)).mul(opts.scale ?? 1 / Math.sqrt(d))
  if (opts.isCausal)
    s = causalMask(tq, tk as number, opts.causalAlign ?? 'topLeft', q.device).where(
      s,
      Number.NEGATIVE_INFINITY,
    )
  if (opts.attnMask) {
    let m = opts.attnMask
    if (group > 1) {
      const ms = [...Array<number>(n - m.ndim).fill(1), ...m.shape]
      const [mlead, mh, mt] = [ms.slice(0, -3), ms[n - 3]!, ms.slice(-2)]
      m = m.reshape(mh === 1 ? [...mlead, 1, 1, ...mt] : [...mlead, hkv, group, ...mt])
    }
    s = m.dtype.isBool ? m.where(s, Number.NEGATIVE_INFINITY) : s.add(m)
  }
  let a = s.softmax(-1)
  const p = opts.dropoutP ?? 0
  if (p > 0)
    a =
      p === 1
        ? a.zerosLike()
        : Tensor.rand(a.shape, { device: a.device })
            .ge(p)
            .where(a.div(1 - p), 0)
            .cast(a.dtype)
  const out = a.matmul(vv)
  return group > 1 ? out.reshape([...q.shape.slice(0, -1), v.shape[n - 1]!]) : out
}

Tensor.prototype.scaledDotProductAttention = function (key, value, opts = {}) {
  return Tensor.composite(() => scaledDotProductAttention(this, key, value, opts))
}
