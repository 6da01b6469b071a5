// What every renderer provides: the ALU ops it has natively (others are decomposed first) and a
// function from a linear program to source text.
import type { OptTarget } from '../codegen/heuristics.js'
import type { LinearProgram } from '../codegen/linearize.js'
import type { Op } from '../uop/ops.js'

export interface Renderer {
  readonly name: string
  readonly supports: ReadonlySet<Op>
  /** what the optimizer heuristics may use on this target */
  readonly target: OptTarget
  render(name: string, prog: LinearProgram): string
}
