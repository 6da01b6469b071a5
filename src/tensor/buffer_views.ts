// Realized tensors as views of their buffers: a plain reshape, or for a symbolic shape the first
// elements of a buffer of the largest size, read without a copy.
import type { Buffer } from '../runtime/buffer.js'
import * as G from '../uop/graph.js'
import { Ops, type sint, UOp } from '../uop/ops.js'
import { isSymShape, sEval, sprod } from '../uop/sint.js'
import { jitScope } from './jit_scope.js'

/**
 * The view of a realized buffer as a tensor of `shape`. A symbolic shape was computed into a
 * buffer of its largest size (schedule.ts), row-major at the bound values: the tensor is the first
 * elements, still seen at its symbolic shape, so what is computed from it keeps compiling once.
 */
export function bufferView(buf: Buffer, shape: readonly sint[]): UOp {
  const base = UOp.new(Ops.BUFFER, buf.dtype, [], buf)
  if (!isSymShape(shape)) return G.reshape(base, shape)
  return G.reshape(G.shrink(base, [[0, sprod(shape)]]), shape)
}

/**
 * A realized symbolic result (the first elements of a buffer of its largest size, bufferView) is
 * read as that prefix: no copy kernel.
 */
export function prefixOfView(v: UOp): { buf: Buffer; n: number } | undefined {
  let u = v
  while (u.op === Ops.RESHAPE) u = u.src[0]!
  if (u.op !== Ops.SHRINK || u.src[0]!.op !== Ops.BUFFER || jitScope.depth > 0) return undefined
  const [[s, e]] = u.arg as [[sint, sint]]
  const buf = u.src[0]!.arg as Buffer
  if (s !== 0 || buf.disposed) return undefined
  return { buf, n: sEval(e) }
}
