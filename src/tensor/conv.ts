// Sliding-window views and the fast convolution (stride 1, undilated, ungrouped).
//
// The forward product is laid out for the optimizer's matmul-like register tile, in one of two ways:
// - direct (output width 16, 24, ..., >= 8 input channels): the input padded into a contiguous
//   copy, then out[n, o, y, x] = sum over (c, ky, kx) of xp[n, c, y + ky, x + kx] * w[o, c, ky, kx]. The tile
//   is (o x 8 columns of x): x is contiguous in the output and in the input rows, the weight is a
//   broadcast, the 3x3 window becomes straight-line steps (CHAIN) inside the channel loop, and the
//   output is NCHW with no copy.
// - channels-last (narrow outputs, e.g. 7x7): reductions whose output is (N, OH, OW, O), with a small
//   weight copy that has O innermost, so the tile vectorizes along the channels; consumers read it
//   through an NCHW view.
// The structural gradient of the window view would realize an (N, C, OH, OW, KH, KW)
// intermediate, so the backward is given explicitly:
//   dx = the same convolution of the padded gradient with the flipped, transposed weight
//   dW = a reduction over (n, oy, ox), split over batch groups (partial sums, then a small sum)
//        so each group's slice of the gradient stays in cache while the register tiles sweep it.
import { range, TsgradError } from '../helpers.js'
import { withCustomGrad } from './custom_grad.js'
import type { Tensor } from './tensor.js'

/** Windows over the last axis: (..., L) -> (..., O, K) with out[o, j] = x[o*s + j*d], as a view. */
function window1d(y: Tensor, k: number, s: number, d: number): Tensor {
  const L = y.shape[y.ndim - 1]!
  const o = Math.floor((L - d * (k - 1) - 1) / s) + 1
  if (o <= 0)
    throw new TsgradError(`conv/pool: window ${k} (dilation ${d}) is larger than the padded input ${L}`)
  const pre = y.shape.slice(0, -1)
  const keep = pre.map((v) => [0, v] as [number, number])
  const Lp = Math.max(L, o * s)
  // repeat the axis k times, then re-stride rows by Lp + d so row j starts at x[j*d]
  let t = y.pad([...keep.map(() => [0, 0] as [number, number]), [0, Lp - L]])
  t = t
    .unsqueeze(-2)
    .expand([...pre, k, Lp])
    .reshape([...pre, k * Lp])
  t = t.pad([...keep.map(() => [0, 0] as [number, number]), [0, k * d]]).reshape([...pre, k, Lp + d])
  // keep columns o*s apart by s
  t = t.shrink([...keep, [0, k], [0, o * s]]).reshape([...pre, k, o, s])
  t = t.shrink([...keep, [0, k], [0, o], [0, 1]]).reshape([...pre, k, o])
  return t.transpose(-1, -2)
}

/** Sliding windows over the last two axes: (..., H, W) -> (..., OH, OW, KH, KW), a pure view. */
export function windows(x: Tensor, k: [number, number], s: [number, number], d: [number, number]): Tensor {
  const n = x.ndim
  const w = window1d(x, k[1], s[1], d[1]) // (..., H, OW, KW)
  const h = window1d(w.permute([...range(n - 2), n - 1, n, n - 2]), k[0], s[0], d[0]) // (..., OW, KW, OH, KH)
  return h.permute([...range(n - 2), n, n - 2, n + 1, n - 1])
}

type Pads = readonly [number, number, number, number]

/** x (N, C, H, W) padded by (top, bottom, left, right). */
export const padSpatial = (x: Tensor, pads: Pads): Tensor =>
  x.pad([null, null, [pads[0], pads[1]], [pads[2], pads[3]]])

/** The padded KH x KW patches of x (N, C, H, W), channels last: a view (N, OH, OW, KH, KW, C). */
function patches(x: Tensor, kh: number, kw: number, pads: Pads): Tensor {
  return windows(padSpatial(x, pads), [kh, kw], [1, 1], [1, 1]).permute([0, 2, 3, 4, 5, 1])
}

/** Valid correlation of x (N, C, H, W) with w (KH, KW, C, O), padded: (N, OH, OW, O). */
function correlate(x: Tensor, w: Tensor, pads: Pads): Tensor {
  const [KH, KW, C, O] = w.shape as [number, number, number, number]
  const p = patches(x, KH, KW, pads)
  const [N, OH, OW] = p.shape as [number, number, number]
  const a = p.reshape([N, OH, OW, 1, KH, KW, C])
  const b = w.permute([3, 0, 1, 2]).reshape([1, 1, 1, O, KH, KW, C])
  return a.mul(b).sum([4, 5, 6])
}

/** Batch groups for the weight gradient: each group reduces over >= ~8K (n, oy, ox) positions. */
function batchGroups(n: number, positions: number): number {
  let g = 1
  for (let d = 1; d <= n; d++) if (n % d === 0 && (n / d) * positions >= 8192) g = d
  return g
}

/** Output widths that take the direct path: whole 8-float vectors along the output rows, and more
 * than one (at 8x8, MNIST's third conv, the direct kernel was no faster and its backward's
 * channels-last gradient copy read the NCHW output transposed, 10x slower). */
const DIRECT_WIDTH = 8
/** ...and input channels: the loop around the window's straight-line steps (with C = 1 there is no
 * loop left, and the 16x8 tile times 25 steps of a 5x5 window ran 8x slower than channels-last). */
const DIRECT_MIN_CHANNELS = 8

/** Valid correlation of x (N, C, H, W) padded by `pads` with w (O, C, KH, KW), NCHW in and out. */
function correlateDirect(x: Tensor, w: Tensor, pads: Pads): Tensor {
  const [O, C, KH, KW] = w.shape as [number, number, number, number]
  const xp = padSpatial(x, pads).contiguous()
  const p = windows(xp, [KH, KW], [1, 1], [1, 1]) // (N, C, OH, OW, KH, KW)
  const [N, , OH, OW] = p.shape as [number, number, number, number]
  const a = p.permute([0, 2, 3, 1, 4, 5]).reshape([N, 1, OH, OW, C, KH, KW])
  return a.mul(w.reshape([1, O, 1, 1, C, KH, KW])).sum([4, 5, 6])
}

/**
 * conv2d for groups 1, stride 1, dilation 1 and padding below the kernel size, on NCHW tensors:
 * x (N, C, H, W), w (O, C, KH, KW), pads (top, bottom, left, right) -> (N, O, OH, OW).
 */
export function conv2dFast(x: Tensor, w: Tensor, pads: Pads): Tensor {
  const [N, C, , W] = x.shape as [number, number, number, number]
  const [O, , KH, KW] = w.shape as [number, number, number, number]
  if (pads.some((p, i) => p < 0 || p >= (i < 2 ? KH : KW)))
    throw new TsgradError(`conv2d: fast path needs 0 <= padding < kernel, got [${pads}]`)
  const width = W + pads[2] + pads[3] - KW + 1
  const out =
    width % DIRECT_WIDTH === 0 && width > DIRECT_WIDTH && C >= DIRECT_MIN_CHANNELS
      ? correlateDirect(x, w, pads).contiguous()
      : // realized channels-last, so the kernel stores along O (its register tile's contiguous
        // axis); consumers read it through the NCHW view
        correlate(x, w.permute([2, 3, 1, 0]).contiguous(), pads)
          .contiguous()
          .permute([0, 3, 1, 2])
  const [OH, OW] = [out.shape[2]!, out.shape[3]!]
  return withCustomGrad(out, [x, w], (g, [xi, wi]) => {
    const [x, w] = [xi!, wi!]
    // the gradient channels-last, padded by K-1-p so dx is a valid correlation and dW reads an
    // ungated window of it
    const [eh, ew] = [KH - 1 - pads[0], KW - 1 - pads[2]]
    const gp = g
      .permute([0, 2, 3, 1])
      .pad([null, [eh, KH - 1 - pads[1]], [ew, KW - 1 - pads[3]], null])
      .contiguous()
    const wT = w.flip([2, 3]).permute([2, 3, 0, 1]).contiguous() // (KH, KW, O, C)
    const dx = correlate(gp.permute([0, 3, 1, 2]), wT, [0, 0, 0, 0]).permute([0, 3, 1, 2])
    // dW[o, c, ky, kx] = sum over (n, oy, ox) of xp[n, c, oy + ky, ox + kx] * g[n, o, oy, ox]
    const G = batchGroups(N, OH * OW)
    const xw = patches(x, KH, KW, pads).reshape([G, N / G, OH, OW, KH, KW, C, 1])
    const gw = gp.shrink([null, [eh, eh + OH], [ew, ew + OW], null]).reshape([G, N / G, OH, OW, 1, 1, 1, O])
    const part = xw.mul(gw).sum([1, 2, 3]) // (G, KH, KW, C, O)
    const dw = (G > 1 ? part.sum(0) : part.reshape([KH, KW, C, O])).permute([3, 2, 0, 1])
    return [dx, dw]
  })
}
