// The mixture-of-experts feed-forward (Mixtral, Qwen2-MoE with its shared expert, Qwen3-MoE): a router picks `used` of `count`
// experts per token, each a SiLU-gated MLP, and their outputs are summed with the routing weights.
//
// Decode (one token) reads only the chosen experts' weights, on the device: the top-k indices
// select the experts' slices of the stacked (experts, out, in) weights with an indexed load
// (`get` with a tensor index, a GATHER), which fuses into the matvec that consumes it, so the
// kernels loop over k experts' rows, not all of them, and no value goes back to the host (the
// step stays one jit capture). A prefill of T tokens instead runs every expert over every token
// and zeroes the unchosen ones with the routing matrix: it reads each weight once, where gathering
// per token would read the chosen experts T times.
import type { Tensor } from '../tensor/index.js'
import { gatherRows, type QuantBlocks } from './rows.js'
import type { LLMConfig } from './types.js'
import type { LayerWeights } from './weights.js'

type Experts = NonNullable<LLMConfig['experts']>

/** routing weights and expert indices (T, used) from router logits (T, count) */
function route(logits: Tensor, e: Experts): [weights: Tensor, indices: Tensor] {
  if (e.gating === 'topk-softmax') {
    const [top, idx] = logits.topk(e.used)
    return [top.softmax(-1), idx]
  }
  const [p, idx] = logits.softmax(-1).topk(e.used)
  return [p, idx]
}

const f32 = (t: Tensor): Tensor => (t.dtype.name === 'float32' ? t : t.cast('float32'))

/** Qwen2-MoE's shared expert, gated by sigmoid(x . w): x (T, dim) -> (T, dim); undefined without one */
function shared(x: Tensor, l: LayerWeights): Tensor | undefined {
  if (!l.sharedGate) return undefined
  const lin = (a: Tensor, w: Tensor): Tensor => a.matmul(f32(w).T)
  const y = lin(lin(x, l.gateShared!).silu().mul(lin(x, l.upShared!)), l.downShared!)
  return y.mul(x.matmul(f32(l.sharedGate).reshape([-1, 1])).sigmoid())
}

/** h (1, 1, dim) -> (1, 1, dim): only the chosen experts' weights are read */
export function moeDecode(
  h: Tensor,
  l: LayerWeights,
  e: Experts,
  blocks?: ReadonlyMap<Tensor, QuantBlocks>,
): Tensor {
  const D = h.shape[2]!
  const x = h.reshape([D, 1])
  const [w, idx] = route(h.reshape([1, D]).matmul(f32(l.router!).T), e)
  const sel = idx.reshape([e.used])
  const pick = (w: Tensor): Tensor => f32(gatherRows(w, sel, blocks?.get(w)))
  const g = pick(l.gateExps!).matmul(x) // (k, hidden, 1)
  const u = pick(l.upExps!).matmul(x)
  const y = pick(l.downExps!).matmul(g.silu().mul(u)) // (k, dim, 1)
  const out = y
    .mul(w.reshape([e.used, 1, 1]))
    .sum(0)
    .reshape([1, D])
  const sh = shared(h.reshape([1, D]), l)
  return (sh ? out.add(sh) : out).reshape([1, 1, D])
}

/** h (1, T, dim) -> (1, T, dim): every expert over every token, weighted by the routing matrix */
export function moeDense(h: Tensor, l: LayerWeights, e: Experts): Tensor {
  const [, T, D] = h.shape as [number, number, number]
  const x = h.reshape([T, D])
  const [w, idx] = route(x.matmul(f32(l.router!).T), e)
  // (T, count): the routing weight of each expert for each token, 0 for the unchosen
  const mix = idx.oneHot(e.count).mul(w.unsqueeze(-1)).sum(1)
  const xt = x.T
  const g = f32(l.gateExps!).matmul(xt) // (count, hidden, T)
  const u = f32(l.upExps!).matmul(xt)
  const y = f32(l.downExps!).matmul(g.silu().mul(u)) // (count, dim, T)
  const out = y.mul(mix.T.reshape([e.count, 1, T])).sum(0).T
  const sh = shared(x, l)
  return (sh ? out.add(sh) : out).reshape([1, T, D])
}
