// What every renderer provides: the ALU ops it has natively (others are decomposed first) and a
// function from a linear program to source text.
import type { LinearProgram } from '../codegen/linearize.js'
import type { Op } from '../uop/ops.js'

export interface Renderer {
  readonly name: string
  readonly supports: ReadonlySet<Op>
  render(name: string, prog: LinearProgram): string
}
