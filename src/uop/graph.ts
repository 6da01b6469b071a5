// Builders for tensor-graph nodes (shape-carrying UOps), shared by the front end and autograd.
// They assume valid input (the front end validates and throws readable errors) and skip no-ops.
import { type DType, dtypes } from '../dtype.js'
import { normConst, type Op, Ops, type PadArg, type ReduceOp, type sint, UOp } from './ops.js'
import { shapeSEq as shapeEq } from './sint.js'

/** A node's shape: sizes may be symbolic (int32 expressions of variables). */
export type Shape = readonly sint[]

export function constNode(value: number, dtype: DType, device: string, shape: Shape = []): UOp {
  const c = UOp.new(Ops.CONST, dtype, [UOp.new(Ops.DEVICE, dtypes.void, [], device)], normConst(value, dtype))
  if (shape.length === 0) return c
  return expand(
    reshape(
      c,
      shape.map(() => 1),
    ),
    shape,
  )
}

/**
 * A 0-d tensor whose value is a size expression of variables: a CONST whose second source is the
 * expression (int32 math over BIND/DEFINE_VAR; lowered to that expression cast to `dtype`).
 */
export function varValueNode(value: UOp, dtype: DType, device: string): UOp {
  return UOp.new(Ops.CONST, dtype, [UOp.new(Ops.DEVICE, dtypes.void, [], device), value])
}

export function constLikeNode(u: UOp, value: number, dtype: DType = u.dtype): UOp {
  return constNode(value, dtype, u.device, u.shape!)
}

/** 0..n-1: int32, or int64 when n - 1 does not fit int32 (an int32 iota would wrap). */
export function iotaNode(n: number, device: string): UOp {
  const dt = n - 1 > 2 ** 31 - 1 ? dtypes.int64 : dtypes.int32
  return UOp.new(Ops.IOTA, dt, [UOp.new(Ops.DEVICE, dtypes.void, [], device)], n)
}

export function aluNode(op: Op, ...src: UOp[]): UOp {
  const dt =
    op === Ops.CMPLT || op === Ops.CMPNE || op === Ops.CMPEQ
      ? dtypes.bool
      : src[op === Ops.WHERE ? 1 : 0]!.dtype
  return UOp.new(op, dt, src)
}

export function castNode(u: UOp, dt: DType): UOp {
  return u.dtype === dt ? u : UOp.new(Ops.CAST, dt, [u])
}

export function reshape(u: UOp, shape: Shape): UOp {
  if (shapeEq(u.shape!, shape)) return u
  // (chains are not collapsed: a parameter's own node must stay in the graph for autograd)
  return UOp.new(Ops.RESHAPE, u.dtype, [u], [...shape])
}

export function permute(u: UOp, order: readonly number[]): UOp {
  if (order.every((o, i) => o === i)) return u
  // a permute of a permute is one permute (x.T.T is x: packing decisions see the buffer)
  if (u.op === Ops.PERMUTE) {
    const inner = u.arg as number[]
    return permute(
      u.src[0]!,
      order.map((i) => inner[i]!),
    )
  }
  return UOp.new(Ops.PERMUTE, u.dtype, [u], [...order])
}

export function expand(u: UOp, shape: Shape): UOp {
  if (shapeEq(u.shape!, shape)) return u
  return UOp.new(Ops.EXPAND, u.dtype, [u], [...shape])
}

export function pad(u: UOp, pads: readonly (readonly [sint, sint])[], value = 0): UOp {
  if (pads.every(([b, a]) => b === 0 && a === 0)) return u
  const arg: PadArg = { pads: pads.map(([b, a]) => [b, a] as [sint, sint]), value }
  return UOp.new(Ops.PAD, u.dtype, [u], arg)
}

export function shrink(u: UOp, arg: readonly (readonly [sint, sint])[]): UOp {
  const s = u.shape!
  if (arg.every(([b, e], i) => b === 0 && e === s[i])) return u
  return UOp.new(
    Ops.SHRINK,
    u.dtype,
    [u],
    arg.map(([b, e]) => [b, e]),
  )
}

export function flip(u: UOp, axes: readonly boolean[]): UOp {
  if (!axes.some((a) => a)) return u
  return UOp.new(Ops.FLIP, u.dtype, [u], [...axes])
}

export function reduce(u: UOp, op: ReduceOp, axes: readonly number[]): UOp {
  const real = [...new Set(axes)].sort((a, b) => a - b)
  if (real.length === 0) return u
  return UOp.new(Ops.REDUCE_AXIS, u.dtype, [u], [op, real])
}

/** Sum `u` down to `shape` (undoing a broadcast); shapes have equal rank. */
export function sumTo(u: UOp, shape: Shape): UOp {
  const s = u.shape!
  const axes = s.map((d, i) => (d !== shape[i] ? i : -1)).filter((i) => i >= 0)
  return reshape(reduce(u, 'ADD', axes), shape)
}

/** out[p] = x[p with p[axis] = index[p]] (0 where the index is outside 0..n-1); shaped like `index`. */
export function gatherNode(x: UOp, index: UOp, axis: number): UOp {
  return UOp.new(Ops.GATHER, x.dtype, [x, index], axis)
}

/** The integer dtype in which an index of dtype `dt` is compared with positions without wrapping. */
export const positionDType = (dt: DType): DType =>
  dt.bits > 32 || dt === dtypes.uint32 ? dtypes.int64 : dtypes.int32

/**
 * The gradient of `gatherNode(x, index, axis)` for x of size `n` along `axis`: a scatter-add of `g`
 * (shaped like `index`) into x's shape, built as a one-hot reduction over the gathered axis (work
 * |index| x n: what the old one-hot forward cost; a lazy index outside 0..n-1 adds nothing).
 */
export function gatherBackward(g: UOp, index: UOp, axis: number, n: number): UOp {
  const s = g.shape!
  const withNew = (d: number) => [...s.slice(0, axis + 1), d, ...s.slice(axis + 1)]
  const wide = positionDType(index.dtype)
  const at = expand(reshape(castNode(index, wide), withNew(1)), withNew(n))
  const positions = expand(
    reshape(
      castNode(iotaNode(n, g.device), wide),
      withNew(n).map((d, i) => (i === axis + 1 ? d : 1)),
    ),
    withNew(n),
  )
  const hit = aluNode(Ops.CMPEQ, at, positions)
  const sel = aluNode(
    Ops.WHERE,
    hit,
    expand(reshape(g, withNew(1)), withNew(n)),
    constNode(0, g.dtype, g.device, withNew(n)),
  )
  return reshape(reduce(sel, 'ADD', [axis]), [...s.slice(0, axis), n, ...s.slice(axis + 1)])
}
