// Matrix product: a broadcast multiply + sum (there is no matmul op), and its gradients the
// structural ones. How B is laid out for the register tile (packed, in panels) is the device's
// decision: pass `layouts` (schedule/layouts.ts) makes it for the product and its gradients alike.
import { fmtShape, TsgradError } from '../helpers.js'
import { fmtSint, fmtSShape } from '../uop/sint.js'
import { broadcastShapes } from './shapes.js'
import { Tensor } from './tensor.js'

export function matmul(self: Tensor, x: Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new TsgradError('matmul: argument must be a Tensor')
  if (self.ndim === 0 || x.ndim === 0)
    throw new TsgradError(
      `matmul: both operands need at least 1 dimension, got ${fmtShape(self.shape)} and ${fmtShape(x.shape)}`,
    )
  const a = self.ndim === 1 ? self.unsqueeze(0) : self
  const b = x.ndim === 1 ? x.unsqueeze(1) : x
  // sizes may be symbolic (Variables): they match when they are the same expression
  const k = a.sshape[a.ndim - 1]!
  if (b.sshape[b.ndim - 2] !== k)
    throw new TsgradError(
      `matmul: shapes ${fmtSShape(self.sshape)} and ${fmtSShape(x.sshape)} are not aligned (${fmtSint(k)} vs ${fmtSint(b.sshape[b.ndim - 2]!)})`,
    )
  const batch = broadcastShapes('matmul', a.sshape.slice(0, -2), b.sshape.slice(0, -2))
  let out = product(a, b)
  if (out.ndim !== batch.length + 2) throw new Error('matmul: internal shape error')
  if (self.ndim === 1) out = out.squeeze(-2)
  if (x.ndim === 1) out = out.squeeze(-1)
  return out
}

/** (..., m, k) @ (..., k, n) for operands of rank >= 2: (..., m, 1, k) * (..., 1, n, k) summed over k. */
function product(a: Tensor, b: Tensor): Tensor {
  const [k, n] = [b.sshape[b.ndim - 2]!, b.sshape[b.ndim - 1]!]
  const aa = a.reshape([...a.sshape.slice(0, -1), 1, k])
  const bb = b.transpose(-1, -2).reshape([...b.sshape.slice(0, -2), 1, n, k])
  const [p, q] = Tensor.broadcast('matmul', [aa, bb])
  return p!.mul(q!).sum(-1)
}
