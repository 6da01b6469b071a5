// Flash attention as custom kernels (Tensor.customKernel): softmax(q k^T * scale + mask) v without
// the T x S score matrix. Memory beyond the inputs and outputs is O(T): the logsumexp of each
// query row (saved for the backward) and, in the backward, the row dot products dO . O.
//
// Forward, one kernel: per (batch, head, query row i) the keys are streamed twice in tiles of 16
// (keyTile), each score recomputed from q and k^T (a dot product: a REDUCE nested in the reduce
// over tiles): the first pass takes the row max m, the second the sum l of exp(s - m) and the Dv
// weighted sums of v, whose axis is an 'upcast' range (Dv accumulators side by side in one loop,
// sharing each score). This is a two-pass streaming softmax, not the one-pass online softmax: our
// REDUCE accumulates with ADD/MAX/MUL, which cannot carry the online update (rescaling the running
// sum and accumulators by exp(m_old - m_new)); the max pass costs one more dot product per score
// and no memory. Outputs O and L = m + log l.
//
// Backward, two kernels, each recomputing p = exp(s - L) per score: dQ (rows i, reduce over keys j)
// and dK + dV (rows j, reduce over queries i), with dS = p (dO . v_j - D_i), D_i = dO_i . O_i.
import { dtypes } from '../dtype.js'
import { fmtShape, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import type { UOp } from '../uop/ops.js'
import './custom_kernel.js'
import type { KernelBuffer, KernelContext } from './custom_kernel.js'
import { Tensor } from './tensor.js'

export interface FlashAttentionOptions {
  /** mask key j > query i (PyTorch's is_causal: the top-left aligned lower triangle) */
  causal?: boolean
  /** multiplies q k^T; default 1 / sqrt(D) */
  scale?: number
}
const OPTS: KeySet<FlashAttentionOptions> = { causal: true, scale: true }

interface Dims {
  B: number
  H: number
  /** heads of k and v (H for plain attention; fewer for grouped-query attention) */
  Hk: number
  T: number
  S: number
  D: number
  Dv: number
  scale: number
  causal: boolean
}

/** (batch, head) coordinates of a row */
type BH = readonly [UOp, UOp]

/** the k/v (batch, head) that query head qh reads: query heads come in groups of H / Hk */
const kvHead = (qh: BH, d: Dims): BH => (d.H === d.Hk ? qh : [qh[0], qh[1].idiv(d.H / d.Hk)])

/** q . k for query row i of head qh and key row j of head kh, over a fresh reduce range, times scale */
function score(
  c: KernelContext,
  q: KernelBuffer,
  kk: KernelBuffer,
  qh: BH,
  kh: BH,
  i: UOp,
  j: UOp,
  d: Dims,
): UOp {
  const e = c.range(d.D, 'reduce')
  return c.reduce('ADD', q.load(q.at(...qh, i, e)).mul(kk.load(kk.at(...kh, j, e))), e).mul(d.scale)
}

/** Keys per step of the online softmax: the scores of a tile share one rescale of the accumulators. */
const keyTile = (S: number): number => [16, 8, 4, 2].find((t) => S % t === 0) ?? 1

/** Query rows per kernel row: each loaded key and value serves all of them (a register tile). */
const queryTile = (T: number): number => [4, 2].find((t) => T % t === 0) ?? 1

/** where the causal mask lets key j reach query i (always, without a mask) */
const allowed = (d: Dims, i: UOp, j: UOp): UOp | undefined => (d.causal ? j.lt(i.add(1)) : undefined)

function forward(q: Tensor, k: Tensor, v: Tensor, d: Dims): Tensor[] {
  const [kt, qt] = [keyTile(d.S), queryTile(d.T)]
  return Tensor.customKernel({
    name: 'flash_attn_fwd',
    // k as it is (B, Hk, S, D): a tile's keys are kt consecutive rows (k^T's rows would be S
    // floats apart, a stride that maps a tile's lines onto a few cache sets)
    inputs: [q, k, v],
    outputs: [{ shape: [d.B, d.H, d.T, d.Dv] }, { shape: [d.B, d.H, d.T] }],
    body: (c) => {
      const [o, lse] = [c.outputs[0]!, c.outputs[1]!]
      const [qb, kb, vb] = [c.inputs[0]!, c.inputs[1]!, c.inputs[2]!]
      const bh = [c.range(d.B), c.range(d.H)] as const
      const kh = kvHead(bh, d)
      // qt query rows side by side ('upcast'), each with Dv output accumulators ('upcast')
      const i = c
        .range(d.T / qt)
        .mul(qt)
        .add(c.range(qt, 'upcast'))
      const dv = c.range(d.Dv, 'upcast')
      const ninf = c.const(Number.NEGATIVE_INFINITY)
      // one pass over the key tiles: the running max m, the running sum l of exp(s - m) and the
      // output row acc, rescaled by exp(m - m') whenever the max grows (the online softmax)
      const t = c.range(d.S / kt, 'reduce')
      const e = c.range(d.D, 'reduce')
      const qe = qb.load(qb.at(...bh, i, e))
      const scores = Array.from({ length: kt }, (_, u) => {
        const key = t.mul(kt).add(u)
        const dot = c.reduce('ADD', qe.mul(kb.load(kb.at(...kh, key, e))), e).mul(d.scale)
        const ok = allowed(d, i, key)
        return { key, s: ok ? ok.where(dot, ninf) : dot }
      })
      const tileMax = scores.map((x) => x.s).reduce((a, b) => a.max(b))
      const [m, l, acc] = c.accumulate([t], [Number.NEGATIVE_INFINITY, 0, 0], ([m, l, acc]) => {
        const m2 = m!.max(tileMax)
        const alpha = c.exp(m!.sub(m2))
        const ps = scores.map(({ key, s }) => ({ key, p: c.exp(s.sub(m2)) }))
        const sum = ps.map((x) => x.p).reduce((a, b) => a.add(b))
        const pv = ps.map(({ key, p }) => p.mul(vb.load(vb.at(...kh, key, dv)))).reduce((a, b) => a.add(b))
        return [m2, l!.mul(alpha).add(sum), acc!.mul(alpha).add(pv)]
      })
      return c.sink(
        o.store(o.at(...bh, i, dv), acc!.fdiv(l!)),
        lse.store(lse.at(...bh, i), m!.add(c.log(l!))),
      )
    },
    backward: ([gO, gL], [qi, ki, vi], [out, L]) => {
      if (!gO && !gL) return [undefined, undefined, undefined]
      const zero = Tensor.zeros([d.B, d.H, d.T], { device: qi!.device })
      // D_i = dO_i . O_i; a logsumexp gradient adds p * gL to dS (dL/ds = p): D - gL
      let delta = gO ? gO.mul(out!).sum(-1) : zero
      if (gL) delta = delta.sub(gL)
      const g = gO ?? Tensor.zeros([d.B, d.H, d.T, d.Dv], { device: qi!.device })
      return backward(qi!, ki!, vi!, g, L!, delta, d)
    },
  })
}

function backward(q: Tensor, k: Tensor, v: Tensor, gO: Tensor, L: Tensor, delta: Tensor, d: Dims): Tensor[] {
  // dS_ij = p_ij (dO_i . v_j - delta_i), p_ij = exp(s_ij - L_i) (0 where masked)
  const dS = (c: KernelContext, bh: BH, kh: BH, i: UOp, j: UOp): { p: UOp; ds: UOp } => {
    const [qb, kb, vb, gb, lb, db] = c.inputs as [
      KernelBuffer,
      KernelBuffer,
      KernelBuffer,
      KernelBuffer,
      KernelBuffer,
      KernelBuffer,
    ]
    const s = score(c, qb, kb, bh, kh, i, j, d)
    const e = c.exp(s.sub(lb.load(lb.at(...bh, i))))
    const ok = allowed(d, i, j)
    const p = ok ? ok.where(e, c.const(0)) : e
    const f = c.range(d.Dv, 'reduce')
    const dp = c.reduce('ADD', gb.load(gb.at(...bh, i, f)).mul(vb.load(vb.at(...kh, j, f))), f)
    return { p, ds: p.mul(dp.sub(db.load(db.at(...bh, i)))) }
  }
  const inputs = [q, k, v, gO, L, delta]
  const [dq] = Tensor.customKernel({
    name: 'flash_attn_bwd_dq',
    inputs,
    outputs: [{ shape: [d.B, d.H, d.T, d.D] }],
    body: (c) => {
      const out = c.outputs[0]!
      const kb = c.inputs[1]!
      const bh = [c.range(d.B), c.range(d.H)] as const
      const kh = kvHead(bh, d)
      const i = c.range(d.T)
      const e = c.range(d.D, 'upcast')
      const j = c.range(d.S, 'reduce')
      const { ds } = dS(c, bh, kh, i, j)
      const acc = c.reduce('ADD', ds.mul(kb.load(kb.at(...kh, j, e))), j)
      return c.sink(out.store(out.at(...bh, i, e), acc.mul(d.scale)))
    },
  })
  const [dk, dv] = Tensor.customKernel({
    name: 'flash_attn_bwd_dkdv',
    inputs,
    outputs: [{ shape: [d.B, d.Hk, d.S, d.D] }, { shape: [d.B, d.Hk, d.S, d.Dv] }],
    body: (c) => {
      const [ok, ov] = [c.outputs[0]!, c.outputs[1]!]
      const [qb, gb] = [c.inputs[0]!, c.inputs[3]!]
      const kh = [c.range(d.B), c.range(d.Hk)] as const
      const j = c.range(d.S)
      const e = c.range(d.D, 'upcast')
      const f = c.range(d.Dv, 'upcast')
      // a k/v head sums over the query heads of its group and their rows
      const G = d.H / d.Hk
      const g = G > 1 ? c.range(G, 'reduce') : undefined
      const i = c.range(d.T, 'reduce')
      const bh: BH = g ? [kh[0], kh[1].mul(G).add(g)] : kh
      const over = g ? [g, i] : [i]
      const { p, ds } = dS(c, bh, kh, i, j)
      const accK = c.reduce('ADD', ds.mul(qb.load(qb.at(...bh, i, e))), ...over)
      const accV = c.reduce('ADD', p.mul(gb.load(gb.at(...bh, i, f))), ...over)
      return c.sink(ok.store(ok.at(...kh, j, e), accK.mul(d.scale)), ov.store(ov.at(...kh, j, f), accV))
    },
  })
  return [dq!, dk!, dv!]
}

/**
 * softmax(q k^T * scale + mask) v for q (B, H, T, D), k (B, Hk, S, D), v (B, Hk, S, Dv), without the
 * T x S score matrix (O(T) extra memory), forward and backward as custom kernels. Hk < H is
 * grouped-query attention (query head h reads k/v head h / (H / Hk); nothing is repeated in
 * memory). Computes in float32 (other float dtypes are cast and the result cast back).
 */
export function flashAttention(q: Tensor, k: Tensor, v: Tensor, opts: FlashAttentionOptions = {}): Tensor {
  checkOptions('flashAttention', opts, OPTS)
  const fail = (msg: string): never => {
    throw new TsgradError(
      `flashAttention: ${msg} (q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)})`,
    )
  }
  for (const [n, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (!(t instanceof Tensor)) fail(`${n} must be a Tensor`)
    if (t.ndim !== 4) fail(`${n} must be 4-D (batch, heads, length, dim)`)
    if (!t.dtype.isFloat) fail(`${n} must be a float tensor, got ${t.dtype.name}`)
  }
  const [B, H, T, D] = q.shape as [number, number, number, number]
  const [, , S] = k.shape as [number, number, number, number]
  const Hk = k.shape[1]!
  if (k.shape[0] !== B || v.shape[0] !== B) fail('batch sizes must match')
  if (v.shape[1] !== Hk) fail('k and v must have the same number of heads')
  if (H % Hk !== 0)
    fail('the heads of q must be a multiple of the heads of k and v (grouped-query attention)')
  if (k.shape[3] !== D) fail('q and k must have the same last dimension')
  if (v.shape[2] !== S) fail('k and v must have the same length')
  const scale = opts.scale ?? 1 / Math.sqrt(D)
  if (typeof scale !== 'number' || !Number.isFinite(scale))
    fail(`scale must be a finite number, got ${scale}`)
  const causal = opts.causal ?? false
  if (typeof causal !== 'boolean') fail('causal must be a boolean')
  const Dv = v.shape[3]!
  const dims: Dims = { B, H, Hk, T, S, D, Dv, scale, causal }
  const f32 = (t: Tensor): Tensor => t.cast(dtypes.float32)
  const [o] = forward(f32(q), f32(k), f32(v), dims)
  return o!.cast(q.dtype)
}
