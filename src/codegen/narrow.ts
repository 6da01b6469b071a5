// Pass `narrow_index_math`: int64 index nodes whose value range fits int32 compute in int32.
//
// A kernel over a tensor of more than 2^30 elements builds its ranges and index math in int64
// (`indexDTypeFor` in schedule/rangeify.ts), so a flat index like r0*65536 + r1 cannot wrap. Most
// of those nodes are small (the loop counters, the per-axis terms): they go back to int32, which
// keeps loops and vector code as fast as in a small kernel; only the nodes whose range needs it
// (by `vrange`) stay int64. An op computes in int32 only if its result and every integer operand
// fit: then the int32 result equals the int64 one. Consumers that still need the wide value (an
// int64 op, a STORE of int64 data, a comparison with a wide operand) get a widening CAST; a
// LOAD/STORE address takes either width.
import { dtypes } from '../dtype.js'
import { Ops, type Op, UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'

const I32_MIN = -(2 ** 31)
const I32_MAX = 2 ** 31 - 1

/** Ops whose int32 result equals the int64 one when the operands and the result fit int32. */
const NARROWABLE: ReadonlySet<Op> = new Set<Op>([
  Ops.RANGE,
  Ops.CONST,
  Ops.ADD,
  Ops.SUB,
  Ops.MUL,
  Ops.NEG,
  Ops.MAX,
  Ops.IDIV,
  Ops.MOD,
  Ops.WHERE,
  Ops.CAST,
  Ops.AFTER,
])

const fits = (u: UOp): boolean => u.vmin >= I32_MIN && u.vmax <= I32_MAX

/** The operands of `u` that carry its integer value (WHERE's condition and AFTER's dep do not). */
function valueOperands(u: UOp): number[] {
  if (u.op === Ops.WHERE) return [1, 2]
  if (u.op === Ops.AFTER || u.op === Ops.CAST) return [0]
  return u.src.map((_, i) => i)
}

export function narrowIndexMath(ast: UOp): UOp {
  const topo = toposort([ast])
  if (!topo.some((u) => u.op === Ops.RANGE && u.dtype === dtypes.int64)) return ast
  const out = new Map<UOp, UOp>()
  const at = (u: UOp): UOp => out.get(u)!
  /** the rewritten `s` as dtype `dt` (a CAST if its narrowing changed its type) */
  const as = (s: UOp, dt: UOp['dtype']): UOp => {
    const n = at(s)
    if (n.dtype === dt) return n
    return n.op === Ops.CONST ? UOp.const(dt, n.constValue) : UOp.new(Ops.CAST, dt, [n])
  }
  for (const u of topo) {
    const narrow =
      u.dtype === dtypes.int64 &&
      NARROWABLE.has(u.op) &&
      fits(u) &&
      valueOperands(u).every((i) => {
        const s = u.src[i]!
        return u.op === Ops.CAST ? s.dtype.isInt && fits(s) : fits(s)
      })
    if (narrow) {
      if (u.op === Ops.CONST) out.set(u, UOp.const(dtypes.int32, u.constValue))
      else if (u.op === Ops.CAST) out.set(u, as(u.src[0]!, dtypes.int32))
      else {
        const vals = new Set(valueOperands(u))
        const src = u.src.map((s, i) => (vals.has(i) ? as(s, dtypes.int32) : at(s)))
        out.set(u, UOp.new(u.op, dtypes.int32, src, u.arg))
      }
      continue
    }
    let src: UOp[]
    if (u.op === Ops.LOAD || u.op === Ops.STORE) {
      // the address may be either width; a stored value keeps its dtype
      src = u.src.map((s, i) => (i === 1 ? at(s) : as(s, s.dtype)))
    } else if ((u.op === Ops.CMPLT || u.op === Ops.CMPNE || u.op === Ops.CMPEQ) && u.src[0]!.dtype.isInt) {
      // compare in int32 when both sides narrowed, else in the original width
      const both32 = u.src.every((s) => at(s).dtype === dtypes.int32)
      src = u.src.map((s) => (both32 ? at(s) : as(s, s.dtype)))
    } else if (u.op === Ops.CAST) {
      src = [at(u.src[0]!)]
    } else if (u.op === Ops.REDUCE) {
      // the ranges it reduces over are structural: the (narrowed) loops themselves
      src = u.src.map((s, i) => (i === 0 ? as(s, s.dtype) : at(s)))
    } else src = u.src.map((s) => as(s, s.dtype))
    out.set(u, src.every((s, i) => s === u.src[i]) ? u : UOp.new(u.op, u.dtype, src, u.arg))
  }
  return at(ast)
}
