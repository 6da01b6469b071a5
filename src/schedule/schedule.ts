// Scheduling: decide which nodes of the lazy graph get a buffer, split the graph into kernels at
// those points, lower each kernel with rangeify, and order the kernels.
//
// Fusion rules (the kernel-count contract):
// - elementwise ops and movement ops never get their own kernel; they are recomputed inside every
//   kernel that reads them (movement ops are index math);
// - a REDUCE_AXIS fuses with the elementwise ops before it (its input) and after it (its users),
//   unless its result is broadcast back (read through an EXPAND), read inside another reduce, or
//   read by more than one user or more than one kernel: then it is realized, so work is never
//   repeated;
// - elementwise work that a reduce reads through a broadcast of at least RECOMPUTE_MAX (a matmul's
//   or convolution's operand prologue: bias + relu, a relu mask) is realized too: recomputing it
//   would repeat it once per broadcast copy and keep the C compiler from vectorizing the register
//   tile. Index-only arithmetic (IOTA: masks, one-hot, random counters) stays fused;
// - CONTIGUOUS, COPY and ASSIGN, and the requested outputs, always get a buffer.
import type { DType } from '../dtype.js'
import { prod } from '../helpers.js'
import { ALU, type BufferRef, Ops, UOp } from '../uop/ops.js'
import { graphRewrite, toposort } from '../uop/rewrite.js'
import { symbolic } from '../uop/symbolic.js'
import { simplifyGatedIndices } from '../uop/valid.js'
import { KernelLowering } from './rangeify.js'

/** A buffer as the schedule sees it: an existing one, or one to allocate. */
export interface SchedBuf {
  readonly id: number
  readonly size: number
  readonly dtype: DType
  readonly device: string
  readonly existing?: BufferRef
}

export interface KernelItem {
  readonly kind: 'kernel'
  /** SINK(STORE(DEFINE_GLOBAL 0, index, value)) with DEFINE_GLOBAL i reading bufs[i] */
  readonly ast: UOp
  readonly bufs: SchedBuf[]
  readonly device: string
  /** the tensor-graph node this kernel computes */
  readonly node: UOp
}
export interface CopyItem {
  readonly kind: 'copy'
  readonly bufs: [SchedBuf, SchedBuf] // [dst, src]
  readonly device: string
  readonly node: UOp
}
export type ScheduleItem = KernelItem | CopyItem

export interface Schedule {
  items: ScheduleItem[]
  /** buffer holding the value of each realized node (roots included) */
  realized: Map<UOp, SchedBuf>
}

let nextSchedBuf = 0
function newBuf(size: number, dtype: DType, device: string, existing?: BufferRef): SchedBuf {
  return { id: nextSchedBuf++, size, dtype, device, existing }
}

const isBufferView = (u: UOp): boolean => u.contiguousBase !== undefined

/** Broadcast factor from which a reduce's elementwise input is realized rather than recomputed. */
const RECOMPUTE_MAX = 8
/** ...and only when the broadcast is this big: tiny kernels are dominated by launches. */
const RECOMPUTE_MIN_WORK = 1 << 16

/**
 * Whether `u` derives values from IOTA (one-hot, masks, random counters) in its own elementwise
 * region: the walk stops at buffers, reduces and realized nodes.
 */
function readsIota(u: UOp, R: Set<UOp>, memo: Map<UOp, boolean>): boolean {
  const m = memo.get(u)
  if (m !== undefined) return m
  let r = false
  if (u.op === Ops.IOTA) r = true
  else if (u.op !== Ops.BUFFER && u.op !== Ops.REDUCE_AXIS && !R.has(u))
    r = u.src.some((s) => readsIota(s, R, memo))
  memo.set(u, r)
  return r
}

/** Nodes that must be realized, found by walking each kernel's region. */
function findRealizePoints(roots: readonly UOp[], topo: readonly UOp[]): Set<UOp> {
  const users = new Map<UOp, number>()
  for (const n of topo) for (const s of n.src) users.set(s, (users.get(s) ?? 0) + 1)
  const R = new Set<UOp>()
  const work: UOp[] = []
  const mark = (u: UOp): void => {
    if (u.op === Ops.BUFFER || R.has(u)) return
    R.add(u)
    work.push(u)
  }
  for (const r of roots) if (!isBufferView(r)) mark(r)
  for (const n of topo) {
    if (n.op === Ops.CONTIGUOUS || n.op === Ops.COPY || n.op === Ops.ASSIGN) mark(n)
    else if (n.op === Ops.REDUCE_AXIS && (users.get(n) ?? 0) > 1) mark(n)
  }
  // walk regions: flags bit0 = read through an EXPAND, bit1 = inside a reduce, bit2 = inside a
  // reduce through an EXPAND of at least RECOMPUTE_MAX
  const iotaMemo = new Map<UOp, boolean>()
  const reduceOwner = new Map<UOp, UOp>()
  while (work.length) {
    const root = work.pop()!
    if (root.op === Ops.COPY) {
      if (!isBufferView(root.src[0]!)) mark(root.src[0]!)
      continue
    }
    const start = root.op === Ops.ASSIGN ? root.src[1]! : root
    const seen = new Set<string>()
    const stack: [UOp, number][] = [[start, 0]]
    while (stack.length) {
      const [n, flags] = stack.pop()!
      if (n.op === Ops.BUFFER || (n !== root && R.has(n))) continue
      const k = `${n.id}:${flags}`
      if (seen.has(k)) continue
      seen.add(k)
      let f = flags
      if (n.op === Ops.REDUCE_AXIS) {
        // a reduce inside another reduce or under a broadcast, or fused into two kernels (one
        // elementwise value read by two realized nodes), is computed once, into its own buffer
        const owner = reduceOwner.get(n)
        if (n !== start && (flags !== 0 || (owner !== undefined && owner !== root))) {
          mark(n)
          continue
        }
        reduceOwner.set(n, root)
        f |= 2
      } else if (n.op === Ops.EXPAND && prod(n.shape!) > prod(n.src[0]!.shape!)) {
        f |= 1
        const big = prod(n.shape!) >= RECOMPUTE_MIN_WORK
        if (flags & 2 && big && prod(n.shape!) >= RECOMPUTE_MAX * prod(n.src[0]!.shape!)) f |= 4
      } else if (flags & 4 && ALU.has(n.op) && !readsIota(n, R, iotaMemo)) {
        mark(n)
        continue
      }
      for (const s of n.src) stack.push([s, f])
    }
  }
  return R
}

export function createSchedule(roots: readonly UOp[]): Schedule {
  const topo = toposort(roots, (u) => u.op === Ops.BUFFER)
  const R = findRealizePoints(roots, topo)
  for (;;) {
    const hazard = tryBuild(topo, R)
    if (!(hazard instanceof UOp)) return hazard
    // an ASSIGN reads its own target through a different index: compute the value first
    R.add(hazard)
  }
}

function tryBuild(topo: readonly UOp[], R: Set<UOp>): Schedule | UOp {
  const order = topo.filter((n) => R.has(n))
  const realized = new Map<UOp, SchedBuf>()
  const bufFor = new Map<BufferRef, SchedBuf>()
  const existing = (ref: BufferRef): SchedBuf => {
    let b = bufFor.get(ref)
    if (!b) bufFor.set(ref, (b = newBuf(ref.size, ref.dtype, ref.device, ref)))
    return b
  }
  for (const n of order) {
    if (n.op === Ops.ASSIGN) {
      const base = n.src[0]!.contiguousBase
      if (!base) throw new Error('ASSIGN target must be a realized, contiguous buffer')
      realized.set(n, existing(base.arg as BufferRef))
    } else realized.set(n, newBuf(prod(n.shape!), n.dtype, n.device))
  }
  const items: ScheduleItem[] = []
  const inputs: UOp[][] = []
  for (const n of order) {
    const out = realized.get(n)!
    if (n.op === Ops.COPY) {
      const base = n.src[0]!.contiguousBase
      const src = base ? existing(base.arg as BufferRef) : realized.get(n.src[0]!)!
      items.push({ kind: 'copy', bufs: [out, src], device: n.device, node: n })
      inputs.push([base ?? n.src[0]!])
      continue
    }
    const bufs: SchedBuf[] = [out]
    const params = new Map<SchedBuf, number>([[out, 0]])
    const reads: UOp[] = []
    const lowering = new KernelLowering({
      isBoundary: (u) => u !== n && (u.op === Ops.BUFFER || R.has(u)),
      paramFor: (u) => {
        reads.push(u)
        const b = u.op === Ops.BUFFER ? existing(u.arg as BufferRef) : realized.get(u)!
        let p = params.get(b)
        if (p === undefined) {
          p = bufs.length
          params.set(b, p)
          bufs.push(b)
        }
        return p
      },
    })
    const shape = n.shape!
    const idx = lowering.outputIndex(shape)
    const expr = n.op === Ops.ASSIGN ? n.src[1]! : n.op === Ops.CONTIGUOUS ? n.src[0]! : n
    const value = lowering.lower(expr, idx)
    const outIdx = KernelLowering.flatIndex(idx, shape)
    const store = UOp.new(Ops.STORE, out.dtype, [UOp.new(Ops.DEFINE_GLOBAL, out.dtype, [], 0), outIdx, value])
    const ast = simplifyGatedIndices(
      graphRewrite(UOp.new(Ops.SINK, out.dtype, [store]), symbolic, undefined, 'symbolic'),
    )
    if (n.op === Ops.ASSIGN && readsOutputElsewhere(ast)) return n.src[1]!
    items.push({ kind: 'kernel', ast, bufs, device: n.device, node: n })
    inputs.push(reads)
  }
  return { items: orderAssigns(items, inputs), realized }
}

/** Does the kernel read buffer 0 (its output) at an index other than the one it stores to? */
function readsOutputElsewhere(ast: UOp): boolean {
  const store = ast.src[0]!
  for (const u of toposort([store.src[2]!]))
    if (u.op === Ops.LOAD && u.src[0]!.arg === 0 && u.src[1] !== store.src[1]) return true
  return false
}

/**
 * Order kernels: each after the producers of its inputs (data edges), and every kernel that reads
 * a buffer's old value before the ASSIGN that overwrites it. Stable: keeps topological order where
 * no edge forces a change.
 */
function orderAssigns(items: ScheduleItem[], inputs: UOp[][]): ScheduleItem[] {
  const assignTo = new Map<BufferRef, number>()
  items.forEach((it, i) => {
    if (it.node.op === Ops.ASSIGN) assignTo.set(it.node.src[0]!.contiguousBase!.arg as BufferRef, i)
  })
  if (assignTo.size === 0) return items
  const producer = new Map<UOp, number>(items.map((it, i) => [it.node, i]))
  const before = items.map(() => new Set<number>())
  inputs.forEach((ins, i) => {
    for (const u of ins) {
      const p = producer.get(u)
      if (p !== undefined) before[i]!.add(p)
      if (u.op !== Ops.BUFFER) continue
      const w = assignTo.get(u.arg as BufferRef)
      if (w !== undefined && w !== i) before[w]!.add(i)
    }
  })
  const out: ScheduleItem[] = []
  const done = new Set<number>()
  while (out.length < items.length) {
    const i = items.findIndex((_, j) => !done.has(j) && [...before[j]!].every((d) => done.has(d)))
    if (i < 0)
      throw new Error('schedule: cyclic ASSIGN dependencies (a buffer is read and assigned in a loop)')
    done.add(i)
    out.push(items[i]!)
  }
  return out
}
