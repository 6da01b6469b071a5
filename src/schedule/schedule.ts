// Scheduling: decide which nodes of the lazy graph get a buffer, split the graph into kernels at
// those points, lower each kernel with rangeify, and order the kernels.
//
// Fusion rules (the kernel-count contract):
// - elementwise ops and movement ops never get their own kernel; they are recomputed inside every
//   kernel that reads them (movement ops are index math);
// - a REDUCE_AXIS fuses with the elementwise ops before it (its input) and after it (its users),
//   unless its result is broadcast back (read through an EXPAND), read inside another reduce, or
//   read by more than one user, through more than one view or by more than one kernel: then it is
//   realized, so work is never repeated;
// - elementwise work that a reduce reads through a broadcast of at least RECOMPUTE_MIN_BROADCAST (a matmul's
//   or convolution's operand prologue: bias + relu, a relu mask) is realized too: recomputing it
//   would repeat it once per broadcast copy and keep the C compiler from vectorizing the register
//   tile. Index-only arithmetic (IOTA: masks, one-hot, random counters) stays fused;
// - a reduce read by a GATHER as its gathered tensor is realized (it is read at data-dependent
//   positions, maybe many times), as under a broadcast;
// - CONTIGUOUS, COPY and ASSIGN, and the requested outputs, always get a buffer; so does every
//   output of a CUSTOM_KERNEL (one kernel item stores them all), whose inputs are realized into
//   contiguous buffers first;
// - a chain of elementwise ops deeper than MAX_FUSED_DEPTH is cut into kernels of that depth;
// - a kernel that binds more buffers than its device allows (WebGPU) has a part realized first
//   (schedule/buffer_limit.ts);
// - a matmul-like product whose epilogue its device's register tile cannot vectorize (CPU: relu,
//   exp, erf after the product) is realized first (schedule/tile_epilogue.ts).
import type { DType } from '../dtype.js'
import { priorityTopoOrder, prod, TsgradError } from '../helpers.js'
import type { CustomKernelArg } from '../uop/custom_kernel.js'
import { ALU, type BufferRef, MOVEMENT, Ops, UOp } from '../uop/ops.js'
import { graphRewrite, toposort } from '../uop/rewrite.js'
import { symbolic } from '../uop/symbolic.js'
import { simplifyGatedIndices } from '../uop/valid.js'
import { gtOne, smax, sprod } from '../uop/sint.js'
import { indexDTypeFor, KernelLowering } from './rangeify.js'
import { bufferLimitSplit } from './buffer_limit.js'
import { tileEpilogueSplits } from './tile_epilogue.js'
import type { KernelLimits } from '../renderer/target.js'

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
  /** the values (int32 bits) of the constants lifted into kernel arguments (codegen/lift_consts.ts) */
  readonly consts?: ReadonlyMap<UOp, number> | undefined
  /** the kernel variables among `consts` that stand for constants of the tensor graph, and their
   * graph index (schedule/lift_graph_consts.ts): a cached schedule takes their values from the graph */
  readonly graphConsts?: ReadonlyMap<UOp, number> | undefined
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
export function newBuf(size: number, dtype: DType, device: string, existing?: BufferRef): SchedBuf {
  return { id: nextSchedBuf++, size, dtype, device, existing }
}

const isBufferView = (u: UOp): boolean => u.contiguousBase !== undefined

/** Nodes that always get a buffer of their own. */
const ownsBuffer = (u: UOp): boolean => u.op === Ops.CONTIGUOUS || u.op === Ops.CUSTOM_KERNEL

/** `u` under its reshapes: a reshape of a node with a buffer is that buffer, row-major as it is. */
const underReshapes = (u: UOp): UOp => {
  while (u.op === Ops.RESHAPE) u = u.src[0]!
  return u
}

/** The BUFFER an ASSIGN writes: its target is movement ops (and DETACH) over it, or undefined. */
export function assignBase(n: UOp): UOp | undefined {
  const u = n.src[0]!.viewBase
  return u.op === Ops.BUFFER ? u : undefined
}

/**
 * Elements of a node at the largest values of its variables: a symbolic intermediate's buffer has
 * this size, so one schedule (and one jit capture) serves every value.
 */
const maxNumel = (u: UOp): number => smax(sprod(u.shape!))

/** Broadcast factor from which a reduce's elementwise input is realized rather than recomputed. */
const RECOMPUTE_MIN_BROADCAST = 8
/** ...and only when the broadcast is this big: tiny kernels are dominated by launches. */
const RECOMPUTE_MIN_WORK = 1 << 16
/**
 * The longest chain of ops one kernel computes. The C compiler's time grows faster than the size of
 * a function (a softmax of a 2,000-op elementwise chain, which its row loops hold three times, took
 * 5 s in gcc; of a 20,000-op one, minutes), so longer chains are realized in pieces: one more pass
 * over memory per piece, nothing next to the arithmetic of 512 ops per element.
 */
const MAX_FUSED_DEPTH = 512

/**
 * Whether `u` is index arithmetic: it derives values from IOTA (one-hot, masks, random counters)
 * and from no data (buffer, reduce or realized node) in its own elementwise region, so recomputing
 * it is cheaper than a buffer. A mask applied to data (attention's causal `where` on the scores) is
 * data: left fused, the softmax before attention's second matmul was recomputed for every output
 * column (2.5 s instead of 10 ms at T=512). Iterative (deep graphs).
 */
const IOTA_BIT = 1
const DATA_BIT = 2
function isIndexArithmetic(u: UOp, R: Set<UOp>, memo: Map<UOp, number>): boolean {
  const stack: [UOp, boolean][] = [[u, false]]
  while (stack.length) {
    const [n, expanded] = stack.pop()!
    if (memo.has(n)) continue
    if (n.op === Ops.IOTA) memo.set(n, IOTA_BIT)
    else if (n.op === Ops.BUFFER || n.op === Ops.REDUCE_AXIS || R.has(n)) memo.set(n, DATA_BIT)
    else if (expanded)
      memo.set(
        n,
        n.src.reduce((bits, s) => bits | (memo.get(s) ?? 0), 0),
      )
    else {
      stack.push([n, true])
      for (const s of n.src) if (!memo.has(s)) stack.push([s, false])
    }
  }
  return memo.get(u) === IOTA_BIT
}

/** The axes a REDUCE_AXIS actually reduces (size > 1 in its input). */
function reducedAxes(r: UOp): number[] {
  const inShape = r.src[0]!.shape!
  return (r.arg as [string, number[]])[1].filter((a) => gtOne(inShape[a]!))
}

/**
 * Whether the value that `exp` broadcasts can be computed inside the kernel as a row value: the
 * broadcast axes are the innermost non-unit axes (of the kernel: no movement op on the way from
 * the root), any enclosing reduce runs only over them, and below `exp` every unrealized reduce,
 * reached through elementwise ops only, reduces exactly them. The value then depends on outer
 * loops only and the linearizer computes it once per row: softmax, logSoftmax and layernorm
 * become one pass over each row, which stays in cache, instead of one kernel per reduce.
 */
function isRowBroadcast(exp: UOp, R: Set<UOp>, encl: readonly number[] | undefined): boolean {
  const to = exp.shape!
  const from = exp.src[0]!.shape!
  const bcast = to.map((_, i) => i).filter((i) => from[i] === 1 && gtOne(to[i]!))
  const firstB = Math.min(...bcast)
  if (to.some((d, i) => gtOne(d) && i > firstB && !bcast.includes(i))) return false
  if (encl !== undefined && !encl.every((a) => bcast.includes(a))) return false
  // the value is a row value when every node below it (to buffers, realized nodes, constants and
  // reduces) is elementwise or movement and every reduce reached (through no movement op) reduces
  // exactly the broadcast axes; iterative (deep graphs)
  let reduces = 0
  const seen = new Set<string>()
  const stack: [UOp, boolean][] = [[exp.src[0]!, false]]
  while (stack.length) {
    const [u, moved] = stack.pop()!
    if (u.op === Ops.BUFFER || R.has(u) || u.op === Ops.CONST) continue
    const key = `${u.id}:${moved}`
    if (seen.has(key)) continue
    seen.add(key)
    if (u.op === Ops.REDUCE_AXIS) {
      const axes = reducedAxes(u)
      reduces++
      if (moved || axes.length !== bcast.length || !axes.every((a) => bcast.includes(a))) return false
    } else if (MOVEMENT.has(u.op)) stack.push([u.src[0]!, true])
    else if (ALU.has(u.op) || u.op === Ops.DETACH) for (const s of u.src) stack.push([s, moved])
    else return false
  }
  return reduces > 0
}

// What lies between a kernel's root and a node of its region:
const WALK_EXPANDED = 1 // a broadcast (EXPAND)
const WALK_IN_REDUCE = 2 // a reduce
const WALK_RECOMPUTE = 4 // inside a reduce, a broadcast of >= RECOMPUTE_MIN_BROADCAST
const WALK_MOVED = 8 // a movement op
const WALK_ROW_REDUCE = 16 // the reduce just below is fused as a row reduce (isRowBroadcast)

/**
 * Through how many different views (chains of movement ops) non-movement ops read `n`. Fused, a
 * reduce read through two views is two reduce loops in the kernel, one per index map: rope on a
 * fresh projection (x @ W read as its two halves, each twice) repeated the matmul 4 times, in a
 * loop nest the register tiler cannot take (3.4 s instead of ~0.1 s for B=8, T=256, D=384).
 */
function readThroughViews(n: UOp, users: Map<UOp, number>, movementUsers: Map<UOp, UOp[]>): number {
  let views = 0
  const seen = new Set<UOp>()
  const stack = [n]
  while (stack.length) {
    const u = stack.pop()!
    if (seen.has(u)) continue
    seen.add(u)
    const moves = movementUsers.get(u) ?? []
    // read by something other than a movement op: one view
    if ((users.get(u) ?? 0) > moves.length) views++
    stack.push(...moves)
  }
  return views
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
  const movementUsers = new Map<UOp, UOp[]>()
  for (const n of topo)
    if (MOVEMENT.has(n.op))
      for (const s of n.src) {
        const list = movementUsers.get(s)
        if (list) list.push(n)
        else movementUsers.set(s, [n])
      }
  for (const n of topo) {
    if (n.op === Ops.CONTIGUOUS || n.op === Ops.COPY || n.op === Ops.ASSIGN || n.op === Ops.CUSTOM_KERNEL)
      mark(n)
    else if (
      n.op === Ops.REDUCE_AXIS &&
      ((users.get(n) ?? 0) > 1 || readThroughViews(n, users, movementUsers) > 1)
    )
      mark(n)
  }
  // a chain of more than MAX_FUSED_DEPTH ops is cut into kernels of that depth
  const depth = new Map<UOp, number>()
  for (const n of topo) {
    let d = 0
    if (n.op !== Ops.BUFFER) for (const s of n.src) d = Math.max(d, R.has(s) ? 0 : (depth.get(s) ?? 0))
    if (ALU.has(n.op) || n.op === Ops.REDUCE_AXIS) d++
    if (d >= MAX_FUSED_DEPTH && ALU.has(n.op) && n.shape) mark(n)
    depth.set(n, d)
  }
  // walk regions, with the path from the root summarized in flags (the WALK_* bits)
  const iotaMemo = new Map<UOp, number>()
  const reduceOwner = new Map<UOp, UOp>()
  while (work.length) {
    const root = work.pop()!
    if (root.op === Ops.COPY || root.op === Ops.CUSTOM_KERNEL) {
      // a custom kernel's input reshaped from a node with its own buffer (another custom kernel's
      // output, a CONTIGUOUS) reads that buffer: a copy of it was a kernel and a temporary
      for (const s of root.src)
        if (!isBufferView(s))
          mark(root.op === Ops.CUSTOM_KERNEL && ownsBuffer(underReshapes(s)) ? underReshapes(s) : s)
      continue
    }
    const start = root.op === Ops.ASSIGN ? root.src[1]! : root
    const seen = new Set<string>()
    // each entry: node, flags, axes of the innermost enclosing reduce
    const stack: [UOp, number, readonly number[] | undefined][] = [[start, 0, undefined]]
    while (stack.length) {
      const [n, flags, encl] = stack.pop()!
      // a constant's sources are its device and (a Variable's value) index math: nothing to realize
      if (n.op === Ops.BUFFER || n.op === Ops.CONST || (n !== root && R.has(n))) continue
      const k = `${n.id}:${flags}:${encl ?? ''}`
      if (seen.has(k)) continue
      seen.add(k)
      let f = flags
      let inner = encl
      if (n.op === Ops.REDUCE_AXIS) {
        // a reduce inside another reduce or under a broadcast (unless fused as a row reduce), or
        // fused into two kernels (one elementwise value read by two realized nodes), is computed
        // once, into its own buffer
        const owner = reduceOwner.get(n)
        const nested = !(flags & WALK_ROW_REDUCE) && (flags & (WALK_EXPANDED | WALK_IN_REDUCE)) !== 0
        const shared = owner !== undefined && owner !== root
        if (n !== start && (nested || shared)) {
          mark(n)
          continue
        }
        reduceOwner.set(n, root)
        f = (flags & ~WALK_ROW_REDUCE) | WALK_IN_REDUCE
        inner = reducedAxes(n)
      } else if (n.op === Ops.EXPAND && maxNumel(n) > maxNumel(n.src[0]!)) {
        if (!(flags & WALK_MOVED) && isRowBroadcast(n, R, encl)) {
          stack.push([n.src[0]!, flags | WALK_ROW_REDUCE, encl])
          continue
        }
        f |= WALK_EXPANDED | WALK_MOVED
        const [size, ratio] = [maxNumel(n), maxNumel(n) / maxNumel(n.src[0]!)]
        if (flags & WALK_IN_REDUCE && size >= RECOMPUTE_MIN_WORK && ratio >= RECOMPUTE_MIN_BROADCAST)
          f |= WALK_RECOMPUTE
      } else if (flags & WALK_RECOMPUTE && ALU.has(n.op) && !isIndexArithmetic(n, R, iotaMemo)) {
        mark(n)
        continue
      } else if (MOVEMENT.has(n.op)) f |= WALK_MOVED
      else if (n.op === Ops.GATHER) {
        // x is read at data-dependent positions, maybe each many times: like a broadcast
        stack.push([n.src[0]!, f | WALK_EXPANDED | WALK_MOVED, inner], [n.src[1]!, f | WALK_MOVED, inner])
        continue
      }
      for (const s of n.src) stack.push([s, f, inner])
    }
  }
  return R
}

/** The nodes a schedule of `roots` looks at, inputs first (BUFFER nodes are leaves). */
export const scheduleTopo = (roots: readonly UOp[]): UOp[] => toposort(roots, (u) => u.op === Ops.BUFFER)

/** What a kernel on a device must keep (undefined: anything), from its renderer. */
export type LimitsOf = (device: string) => KernelLimits | undefined

export function createSchedule(
  roots: readonly UOp[],
  topo: readonly UOp[] = scheduleTopo(roots),
  limitsOf: LimitsOf = () => undefined,
): Schedule {
  const R = findRealizePoints(roots, topo)
  realizeTiledProducts(topo, R, limitsOf)
  const maxBuffers = (device: string) => limitsOf(device)?.maxBuffers
  for (;;) {
    const first = tryBuild(topo, R, maxBuffers)
    if (!(first instanceof UOp)) return first
    // an ASSIGN reads its own target through a different index, or a kernel binds more buffers
    // than its device allows: compute that node first
    R.add(first)
  }
}

/**
 * Products whose fused epilogue their device's register tile cannot take get a buffer
 * (schedule/tile_epilogue.ts); the epilogue becomes a kernel of its own.
 */
function realizeTiledProducts(topo: readonly UOp[], R: Set<UOp>, limitsOf: LimitsOf): void {
  for (const n of topo) {
    const limit =
      R.has(n) && n.op !== Ops.COPY && n.op !== Ops.CUSTOM_KERNEL
        ? limitsOf(n.device)?.tileEpilogue
        : undefined
    if (!limit) continue
    const expr = n.op === Ops.ASSIGN ? n.src[1]! : n.op === Ops.CONTIGUOUS ? n.src[0]! : n
    const isBoundary = (u: UOp): boolean => u !== n && (u.op === Ops.BUFFER || R.has(u))
    for (const p of tileEpilogueSplits(expr, isBoundary, limit)) R.add(p)
  }
}

type MaxBuffersOf = (device: string) => number | undefined

function tryBuild(topo: readonly UOp[], R: Set<UOp>, maxBuffers: MaxBuffersOf): Schedule | UOp {
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
      const base = assignBase(n)
      if (!base) throw new Error('ASSIGN target must be a view of a realized buffer')
      realized.set(n, existing(base.arg as BufferRef))
    } else realized.set(n, newBuf(maxNumel(n), n.dtype, n.device))
  }
  const items: ScheduleItem[] = []
  const inputs: UOp[][] = []
  const customDone = new Set<string>()
  for (const n of order) {
    const out = realized.get(n)!
    if (n.op === Ops.CUSTOM_KERNEL) {
      const item = customKernelItem(n, order, realized, existing, customDone, maxBuffers)
      if (item) {
        items.push(item)
        inputs.push([...n.src])
      }
      continue
    }
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
    const expr = n.op === Ops.ASSIGN ? n.src[1]! : n.op === Ops.CONTIGUOUS ? n.src[0]! : n
    const isBoundary = (u: UOp): boolean => u !== n && (u.op === Ops.BUFFER || R.has(u))
    const lowering = new KernelLowering({
      isBoundary,
      // (a write into a view of a buffer indexes the whole buffer)
      indexDType: indexDTypeFor(n.op === Ops.ASSIGN ? n : expr, isBoundary),
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
    const value = lowering.lower(expr, idx)
    // a write into a view (a KV cache's shrink) stores where a read of the view would load: only
    // the view's elements are visited
    const target = n.op === Ops.ASSIGN ? n.src[0]! : undefined
    const outIdx =
      target && !target.contiguousBase
        ? lowering.viewIndex(target, idx).index
        : lowering.flatIndex(idx, shape)
    const store = UOp.new(Ops.STORE, out.dtype, [UOp.new(Ops.DEFINE_GLOBAL, out.dtype, [], 0), outIdx, value])
    const ast = simplifyGatedIndices(
      graphRewrite(UOp.new(Ops.SINK, out.dtype, [store]), symbolic, undefined, 'symbolic'),
    )
    if (n.op === Ops.ASSIGN && readsOutputElsewhere(ast)) return n.src[1]!
    const limit = maxBuffers(n.device)
    if (limit !== undefined && bufs.length > limit) {
      const cut = bufferLimitSplit(expr, isBoundary, limit)
      if (!cut)
        throw new TsgradError(
          `schedule: a kernel computing ${n.op} of shape [${shape.join(', ')}] binds ${bufs.length} buffers; ` +
            `device ${n.device} allows ${limit} per kernel and no part of it can be computed first`,
        )
      return cut
    }
    items.push({ kind: 'kernel', ast, bufs, device: n.device, node: n })
    inputs.push(reads)
  }
  return { items: orderAssigns(items, inputs), realized }
}

/**
 * The kernel item of a CUSTOM_KERNEL call, at the first of its outputs in `order` (undefined for
 * the others): buffers are the outputs (temporaries for outputs nothing reads) then the inputs.
 */
function customKernelItem(
  n: UOp,
  order: readonly UOp[],
  realized: ReadonlyMap<UOp, SchedBuf>,
  existing: (ref: BufferRef) => SchedBuf,
  done: Set<string>,
  maxBuffers: MaxBuffersOf,
): KernelItem | undefined {
  const { def } = n.arg as CustomKernelArg
  const call = `${(n.arg as CustomKernelArg).key}|${n.src.map((s) => s.id).join(',')}`
  if (done.has(call)) return undefined
  done.add(call)
  const sameCall = (u: UOp): boolean =>
    u.op === Ops.CUSTOM_KERNEL &&
    (u.arg as CustomKernelArg).def === def &&
    u.src.length === n.src.length &&
    u.src.every((s, i) => s === n.src[i])
  const outs = def.outputs.map((o) => newBuf(prod(o.shape), o.dtype, n.device))
  for (const u of order) if (sameCall(u)) outs[(u.arg as CustomKernelArg).index] = realized.get(u)!
  const ins = n.src.map((s) => {
    const base = s.contiguousBase
    return base ? existing(base.arg as BufferRef) : (realized.get(s) ?? realized.get(underReshapes(s))!)
  })
  const limit = maxBuffers(n.device)
  if (limit !== undefined && outs.length + ins.length > limit)
    throw new TsgradError(
      `custom kernel ${def.name}: ${outs.length} outputs and ${ins.length} inputs are ${outs.length + ins.length} buffers; ` +
        `device ${n.device} allows ${limit} per kernel`,
    )
  return { kind: 'kernel', ast: def.ast, bufs: [...outs, ...ins], device: n.device, node: n }
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
  // (several writes into views of one buffer may share a schedule)
  const assignTo = new Map<BufferRef, number[]>()
  items.forEach((it, i) => {
    if (it.node.op !== Ops.ASSIGN) return
    const ref = assignBase(it.node)!.arg as BufferRef
    assignTo.set(ref, [...(assignTo.get(ref) ?? []), i])
  })
  if (assignTo.size === 0) return items
  const producer = new Map<UOp, number>(items.map((it, i) => [it.node, i]))
  const before = items.map(() => new Set<number>())
  inputs.forEach((ins, i) => {
    for (const u of ins) {
      const p = producer.get(u)
      if (p !== undefined) before[i]!.add(p)
      if (u.op !== Ops.BUFFER) continue
      // (a write reads its own buffer only at the index it stores to: see readsOutputElsewhere)
      const ws = assignTo.get(u.arg as BufferRef) ?? []
      if (!ws.includes(i)) for (const w of ws) before[w]!.add(i)
    }
  })
  const order = priorityTopoOrder(items.length, before, (i) => i)
  if (!order)
    throw new Error('schedule: cyclic ASSIGN dependencies (a buffer is read and assigned in a loop)')
  return order.map((i) => items[i]!)
}
