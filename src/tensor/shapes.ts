// Shape checks shared by the Tensor core and the op families: broadcasting, valid and indexable
// shapes, and whether a buffer of a shape fits its device.
import type { DType } from '../dtype.js'
import { fmtShape, prod, TsgradError } from '../helpers.js'
import { Device } from '../runtime/device.js'
import type { sint } from '../uop/ops.js'
import { fmtSint, fmtSShape } from '../uop/sint.js'

/** The broadcast shape; symbolic sizes (Variable expressions) match only the same expression or 1. */
export function broadcastShapes<S extends sint>(op: string, ...shapes: (readonly S[])[]): S[] {
  const nd = Math.max(...shapes.map((s) => s.length))
  const out: S[] = []
  for (let i = 0; i < nd; i++) {
    let d = 1 as S
    for (const s of shapes) {
      const x = s[s.length - nd + i] ?? (1 as S)
      if (x === d || x === 1) continue
      if (d !== 1)
        throw new TsgradError(
          `${op}: shapes ${shapes.map(fmtSShape).join(' and ')} cannot be broadcast together (dimension ${i}: ${fmtSint(d)} vs ${fmtSint(x)})`,
        )
      d = x
    }
    out.push(d)
  }
  return out
}

export function checkShape(op: string, shape: readonly number[]): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new TsgradError(
      `${op}: shape must be an array of non-negative integers, got ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}`,
    )
  return checkSize(op, [...shape])
}

/** A tensor about to get a buffer must fit one on its device (checked again at realize). */
export function checkBufferSize(op: string, shape: readonly number[], dtype: DType, device: string): void {
  const max = Device.get(device).allocator.maxElements
  const n = prod(shape)
  if (max !== undefined && n > max)
    throw new TsgradError(
      `${op}: a ${dtype.name} buffer of shape ${fmtShape(shape)} (${n} elements, ${n * dtype.itemsize} bytes) is larger than the ${device} device allocates (at most ${max} elements)`,
    )
}

/**
 * A shape's element count must be exact in a double (index math is exact up to 2^53), so each
 * size and their product stay within Number.MAX_SAFE_INTEGER. Whether a buffer that large can be
 * allocated is the device's question, asked when the tensor is realized (a view of this size that
 * is reduced or sliced needs no buffer).
 */
export function checkSize<S extends readonly number[]>(op: string, shape: S): S {
  const n = prod(shape)
  if (n > Number.MAX_SAFE_INTEGER || shape.some((d) => d > Number.MAX_SAFE_INTEGER))
    throw new TsgradError(
      `${op}: shape ${fmtShape(shape)} is too large to index: sizes and the element count (${n}) must be at most 2^53 - 1`,
    )
  return shape
}
