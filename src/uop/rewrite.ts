// Pattern matching and graph rewriting: the engine behind every transformation.
//
// A PatternMatcher is a list of rules (UPat, callback). Rules are indexed by the op they match so
// a pass over a big graph stays near-linear. `graphRewrite` applies a matcher bottom-up to a fixed
// point with an explicit stack (no recursion: 10,000-deep graphs must not overflow).
import type { DType } from '../dtype.js'
import { forwardSrc, type Op, Ops, type UOp } from './ops.js'

export type Bindings = Record<string, UOp>

export class UPat {
  constructor(
    readonly ops: readonly Op[] | undefined,
    readonly src: readonly UPat[] | undefined,
    readonly name: string | undefined,
    readonly dtypes: readonly DType[] | undefined,
    readonly arg: unknown,
    /** for two-source patterns: also try the sources swapped */
    readonly commutative: boolean,
  ) {}

  static op(
    op: Op | readonly Op[],
    src?: readonly UPat[],
    opts: { name?: string; dtype?: DType | readonly DType[]; arg?: unknown; commutative?: boolean } = {},
  ): UPat {
    const dt =
      opts.dtype === undefined ? undefined : Array.isArray(opts.dtype) ? opts.dtype : [opts.dtype as DType]
    return new UPat(
      typeof op === 'string' ? [op] : op,
      src,
      opts.name,
      dt,
      opts.arg,
      opts.commutative ?? false,
    )
  }
  /** matches any node, binding it to `name` */
  static var(name?: string, dtype?: DType | readonly DType[]): UPat {
    const dt = dtype === undefined ? undefined : Array.isArray(dtype) ? dtype : [dtype as DType]
    return new UPat(undefined, undefined, name, dt, undefined, false)
  }
  /** matches a CONST */
  static cvar(name?: string, dtype?: DType | readonly DType[]): UPat {
    return UPat.op(Ops.CONST, undefined, { name, dtype })
  }
  /** matches CONST with a given value */
  static const(value: number, name?: string): UPat {
    return UPat.op(Ops.CONST, undefined, { name, arg: value })
  }

  match(u: UOp, b: Bindings): boolean {
    if (this.ops && !this.ops.includes(u.op)) return false
    if (this.dtypes && !this.dtypes.includes(u.dtype)) return false
    if (this.arg !== undefined && this.arg !== u.arg) return false
    if (this.name !== undefined) {
      const prev = b[this.name]
      if (prev !== undefined && prev !== u) return false
      b[this.name] = u
    }
    if (!this.src) return true
    if (this.src.length !== u.src.length) return false
    const snapshot = { ...b }
    if (this.src.every((p, i) => p.match(u.src[i]!, b))) return true
    if (this.commutative && this.src.length === 2) {
      for (const k of Object.keys(b)) if (!(k in snapshot)) delete b[k]
      Object.assign(b, snapshot)
      if (this.src[0]!.match(u.src[1]!, b) && this.src[1]!.match(u.src[0]!, b)) return true
    }
    return false
  }
}

export type RuleFn<C> = (b: Bindings, ctx: C) => UOp | undefined

export interface Rule<C> {
  readonly pat: UPat
  readonly fn: RuleFn<C>
  /** where the rule was written (file:line), shown by tracing */
  readonly location: string
}

/** Make a rule and remember where it was written. */
export function rule<C = unknown>(pat: UPat, fn: RuleFn<C>): Rule<C> {
  const stack = new Error().stack?.split('\n') ?? []
  const frame = stack[2]?.trim() ?? ''
  const m = frame.match(/\(?([^()\s]+:\d+):\d+\)?$/)
  return { pat, fn, location: m ? m[1]!.replace(/^.*\/src\//, 'src/') : frame }
}

export class PatternMatcher<C = unknown> {
  private readonly byOp = new Map<Op, Rule<C>[]>()
  private readonly anyOp: Rule<C>[] = []

  constructor(readonly rules: readonly Rule<C>[]) {
    for (const r of rules) {
      if (!r.pat.ops) this.anyOp.push(r)
      else
        for (const op of r.pat.ops) {
          const list = this.byOp.get(op) ?? []
          list.push(r)
          this.byOp.set(op, list)
        }
    }
    // rules that match any op must also be tried for ops that have specific rules
    if (this.anyOp.length) for (const [op, list] of this.byOp) this.byOp.set(op, [...list, ...this.anyOp])
  }

  concat(other: PatternMatcher<C>): PatternMatcher<C> {
    return new PatternMatcher([...this.rules, ...other.rules])
  }

  /** Try each rule for u's op; the first that returns a node wins. */
  rewrite(u: UOp, ctx: C): { out: UOp; rule: Rule<C> } | undefined {
    const list = this.byOp.get(u.op) ?? this.anyOp
    for (const r of list) {
      const b: Bindings = {}
      if (!r.pat.match(u, b)) continue
      const out = r.fn(b, ctx)
      if (out !== undefined && out !== u) return { out, rule: r }
    }
    return undefined
  }
}

/** Observer for rewrites (the VIZ recorder plugs in here); null costs nothing. */
export interface RewriteTracer {
  begin(pass: string, root: UOp): void
  fired(rule: Rule<any>, before: UOp, after: UOp): void
  end(pass: string, out: UOp): void
}
let tracer: RewriteTracer | null = null
export function setRewriteTracer(t: RewriteTracer | null): void {
  tracer = t
}

/**
 * Rewrite `root` with `pm` bottom-up until nothing matches. Sources are rewritten before their
 * users; when a rule replaces a node, the replacement is itself rewritten. Iterative. `srcOf`
 * names the sources to rewrite (the others are kept as they are).
 */
export function graphRewrite<C>(
  root: UOp,
  pm: PatternMatcher<C>,
  ctx: C,
  name: string,
  srcOf: (u: UOp) => readonly UOp[] = (u) => u.src,
): UOp {
  tracer?.begin(name, root)
  const done = new Map<UOp, UOp>()
  // stack frames: [node, stage, replacement-being-rewritten]
  const stack: [UOp, number, UOp | undefined][] = [[root, 0, undefined]]
  while (stack.length) {
    const [n, stage, pending] = stack.pop()!
    if (stage === 0) {
      if (done.has(n)) continue
      stack.push([n, 1, undefined])
      const ns = srcOf(n)
      for (let i = ns.length - 1; i >= 0; i--) {
        const s = ns[i]!
        if (!done.has(s)) stack.push([s, 0, undefined])
      }
    } else if (stage === 1) {
      if (done.has(n)) continue
      let changed = false
      const src = n.src.map((s) => {
        const r = done.get(s) ?? s
        if (r !== s) changed = true
        return r
      })
      const x = changed ? n.replace({ src }) : n
      const r = pm.rewrite(x, ctx)
      if (r === undefined) {
        done.set(n, x)
        if (x !== n) done.set(x, x)
      } else {
        tracer?.fired(r.rule, x, r.out)
        stack.push([n, 2, r.out])
        if (!done.has(r.out)) stack.push([r.out, 0, undefined])
      }
    } else {
      done.set(n, done.get(pending!)!)
    }
  }
  const out = done.get(root)!
  tracer?.end(name, out)
  return out
}

/**
 * All nodes reachable from `roots`, sources before users (iterative DFS). By default a
 * CUSTOM_GRAD is seen as its forward value (`forwardSrc`); autograd passes its own `srcOf`.
 */
export function toposort(
  roots: readonly UOp[],
  stopAt?: (u: UOp) => boolean,
  srcOf: (u: UOp) => readonly UOp[] = forwardSrc,
): UOp[] {
  const seen = new Set<UOp>()
  const order: UOp[] = []
  // nodes to visit, and in `expanded` whether each one's sources are already on the stack (two
  // parallel stacks: no pair allocated per node)
  const stack: UOp[] = []
  const expanded: boolean[] = []
  for (let i = roots.length - 1; i >= 0; i--) {
    stack.push(roots[i]!)
    expanded.push(false)
  }
  while (stack.length) {
    const n = stack.pop()!
    if (expanded.pop()) {
      order.push(n)
      continue
    }
    if (seen.has(n)) continue
    seen.add(n)
    stack.push(n)
    expanded.push(true)
    if (stopAt?.(n)) continue
    const src = srcOf(n)
    for (let i = src.length - 1; i >= 0; i--)
      if (!seen.has(src[i]!)) {
        stack.push(src[i]!)
        expanded.push(false)
      }
  }
  return order
}

/** Substitute nodes by identity (iterative), rebuilding their users. */
export function substitute(root: UOp, map: Map<UOp, UOp>): UOp {
  return substituteAll(root, map).get(root)!
}

/**
 * `substitute`, returning what every node reachable from `root` became; `srcOf` as in `toposort`
 * (autograd passes every source, so the gradient inputs of a CUSTOM_GRAD are substituted too).
 */
export function substituteAll(
  root: UOp,
  map: ReadonlyMap<UOp, UOp>,
  srcOf: (u: UOp) => readonly UOp[] = forwardSrc,
): Map<UOp, UOp> {
  const done = new Map<UOp, UOp>(map)
  for (const n of toposort([root], (u) => map.has(u), srcOf)) {
    if (done.has(n)) continue
    let changed = false
    const src = n.src.map((s) => {
      const r = done.get(s) ?? s
      if (r !== s) changed = true
      return r
    })
    done.set(n, changed ? n.replace({ src }) : n)
  }
  return done
}
