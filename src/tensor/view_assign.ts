// Writes into views of a buffer (`c.shrink(...).assign(x)`, `c.T.assign(x)`, a KV cache update):
// which views can be written, checked when the graph is built.
//
// A view is movement ops (and DETACH) over a BUFFER; the ASSIGN's kernel then iterates over the
// view's elements only and stores each where a read of the view would load it (rangeify's
// `viewIndex`: the same index math as reads, so symbolic offsets work alike). A broadcast (EXPAND)
// would write one element from several places and a padded element exists nowhere: both errors.
import { fmtShape, TsgradError } from '../helpers.js'
import { KernelLowering } from '../schedule/rangeify.js'
import { MOVEMENT, Ops, type UOp } from '../uop/ops.js'
import { graphRewrite, substituteAll } from '../uop/rewrite.js'
import { symbolic } from '../uop/symbolic.js'

/**
 * `view` with the CUSTOM_GRAD nodes of its movement chain replaced by their forward values: a
 * realized tensor that tracks gradients is CUSTOM_GRAD(buffer view, graph it came from), and the
 * target of a write needs no gradient path, only the buffer.
 */
export function viewWithoutGrads(view: UOp): UOp {
  const found = new Map<UOp, UOp>()
  for (let u = view; MOVEMENT.has(u.op) || u.op === Ops.DETACH || u.op === Ops.CUSTOM_GRAD; u = u.src[0]!)
    if (u.op === Ops.CUSTOM_GRAD) found.set(u, u.src[0]!)
  return found.size ? substituteAll(view, found).get(view)! : view
}

/** Throws when `view` (movement ops over a buffer) cannot be written element for element. */
export function checkWritableView(view: UOp, shapeForError: readonly number[]): void {
  let hasPad = false
  for (let u = view; u.op !== Ops.BUFFER; u = u.src[0]!) {
    if (u.op === Ops.EXPAND && u.shape!.some((d, i) => u.src[0]!.shape![i] === 1 && d !== 1))
      throw new TsgradError(
        `assign: the target ${fmtShape(shapeForError)} is a broadcast (expand) view of its buffer: one element would receive several values; assign into the unexpanded tensor`,
      )
    if (u.op === Ops.PAD) hasPad = true
  }
  if (!hasPad) return
  // a pad is fine when the view never reaches into it (a strided slice pads to a multiple of its
  // step, then drops the padding): its gate must fold to true over the whole view
  const lowering = new KernelLowering({ isBoundary: () => false, paramFor: () => 0 })
  const { gate } = lowering.viewIndex(view, lowering.outputIndex(view.shape!))
  const g = gate && graphRewrite(gate, symbolic, undefined, 'symbolic')
  if (g && !(g.op === Ops.CONST && g.arg === 1))
    throw new TsgradError(
      `assign: the target ${fmtShape(shapeForError)} is a padded view: its padding is stored nowhere; assign into the unpadded tensor`,
    )
}

/**
 * A shrink/permute/flip/... view of a lazy tensor has no buffer to write into: assigning to it
 * would change only the view tensor while the tensor it views keeps its value, so it is an error
 * (a lazy tensor itself, or a reshape of one, takes the new value as before).
 */
export function checkLazyTarget(view: UOp, shapeForError: readonly number[]): void {
  let u = view
  while (u.op === Ops.RESHAPE || u.op === Ops.DETACH) u = u.src[0]!
  if (!MOVEMENT.has(u.op)) return
  throw new TsgradError(
    `assign: the target ${fmtShape(shapeForError)} is a ${u.op.toLowerCase()} view of a lazy tensor (${u.viewBase.op}), which has no buffer to write into; realize() that tensor first`,
  )
}
