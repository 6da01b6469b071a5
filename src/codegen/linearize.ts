// Linearizer: kernel IR (a DAG with RANGEs and REDUCEs) -> an ordered instruction list with loops.
//
// Each node is placed in the innermost loop among the ranges it depends on, so loop-invariant work
// is hoisted. Global ranges nest in axis order; a REDUCE becomes an accumulator (DEFINE_ACC) in its
// own scope, a loop nest over its reduce ranges holding ACC_UPDATE, and the REDUCE node itself
// then names the finished accumulator. REDUCEs that share a range share that loop (a RANGE is one
// loop). Items inside each loop body are ordered topologically.
import { dtypes } from '../dtype.js'
import { CHAIN_STEP, Ops, type RangeArg, type ReduceOp, setAccOf, UOp } from '../uop/ops.js'
import { priorityTopoOrder, TsgradError } from '../helpers.js'
import { toposort } from '../uop/rewrite.js'
import type { LinearProgram } from '../renderer/target.js'

interface Block {
  range: UOp | null
  parent: Block | null
  items: (UOp | Block)[]
  depth: number
}

export type { LinearProgram }

export function reduceIdentity(op: ReduceOp, dt: UOp['dtype']): number {
  if (op === 'ADD') return 0
  if (op === 'MUL') return 1
  if (dt.isFloat) return Number.NEGATIVE_INFINITY
  if (dt.isBool || dt.isUnsigned) return 0
  return dt.bits >= 53 ? Number.MIN_SAFE_INTEGER : -(2 ** (dt.bits - 1))
}

/** The joins of a CHAIN-expanded reduce value, outermost (last step) first. */
function chainJoins(v: UOp): UOp[] {
  const out: UOp[] = []
  for (let j = v; j.arg === CHAIN_STEP; j = j.src[0]!) out.push(j)
  return out
}

/** The steps of a CHAIN-expanded reduce value in order (a value without joins is one step). */
function chainSteps(v: UOp): UOp[] {
  const joins = chainJoins(v).reverse() // first step's join first
  return joins.length ? [joins[0]!.src[0]!, ...joins.map((j) => j.src[1]!)] : [v]
}

/** The ranges each node of `topo` (in topological order) depends on; a REDUCE closes its own. */
export function rangeDeps(topo: readonly UOp[]): Map<UOp, Set<UOp>> {
  const deps = new Map<UOp, Set<UOp>>()
  for (const u of topo) {
    const d = u.op === Ops.RANGE ? new Set([u]) : new Set<UOp>()
    for (const s of u.src) for (const r of deps.get(s)!) d.add(r)
    if (u.op === Ops.REDUCE) for (const r of u.src.slice(1)) d.delete(r)
    deps.set(u, d)
  }
  return deps
}

/** Reduce groups (each: REDUCEs over one range list) joined when they share a range, in first-seen order. */
function sharedLoopComponents(groups: UOp[][]): UOp[][][] {
  const comps: { groups: UOp[][]; ranges: Set<UOp> }[] = []
  for (const g of groups) {
    const ranges = new Set(g[0]!.src.slice(1))
    const hit = comps.filter((c) => [...ranges].some((r) => c.ranges.has(r)))
    const merged = { groups: [...hit.flatMap((c) => c.groups), g], ranges }
    for (const c of hit) for (const r of c.ranges) ranges.add(r)
    const at = hit.length ? comps.indexOf(hit[0]!) : comps.length
    for (const c of hit.slice(1)) comps.splice(comps.indexOf(c), 1)
    comps[at] = merged
  }
  return comps.map((c) => c.groups)
}

const fmtRanges = (red: UOp): string =>
  `(${red.src
    .slice(1)
    .map((r) => `r${(r.arg as RangeArg).id}`)
    .join(', ')})`

/** A RANGE is one loop: reduces sharing it must nest their other ranges inside it, in one order. */
function sharedRangeError(r: UOp, component: readonly UOp[][]): Error {
  return new TsgradError(
    `linearize: reduce range r${(r.arg as RangeArg).id} is shared by reduces over ${component
      .map((g) => fmtRanges(g[0]!))
      .join(
        ' and ',
      )}, but not as a common outer loop (reduces sharing a range must list the shared ranges first, in the same order; or give each reduce its own ranges)`,
  )
}

/** Reduces sharing a loop are all updated inside it: none of them can read another's finished value. */
function checkNoReduceReadsItsLoop(component: readonly UOp[][]): void {
  const reds = new Set(component.flat())
  for (const red of reds)
    for (const u of toposort([red.src[0]!]))
      if (u !== red && reds.has(u))
        throw new TsgradError(
          `linearize: a reduce over ${fmtRanges(red)} reads the result of a reduce over ${fmtRanges(u)} that shares its loop; give the two reduces separate ranges`,
        )
}

export function linearize(sink: UOp): LinearProgram {
  const topo = toposort([sink])
  // 1. the set of open ranges each node depends on
  const deps = rangeDeps(topo)
  // 2. the loop tree: global ranges nest in id order, each REDUCE's ranges nest under its scope
  const root: Block = { range: null, parent: null, items: [], depth: 0 }
  const blockOf = new Map<UOp, Block>()
  const globals = topo.filter(
    (u) =>
      u.op === Ops.RANGE && (u.arg as RangeArg).kind !== 'reduce' && (u.arg as RangeArg).kind !== 'group',
  )
  globals.sort((a, b) => (a.arg as RangeArg).id - (b.arg as RangeArg).id)
  let parent = root
  for (const g of globals) {
    const b: Block = { range: g, parent, items: [], depth: parent.depth + 1 }
    parent.items.push(b)
    blockOf.set(g, b)
    parent = b
  }
  const deepest = (d: Set<UOp>): Block => {
    let best = root
    for (const r of d) {
      const b = blockOf.get(r)
      if (!b) throw new Error(`linearize: range ${r.toString()} used outside its loop`)
      if (b.depth > best.depth) best = b
    }
    return best
  }
  const reduces = topo.filter((u) => u.op === Ops.REDUCE).reverse() // outermost first
  const accOf = new Map<UOp, UOp>()
  const loopOf = new Map<UOp, Block>() // REDUCE -> its outermost loop block
  const scopeOf = new Map<UOp, Block>() // REDUCE -> the block holding its accumulator
  // REDUCEs over the same ranges (copies made by UPCAST/UNROLL) share one loop nest, placed in the
  // deepest of their scopes (the output loops form one chain, so that scope encloses the others).
  const groups = new Map<string, UOp[]>()
  const loopKey = (red: UOp): string =>
    red.src
      .slice(1)
      .map((r) => r.id)
      .join(',')
  for (const red of reduces) {
    const k = loopKey(red)
    const g = groups.get(k)
    if (g) g.push(red)
    else groups.set(k, [red])
  }
  let accId = 0
  const components = sharedLoopComponents([...groups.values()])
  for (const component of components) {
    // groups that share a range share its loop (a RANGE is one loop): their nests form one prefix
    // tree in the deepest scope of them all, so each accumulator is reset where all of them are
    let scope = root
    for (const group of component)
      for (const red of group) {
        const s = deepest(deps.get(red)!)
        if (s.depth > scope.depth) scope = s
      }
    const outers = new Map<UOp[], Block>()
    for (const group of component) {
      let p = scope
      for (const r of group[0]!.src.slice(1)) {
        let b = blockOf.get(r)
        if (b && b.parent !== p) throw sharedRangeError(r, component)
        if (!b) {
          b = { range: r, parent: p, items: [], depth: p.depth + 1 }
          blockOf.set(r, b)
          if (p !== scope) p.items.push(b)
        }
        if (p === scope) outers.set(group, b)
        p = b
      }
    }
    for (const group of component)
      for (const red of group) {
        loopOf.set(red, outers.get(group)!)
        scopeOf.set(red, scope)
        const op = red.arg as ReduceOp
        const read = setAccOf(red)
        const init = read ? read.src[0]!.constValue : reduceIdentity(op, red.dtype)
        const acc = UOp.new(Ops.DEFINE_ACC, red.dtype, [], { id: accId++, init })
        accOf.set(red, acc)
        if (read) accOf.set(read, acc)
      }
  }
  // 3. place nodes; child loops of a block are items of that block, ordered below
  const home = new Map<UOp, Block>()
  const place = (u: UOp, b: Block): void => {
    home.set(u, b)
    b.items.push(u)
  }
  const placedLoops = new Set<Block>()
  // the CHAIN_STEP joins under a REDUCE become separate updates, not values
  const joins = new Set(topo.filter((u) => u.op === Ops.REDUCE).flatMap((u) => chainJoins(u.src[0]!)))
  for (const u of topo) {
    if (u.op === Ops.RANGE || u.op === Ops.CONST || u.op === Ops.SINK || joins.has(u)) continue
    if (u.op === Ops.DEFINE_GLOBAL) {
      place(u, root)
      continue
    }
    if (u.op === Ops.REDUCE) {
      const scope = scopeOf.get(u)!
      const acc = accOf.get(u)!
      const loop = loopOf.get(u)!
      const inner = blockOf.get(u.src[u.src.length - 1]!)!
      place(acc, scope)
      if (!placedLoops.has(loop)) {
        placedLoops.add(loop)
        scope.items.push(loop)
      }
      if (setAccOf(u)) {
        // accumulators set together (ctx.accumulate) read each other's old values: every update
        // waits for every next value of its loop (extra sources), so all reads come first
        const next = groups
          .get(loopKey(u))!
          .filter((r) => setAccOf(r))
          .map((r) => r.src[0]!)
        place(
          UOp.new(
            Ops.ACC_UPDATE,
            dtypes.void,
            [acc, u.src[0]!, ...next.filter((n) => n !== u.src[0])],
            u.arg,
          ),
          inner,
        )
        place(u, scope)
        continue
      }
      // one update per CHAIN step, each ordered after the previous one by an extra source (which
      // also keeps two equal steps from interning to one node)
      let prev: UOp | undefined
      for (const step of chainSteps(u.src[0]!)) {
        prev = UOp.new(Ops.ACC_UPDATE, dtypes.void, prev ? [acc, step, prev] : [acc, step], u.arg)
        place(prev, inner)
      }
      place(u, scope)
      continue
    }
    place(u, deepest(deps.get(u)!))
  }
  // 4. order each block's items topologically (stable by first appearance)
  const order = new Map<UOp, number>()
  topo.forEach((u, i) => {
    order.set(u, i)
  })
  const containerIn = (u: UOp, b: Block): UOp | Block | undefined => {
    let h = home.get(u)
    if (!h) return undefined
    if (h === b) return u
    while (h.parent && h.parent !== b) h = h.parent
    return h.parent === b ? h : undefined
  }
  const sortBlock = (b: Block): void => {
    const items = b.items
    const index = new Map<UOp | Block, number>(items.map((it, i) => [it, i]))
    const before = items.map(() => new Set<number>())
    const visit = (it: UOp | Block, i: number): void => {
      const nodes = it instanceof UOp ? [it] : collect(it)
      for (const n of nodes) {
        const srcs = n.op === Ops.REDUCE ? [accOf.get(n)!] : n.src
        for (const s of srcs) {
          const c = containerIn(s, b)
          if (c !== undefined && c !== it) before[i]!.add(index.get(c)!)
        }
        // the accumulator is read after its loop finishes
        if (n.op === Ops.REDUCE && home.get(n) === b) before[i]!.add(index.get(loopOf.get(n)!)!)
      }
      // a loop whose end is computed (a symbolic size, `n + 1`) comes after that value
      if (!(it instanceof UOp))
        for (const lb of loopsIn(it)) {
          const c = containerIn(lb.range!.src[0]!, b)
          if (c !== undefined && c !== it) before[i]!.add(index.get(c)!)
        }
    }
    items.forEach((it, i) => {
      visit(it, i)
    })
    const picked = priorityTopoOrder(items.length, before, (i) => firstOrder(items[i]!))
    if (!picked) {
      // the likely cause, named (checked only here: it walks every reduce's value)
      for (const component of components) checkNoReduceReadsItsLoop(component)
      throw new Error('linearize: cyclic dependencies inside a loop body')
    }
    const out = picked.map((i) => items[i]!)
    b.items = out
    for (const it of out) if (!(it instanceof UOp)) sortBlock(it)
  }
  const firstCache = new Map<Block, number>()
  const firstOrder = (it: UOp | Block): number => {
    if (it instanceof UOp) return order.get(it) ?? -1
    let f = firstCache.get(it)
    if (f === undefined) {
      f = Number.POSITIVE_INFINITY
      for (const n of collect(it)) f = Math.min(f, order.get(n) ?? Number.POSITIVE_INFINITY)
      firstCache.set(it, f)
    }
    return f
  }
  /** A block and the blocks nested in it (loops whose end may be a computed value). */
  function loopsIn(b: Block): Block[] {
    const out = [b]
    for (const it of b.items) if (!(it instanceof UOp)) out.push(...loopsIn(it))
    return out
  }
  const collectCache = new Map<Block, UOp[]>()
  function collect(b: Block): UOp[] {
    let c = collectCache.get(b)
    if (!c) {
      c = []
      for (const it of b.items) if (it instanceof UOp) c.push(it)
      for (const it of b.items) if (!(it instanceof UOp)) for (const n of collect(it)) c.push(n)
      collectCache.set(b, c)
    }
    return c
  }
  sortBlock(root)
  // 5. flatten
  const uops: UOp[] = []
  const emit = (b: Block): void => {
    if (b.range) uops.push(b.range)
    for (const it of b.items) {
      if (it instanceof UOp) uops.push(it)
      else emit(it)
    }
    if (b.range) uops.push(UOp.new(Ops.ENDRANGE, dtypes.void, [b.range]))
  }
  emit(root)
  return { uops, accOf }
}
