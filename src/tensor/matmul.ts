// Matrix product: a broadcast multiply + sum (there is no matmul op), with two layout decisions the
// kernel optimizer cannot make on its own, because they need a copy:
// - pack B: the register tile reads one row of n values of B per step of k, so a B that is not
//   contiguous along n (a transposed weight, x @ W.T) is copied to (K, N) first;
// - the backward is two matmuls (dA = g @ B^T, dB = A^T @ g) that make the same decision, rather
//   than the structural gradient of multiply + sum, which would read the packed copy in the
//   transposed (dot-product) layout again.
import { promoteTypes } from '../dtype.js'
import { fmtShape, range, TsgradError } from '../helpers.js'
import { fmtSint, fmtSShape } from '../uop/sint.js'
import { withCustomGrad } from './custom_grad.js'
import { broadcastShapes } from './shapes.js'
import { Tensor } from './tensor.js'

/** Rows of A from which packing B pays for its copy (below: matrix-vector products). */
const PACK_MIN_M = 64
/** ...and multiply-adds, so small products keep one kernel. */
const PACK_MIN_WORK = 1 << 18
/** Columns of B per packed panel: a register tile's width on AVX-512 (2 vectors of 16 floats). */
const PANEL = 32

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

/** (..., m, k) @ (..., k, n) for operands of rank >= 2. */
function product(a: Tensor, b: Tensor): Tensor {
  // symbolic products (a decode step's attention over the cache) are matrix-vector sized: no packing
  if (a.isSymbolic || b.isSymbolic) return plainProduct(a, b)
  const [m, k, n] = [a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!, b.shape[b.ndim - 1]!]
  const pack = m >= PACK_MIN_M && m * n * k >= PACK_MIN_WORK
  // a packed B is packed in the product's dtype: float16 weights of a float32 product are
  // converted by the copy that packs them. Packed as float16, the scheduler realized their cast
  // (an elementwise prologue read through a broadcast) as another copy in the layout of the cast
  // (k innermost), which the register tile read with stride k: 11 instead of 210 GFLOP/s at T=512.
  const bp = pack && b.dtype !== promoteTypes(a.dtype, b.dtype) ? b.cast(promoteTypes(a.dtype, b.dtype)) : b
  const out = pack && n % PANEL === 0 ? panelProduct(a, bp) : plainProduct(a, pack ? packed(bp) : b)
  if (!pack) return out
  return withCustomGrad(out, [a, b], (g, [a, b]) => [gradA(g, a!, b!), gradB(g, a!, b!)])
}

/** B made contiguous along n (a copy only where it is not already). */
const packed = (b: Tensor): Tensor => (b.uop.contiguousBase ? b : b.contiguous())

/** (..., m, 1, k) * (..., 1, n, k) summed over k. */
function plainProduct(a: Tensor, b: Tensor): Tensor {
  const [k, n] = [b.sshape[b.ndim - 2]!, b.sshape[b.ndim - 1]!]
  const aa = a.reshape([...a.sshape.slice(0, -1), 1, k])
  const bb = b.transpose(-1, -2).reshape([...b.sshape.slice(0, -2), 1, n, k])
  const [p, q] = Tensor.broadcast('matmul', [aa, bb])
  return p!.mul(q!).sum(-1)
}

/**
 * B copied to panels (..., n/PANEL, k, PANEL): each k x PANEL strip that the register tile walks
 * down is contiguous, so it stays in L2 while the tile moves along m. Read in place, a strip of a
 * wide B has a row stride of a power of two (8 KB at n = 2048) and falls into a few cache sets.
 */
function panelProduct(a: Tensor, b: Tensor): Tensor {
  const [m, k, n] = [a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!, b.shape[b.ndim - 1]!]
  const lead = b.shape.slice(0, -2)
  const r = lead.length
  const panels = b
    .reshape([...lead, k, n / PANEL, PANEL])
    .permute([...range(r), r + 1, r, r + 2])
    .contiguous()
  // (..., m, 1, 1, k) * (..., 1, n/PANEL, PANEL, k) summed over k, then (..., m, n) as a view
  const aa = a.reshape([...a.shape.slice(0, -1), 1, 1, k])
  const bb = panels.permute([...range(r), r, r + 2, r + 1]).reshape([...lead, 1, n / PANEL, PANEL, k])
  const [p, q] = Tensor.broadcast('matmul', [aa, bb])
  const out = p!.mul(q!).sum(-1)
  return out.reshape([...out.shape.slice(0, -3), m, n])
}

/** dA = g @ B^T summed over A's broadcast batch axes. */
function gradA(g: Tensor, a: Tensor, b: Tensor): Tensor {
  const k = a.shape[a.ndim - 1]!
  if (a.ndim === 2 && g.ndim > 2) {
    // A shared by a batch: one product over (batch x n) instead of a batch of products summed
    const lead = range(g.ndim - 2)
    const gm = g.permute([g.ndim - 2, ...lead, g.ndim - 1]).reshape([a.shape[0]!, -1])
    const bt = b
      .expand([...g.shape.slice(0, -2), k, g.shape[g.ndim - 1]!])
      .transpose(-1, -2)
      .reshape([-1, k])
    return gm.matmul(bt)
  }
  return sumToShape(g.matmul(b.transpose(-1, -2)), a.shape)
}

/** dB = A^T @ g summed over B's broadcast batch axes. */
function gradB(g: Tensor, a: Tensor, b: Tensor): Tensor {
  const [k, n] = [b.shape[b.ndim - 2]!, b.shape[b.ndim - 1]!]
  if (b.ndim === 2 && g.ndim > 2) {
    // B shared by a batch (a Linear layer on (batch, seq, features)): flatten the batch into m
    const am = a.expand([...g.shape.slice(0, -2), a.shape[a.ndim - 2]!, k]).reshape([-1, k])
    return am.transpose(0, 1).matmul(g.reshape([-1, n]))
  }
  return sumToShape(a.transpose(-1, -2).matmul(g), b.shape)
}

/** Sum a gradient over the axes that were broadcast to reach its shape from `shape`. */
function sumToShape(t: Tensor, shape: readonly number[]): Tensor {
  const lead = t.ndim - shape.length
  let r = lead > 0 ? t.sum(range(lead)) : t
  const axes = shape.map((d, i) => (d === 1 && r.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0)
  if (axes.length) r = r.sum(axes, { keepdim: true })
  return r
}
