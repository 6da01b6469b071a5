// Pass `lift_consts`: a kernel's float32 constants become kernel arguments. A loop that calls
// `x.mul(lr)` or `x.add(i)` with a new JS number each time built a new kernel AST, and so compiled
// a new kernel, per value (gcc: ~40 ms each). Lifted, the constant is a variable (an int32
// DEFINE_VAR holding the float's bits, BITCAST back to float32 where it is used) and its value goes
// with the schedule item, so kernels that differ only in such constants share one compile.
// It runs on the finished kernel AST, after the scheduler's symbolic pass: constants whose value
// matters to the rewrites have been folded by then (x*1, x+0, x*0 ...), and the ones kept here
// (0, -0, 1, -1, infinities, NaN) stay literals, so folds in codegen and the renderers still see
// them. Only float32: other float dtypes keep their literals (an int32 argument holds 32 bits), and
// integer constants feed index math, value ranges and comparisons that need their values.
import { dtypes } from '../dtype.js'
import { Ops, UOp, type VarArg } from '../uop/ops.js'
import { substitute, toposort } from '../uop/rewrite.js'

/** Names of lifted constants start with this (a user Variable cannot: see `isConstVar`). */
const PREFIX = '__k'
const INT_MIN = -(2 ** 31)
const INT_MAX = 2 ** 31 - 1

const f32 = new Float32Array(1)
const i32 = new Int32Array(f32.buffer)
/** The int32 bits of float32 `v`. */
export function float32Bits(v: number): number {
  f32[0] = v
  return i32[0]!
}

/** The variable of the `i`-th lifted constant of a kernel (the same node for every kernel). */
function constVar(i: number): UOp {
  const arg: VarArg = { name: `${PREFIX}${i}`, min: INT_MIN, max: INT_MAX }
  return UOp.new(Ops.DEFINE_VAR, dtypes.int32, [], arg)
}

/** Whether DEFINE_VAR `v` holds a lifted constant (its range is all of int32: a Variable's min is >= 0). */
export function isConstVar(v: UOp): boolean {
  const a = v.arg as VarArg
  return a.min === INT_MIN && a.name.startsWith(PREFIX)
}

/** Values whose literal matters to folds after this pass (identities, reduce inits, masks). */
const keepLiteral = (v: number): boolean => v === 0 || v === 1 || v === -1 || !Number.isFinite(v)

export interface LiftedKernel {
  readonly ast: UOp
  /** each lifted constant's variable and the int32 bits of its value; undefined when none */
  readonly consts: ReadonlyMap<UOp, number> | undefined
}

/**
 * `ast` with its float32 constants as variables, numbered in topological order (a function of the
 * AST's structure, so equal kernels with other constants get the same AST), and their values.
 */
export function liftConsts(ast: UOp): LiftedKernel {
  const map = new Map<UOp, UOp>()
  const consts = new Map<UOp, number>()
  for (const u of toposort([ast])) {
    if (u.op !== Ops.CONST || u.dtype.name !== 'float32' || u.src.length || keepLiteral(u.constValue))
      continue
    const v = constVar(consts.size)
    consts.set(v, float32Bits(u.constValue))
    map.set(u, UOp.new(Ops.BITCAST, dtypes.float32, [v]))
  }
  if (!map.size) return { ast, consts: undefined }
  return { ast: substitute(ast, map), consts }
}
