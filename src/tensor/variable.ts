// Variables for symbolic shapes: `Variable('sp', 0, 1023)` is an int32 UOp (DEFINE_VAR); `v.bind(n)`
// gives it a value (BIND). Sizes built from them (`sp.bind(5).add(1)`) go into reshape, expand,
// shrink and pad; kernels take the value as an argument, so one compiled kernel serves every value.
import { type sint, UOp } from '../uop/ops.js'

export type { sint } from '../uop/ops.js'

/** An integer variable for symbolic shapes, taking integer values in [min, max]. */
export function Variable(name: string, min: number, max: number): UOp {
  return UOp.variable(name, min, max)
}

/** Whether `x` is a symbolic size (a Variable expression) rather than a number. */
export const isSymbolic = (x: sint): x is UOp => x instanceof UOp
