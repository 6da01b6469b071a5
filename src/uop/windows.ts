// Sliding-window views as graph nodes: the one builder the front end's convolutions and pools use
// (tensor/conv.ts) and pass `layouts` rebuilds to recognize a convolution's window view
// (schedule/conv_layouts.ts): UOps are interned, so a view built alike is the same node.
import { range, TsgradError } from '../helpers.js'
import * as G from './graph.js'
import type { UOp } from './ops.js'

const keepAll = (n: number) => range(n).map(() => [0, 0] as [number, number])

/** Windows over the last axis: (..., L) -> (..., O, K) with out[o, j] = x[o*s + j*d], as a view. */
function window1d(y: UOp, k: number, s: number, d: number): UOp {
  const shape = y.shape!
  const L = shape.at(-1) as number
  const o = Math.floor((L - d * (k - 1) - 1) / s) + 1
  if (o <= 0)
    throw new TsgradError(`conv/pool: window ${k} (dilation ${d}) is larger than the padded input ${L}`)
  const pre = shape.slice(0, -1)
  const full = pre.map((v) => [0, v] as const)
  const Lp = Math.max(L, o * s)
  // repeat the axis k times, then re-stride rows by Lp + d so row j starts at x[j*d]
  let t = G.pad(y, [...keepAll(pre.length), [0, Lp - L]])
  t = G.reshape(G.expand(G.reshape(t, [...pre, 1, Lp]), [...pre, k, Lp]), [...pre, k * Lp])
  t = G.reshape(G.pad(t, [...keepAll(pre.length), [0, k * d]]), [...pre, k, Lp + d])
  // keep columns o*s apart by s
  t = G.reshape(G.shrink(t, [...full, [0, k], [0, o * s]]), [...pre, k, o, s])
  t = G.reshape(G.shrink(t, [...full, [0, k], [0, o], [0, 1]]), [...pre, k, o])
  const n = pre.length
  return G.permute(t, [...range(n), n + 1, n])
}

/**
 * Sliding windows over the last two axes: (..., H, W) -> (..., OH, OW, KH, KW) with
 * out[y, x, i, j] = in[y*s0 + i*d0, x*s1 + j*d1], a pure view (no pads of its own beyond the rows).
 */
export function slidingWindows(
  x: UOp,
  k: readonly [number, number],
  s: readonly [number, number],
  d: readonly [number, number],
): UOp {
  const n = x.shape!.length
  const w = window1d(x, k[1], s[1], d[1]) // (..., H, OW, KW)
  const h = window1d(G.permute(w, [...range(n - 2), n - 1, n, n - 2]), k[0], s[0], d[0]) // (..., OW, KW, OH, KH)
  return G.permute(h, [...range(n - 2), n, n - 2, n + 1, n - 1])
}
