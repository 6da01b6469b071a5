// Live lazy tensors (held strongly within a job, weakly after it; see MAX_YOUNG), so that overwriting a buffer keeps the value semantics: a lazy
// tensor stands for the value its graph had when it was built (PyTorch computes eagerly). When a
// schedule overwrites buffers in place (ASSIGN: optimizer steps, BatchNorm statistics) or a
// tensor's storage is disposed, the live unrealized tensors whose graphs read the old contents are
// realized first, in the same schedule (which orders readers of a buffer before its ASSIGN).
//
// The registry stays small: a tensor leaves it when it is realized, collected, found stale, or has
// been looked at by MAX_CHECKS writes without reading what they wrote (a loop that never awaits
// keeps every tensor it made alive until it ends, so liveness alone would not bound it).
//
// Only the outermost such readers are realized: a reader inside the graph being realized, or inside
// another reader's graph, is an intermediate (the forward activations inside a loss, the pieces of
// an Adam update); realizing those would cost a buffer and a kernel each. If one of them is
// realized later anyway, the write clock (runtime/buffer.ts) makes that a clear error instead of a
// silently different value.
import type { Buffer } from '../runtime/buffer.js'
import { forwardSrc, Ops, type UOp } from '../uop/ops.js'

/** The buffer a view reads when `u` is only movement ops (and DETACH) over a BUFFER: it aliases it. */
export function aliasedBuffer(u: UOp): Buffer | undefined {
  const base = u.viewBase
  return base.op === Ops.BUFFER ? (base.arg as Buffer) : undefined
}
/** The buffer a tensor with node `u` holds as its value (a reshape of it, or a pending assign into it). */
export function heldBuffer(u: UOp): Buffer | undefined {
  const base = (u.op === Ops.ASSIGN ? u.src[0]! : u).contiguousBase
  return base ? (base.arg as Buffer) : undefined
}

/** What the registry needs of a tensor (kept apart from tensor.ts, which uses it). */
export interface LazyHolder {
  /** the tensor's node while it is unrealized, else undefined (realized or disposed) */
  readonly lazyNode: UOp | undefined
  /** set while the registry holds it (so it is registered once) */
  registered: boolean
  /** creation order (the jit realizes readers that existed before its call) */
  readonly serial: number
  /** the write clock at which the buffers its graph reads held the values it stands for */
  readonly valueAt: number
}

/** Sweep the registry whenever it doubled since the last sweep (amortized O(1) per add)... */
const MIN_SWEEP = 1024
/** ...and never hold more than this many live unrealized tensors (the oldest go first; a stale read
 * of one dropped is still an error, see above). */
const MAX_LIVE = 16384
/** Writes a tensor is checked against before it leaves the registry (see above). */
const MAX_CHECKS = 8
/** Tensors made during this job are held strongly until it ends, at most this many (the oldest
 * are forgotten beyond it). A WeakRef made inside the job would pin its target until the job ends
 * anyway, so a synchronous training loop that made one per tensor would keep every tensor of every
 * step (a leak the soak test measures); WeakRefs are made only at the end of a job (a microtask),
 * when the pin is released at once. Most young tensors are intermediates that the next check drops. */
const MAX_YOUNG = 1024

export class LazyReaders<T extends LazyHolder> {
  /** tensors registered during this job, not yet checked */
  private young: T[] = []
  /** writes each young tensor was checked against (parallel to `young`) */
  private youngChecks: number[] = []
  private agingQueued = false
  /** older tensors, each with the number of writes it was checked against */
  private refs = new Map<WeakRef<T>, number>()
  private sweepAt = MIN_SWEEP

  add(t: T): void {
    if (t.registered) return
    // the eager pattern makes a tensor and realizes it at once: the one made before is then no
    // longer lazy, and is dropped now rather than held (with its output buffer) until the job ends
    let last = this.young.length - 1
    while (last >= 0 && this.young[last]!.lazyNode === undefined) {
      this.young.pop()!.registered = false
      this.youngChecks.pop()
      last--
    }
    t.registered = true
    this.young.push(t)
    this.youngChecks.push(0)
    if (!this.agingQueued) {
      this.agingQueued = true
      queueMicrotask(() => this.age())
    }
    if (this.young.length >= MAX_YOUNG) this.forgetOldestYoung()
  }

  /** Mid-job overflow: forget the older half of the young tensors (no WeakRefs inside a job). */
  private forgetOldestYoung(): void {
    const n = this.young.length >> 1
    for (let i = 0; i < n; i++) this.young[i]!.registered = false
    this.young = this.young.slice(n)
    this.youngChecks = this.youngChecks.slice(n)
  }

  get size(): number {
    return this.refs.size + this.young.length
  }

  /** At the end of a job: hold the young tensors weakly from now on. */
  private age(): void {
    this.agingQueued = false
    for (let i = 0; i < this.young.length; i++) this.keep(this.young[i]!, this.youngChecks[i]!)
    this.young = []
    this.youngChecks = []
    if (this.refs.size >= this.sweepAt) this.sweep()
  }

  private keep(t: T, checks: number): void {
    if (t.lazyNode) this.refs.set(new WeakRef(t), checks)
    else t.registered = false
  }

  /** Forget collected and realized tensors (and the oldest beyond MAX_LIVE). */
  sweep(): void {
    let over = this.refs.size - MAX_LIVE
    for (const r of this.refs.keys()) {
      const t = r.deref()
      if (t?.lazyNode && over <= 0) continue
      this.refs.delete(r)
      over--
      if (t) t.registered = false
    }
    this.sweepAt = Math.max(MIN_SWEEP, 2 * this.refs.size)
  }

  /**
   * The live unrealized tensors (other than `exclude`) whose
   * graphs read one of `bufs`, and which are neither nodes of `covered` (the graph being realized)
   * nor inside another such reader's graph; `skip` leaves out nodes that are not readers (views that
   * alias the buffer). Two tensors may share a node. `holders` are the tensors whose node is an
   * ASSIGN of `covered` or one of `roots` (after the run they are views of its buffer). `young`:
   * the readers made in this job (held strongly: whether they are still reachable is unknown).
   *
   * Tensors inside `covered` leave the registry: a reader's value is gone after this write (a
   * realize of one is then an error, see above), and for the rest (mostly the intermediates of
   * what is realized) forgetting is cheaper than walking their graphs every step.
   */
  readersOf(
    bufs: ReadonlySet<Buffer>,
    covered: { has(u: UOp): boolean },
    exclude: ReadonlySet<T>,
    opts: { skip?: (n: UOp) => boolean; roots?: ReadonlySet<UOp> } = {},
  ): { readers: T[]; holders: T[]; young: ReadonlySet<T> } {
    // per node: whether a BUFFER below it is one of `bufs`, and the newest write of any BUFFER below
    const reads = new Map<UOp, boolean>()
    const newest = new Map<UOp, number>()
    const walk = (root: UOp): void => {
      const stack: [UOp, boolean][] = [[root, false]]
      while (stack.length) {
        const [u, done] = stack.pop()!
        if (reads.has(u)) continue
        if (u.op === Ops.BUFFER) {
          reads.set(u, bufs.has(u.arg as Buffer))
          newest.set(u, (u.arg as Buffer).writtenAt)
        } else if (done) {
          let rd = false
          let nw = 0
          for (const s of forwardSrc(u)) {
            rd ||= reads.get(s)!
            nw = Math.max(nw, newest.get(s)!)
          }
          reads.set(u, rd)
          newest.set(u, nw)
        } else {
          stack.push([u, true])
          for (const s of forwardSrc(u)) if (!reads.has(s)) stack.push([s, false])
        }
      }
    }
    const holders: T[] = []
    const classify = (t: T): 'drop' | 'keep' | 'reader' => {
      const n = t.lazyNode
      if (!n || exclude.has(t)) return 'drop' // (excluded: being realized now)
      if (opts.skip?.(n)) return 'keep'
      // (DETACH changes no value: assign strips it, so the node under it is what gets realized)
      if (covered.has(n) || (n.op === Ops.DETACH && covered.has(n.src[0]!))) {
        if (n.op === Ops.ASSIGN || opts.roots?.has(n)) holders.push(t)
        return 'drop'
      }
      walk(n)
      if (!reads.get(n)) return 'keep'
      // a reader whose buffers were overwritten since it was built has no value left to keep
      return newest.get(n)! > t.valueAt ? 'drop' : 'reader'
    }
    const found: [WeakRef<T> | undefined, T][] = []
    const forget = (r: WeakRef<T> | undefined, t: T): void => {
      if (r) this.refs.delete(r)
      t.registered = false
    }
    this.sweep()
    for (const [r, checks] of this.refs) {
      const t = r.deref()
      if (!t) continue
      const c = classify(t)
      if (c === 'reader') found.push([r, t])
      else if (c === 'drop' || checks + 1 >= MAX_CHECKS) forget(r, t)
      else this.refs.set(r, checks + 1)
    }
    const young = this.young
    const youngChecks = this.youngChecks
    this.young = []
    this.youngChecks = []
    young.forEach((t, i) => {
      const c = classify(t)
      if (c === 'reader') {
        found.push([undefined, t])
        t.registered = false // (held by `found` only: realized now or forgotten below)
      } else if (c === 'keep' && youngChecks[i]! + 1 < MAX_CHECKS) {
        // still young (weak only when the job ends); forgotten after MAX_CHECKS writes it does not
        // read, as the weakly held ones are, so a loop that never yields does not re-walk them
        this.young.push(t)
        this.youngChecks.push(youngChecks[i]! + 1)
      } else t.registered = false
    })
    const youngReaders = new Set(found.filter(([r]) => r === undefined).map(([, t]) => t))
    if (found.length < 2) return { readers: found.map(([, t]) => t), holders, young: youngReaders }
    // keep the outermost: drop readers reachable from another reader's node
    const below = new Set<UOp>()
    for (const [, t] of found) {
      const stack = [...forwardSrc(t.lazyNode!)]
      while (stack.length) {
        const u = stack.pop()!
        if (below.has(u) || u.op === Ops.BUFFER) continue
        below.add(u)
        stack.push(...forwardSrc(u))
      }
    }
    const outer: T[] = []
    for (const [r, t] of found) {
      if (below.has(t.lazyNode!)) forget(r, t)
      else outer.push(t)
    }
    return { readers: outer, holders, young: youngReaders }
  }
}
