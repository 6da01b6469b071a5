// Pass `unbind_vars`: take the values of bound variables out of a tensor graph before it is
// scheduled. Every BIND (a Variable with its value, in a movement op's sizes) becomes its
// DEFINE_VAR and the value goes into `vals`, so the schedule, its cache key, the kernel ASTs and
// their compile caches depend on each variable's name and range only: a decode loop over 200
// positions schedules and compiles its kernels once; the values are kernel arguments at launch.
import { TsgradError } from '../helpers.js'
import { Ops, type UOp, type VarArg } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'
import { mapArgSints, unbindSint } from '../uop/sint.js'

export interface Unbound {
  /** the roots with every bound variable replaced by its DEFINE_VAR (the same nodes when none) */
  readonly roots: readonly UOp[]
  /** each DEFINE_VAR's value */
  readonly vals: ReadonlyMap<UOp, number>
  /** each node of the graph that held a variable -> the node that replaced it */
  readonly replaced: ReadonlyMap<UOp, UOp>
}

// no variables, nothing replaced (shared: a graph without variables allocates nothing here)
const NO_VALS: ReadonlyMap<UOp, number> = new Map()
const NONE_REPLACED: ReadonlyMap<UOp, UOp> = new Map()

export function unbindGraph(roots: readonly UOp[]): Unbound {
  if (!roots.some((r) => r.hasVars)) return { roots, vals: NO_VALS, replaced: NONE_REPLACED }
  const vals = new Map<UOp, number>()
  const done = new Map<UOp, UOp>()
  for (const n of toposort(roots, (u) => u.op === Ops.BUFFER || !u.hasVars)) {
    if (!n.hasVars) continue
    let r: UOp
    if (n.op === Ops.BIND) r = unbindSint(n, vals) as UOp
    else
      r = n.replace({
        src: n.src.map((s) => done.get(s) ?? s),
        arg: mapArgSints(n.arg, (x) => unbindSint(x, vals) as UOp),
      })
    done.set(n, r)
  }
  return { roots: roots.map((r) => done.get(r) ?? r), vals, replaced: done }
}

/**
 * The value of each of `vars` (DEFINE_VARs) in `vals`, or for a kernel's lifted constants in its
 * item's `consts` (codegen/lift_consts.ts); an unbound one is an error naming it.
 */
export function varValues(
  vars: readonly UOp[],
  vals: ReadonlyMap<UOp, number>,
  kernel: string,
  consts?: ReadonlyMap<UOp, number>,
): number[] {
  return vars.map((v) => {
    const x = consts?.get(v) ?? vals.get(v)
    if (x === undefined)
      throw new TsgradError(
        `realize: kernel ${kernel} needs the value of Variable ${(v.arg as VarArg).name}, which is not bound; use v.bind(n) in the shapes`,
      )
    return x
  })
}
