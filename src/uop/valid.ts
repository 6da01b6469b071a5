// Pass `gated_index`: simplify a gated LOAD's index under its gate.
//
// A padded view reads x[r - p] behind a gate like `p <= r && r < p + n`. Outside the gate the index
// is never used, so it may be simplified as if r were only in [p, p + n): then div/mod chains from
// reshapes of the padded view fold (the range no longer straddles a multiple of the divisor). The
// bounds are applied by substituting r = r' + lo with a placeholder range r' of the narrower size,
// simplifying, and substituting back.
import { Ops, type RangeArg, UOp } from './ops.js'
import { graphRewrite, substitute, toposort } from './rewrite.js'
import { symbolic } from './symbolic.js'

/** ids of placeholder ranges; never collide with a kernel's own (small, dense) range ids */
const PLACEHOLDER_ID = 1 << 24

function clauses(gate: UOp, out: UOp[] = []): UOp[] {
  if (gate.op === Ops.AND && gate.dtype.isBool) {
    clauses(gate.src[0]!, out)
    clauses(gate.src[1]!, out)
  } else out.push(gate)
  return out
}

/** A range and the bounds a clause puts on it, for clauses `c < r` and `r < c`. */
function rangeBound(cl: UOp): { r: UOp; lo?: number; hi?: number } | undefined {
  if (cl.op !== Ops.CMPLT) return undefined
  const [a, b] = cl.src as [UOp, UOp]
  if (a.op === Ops.CONST && b.op === Ops.RANGE) return { r: b, lo: a.constValue + 1 }
  if (a.op === Ops.RANGE && b.op === Ops.CONST) return { r: a, hi: b.constValue - 1 }
  return undefined
}

const divModCount = (u: UOp): number =>
  toposort([u]).filter((n) => n.op === Ops.IDIV || n.op === Ops.MOD).length

function simplifyUnder(idx: UOp, gate: UOp): UOp {
  const bounds = new Map<UOp, [number, number]>()
  for (const cl of clauses(gate)) {
    const b = rangeBound(cl)
    if (!b) continue
    const [lo, hi] = bounds.get(b.r) ?? [0, b.r.src[0]!.vmax - 1]
    bounds.set(b.r, [Math.max(lo, b.lo ?? lo), Math.min(hi, b.hi ?? hi)])
  }
  const narrowed = [...bounds].filter(([r, [lo, hi]]) => lo <= hi && (lo > 0 || hi < r.src[0]!.vmax - 1))
  if (!narrowed.length) return idx
  const into = new Map<UOp, UOp>()
  const back = new Map<UOp, UOp>()
  narrowed.forEach(([r, [lo, hi]], i) => {
    const p = UOp.range(hi - lo + 1, PLACEHOLDER_ID + i, (r.arg as RangeArg).kind, r.dtype)
    into.set(r, lo ? p.add(lo) : p)
    back.set(p, lo ? r.sub(lo) : r)
  })
  const inner = graphRewrite(substitute(idx, into), symbolic, undefined, 'gated_index')
  const out = graphRewrite(substitute(inner, back), symbolic, undefined, 'gated_index')
  return divModCount(out) < divModCount(idx) ? out : idx
}

/** Rewrite every gated LOAD of a kernel AST with its index simplified under its gate. */
export function simplifyGatedIndices(ast: UOp): UOp {
  const map = new Map<UOp, UOp>()
  for (const u of toposort([ast])) {
    if (u.op !== Ops.LOAD || u.src.length < 3) continue
    const idx = simplifyUnder(u.src[1]!, u.src[2]!)
    if (idx !== u.src[1]) map.set(u, u.replace({ src: [u.src[0]!, idx, u.src[2]!] }))
  }
  return map.size ? substitute(ast, map) : ast
}
