// Host-side range checks of index tensors whose values are already known when the graph is built:
// a realized buffer on a host-memory device (CPU, JS) or a constant. Nothing is computed to check a
// lazy index (that would run part of the graph early); ops document what a lazy out-of-range index
// gives instead. A host buffer is read in place; other devices would copy the index data out.
import { fmtShape, prod, TsgradError } from '../helpers.js'
import type { Buffer } from '../runtime/buffer.js'
import { Device } from '../runtime/device.js'
import { Ops, type UOp } from '../uop/ops.js'
import { jitScope } from './jit_scope.js'
import type { Tensor } from './tensor.js'

/** The values of `t` (flattened) when known without computing anything; undefined otherwise. */
export function knownValues(t: Tensor): ArrayLike<number | bigint> | undefined {
  // under a jit capture the same graph replays with other index data: nothing is known
  if (jitScope.depth > 0) return undefined
  const base = t.uop.contiguousBase
  if (!base) {
    // a constant (Tensor.full): one value for every position
    let u: UOp = t.uop
    while (u.op === Ops.RESHAPE || u.op === Ops.EXPAND) u = u.src[0]!
    // (a CONST with a second source is a Variable's value: not known when the graph is built)
    return u.op === Ops.CONST && u.src.length === 1 ? [u.constValue] : undefined
  }
  try {
    // host devices: read the buffer in place (no copy of the index data on every call)
    const buf = base.arg as Buffer
    // a device that reads asynchronously (WEBGPU) cannot tell while the graph is built
    if (Device.get(buf.device).asyncReads) return undefined
    const out = buf.hostView() ?? buf.copyout()
    return out instanceof Promise ? undefined : out
  } catch {
    return undefined // a disposed buffer: the op using it reports that
  }
}

/** Row-major position of flat element `i` in `shape`, e.g. [1, 2]. */
function position(i: number, shape: readonly number[]): string {
  const idx: number[] = []
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!
    idx.unshift(n ? i % n : 0)
    i = n ? Math.floor(i / n) : 0
  }
  return fmtShape(idx)
}

/**
 * Throw when a known value of `index` is outside [lo, hi] (and not `except`): the message names the
 * op, the value, its position and the valid range (`what` says what is indexed).
 */
export function checkKnownIndices(
  op: string,
  index: Tensor,
  lo: number,
  hi: number,
  what: string,
  except?: number,
): void {
  const vals = knownValues(index)
  if (!vals) return
  const shape = index.shape
  const n = vals.length === 1 ? 1 : prod(shape)
  for (let i = 0; i < n; i++) {
    const v = Number(vals[i]!)
    if ((v >= lo && v <= hi) || v === except) continue
    const at =
      vals.length === 1 && prod(shape) !== 1 ? ' (every position)' : ` at position ${position(i, shape)}`
    throw new TsgradError(
      `${op}: index ${v}${at} of the index tensor ${fmtShape(shape)} is out of range for ${what} (valid: ${lo}..${hi}${except !== undefined ? `, or ${except} to ignore` : ''})`,
    )
  }
}
