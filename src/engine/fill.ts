// Fill kernels: a kernel that stores one constant into every element of its only buffer (a
// realized Tensor.zeros / Tensor.full: optimizer moments, BatchNorm statistics, a learning rate)
// is run by the host through the device allocator, never rendered or compiled. A cold MNIST CNN
// start compiled a dozen of these one gcc process each (~0.3 s of gcc CPU apiece: driver, the
// precompiled prelude, as, ld), since each is realized alone as the model and optimizer are built.
import { type DType, storageArray } from '../dtype.js'
import { isConstVar } from '../codegen/lift_consts.js'
import type { Allocator, Program } from '../runtime/device.js'
import { Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'

/** dtypes whose storage array holds a value as the kernel would store it */
const FILLABLE = new Set(['float32', 'float64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8'])

/** The store of a fill: its dtype, element count, and value (a literal, or a lifted float32 constant). */
export interface Fill {
  dtype: DType
  size: number
  /** the lifted constant the value is (a kernel variable), or undefined for a literal */
  constVar?: UOp
  value: number
}

/**
 * The strides of `idx` over its ranges when it is an affine sum of ranges times constants (with
 * the ranges' sizes), else undefined.
 */
function affineStrides(idx: UOp): Map<UOp, number> | undefined {
  const ranges = toposort([idx]).filter((u) => u.op === Ops.RANGE)
  const at = (one: UOp | undefined): number | undefined => {
    const memo = new Map<UOp, number | undefined>()
    const ev = (u: UOp): number | undefined => {
      if (memo.has(u)) return memo.get(u)
      let v: number | undefined
      if (u.op === Ops.RANGE) v = u === one ? 1 : 0
      else if (u.op === Ops.CONST) v = u.constValue
      else if (u.op === Ops.ADD) {
        const [a, b] = u.src.map(ev)
        v = a === undefined || b === undefined ? undefined : a + b
      } else if (u.op === Ops.MUL && u.src.some((s) => s.op === Ops.CONST)) {
        const [a, b] = u.src.map(ev)
        v = a === undefined || b === undefined ? undefined : a * b
      }
      memo.set(u, v)
      return v
    }
    return ev(idx)
  }
  if (at(undefined) !== 0) return undefined
  const strides = new Map<UOp, number>()
  for (const r of ranges) {
    if (r.src[0]!.op !== Ops.CONST) return undefined
    const s = at(r)
    if (s === undefined) return undefined
    strides.set(r, s)
  }
  return strides
}

/**
 * The fill `ast` is, or undefined: one unmasked STORE of a constant into buffer 0 whose index
 * visits each of the buffer's first `size` elements once (ranges whose strides, smallest first,
 * are the products of the sizes below them), and no other buffer.
 */
export function fillOf(ast: UOp): Fill | undefined {
  if (ast.op !== Ops.SINK || ast.src.length !== 1) return undefined
  const st = ast.src[0]!
  if (st.op !== Ops.STORE || st.src.length !== 3) return undefined
  const [g, idx, val] = st.src as [UOp, UOp, UOp]
  if (g.op !== Ops.DEFINE_GLOBAL || !FILLABLE.has(val.dtype.name) || val.dtype !== g.dtype) return undefined
  let fill: Fill | undefined
  if (val.op === Ops.CONST && typeof val.arg === 'number')
    fill = { dtype: val.dtype, size: 0, value: val.arg }
  else if (
    val.op === Ops.BITCAST &&
    val.dtype.name === 'float32' &&
    val.src[0]!.op === Ops.DEFINE_VAR &&
    isConstVar(val.src[0]!)
  )
    fill = { dtype: val.dtype, size: 0, constVar: val.src[0]!, value: 0 }
  if (fill === undefined) return undefined
  const strides = affineStrides(idx)
  if (strides === undefined) return undefined
  let size = 1
  for (const [r, s] of [...strides].sort((a, b) => a[1] - b[1])) {
    const n = r.src[0]!.constValue
    if ((r.arg as RangeArg).kind === 'reduce' || s !== size) return undefined
    size *= n
  }
  fill.size = size
  return fill
}

/**
 * The program of a fill on a device with `allocator`: the value (from the lifted constant's bits
 * when it is one) written into the buffer's host view, or copied in.
 */
export function fillProgram(fill: Fill, allocator: Allocator): Program {
  const { dtype, size } = fill
  const bits = new Int32Array(1)
  const asFloat = new Float32Array(bits.buffer)
  return (bufs, vals) => {
    let v = fill.value
    if (fill.constVar !== undefined) {
      bits[0] = vals![0]!
      v = asFloat[0]!
    }
    const buf = bufs[0]
    const view = allocator.hostView?.(buf)
    if (view !== undefined && view.length >= size) (view as Float32Array).fill(v, 0, size)
    else {
      const a = storageArray(dtype, size) as Float32Array
      a.fill(v)
      allocator.copyin(buf, a)
    }
  }
}
