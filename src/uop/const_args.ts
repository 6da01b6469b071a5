// Scalar constants as kernel arguments: the variables that stand for float32 constants, shared by
// the graph pass that hides them from the scheduler (schedule/lift_graph_consts.ts) and the kernel
// pass that makes them kernel parameters (codegen/lift_consts.ts). A lifted constant is an int32
// DEFINE_VAR holding the float's bits (BITCAST back to float32 where it is used). Its range is all
// of int32, which no user Variable has (their min is >= 0), and its name starts with `__`.
import { dtypes } from '../dtype.js'
import { Ops, UOp, type VarArg } from './ops.js'

const INT_MIN = -(2 ** 31)
const INT_MAX = 2 ** 31 - 1
/** a kernel's i-th lifted constant (kernel-local numbering: equal kernels share one compile) */
const KERNEL_PREFIX = '__k'
/** a tensor graph's j-th constant, numbered in the schedule's topological order */
const GRAPH_PREFIX = '__c'

const f32 = new Float32Array(1)
const i32 = new Int32Array(f32.buffer)
/** The int32 bits of float32 `v`. */
export function float32Bits(v: number): number {
  f32[0] = v
  return i32[0]!
}

/** Values whose literal matters to folds (identities, reduce inits, masks): never lifted. */
export const keepLiteral = (v: number): boolean => v === 0 || v === 1 || v === -1 || !Number.isFinite(v)

const constVarNamed = (name: string): UOp =>
  UOp.new(Ops.DEFINE_VAR, dtypes.int32, [], { name, min: INT_MIN, max: INT_MAX } satisfies VarArg)

/** The variable of a kernel's `i`-th lifted constant (the same node for every kernel). */
export const kernelConstVar = (i: number): UOp => constVarNamed(`${KERNEL_PREFIX}${i}`)

/** The variable of a tensor graph's `j`-th lifted constant. */
export const graphConstVar = (j: number): UOp => constVarNamed(`${GRAPH_PREFIX}${j}`)

/** Whether DEFINE_VAR `v` is a kernel's lifted constant. */
export function isConstVar(v: UOp): boolean {
  const a = v.arg as VarArg
  return a.min === INT_MIN && a.name.startsWith(KERNEL_PREFIX)
}

/** The graph index of a graph constant's variable, or undefined for any other node. */
export function graphConstIndex(v: UOp): number | undefined {
  if (v.op !== Ops.DEFINE_VAR) return undefined
  const a = v.arg as VarArg
  return a.min === INT_MIN && a.name.startsWith(GRAPH_PREFIX)
    ? Number(a.name.slice(GRAPH_PREFIX.length))
    : undefined
}

/**
 * Whether tensor-graph node `u` is a float32 constant the scheduler need not see the value of: a
 * CONST of a device (not a Variable's value) that is no identity, mask or reduce init.
 */
export const isLiftableGraphConst = (u: UOp): boolean =>
  u.op === Ops.CONST && u.dtype.name === 'float32' && u.src.length === 1 && !keepLiteral(u.arg as number)
