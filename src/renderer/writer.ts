// The bookkeeping every source renderer shares while walking a linear program: names for nodes
// (b<i> buffers, r<id> loops, acc<id> accumulators, v<n> values), references to them (constants
// inline as literals), and indented lines.
import type { DType } from '../dtype.js'
import { Ops, type RangeArg, type UOp, type VarArg } from '../uop/ops.js'

export class ProgramWriter {
  readonly names = new Map<UOp, string>()
  private readonly lines: string[] = []
  private indent = 1
  private nextValue = 0

  constructor(
    private readonly lang: string,
    private readonly literal: (v: number, dt: DType) => string,
  ) {}

  /** How an instruction's operand is written: a literal for CONST, else its name. */
  ref(u: UOp): string {
    if (u.op === Ops.CONST) return this.literal(u.constValue, u.dtype)
    const n = this.names.get(u)
    if (n === undefined) throw new Error(`${this.lang} renderer: ${u.op} used before it was defined`)
    return n
  }

  line(s: string): void {
    this.lines.push(`${'  '.repeat(this.indent)}${s}`)
  }

  /** Name a node by its role: DEFINE_GLOBAL b<i>, DEFINE_VAR var_<name>, RANGE r<id>, DEFINE_ACC acc<id>, others v<n>. */
  name(u: UOp): string {
    let n: string
    if (u.op === Ops.DEFINE_GLOBAL) n = `b${u.arg as number}`
    else if (u.op === Ops.DEFINE_VAR) n = `var_${(u.arg as VarArg).name}`
    else if (u.op === Ops.RANGE) n = `r${(u.arg as RangeArg).id}`
    else if (u.op === Ops.DEFINE_ACC) n = `acc${(u.arg as { id: number }).id}`
    else n = `v${this.nextValue++}`
    this.names.set(u, n)
    return n
  }

  /** A REDUCE names the accumulator it finished. */
  alias(u: UOp, of: UOp): void {
    this.names.set(u, this.ref(of))
  }

  /** Emit a loop header and indent its body. */
  open(header: string): void {
    this.line(header)
    this.indent++
  }

  close(): void {
    this.indent--
    this.line('}')
  }

  get body(): string {
    return this.lines.join('\n')
  }
}
