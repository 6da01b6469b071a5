// Sliding-window views and the convolution as plain graphs (stride 1, undilated, ungrouped):
// out[n, o, y, x] = sum over (c, ky, kx) of xp[n, c, y + ky, x + kx] * w[o, c, ky, kx], the window
// view of the padded input times the broadcast weight. How that product is laid out in memory
// (a padded input copy and the NCHW output, or a weight copy and a channels-last output) is the
// device's decision, made by pass `layouts` (schedule/conv_layouts.ts), which recognizes the forms
// built here.
// The structural gradient of the window view would realize an (N, C, OH, OW, KH, KW)
// intermediate, so the backward is given as two more plain graphs (a CUSTOM_GRAD node):
//   dx = the same convolution of the gradient, padded by K-1-p, with the flipped, transposed weight
//   dW = a sum over (n, oy, ox) of the input's windows times the gradient
import { TsgradError } from '../helpers.js'
import { slidingWindows } from '../uop/windows.js'
import { withCustomGrad } from './custom_grad.js'
import { Tensor } from './tensor.js'

/** Sliding windows over the last two axes: (..., H, W) -> (..., OH, OW, KH, KW), a pure view. */
export function windows(x: Tensor, k: [number, number], s: [number, number], d: [number, number]): Tensor {
  return Tensor.fromUOp(slidingWindows(x.uop, k, s, d), x)
}

type Pads = readonly [number, number, number, number]

/** x (N, C, H, W) padded by (top, bottom, left, right). */
export const padSpatial = (x: Tensor, pads: Pads): Tensor =>
  x.pad([null, null, [pads[0], pads[1]], [pads[2], pads[3]]])

/** The KH x KW windows of x (N, C, H, W) padded by `pads`: (N, C, OH, OW, KH, KW). */
const unitWindows = (x: Tensor, kh: number, kw: number, pads: Pads): Tensor =>
  windows(padSpatial(x, pads), [kh, kw], [1, 1], [1, 1])

/**
 * Valid correlation of x (N, C, H, W) padded by `pads` with w (O, C, KH, KW): the product
 * (N, O, OH, OW, C, KH, KW) summed over its last three axes, NCHW out.
 */
function correlate(x: Tensor, w: Tensor, pads: Pads): Tensor {
  const [O, C, KH, KW] = w.shape as [number, number, number, number]
  const p = unitWindows(x, KH, KW, pads)
  const [N, , OH, OW] = p.shape as [number, number, number, number]
  const a = p.permute([0, 2, 3, 1, 4, 5]).reshape([N, 1, OH, OW, C, KH, KW])
  return a.mul(w.reshape([1, O, 1, 1, C, KH, KW])).sum([4, 5, 6])
}

/**
 * The weight gradient of `correlate(x, w, pads)` for its gradient g (N, O, OH, OW):
 * dW[o, c, ky, kx] = sum over (n, oy, ox) of xp[n, c, oy + ky, ox + kx] * g[n, o, oy, ox], the
 * product (O, C, KH, KW, N, OH, OW) summed over its last three axes.
 */
function correlateWeightGrad(x: Tensor, g: Tensor, kh: number, kw: number, pads: Pads): Tensor {
  const p = unitWindows(x, kh, kw, pads)
  const [N, C, OH, OW] = p.shape as [number, number, number, number]
  const O = g.shape[1]!
  const a = p.permute([1, 4, 5, 0, 2, 3]).reshape([1, C, kh, kw, N, OH, OW])
  return a.mul(g.permute([1, 0, 2, 3]).reshape([O, 1, 1, 1, N, OH, OW])).sum([4, 5, 6])
}

/**
 * conv2d for groups 1, stride 1, dilation 1 and padding below the kernel size, on NCHW tensors:
 * x (N, C, H, W), w (O, C, KH, KW), pads (top, bottom, left, right) -> (N, O, OH, OW).
 */
export function conv2dUnit(x: Tensor, w: Tensor, pads: Pads): Tensor {
  const [KH, KW] = [w.shape[2]!, w.shape[3]!]
  if (pads.some((p, i) => p < 0 || p >= (i < 2 ? KH : KW)))
    throw new TsgradError(`conv2d: needs 0 <= padding < kernel here, got [${pads}]`)
  const out = correlate(x, w, pads)
  return withCustomGrad(out, [x, w], (g, [xi, wi]) => {
    const [x, w] = [xi!, wi!]
    const full: Pads = [KH - 1 - pads[0], KH - 1 - pads[1], KW - 1 - pads[2], KW - 1 - pads[3]]
    const dx = correlate(g, w.flip([2, 3]).permute([1, 0, 2, 3]), full)
    return [dx, correlateWeightGrad(x, g, KH, KW, pads)]
  })
}
