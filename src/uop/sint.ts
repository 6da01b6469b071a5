// Symbolic sizes: a shape dimension is a number or an int32 expression of variables (`sint`).
//
// Expressions are plain UOp index math over DEFINE_VAR (unbound) or BIND (bound: a variable with its
// value) leaves. The helpers fold numbers and trivial identities only: the front end does not run the
// symbolic simplifier on bound expressions, whose term order would then depend on the bound value
// (it sorts by structural key), so the same program at another value would build another graph.
import { fmtShape, TsgradError } from '../helpers.js'
import { execAlu } from './exec.js'
import { ALU, Ops, type sint, UOp, type VarArg } from './ops.js'
import { dtypes } from '../dtype.js'

export type { sint } from './ops.js'

export const isSym = (x: sint): x is UOp => typeof x !== 'number'

const asU = (x: sint): UOp => (typeof x === 'number' ? UOp.const(dtypes.int32, x) : x)

export function sAdd(a: sint, b: sint): sint {
  if (typeof a === 'number' && typeof b === 'number') return a + b
  if (b === 0) return a
  if (a === 0) return b
  return asU(a).add(asU(b))
}
export function sSub(a: sint, b: sint): sint {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (b === 0) return a
  if (a === b) return 0
  // (x + k) - x = k: the length of a window [x, x + k] of a symbolic start
  if (typeof a !== 'number' && a.op === Ops.ADD && a.src[0] === b && a.src[1]!.op === Ops.CONST)
    return a.src[1]!.constValue
  return asU(a).sub(asU(b))
}
export function sMul(a: sint, b: sint): sint {
  if (typeof a === 'number' && typeof b === 'number') return a * b
  if (a === 0 || b === 0) return 0
  if (b === 1) return a
  if (a === 1) return b
  return asU(a).mul(asU(b))
}
export const sprod = (xs: readonly sint[]): sint => xs.reduce<sint>((a, b) => sMul(a, b), 1)

/** Same size: equal numbers, or the same (interned) expression. */
export const sEq = (a: sint, b: sint): boolean => a === b
export const shapeSEq = (a: readonly sint[], b: readonly sint[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/** The largest value a size can take (its variables at their max where that is the max). */
export const smax = (x: sint): number => (typeof x === 'number' ? x : x.vmax)
export const smin = (x: sint): number => (typeof x === 'number' ? x : x.vmin)

/** A size that is 1 for sure (a symbolic size counts as not 1: it is a real axis). */
export const isOne = (x: sint): boolean => x === 1
/** A size that may exceed 1 (a real axis). */
export const gtOne = (x: sint): boolean => (typeof x === 'number' ? x > 1 : x.vmax > 1)

export const isSymShape = (s: readonly sint[]): boolean => s.some(isSym)

/**
 * The value of a size: bound variables take their value, unbound ones the value in `vals` (an
 * error naming the variable when none is given).
 */
export function sEval(x: sint, vals?: ReadonlyMap<UOp, number>): number {
  if (typeof x === 'number') return x
  const memo = new Map<UOp, number>()
  const go = (u: UOp): number => {
    const m = memo.get(u)
    if (m !== undefined) return m
    let v: number
    if (u.op === Ops.CONST) v = u.constValue
    else if (u.op === Ops.BIND) v = u.src[1]!.constValue
    else if (u.op === Ops.DEFINE_VAR) {
      const b = vals?.get(u)
      if (b === undefined)
        throw new TsgradError(
          `the size ${fmtSint(x)} has the unbound Variable ${(u.arg as VarArg).name}: bind it to a value (v.bind(n)) to use it in a shape`,
        )
      v = b
    } else if (ALU.has(u.op))
      v = execAlu(
        u.op,
        u.dtype,
        u.src.map((s) => go(s)),
      )
    else throw new TsgradError(`a size cannot contain a ${u.op} node`)
    memo.set(u, v)
    return v
  }
  return go(x)
}
export const sEvalShape = (s: readonly sint[], vals?: ReadonlyMap<UOp, number>): number[] =>
  s.map((d) => sEval(d, vals))

const SYM: Partial<Record<string, string>> = {
  ADD: '+',
  SUB: '-',
  MUL: '*',
  IDIV: '//',
  MOD: '%',
}

/** A size as text: `sp+1`, `(n*64)`; a bound variable shows its value (`sp=5`). */
export function fmtSint(x: sint): string {
  if (typeof x === 'number') return String(x)
  if (x.op === Ops.CONST) return String(x.constValue)
  if (x.op === Ops.DEFINE_VAR) return (x.arg as VarArg).name
  if (x.op === Ops.BIND) return `${(x.src[0]!.arg as VarArg).name}=${x.src[1]!.constValue}`
  const o = SYM[x.op]
  if (o && x.src.length === 2) return `(${fmtSint(x.src[0]!)}${o}${fmtSint(x.src[1]!)})`
  return `${x.op.toLowerCase()}(${x.src.map(fmtSint).join(', ')})`
}
export const fmtSShape = (s: readonly sint[]): string =>
  isSymShape(s) ? `[${s.map(fmtSint).join(', ')}]` : fmtShape(s as number[])

/**
 * The size with every BIND replaced by its variable; the values found go into `vals` (a variable
 * bound to two values in one graph is an error).
 */
export function unbindSint(x: sint, vals: Map<UOp, number>): sint {
  if (typeof x === 'number' || !x.hasVars) return x
  const memo = new Map<UOp, UOp>()
  const go = (u: UOp): UOp => {
    if (!u.hasVars) return u
    const m = memo.get(u)
    if (m) return m
    let r: UOp
    if (u.op === Ops.BIND) {
      const [v, val] = u.unbind()
      const prev = vals.get(v)
      if (prev !== undefined && prev !== val)
        throw new TsgradError(
          `realize: Variable ${(v.arg as VarArg).name} is bound to ${prev} and to ${val} in one graph`,
        )
      vals.set(v, val)
      r = v
    } else r = u.replace({ src: u.src.map(go) })
    memo.set(u, r)
    return r
  }
  return go(x)
}

/** Replace sizes inside a movement op's arg with `f` of them (arrays, PAD's pads). */
export function mapArgSints(arg: unknown, f: (x: UOp) => UOp): unknown {
  if (arg instanceof UOp) return f(arg)
  if (Array.isArray(arg)) return arg.map((a) => mapArgSints(a, f))
  if (typeof arg === 'object' && arg !== null && 'pads' in arg) {
    const a = arg as { pads: unknown; value: number }
    return { pads: mapArgSints(a.pads, f), value: a.value }
  }
  return arg
}

/**
 * The variables a kernel takes, in parameter order (by name): its source's leading int parameters
 * and the values a launch passes, in this order, on every renderer and runtime.
 */
export function kernelVars(uops: Iterable<UOp>): UOp[] {
  const vars = new Set<UOp>()
  for (const u of uops) if (u.op === Ops.DEFINE_VAR) vars.add(u)
  return [...vars].sort((a, b) => ((a.arg as VarArg).name < (b.arg as VarArg).name ? -1 : 1))
}

/** The size with each variable in `vals` bound to its value (BIND), the inverse of unbindSint. */
export function rebindSint(x: sint, vals: ReadonlyMap<UOp, number>): sint {
  if (typeof x === 'number' || !x.hasVars) return x
  if (x.op === Ops.DEFINE_VAR) {
    const v = vals.get(x)
    return v === undefined ? x : x.bind(v)
  }
  if (x.op === Ops.BIND) return x
  return x.replace({ src: x.src.map((s) => rebindSint(s, vals) as UOp) })
}
