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
// On a GPU (one invocation per output element) the row must be a GROUP kernel's (rowRanges): the
// stores and the reads of an element then happen in the same invocation.
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
 * Whether `a` is `b` with its ranges renamed by `rename` (reduce range -> output range), up to the
 * order of commutative operands.
 */
function sameWithRanges(
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
  const same = (order: UOp[]) => order.every((s, i) => sameWithRanges(a.src[i]!, s, rename, deps, memo))
  const ok = same([...b.src]) || (COMMUTATIVE.has(a.op) && a.src.length === 2 && same([b.src[1]!, b.src[0]!]))
  m.set(b, ok)
  return ok
}

const kind = (r: UOp): RangeArg['kind'] => (r.arg as RangeArg).kind

/**
 * For one reduce of the kernel, the output ranges standing for its reduce ranges (reduce range ->
 * output range), or undefined. On a CPU target: its one reduce range and an unthreaded output
 * range of the same size (with the UNROLL/UPCAST pair where both were split). On a GPU target only a GROUP kernel's row qualifies, where every
 * invocation writes and reads back the same elements: the reduce over (group g, reduce o2) and the
 * output over (local l, serial loop o1), l and g both the invocation's index in the workgroup.
 */
function rowRanges(red: UOp, idxDeps: ReadonlySet<UOp>, gpu: boolean): Map<UOp, UOp>[] {
  const rs = red.src.slice(1)
  const out: Map<UOp, UOp>[] = []
  if (!gpu) {
    const r2 = rs.filter((r) => kind(r) === 'reduce')
    const u2 = rs.filter((r) => kind(r) === 'unroll')
    if (r2.length !== 1 || u2.length > 1 || rs.length !== r2.length + u2.length) return out
    // an UNROLLed reduce pairs with an UPCAST output range as long as its unroll range
    const u1 = u2[0] && [...idxDeps].find((r) => kind(r) === 'upcast' && r.src[0] === u2[0]!.src[0])
    if (u2[0] && !u1) return out
    for (const r1 of idxDeps)
      if (kind(r1) === 'global' && r1.src[0] === r2[0]!.src[0])
        out.push(
          new Map(
            u2[0] && u1
              ? [
                  [r2[0]!, r1],
                  [u2[0], u1],
                ]
              : [[r2[0]!, r1]],
          ),
        )
    return out
  }
  const g = rs.find((r) => kind(r) === 'group')
  const o2 = rs.find((r) => kind(r) === 'reduce')
  if (rs.length !== 2 || !g || !o2) return out
  const l = [...idxDeps].find((r) => kind(r) === 'local' && r.src[0] === g.src[0])
  if (!l) return out
  for (const o1 of idxDeps)
    if (kind(o1) === 'loop' && o1.src[0] === o2.src[0])
      out.push(
        new Map([
          [o2, o1],
          [g, l],
        ]),
      )
  return out
}

/** `gpu`: the kernel runs one invocation per output element (rowRanges says where that is safe). */
export function reuseRowValues(ast: UOp, gpu = false): UOp {
  if (ast.op !== Ops.SINK || ast.src.length !== 1 || ast.src[0]!.op !== Ops.STORE) return ast
  const store = ast.src[0]!
  const [buf, idx, val] = store.src as [UOp, UOp, UOp]
  if (store.src.length !== 3) return ast
  const topo = toposort([ast])
  const reduces = topo.filter((u) => u.op === Ops.REDUCE)
  if (!reduces.length || topo.some((u) => u.op === Ops.ACC)) return ast
  const deps = rangeDeps(topo)
  const idxDeps = deps.get(idx)!
  // values that involve an expensive op
  const costly = new Set<UOp>()
  for (const u of topo) if (EXPENSIVE.has(u.op) || u.src.some((s) => costly.has(s))) costly.add(u)
  // values the output computes outside any reduce
  const outside = [...new Set(toposort([val], (u) => u.op === Ops.REDUCE))]
  for (const red of reduces) {
    // the reduce stays a loop, which orders the stores before the output loop's loads: a loop of
    // one step is dropped (expand.ts), and then nothing did (a 4-wide softmax unrolled 4 on WASM
    // read its row back before storing it)
    const r2 = red.src.slice(1).find((r) => kind(r) === 'reduce')
    if (r2 && r2.src[0]!.op === Ops.CONST && r2.src[0]!.constValue <= 1) continue
    const redDeps = deps.get(red)!
    for (const rename of rowRanges(red, idxDeps, gpu)) {
      const rowOut = new Set(rename.values())
      if ([...rowOut].some((r) => redDeps.has(r))) continue
      if (![...idxDeps].every((r) => rowOut.has(r) || redDeps.has(r))) continue
      // the largest expensive value of the reduce loop that the output loop recomputes
      const inner = toposort([red.src[0]!]).reverse()
      for (const x2 of inner) {
        if (
          x2.dtype !== val.dtype ||
          !costly.has(x2) ||
          ![...rename.keys()].every((r) => deps.get(x2)!.has(r))
        )
          continue
        const x1 = outside.find((y) => sameWithRanges(y, x2, rename, deps, new Map()))
        if (!x1) continue
        const back = new Map([...rename].map(([r2, r1]) => [r1, r2]))
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
