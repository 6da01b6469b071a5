// Kernel optimizations as data: an Opt list applied to a kernel's ranges. The same list on the same
// AST always gives the same kernel, so Opt lists can be searched (BEAM), cached and replayed.
//
// Axes are the kernel's loop ranges in order: output (global/thread) ranges first, in nesting
// order, then reduce ranges. Opts:
//   UPCAST a k  split output axis a by k; the inner k copies become straight-line code (a register
//               tile: k accumulators / k stores that share their loads)
//   UNROLL a k  split reduce axis a by k into k independent accumulators (vectorizable, more ILP)
//   CHAIN a k   split reduce axis a by k into k straight-line steps that update one accumulator
//               (a convolution's 3x3 window: no 3-trip loops, and no 9x accumulators to spill)
//   SPLIT a k   split reduce axis a by k into two nested reduce loops (blocked data such as
//               quantized weights: the per-block index math and scales move to the outer loop,
//               the inner loop runs over contiguous elements and vectorizes)
//   THREAD a    run output axis a (must be the outermost) across cores
//   SWAP a b    exchange the nesting order of output axes a and b (e.g. panel order for matmul)
//   GROUP a k   (GPU) split reduce axis a by k across the k invocations of a workgroup: invocation
//               l sums elements l, l + k, ... (neighbours read neighbours), then the k partial
//               values are combined in workgroup memory (renderer/wgsl.ts); every reduce of a
//               kernel may be grouped (softmax's max and sum), all by the same k (one workgroup)
//   LOCAL a k   (GPU, after GROUP by k) split output axis a, which the reduce does not depend on
//               (softmax's columns), into the workgroup's k invocations and a serial loop, so the
//               row reduce runs once per workgroup instead of once per output element
//   WORKGROUP a k  (GPU) split output axis a into k invocations of one workgroup (inner) and the
//               workgroups (outer); several make a 2-D workgroup (a matmul's 8 x 8 register tiles)
//   STAGE a k   (GPU, after WORKGROUP) split reduce axis a by k and stage every load that the
//               workgroup's invocations share (a matmul's A and B tiles) in workgroup memory: per
//               outer step the invocations copy the k-deep tile together, a barrier, then the
//               inner loop reads it there (stage.ts)
import { TsgradError } from '../helpers.js'
import { ACC_SET, Ops, type RangeArg, UOp } from '../uop/ops.js'
import { substitute, toposort } from '../uop/rewrite.js'
import { rangeDeps } from './linearize.js'
import { stagedLoads, stageLoads } from './stage.js'

export type OptOp =
  | 'UPCAST'
  | 'UNROLL'
  | 'CHAIN'
  | 'SPLIT'
  | 'THREAD'
  | 'SWAP'
  | 'GROUP'
  | 'LOCAL'
  | 'WORKGROUP'
  | 'STAGE'

export interface Opt {
  readonly op: OptOp
  readonly axis: number
  /** split factor (UPCAST/UNROLL), other axis (SWAP), unused (THREAD) */
  readonly arg: number
}

export const fmtOpts = (opts: readonly Opt[]): string =>
  opts.length ? opts.map((o) => `${o.op}(${o.axis},${o.arg})`).join(' ') : '(none)'

const kindOf = (r: UOp): RangeArg['kind'] => (r.arg as RangeArg).kind
/** An axis' length; a symbolic one (a Variable expression) counts at its largest value. */
const sizeOf = (r: UOp): number => (r.src[0]!.op === Ops.CONST ? r.src[0]!.constValue : r.src[0]!.vmax)
const isSymbolicAxis = (r: UOp): boolean => r.src[0]!.op !== Ops.CONST
const isOutput = (r: UOp): boolean => kindOf(r) === 'global' || kindOf(r) === 'thread'
/** The range kind each split opt gives its inner part (expanded into straight-line code). */
const INNER_KIND = { UPCAST: 'upcast', UNROLL: 'unroll', CHAIN: 'chain' } as const
const EXPANDED_KINDS: ReadonlySet<RangeArg['kind']> = new Set(Object.values(INNER_KIND))
const isExpanded = (r: UOp): boolean => EXPANDED_KINDS.has(kindOf(r))

/**
 * Most nodes a kernel may have once its expanded ranges are straight-line copies. A register tile
 * times the straight-line steps of a window (UPCAST 8x32 with two CHAINed 6-long axes: 9,216
 * multiply-adds per loop step) rendered a 918 KB C kernel that took gcc 10 s; the largest the
 * heuristics make otherwise in the MNIST CNN step is 7.8K nodes (the capped kernel: 188 KB of C,
 * as fast).
 */
export const MAX_EXPANDED_NODES = 16_384

/** A kernel AST with its axes, as opts are applied one by one. */
export class OptState {
  /** splittable ranges: output axes in nesting order, then reduce axes */
  axes: UOp[]
  /** ranges that will be expanded into straight-line code */
  expanded: UOp[]
  /** reduce ranges split across a workgroup (GROUP) */
  groups: UOp[]
  /** the serial loops and workgroup ranges output axes were split into (LOCAL), outer first */
  serial: UOp[] = []
  /** the invocation ranges of a 2-D workgroup (WORKGROUP), in the order applied */
  locals: UOp[] = []
  /** workgroup-memory arrays made by STAGE so far */
  staged = 0
  /** the loops of accumulators set each step (ctx.accumulate): never unrolled or split */
  private readonly setLoops: ReadonlySet<UOp>
  readonly applied: Opt[] = []
  private nextId: number

  constructor(public ast: UOp) {
    const ranges = toposort([ast]).filter((u) => u.op === Ops.RANGE)
    const byId = (a: UOp, b: UOp) => (a.arg as RangeArg).id - (b.arg as RangeArg).id
    this.axes = [
      ...ranges.filter(isOutput).sort(byId),
      ...ranges.filter((r) => kindOf(r) === 'reduce').sort(byId),
    ]
    this.expanded = ranges.filter(isExpanded).sort(byId)
    this.groups = ranges.filter((r) => kindOf(r) === 'group')
    this.setLoops = new Set(
      toposort([ast]).flatMap((u) => (u.op === Ops.REDUCE && u.arg === ACC_SET ? u.src.slice(1) : [])),
    )
    this.nextId = ranges.reduce((m, r) => Math.max(m, (r.arg as RangeArg).id), 0) + 1
  }

  get outputAxes(): number {
    return this.axes.filter(isOutput).length
  }

  sizes(): number[] {
    return this.axes.map(sizeOf)
  }

  /** Straight-line copies the expanded ranges make of the loop body. */
  get expansion(): number {
    return this.expanded.reduce((a, r) => a * sizeOf(r), 1)
  }

  /**
   * Nodes of the kernel after expansion (before symbolic folding): each node counts once per
   * combination of the expanded ranges it depends on (interning shares the rest). With `split`,
   * as if that range were also split into `k` straight-line copies.
   */
  expandedNodes(split?: UOp, k = 1): number {
    let total = 0
    for (const c of this.expandedCopies(this.expanded, split, k).values()) total += c
    return total
  }

  /**
   * The accumulators each REDUCE becomes once expanded, in the AST's topological order: one per
   * combination of the UPCAST and UNROLL ranges it depends on (a CHAIN's steps update one
   * accumulator; an upcast axis the sum does not depend on, such as a norm's feature axis, adds
   * none). An upper bound: symbolic folding may merge copies whose index math cancels.
   */
  reduceAccumulators(): number[] {
    const copies = this.expandedCopies(
      this.expanded.filter((r) => kindOf(r) !== 'chain'),
      undefined,
      1,
    )
    return [...copies].flatMap(([u, c]) => (u.op === Ops.REDUCE ? [c] : []))
  }

  /** The copies of each node of the AST once `ranges` (and `split`, as if split by `k`) are expanded. */
  private expandedCopies(ranges: readonly UOp[], split: UOp | undefined, k: number): Map<UOp, number> {
    const factors = [...ranges.map(sizeOf), k]
    const out = new Map<UOp, number>()
    const topo = toposort([this.ast])
    // more expanded ranges than a bit mask holds: as if at the cap (nothing more expands)
    if (factors.length > 30) {
      for (const u of topo) out.set(u, Number.POSITIVE_INFINITY)
      return out
    }
    const bit = new Map<UOp, number>(ranges.map((r, i) => [r, 1 << i]))
    if (split) bit.set(split, 1 << ranges.length)
    const copies = new Map<number, number>()
    const masks = new Map<UOp, number>()
    for (const u of topo) {
      let m = bit.get(u) ?? 0
      for (const s of u.src) m |= masks.get(s)!
      masks.set(u, m)
      let c = copies.get(m)
      if (c === undefined) {
        c = factors.reduce((a, f, i) => (m & (1 << i) ? a * f : a), 1)
        copies.set(m, c)
      }
      out.set(u, c)
    }
    return out
  }

  /** Why `opt` cannot apply here, or undefined if it can. */
  check(opt: Opt): string | undefined {
    const r = this.axes[opt.axis]
    if (!r) return `axis ${opt.axis} out of range (${this.axes.length} axes)`
    if (opt.op === 'UPCAST' || opt.op === 'UNROLL' || opt.op === 'CHAIN' || opt.op === 'SPLIT') {
      if (opt.op === 'UPCAST' && !isOutput(r)) return 'UPCAST needs an output axis'
      if (opt.op !== 'UPCAST' && kindOf(r) !== 'reduce') return `${opt.op} needs a reduce axis`
      // a recurrence (ctx.accumulate) steps one key at a time: its loop is neither unrolled nor split
      if (opt.op !== 'UPCAST' && this.setLoops.has(r))
        return `${opt.op} of the loop of an accumulator that is set each step (accumulate)`
      if (!Number.isInteger(opt.arg) || opt.arg < 2) return 'split amount must be an integer >= 2'
      if (isSymbolicAxis(r)) return 'a symbolic axis (its length is a Variable) is not split'
      if (sizeOf(r) % opt.arg !== 0) return `axis size ${sizeOf(r)} is not divisible by ${opt.arg}`
      if (opt.op !== 'SPLIT') {
        const n = this.expandedNodes(r, opt.arg)
        if (n > MAX_EXPANDED_NODES)
          return `${n} nodes after expansion (more than ${MAX_EXPANDED_NODES}: a kernel too large to compile quickly)`
      }
      return undefined
    }
    if (opt.op === 'WORKGROUP') {
      if (!isOutput(r) || kindOf(r) === 'thread') return 'WORKGROUP needs an output axis'
      if (this.groups.length) return 'WORKGROUP after GROUP (the workgroup splits the reduce there)'
      if (!Number.isInteger(opt.arg) || opt.arg < 2) return 'split amount must be an integer >= 2'
      if (isSymbolicAxis(r)) return 'a symbolic axis (its length is a Variable) is not split'
      if (sizeOf(r) % opt.arg !== 0) return `axis size ${sizeOf(r)} is not divisible by ${opt.arg}`
      return undefined
    }
    if (opt.op === 'STAGE') {
      if (kindOf(r) !== 'reduce') return 'STAGE needs a reduce axis'
      if (!this.locals.length) return 'STAGE needs a WORKGROUP first'
      if (this.staged) return 'one STAGE per kernel'
      if (this.setLoops.has(r))
        return 'STAGE of the loop of an accumulator that is set each step (accumulate)'
      if (!Number.isInteger(opt.arg) || opt.arg < 2) return 'split amount must be an integer >= 2'
      if (isSymbolicAxis(r)) return 'a symbolic axis (its length is a Variable) is not split'
      if (sizeOf(r) % opt.arg !== 0) return `axis size ${sizeOf(r)} is not divisible by ${opt.arg}`
      if (!stagedLoads(this.ast, r, this.locals, undefined, opt.arg).length)
        return 'no load the workgroup shares reads along it'
      return undefined
    }
    if (opt.op === 'GROUP') {
      if (this.locals.length) return 'GROUP after WORKGROUP'
      if (kindOf(r) !== 'reduce') return 'GROUP needs a reduce axis'
      if (this.setLoops.has(r))
        return 'GROUP of the loop of an accumulator that is set each step (accumulate)'
      // every group range is the invocation's index in the one workgroup
      const g = this.groups[0]
      if (g && sizeOf(g) !== opt.arg) return `every GROUP of a kernel has the workgroup's size (${sizeOf(g)})`
      if (!Number.isInteger(opt.arg) || opt.arg < 2 || (opt.arg & (opt.arg - 1)) !== 0)
        return 'GROUP size must be a power of two >= 2'
      if (isSymbolicAxis(r)) return 'a symbolic axis (its length is a Variable) is not split'
      if (sizeOf(r) % opt.arg !== 0) return `axis size ${sizeOf(r)} is not divisible by ${opt.arg}`
      return this.groupNesting(r)
    }
    if (opt.op === 'LOCAL') {
      if (!isOutput(r)) return 'LOCAL needs an output axis'
      if (kindOf(r) === 'thread') return 'LOCAL after THREAD'
      const g = this.groups[0]
      if (!g || sizeOf(g) !== opt.arg) return 'LOCAL needs a GROUP of the same size first'
      if (this.locals.length) return 'LOCAL after WORKGROUP'
      // every LOCAL range is the invocation's index in the workgroup: two would move together
      if (this.serial.length) return 'one LOCAL per kernel'
      if (reduceInputRanges(this.ast).has(r))
        return 'LOCAL of an axis a reduce depends on (the workgroup combines one value per reduce)'
      if (isSymbolicAxis(r)) return 'a symbolic axis (its length is a Variable) is not split'
      if (sizeOf(r) % opt.arg !== 0) return `axis size ${sizeOf(r)} is not divisible by ${opt.arg}`
      return undefined
    }
    if (opt.op === 'THREAD') {
      if (opt.axis !== 0 || !isOutput(r)) return 'THREAD applies to the outermost output axis'
      if (kindOf(r) === 'thread') return 'axis already threaded'
      return undefined
    }
    const o = this.axes[opt.arg]
    if (!o || !isOutput(r) || !isOutput(o) || opt.arg === opt.axis)
      return 'SWAP needs two distinct output axes'
    if (kindOf(r) === 'thread' || kindOf(o) === 'thread') return 'SWAP after THREAD'
    return undefined
  }

  /**
   * Why the reduces over `r` cannot be split across the workgroup: one of them already is (two
   * group ranges of one reduce would both be the invocation index), or its loop would sit inside
   * another reduce's loop (a nested group would combine partial values per outer step, and two
   * nested groups would move together).
   */
  private groupNesting(r: UOp): string | undefined {
    const topo = toposort([this.ast])
    const deps = rangeDeps(topo)
    for (const red of topo) {
      if (red.op !== Ops.REDUCE || !red.src.includes(r)) continue
      const own = red.src.slice(1)
      if (own.some((x) => kindOf(x) === 'group')) return 'its reduce is already split across the workgroup'
      for (const x of deps.get(red.src[0]!)!)
        if (!own.includes(x) && (kindOf(x) === 'reduce' || kindOf(x) === 'group' || kindOf(x) === 'loop'))
          return 'its reduce runs inside another loop of the kernel'
    }
    return undefined
  }

  apply(opt: Opt): this {
    const why = this.check(opt)
    if (why) throw new TsgradError(`opt ${fmtOpts([opt])}: ${why}`)
    const r = this.axes[opt.axis]!
    if (opt.op === 'UPCAST' || opt.op === 'UNROLL' || opt.op === 'CHAIN') {
      const k = opt.arg
      const outer = UOp.range(sizeOf(r) / k, this.nextId++, kindOf(r), r.dtype)
      const inner = UOp.range(k, this.nextId++, INNER_KIND[opt.op], r.dtype)
      this.replaceRange(r, outer.mul(k).add(inner), [outer, inner])
      this.axes[opt.axis] = outer
      this.expanded.push(inner)
    } else if (opt.op === 'SPLIT') {
      const k = opt.arg
      const outer = UOp.range(sizeOf(r) / k, this.nextId++, 'reduce', r.dtype)
      const inner = UOp.range(k, this.nextId++, 'reduce', r.dtype)
      this.replaceRange(r, outer.mul(k).add(inner), [outer, inner])
      this.axes.splice(opt.axis, 1, outer, inner)
    } else if (opt.op === 'GROUP') {
      // the group range first in the REDUCE: its loop nest is outermost (one value per invocation)
      const k = opt.arg
      const outer = UOp.range(sizeOf(r) / k, this.nextId++, 'reduce', r.dtype)
      const inner = UOp.range(k, this.nextId++, 'group', r.dtype)
      this.replaceRange(r, outer.mul(k).add(inner), [inner, outer])
      // also first where the REDUCE had other ranges before the split one (a full reduce)
      const fixes = new Map<UOp, UOp>()
      for (const u of toposort([this.ast]))
        if (u.op === Ops.REDUCE && u.src.includes(inner) && u.src[1] !== inner)
          fixes.set(u, u.replace({ src: [u.src[0]!, inner, ...u.src.slice(1).filter((x) => x !== inner)] }))
      if (fixes.size) this.ast = substituteReduces(this.ast, fixes)
      this.axes[opt.axis] = outer
      this.groups.push(inner)
    } else if (opt.op === 'LOCAL') {
      const k = opt.arg
      const outer = UOp.range(sizeOf(r) / k, this.nextId++, 'loop', r.dtype)
      const inner = UOp.range(k, this.nextId++, 'local', r.dtype)
      this.replaceRange(r, outer.mul(k).add(inner))
      this.axes.splice(opt.axis, 1)
      this.serial.push(outer, inner)
    } else if (opt.op === 'WORKGROUP') {
      const k = opt.arg
      const outer = UOp.range(sizeOf(r) / k, this.nextId++, kindOf(r), r.dtype)
      const inner = UOp.range(k, this.nextId++, 'local', r.dtype)
      this.replaceRange(r, outer.mul(k).add(inner))
      this.axes[opt.axis] = outer
      this.locals.push(inner)
    } else if (opt.op === 'STAGE') {
      const k = opt.arg
      const outer = UOp.range(sizeOf(r) / k, this.nextId++, 'reduce', r.dtype)
      const inner = UOp.range(k, this.nextId++, 'reduce', r.dtype)
      this.replaceRange(r, outer.mul(k).add(inner), [outer, inner])
      this.axes.splice(opt.axis, 1, outer, inner)
      const staged = stageLoads(this.ast, outer, inner, this.locals, this.staged)
      this.ast = staged.ast
      this.staged += staged.arrays
    } else if (opt.op === 'THREAD') {
      const t = UOp.range(r.src[0]!, this.nextId++, 'thread', r.dtype)
      this.replaceRange(r, t)
      this.axes[opt.axis] = t
    } else {
      const tmp = this.axes[opt.axis]!
      this.axes[opt.axis] = this.axes[opt.arg]!
      this.axes[opt.arg] = tmp
    }
    this.applied.push(opt)
    return this
  }

  /** Substitute range `r` by `by`; a REDUCE over `r` then reduces over `ranges` instead. */
  private replaceRange(r: UOp, by: UOp, ranges: UOp[] = [by]): void {
    const sub = substitute(this.ast, new Map([[r, by]]))
    const fixes = new Map<UOp, UOp>()
    for (const u of toposort([sub])) {
      if (u.op !== Ops.REDUCE || !u.src.slice(1).includes(by)) continue
      const rs = u.src.slice(1).flatMap((x) => (x === by ? ranges : [x]))
      fixes.set(u, u.replace({ src: [u.src[0]!, ...rs] }))
    }
    // REDUCEs are fixed innermost first so an outer REDUCE sees its fixed sources
    this.ast = fixes.size ? substituteReduces(sub, fixes) : sub
  }

  /** The optimized AST: ranges renumbered so ids follow the axis (nesting) order. */
  finish(): UOp {
    const all = [...this.axes, ...this.expanded, ...this.groups, ...this.serial, ...this.locals]
    const map = new Map<UOp, UOp>()
    all.forEach((r, i) => {
      map.set(r, UOp.range(r.src[0]!, i, kindOf(r), r.dtype))
    })
    return substitute(this.ast, map)
  }
}

/** The ranges the kernel's reduces read along, other than their own (softmax: the rows, not the columns). */
export function reduceInputRanges(ast: UOp): Set<UOp> {
  const out = new Set<UOp>()
  for (const red of toposort([ast]).filter((u) => u.op === Ops.REDUCE)) {
    const own = new Set(red.src.slice(1))
    for (const u of toposort([red.src[0]!])) if (u.op === Ops.RANGE && !own.has(u)) out.add(u)
  }
  return out
}

function substituteReduces(root: UOp, fixes: Map<UOp, UOp>): UOp {
  const done = new Map<UOp, UOp>()
  for (const n of toposort([root])) {
    const src = n.src.map((s) => done.get(s) ?? s)
    let m = src.some((s, i) => s !== n.src[i]) ? n.replace({ src }) : n
    const f = fixes.get(n)
    if (f) m = f.replace({ src: [src[0]!, ...f.src.slice(1)] })
    done.set(n, m)
  }
  return done.get(root)!
}

export function applyOpts(ast: UOp, opts: readonly Opt[]): UOp {
  const s = new OptState(ast)
  for (const o of opts) s.apply(o)
  return s.finish()
}
