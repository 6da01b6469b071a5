// Running pointers for the WASM renderer's innermost loops (strength reduction). V8 does not turn
// an address recomputed from the loop counter into an increment: a 4x8 matmul tile's loop spent
// ~7 integer instructions per step on its two addresses beside 8 fused multiply-adds, and a
// convolution's 3-step window loop ~9 (the loop runs at the front end's pace, not the FMA units').
// A load or store whose index is loop-invariant terms plus the counter times a constant reads
// through a pointer set before the loop and advanced once per step instead; accesses that share
// the index share the pointer (a tile's rows differ only in their constant offsets).
import type { DType } from '../dtype.js'
import { Ops, type RangeArg, type UOp } from '../uop/ops.js'

/** One pointer: `buf + (sum of invariant terms) * itemsize`, advanced by `stride * itemsize` a step. */
export interface LoopPointer {
  readonly buf: UOp
  /** the index less its constant term (the key address() looks up) */
  readonly index: UOp
  readonly itemsize: number
  /** terms of the index defined before the loop */
  readonly invariant: readonly UOp[]
  /** elements the index moves per step of the loop */
  readonly stride: number
}

/** The constant term of an int32 `x + c` index that folds into a memarg offset, and `x`. */
export function splitConstant(
  idx: UOp,
  dt: DType,
  maxOffset: number,
  isInt32: (u: UOp) => boolean,
): { x: UOp; bytes: number } {
  if (idx.op !== Ops.ADD || !isInt32(idx)) return { x: idx, bytes: 0 }
  const [x, c] = idx.src[1]!.op === Ops.CONST ? [idx.src[0]!, idx.src[1]!] : [idx.src[1]!, idx.src[0]!]
  const bytes = c.op === Ops.CONST ? c.constValue * dt.itemsize : -1
  return bytes >= 0 && bytes < maxOffset && x.op !== Ops.CONST ? { x, bytes } : { x: idx, bytes: 0 }
}

/** Steps of `r` a term moves by: r, r * c, r << c; undefined for anything else. */
function counterStride(t: UOp, r: UOp): number | undefined {
  if (t === r) return 1
  if (t.op !== Ops.MUL && t.op !== Ops.SHL) return undefined
  const [a, b] = t.src as [UOp, UOp]
  if (t.op === Ops.SHL) return a === r && b.op === Ops.CONST ? 2 ** b.constValue : undefined
  if (a === r && b.op === Ops.CONST) return b.constValue
  if (b === r && a.op === Ops.CONST) return a.constValue
  return undefined
}

/**
 * For each innermost loop (no range nested in it; not a THREAD loop, whose counter starts at its
 * chunk), the pointers its accesses can use. `isInt32` says which nodes are 32-bit integers.
 */
export function loopPointers(
  uops: readonly UOp[],
  maxOffset: number,
  isInt32: (u: UOp) => boolean,
): Map<UOp, LoopPointer[]> {
  const pos = new Map<UOp, number>()
  for (const [i, u] of uops.entries()) pos.set(u, i)
  const out = new Map<UOp, LoopPointer[]>()
  for (let i = 0; i < uops.length; i++) {
    const r = uops[i]!
    if (r.op !== Ops.RANGE || (r.arg as RangeArg).kind === 'thread' || !isInt32(r)) continue
    const end = uops.findIndex(
      (u, j) => j > i && (u.op === Ops.RANGE || (u.op === Ops.ENDRANGE && u.src[0] === r)),
    )
    if (end < 0 || uops[end]!.op === Ops.RANGE) continue
    const found: LoopPointer[] = []
    for (let j = i + 1; j < end; j++) {
      const u = uops[j]!
      if (u.op !== Ops.LOAD && u.op !== Ops.STORE) continue
      const dt = u.op === Ops.LOAD ? u.dtype : u.src[2]!.dtype
      const { x } = splitConstant(u.src[1]!, dt, maxOffset, isInt32)
      if (!isInt32(x) || found.some((p) => p.buf === u.src[0] && p.index === x && p.itemsize === dt.itemsize))
        continue
      // x as a sum of terms: ADDs computed inside the loop are opened up
      const terms: UOp[] = []
      const open = (t: UOp): void => {
        if (t.op === Ops.ADD && (pos.get(t) ?? -1) > i && t.src.every(isInt32)) t.src.forEach(open)
        else terms.push(t)
      }
      open(x)
      let stride: number | undefined
      const invariant: UOp[] = []
      let ok = true
      for (const t of terms) {
        const s = counterStride(t, r)
        if (s !== undefined && stride === undefined) stride = s
        else if (t.op === Ops.CONST || (pos.get(t) ?? Number.POSITIVE_INFINITY) < i) invariant.push(t)
        else ok = false
      }
      if (ok && stride !== undefined)
        found.push({ buf: u.src[0]!, index: x, itemsize: dt.itemsize, invariant, stride })
    }
    if (found.length) out.set(r, found)
  }
  return out
}
