// Schedules cached by the structure of the graph with its buffers abstracted. A training or
// inference loop builds the same graph every step over other buffers (or the same ones, assigned
// in place); scheduling it again (realize points, lowering, the symbolic pass, memory planning)
// costs 0.3 ms for a matmul and several ms for a training step, more than small kernels take to
// run. The key is the graph in topological order with each node's sources as positions and each
// BUFFER replaced by the index of its first appearance (plus its size, dtype and device) and each
// CONTIGUOUS without its unique tag, so two graphs share a key exactly when they differ only in
// which buffers they read, with the same aliasing between them. A template holds no buffers and no
// graph nodes, only positions. A CUSTOM_GRAD (a value carrying its backward, gradient.ts) is keyed
// as its forward value: a graph and the same graph without them (what the scheduler builds from,
// schedule/strip_grads.ts) have one key and the same positions, so a hit needs no strip pass.
// A float32 constant the scheduler never sees the value of (lift_graph_consts) is keyed by its
// position only: its value is a kernel argument, taken from the graph at each hit, so a loop that
// makes a new scalar every step (a decaying learning rate) schedules once.
import type { DType } from '../dtype.js'
import { getEnvNum } from '../helpers.js'
import { float32Bits, isLiftableGraphConst } from '../uop/const_args.js'
import { type BufferRef, Ops, type UOp } from '../uop/ops.js'
import { liftGraphConsts } from './lift_graph_consts.js'
import { newBuf, type SchedBuf, type ScheduleItem, scheduleTopo } from './schedule.js'
import { stripCustomGrads } from './strip_grads.js'

export interface PlannedSchedule {
  items: ScheduleItem[]
  /** buffer holding the value of each realized node (roots included) */
  realized: Map<UOp, SchedBuf>
  /** the graph's nodes (BUFFER nodes are leaves), each with its position in topological order */
  pos: ReadonlyMap<UOp, number>
  /** the node `realized` knows each root by (the root, or its forward value without CUSTOM_GRADs) */
  roots: readonly UOp[]
  /** whether a node of the graph as given (CUSTOM_GRADs and all) is computed by this schedule */
  covered: { has(u: UOp): boolean }
}

/** A CUSTOM_GRAD's forward value (itself for any other node). */
const forwardOf = (u: UOp): UOp => {
  while (u.op === Ops.CUSTOM_GRAD) u = u.src[0]!
  return u
}

interface BufTemplate {
  /** index into the graph's distinct input buffers, or undefined for a buffer to allocate */
  readonly input: number | undefined
  readonly size: number
  readonly dtype: DType
  readonly device: string
}
interface ItemTemplate {
  readonly kind: ScheduleItem['kind']
  readonly ast: UOp | undefined
  readonly consts: ReadonlyMap<UOp, number> | undefined
  readonly graphConsts: ReadonlyMap<UOp, number> | undefined
  readonly device: string
  readonly bufs: readonly number[]
  /** position of the item's node in the topological order */
  readonly node: number
}
interface Template {
  readonly bufs: readonly BufTemplate[]
  readonly items: readonly ItemTemplate[]
  readonly realized: readonly (readonly [node: number, buf: number])[]
}

/** Templates kept (least recently used dropped first): a loop whose graph changes every step (an
 * integer constant, a shape) misses every time and must not grow memory. The keys are as long as
 * their graphs (~30 characters a node), so their total length is bounded too: 256 keys of a
 * 100K-node graph would hold ~800 MB. SCACHE_CHARS sets that bound (characters). */
const MAX_ENTRIES = 256
const maxKeyChars = (): number => getEnvNum('SCACHE_CHARS', 16 << 20)
let keyChars = 0
const cache = new Map<string, Template>()
export const scheduleCacheStats = { hits: 0, misses: 0 }

/** Drop every template (tests; a change of env that affects scheduling). */
export function clearScheduleCache(): void {
  cache.clear()
  keyChars = 0
}

/** Number of templates and the total length of their keys (tests). */
export function scheduleCacheSize(): { entries: number; keyChars: number } {
  return { entries: cache.size, keyChars }
}

interface Structure {
  readonly key: string
  readonly topo: readonly UOp[]
  /** each node's position in `topo` */
  readonly pos: ReadonlyMap<UOp, number>
  /** distinct BUFFER args in order of first appearance, and each one's index in that list */
  readonly inputs: readonly BufferRef[]
  readonly inputIndex: ReadonlyMap<BufferRef, number>
  /** the int32 bits of each lifted constant's value, in order of appearance (lift_graph_consts) */
  readonly constBits: readonly number[]
}

function structureOf(roots: readonly UOp[]): Structure {
  const topo: UOp[] = []
  const pos = new Map<UOp, number>()
  const inputIndex = new Map<BufferRef, number>()
  const inputs: BufferRef[] = []
  const constBits: number[] = []
  const parts: string[] = []
  for (const u of scheduleTopo(roots)) {
    // a CUSTOM_GRAD takes its forward value's position (visited before it: its first source)
    if (u.op === Ops.CUSTOM_GRAD) {
      pos.set(u, pos.get(forwardOf(u))!)
      continue
    }
    pos.set(u, topo.length)
    topo.push(u)
    if (u.op === Ops.BUFFER) {
      const ref = u.arg as BufferRef
      let j = inputIndex.get(ref)
      if (j === undefined) {
        j = inputs.length
        inputIndex.set(ref, j)
        inputs.push(ref)
      }
      parts.push(`B|${u.dtype.name}|${j}|${ref.size}|${ref.dtype.name}|${ref.device}`)
      continue
    }
    if (isLiftableGraphConst(u)) {
      constBits.push(float32Bits(u.constValue))
      parts.push(`K|${pos.get(u.src[0]!)}`)
      continue
    }
    // a CONTIGUOUS's tag only keeps equal copies apart, which the positions already do
    let s = `${u.op}|${u.dtype.name}|${u.op === Ops.CONTIGUOUS ? '' : u.argKey}`
    for (const x of u.src) s += `|${pos.get(x)}`
    parts.push(s)
  }
  parts.push(`roots|${roots.map((r) => pos.get(r)).join('|')}`)
  return { key: parts.join('\n'), topo, pos, inputs, inputIndex, constBits }
}

function templateOf({ pos, inputIndex }: Structure, sched: PlannedSchedule): Template {
  const index = new Map<SchedBuf, number>()
  const bufs: BufTemplate[] = []
  const bufIndex = (b: SchedBuf): number => {
    let i = index.get(b)
    if (i === undefined) {
      const input = b.existing ? inputIndex.get(b.existing) : undefined
      if (b.existing && input === undefined) throw new Error('schedule cache: a buffer outside the graph')
      index.set(b, (i = bufs.length))
      bufs.push({ input, size: b.size, dtype: b.dtype, device: b.device })
    }
    return i
  }
  const items = sched.items.map((it) => ({
    kind: it.kind,
    ast: it.kind === 'kernel' ? it.ast : undefined,
    consts: it.kind === 'kernel' ? it.consts : undefined,
    graphConsts: it.kind === 'kernel' ? it.graphConsts : undefined,
    device: it.device,
    bufs: it.bufs.map(bufIndex),
    node: pos.get(it.node)!,
  }))
  const realized = [...sched.realized].map(([n, b]) => [pos.get(n)!, bufIndex(b)] as const)
  return { bufs, items, realized }
}

function instantiate(t: Template, s: Structure, roots: readonly UOp[]): PlannedSchedule {
  const bufs = t.bufs.map((b) => {
    const ref = b.input === undefined ? undefined : s.inputs[b.input]!
    return newBuf(b.size, b.dtype, b.device, ref)
  })
  const items = t.items.map((it): ScheduleItem => {
    const node = s.topo[it.node]!
    const ib = it.bufs.map((i) => bufs[i]!)
    if (it.kind === 'copy') return { kind: 'copy', bufs: [ib[0]!, ib[1]!], device: it.device, node }
    const { consts, graphConsts } = it
    return {
      kind: 'kernel',
      ast: it.ast!,
      consts: withGraphConsts(consts, graphConsts, s.constBits),
      graphConsts,
      bufs: ib,
      device: it.device,
      node,
    }
  })
  const realized = new Map<UOp, SchedBuf>()
  for (const [n, b] of t.realized) realized.set(s.topo[n]!, bufs[b]!)
  return { items, realized, pos: s.pos, roots: roots.map(forwardOf), covered: s.pos }
}

/** A kernel's constant values with those of the graph's constants (`bits`, by graph index) set. */
function withGraphConsts(
  consts: ReadonlyMap<UOp, number> | undefined,
  graphConsts: ReadonlyMap<UOp, number> | undefined,
  bits: readonly number[],
): ReadonlyMap<UOp, number> | undefined {
  if (graphConsts === undefined) return consts
  const m = new Map(consts)
  for (const [v, j] of graphConsts) m.set(v, bits[j]!)
  return m
}

/**
 * The schedule `build` makes of the graph with its constants lifted (lift_graph_consts), told in
 * the nodes of the graph as given, with the constants' values in its kernels' `consts`.
 */
function buildLifted(
  topo: readonly UOp[],
  roots: readonly UOp[],
  build: (topo: readonly UOp[], fwdRoots: readonly UOp[]) => Pick<PlannedSchedule, 'items' | 'realized'>,
): Pick<PlannedSchedule, 'items' | 'realized'> {
  const lifted = liftGraphConsts(roots, topo)
  if (!lifted) return build(topo, roots)
  const sched = build(scheduleTopo(lifted.roots), lifted.roots)
  const asGiven = (u: UOp): UOp => lifted.origin.get(u) ?? u
  const items = sched.items.map((it): ScheduleItem => {
    if (it.kind !== 'kernel') return { ...it, node: asGiven(it.node) }
    const consts = withGraphConsts(it.consts, it.graphConsts, lifted.bits)
    return { ...it, node: asGiven(it.node), consts }
  })
  const realized = new Map<UOp, SchedBuf>()
  for (const [u, b] of sched.realized) realized.set(asGiven(u), b)
  return { items, realized }
}

/**
 * The planned schedule of `roots`: `build` runs on a miss (and always when `bypass` is set, or
 * with SCACHE=0) on the graph without CUSTOM_GRADs (`fwdRoots`, topological order `topo`); a hit
 * costs one walk over the graph as given.
 */
export function cachedSchedule(
  roots: readonly UOp[],
  build: (topo: readonly UOp[], fwdRoots: readonly UOp[]) => Pick<PlannedSchedule, 'items' | 'realized'>,
  bypass = false,
): PlannedSchedule {
  const useCache = !bypass && getEnvNum('SCACHE', 1) !== 0
  const s = useCache ? structureOf(roots) : undefined
  const hit = s && cache.get(s.key)
  if (s && hit) {
    scheduleCacheStats.hits++
    cache.delete(s.key)
    cache.set(s.key, hit)
    return instantiate(hit, s, roots)
  }
  // build from the graph without CUSTOM_GRADs
  const fwd = stripCustomGrads(roots)
  const fs = fwd.rebuilt === undefined ? s : s && structureOf(fwd.roots)
  const topo = fs?.topo ?? scheduleTopo(fwd.roots)
  const pos = fs?.pos ?? new Map(topo.map((u, i) => [u, i]))
  const covered = { has: (u: UOp) => pos.has(u) || fwd.rebuilt?.has(u) === true }
  const plan: PlannedSchedule = { ...buildLifted(topo, fwd.roots, build), pos, roots: fwd.roots, covered }
  if (!s || !fs) return plan
  scheduleCacheStats.misses++
  const budget = maxKeyChars()
  if (s.key.length > budget / 4) return plan // a huge graph: not worth a quarter of the budget
  // the graph without CUSTOM_GRADs has the same key and positions, so its template serves the
  // graph as given (checked: a mismatch is not cached)
  if (fs.key !== s.key) return plan
  cache.set(s.key, templateOf(fs, plan))
  keyChars += s.key.length
  while (cache.size > MAX_ENTRIES || keyChars > budget) {
    const oldest = cache.keys().next().value!
    cache.delete(oldest)
    keyChars -= oldest.length
  }
  return plan
}
