// The arg of a CUSTOM_KERNEL node: one output of a kernel written directly in UOps
// (Tensor.customKernel). All outputs of one call share the kernel; the scheduler runs it once
// (one kernel item storing every output) with DEFINE_GLOBAL 0..outputs-1 the outputs and the
// inputs after them, each a contiguous buffer of its tensor's shape.
import type { DType } from '../dtype.js'
import type { UOp } from './ops.js'

export interface CustomKernelOutput {
  readonly shape: readonly number[]
  readonly dtype: DType
}

/** A validated kernel: its AST (a SINK of STOREs, named by the SINK's arg) and its buffers. */
export interface CustomKernelDef {
  readonly name: string
  readonly ast: UOp
  readonly outputs: readonly CustomKernelOutput[]
}

/**
 * Interned structurally: `key` (name, AST key, output index) and `shape` are the arg's enumerable
 * fields, so two calls of the same kernel on the same inputs are one node, and the schedule cache
 * keys the node by the kernel's structure. The definition itself is a private field.
 */
export class CustomKernelArg {
  readonly key: string
  readonly shape: readonly number[]
  readonly #def: CustomKernelDef
  constructor(
    def: CustomKernelDef,
    readonly index: number,
  ) {
    this.#def = def
    this.key = `${def.name}|${def.ast.key}`
    this.shape = def.outputs[index]!.shape
  }
  get def(): CustomKernelDef {
    return this.#def
  }
}
