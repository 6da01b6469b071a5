// Live lazy tensors, held weakly, so that overwriting a buffer keeps the value semantics: a lazy
// tensor stands for the value its graph had when it was built (PyTorch computes eagerly). When a
// schedule overwrites buffers in place (ASSIGN: optimizer steps, BatchNorm statistics) or a
// tensor's storage is disposed, the live unrealized tensors whose graphs read the old contents are
// realized first, in the same schedule (which orders readers of a buffer before its ASSIGN).
//
// Only the outermost such readers are realized: a reader inside the graph being realized, or inside
// another reader's graph, is an intermediate (the forward activations inside a loss, the pieces of
// an Adam update); realizing those would cost a buffer and a kernel each. If one of them is
// realized later anyway, the write clock (runtime/buffer.ts) makes that a clear error instead of a
// silently different value.
import type { Buffer } from '../runtime/buffer.js'
import { Ops, type UOp } from '../uop/ops.js'

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

export class LazyReaders<T extends LazyHolder> {
  private refs = new Set<WeakRef<T>>()
  private sweepAt = MIN_SWEEP

  add(t: T): void {
    if (t.registered) return
    t.registered = true
    this.refs.add(new WeakRef(t))
    if (this.refs.size >= this.sweepAt) this.sweep()
  }

  get size(): number {
    return this.refs.size
  }

  /** Forget collected and realized tensors (and the oldest beyond MAX_LIVE). */
  sweep(): void {
    let over = this.refs.size - MAX_LIVE
    for (const r of this.refs) {
      const t = r.deref()
      if (t?.lazyNode && over <= 0) continue
      this.refs.delete(r)
      over--
      if (t) t.registered = false
    }
    this.sweepAt = Math.max(MIN_SWEEP, 2 * this.refs.size)
  }

  /**
   * The live unrealized tensors (other than `exclude`, created before `before` when given) whose
   * graphs read one of `bufs`, and which are neither nodes of `covered` (the graph being realized)
   * nor inside another such reader's graph; `skip` leaves out nodes that are not readers (views that
   * alias the buffer). Two tensors may share a node.
   */
  readersOf(
    bufs: ReadonlySet<Buffer>,
    covered: ReadonlySet<UOp>,
    exclude: ReadonlySet<T>,
    opts: { before?: number; skip?: (n: UOp) => boolean } = {},
  ): T[] {
    const before = opts.before ?? Number.POSITIVE_INFINITY
    this.sweep()
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
          reads.set(
            u,
            u.src.some((s) => reads.get(s)),
          )
          newest.set(u, Math.max(0, ...u.src.map((s) => newest.get(s)!)))
        } else {
          stack.push([u, true])
          for (const s of u.src) if (!reads.has(s)) stack.push([s, false])
        }
      }
    }
    const found: T[] = []
    for (const r of this.refs) {
      const t = r.deref()
      const n = t?.lazyNode
      if (!t || !n || exclude.has(t) || t.serial >= before || covered.has(n)) continue
      if (opts.skip?.(n)) continue
      walk(n)
      // a reader whose buffers were overwritten since it was built has no value left to keep
      if (reads.get(n) && newest.get(n)! <= t.valueAt) found.push(t)
    }
    if (found.length < 2) return found
    // keep the outermost: drop readers reachable from another reader's node
    const below = new Set<UOp>()
    for (const t of found) {
      const stack = [...t.lazyNode!.src]
      while (stack.length) {
        const u = stack.pop()!
        if (below.has(u) || u.op === Ops.BUFFER) continue
        below.add(u)
        stack.push(...u.src)
      }
    }
    return found.filter((t) => !below.has(t.lazyNode!))
  }

  /** The live tensors whose unrealized node is one of `nodes`. */
  holding(nodes: ReadonlySet<UOp>): T[] {
    const out: T[] = []
    for (const r of this.refs) {
      const t = r.deref()
      const n = t?.lazyNode
      if (t && n && nodes.has(n)) out.push(t)
    }
    return out
  }
}
