// The copies pass `layouts` makes (schedule/layouts.ts, conv_layouts.ts): CONTIGUOUS nodes with one
// shared tag, so equal copies of one operand merge (interning) and a rewrite can tell it made one.
import { Ops, UOp } from '../uop/ops.js'

const LAYOUT_COPY = { tag: 'layout' }

/** `u` in a buffer of its own, in its own (row-major) order. */
export const layoutCopy = (u: UOp): UOp => UOp.new(Ops.CONTIGUOUS, u.dtype, [u], LAYOUT_COPY)

/** Whether `u` is a copy this pass made. */
export const isLayoutCopy = (u: UOp): boolean =>
  u.op === Ops.CONTIGUOUS && (u.arg as { tag?: unknown } | undefined)?.tag === LAYOUT_COPY.tag

/** Whether the view `v` reads a copy this pass made (a rewrite is never applied twice). */
export function viewIsLayoutCopy(v: UOp): boolean {
  let u = v
  while (u.op === Ops.RESHAPE || u.op === Ops.PERMUTE || u.op === Ops.EXPAND) u = u.src[0]!
  return isLayoutCopy(u)
}
