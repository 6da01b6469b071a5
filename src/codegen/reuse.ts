// Pass `reuse_row_values`: a row reduce fused into its consumer (softmax: sum over exp(x - max)
// in the same kernel as exp(x - max) / sum) computes the same expensive value twice per element,
// once in the reduce loop and once in the output loop. This pass stores the value into the output
// buffer from inside the reduce loop and has the output loop load it back, so each element costs
// one exp and one read of the input, and the output loop reads a row that is still in cache.
//
// Applied after opts, on the one-store kernel AST, only where it is safe:
// - the reduce has a single reduce range r2, and the output range r1 standing for it in the
//   consumer has the same size and is not a thread range (the row is written and read back by
//   the same thread); where an opt split them, r2 by UNROLL into (r2, u2) and r1 by UPCAST into
//   (r1, u1) with u1 as long as u2 (WASM: the sum's 4 vector lanes, the output's 4), the pairs
//   are renamed together, else neither may be split;
// - the reduce does not depend on r1, and the store index depends only on r1 and ranges the reduce
//   depends on (so the stores in the reduce loop cover exactly the row the output loop reads, and
//   nothing outside it is overwritten before it is final);
// - the value has the output's dtype (stored without rounding).
import { COMMUTATIVE, Ops, type RangeArg, UOp } from '../uop/ops.js'
import { substitute, toposort } from '../uop/rewrite.js'
import { rangeDeps } from './linearize.js'

const EXPENSIVE = new Set<string>([
  Ops.EXP,
  Ops.EXP2,
  Ops.LOG,
  Ops.LOG2,
  Ops.SIN,
  Ops.COS,
  Ops.TANH,
  Ops.ERF,
  Ops.POW,
])

type Deps = ReadonlyMap<UOp, ReadonlySet<UOp>>

/**
 * Whether `a` is `b` with the reduce's ranges renamed to the output's (`rename`: r2 -> r1, and
 * u2 -> u1 where both were split), up to the order of commutative operands.
 */
function sameWithRange(
  a: UOp,
  b: UOp,
  rename: ReadonlyMap<UOp, UOp>,
  deps: Deps,
  memo: Map<UOp, Map<UOp, boolean>>,
): boolean {
  const to = rename.get(b)
  if (to) return a === to
  if (a === b) return ![...rename.keys()].some((r) => deps.get(b)!.has(r))
  if (a.op !== b.op || a.dtype !== b.dtype || a.src.length !== b.src.length || a.arg !== b.arg) return false
  let m = memo.get(a)
  if (!m) memo.set(a, (m = new Map()))
  const known = m.get(b)
  if (known !== undefined) return known
  const same = (order: UOp[]) => order.every((s, i) => sameWithRange(a.src[i]!, s, rename, deps, memo))
  const ok = same([...b.src]) || (COMMUTATIVE.has(a.op) && a.src.length === 2 && same([b.src[1]!, b.src[0]!]))
  m.set(b, ok)
  return ok
}

const kind = (r: UOp): RangeArg['kind'] => (r.arg as RangeArg).kind

/** A REDUCE's loop: one reduce range, and its unroll range where UNROLL split it; else undefined. */
function ownRanges(red: UOp): { r2: UOp; u2?: UOp } | undefined {
  const rs = red.src.slice(1)
  const r2 = rs.filter((r) => kind(r) === 'reduce')
  const u2 = rs.filter((r) => kind(r) === 'unroll')
  if (r2.length !== 1 || u2.length > 1 || rs.length !== r2.length + u2.length) return undefined
  return { r2: r2[0]!, u2: u2[0] }
}

export function reuseRowValues(ast: UOp): UOp {
  if (ast.op !== Ops.SINK || ast.src.length !== 1 || ast.src[0]!.op !== Ops.STORE) return ast
  const store = ast.src[0]!
  const [buf, idx, val] = store.src as [UOp, UOp, UOp]
  if (store.src.length !== 3) return ast
  const topo = toposort([ast])
  const reduces = topo.filter((u) => u.op === Ops.REDUCE && ownRanges(u))
  if (!reduces.length || topo.some((u) => u.op === Ops.ACC)) return ast
  const deps = rangeDeps(topo)
  const idxDeps = deps.get(idx)!
  // values that involve an expensive op
  const costly = new Set<UOp>()
  for (const u of topo) if (EXPENSIVE.has(u.op) || u.src.some((s) => costly.has(s))) costly.add(u)
  // values the output computes outside any reduce
  const outside = [...new Set(toposort([val], (u) => u.op === Ops.REDUCE))]
  for (const red of reduces) {
    const { r2, u2 } = ownRanges(red)!
    // the reduce stays a loop, which orders the stores before the output loop's loads: a loop of
    // one step is dropped (expand.ts), and then nothing did (a 4-wide softmax unrolled 4 on WASM
    // read its row back before storing it)
    if (r2.src[0]!.op === Ops.CONST && r2.src[0]!.constValue <= 1) continue
    const redDeps = deps.get(red)!
    const free = (r: UOp, k: RangeArg['kind'], like: UOp) =>
      kind(r) === k && r.src[0] === like.src[0] && !redDeps.has(r)
    const u1 = u2 && [...idxDeps].find((r) => free(r, 'upcast', u2))
    if (u2 && !u1) continue
    for (const r1 of idxDeps) {
      if (!free(r1, 'global', r2)) continue
      if (![...idxDeps].every((r) => r === r1 || r === u1 || redDeps.has(r))) continue
      const rename = new Map([[r2, r1]])
      if (u2 && u1) rename.set(u2, u1)
      // the largest expensive value of the reduce loop that the output loop recomputes
      const inner = toposort([red.src[0]!]).reverse()
      for (const x2 of inner) {
        if (x2.dtype !== val.dtype || !costly.has(x2) || !deps.get(x2)!.has(r2)) continue
        const x1 = outside.find((y) => sameWithRange(y, x2, rename, deps, new Map()))
        if (!x1) continue
        const back = new Map([...rename].map(([a, b]) => [b, a]))
        const scratch = UOp.new(Ops.STORE, store.dtype, [buf, substitute(idx, back), x2])
        const after = UOp.new(Ops.AFTER, idx.dtype, [idx, red])
        const reload = UOp.new(Ops.LOAD, x1.dtype, [buf, after])
        const out = UOp.new(Ops.STORE, store.dtype, [buf, idx, substitute(val, new Map([[x1, reload]]))])
        return UOp.new(Ops.SINK, ast.dtype, [out, scratch], ast.arg)
      }
    }
  }
  return ast
}
