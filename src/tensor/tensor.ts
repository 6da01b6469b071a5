// The front end: Tensor, a thin mutable handle on a lazy UOp graph (plus grad and requiresGrad).
// Nothing runs until a value is needed; realize() swaps the handle's UOp for a buffer view.
// This file holds the core (construction, realize, dispose, dtype/device, assign, broadcasting,
// the value-semantics bookkeeping); reading values (reading.ts), backward (backward.ts),
// composites (composite.ts) and the op families live beside it in tensor/*.ts and are attached to
// the prototype there.
import {
  type DType,
  dtypes,
  checkFitsDType,
  promoteTypes,
  scalarDType,
  toDType,
  type TypedArray,
} from '../dtype.js'
import { type BeforeRun, realize as realizeUOps, setRealizeObserver } from '../engine/realize.js'
import { customGradNode } from '../gradient.js'
import { fmtShape, prod, range, shapeEq, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { type Buffer, writeClock } from '../runtime/buffer.js'
import { canonicalDevice, Device } from '../runtime/device.js'
import * as G from '../uop/graph.js'
import { MOVEMENT, type Op, Ops, type sint, UOp } from '../uop/ops.js'
import { fmtSShape, isSymShape, sEvalShape, shapeSEq } from '../uop/sint.js'
import { substituteAll, toposort } from '../uop/rewrite.js'
import { bufferView } from './buffer_views.js'
import { jitScope } from './jit_scope.js'
import { isInternal, noteHandle, runComposite } from './composite.js'
import { hostDataNode } from './host_data.js'
import { holdStorage, releaseStorage } from './storage_holds.js'
import { broadcastShapes, checkBufferSize } from './shapes.js'
import type { NestedArray } from './storage.js'
import type { GradGroup } from './grad_group.js'
import { aliasedBuffer, heldBuffer, LazyReaders } from './lazy_readers.js'
import { checkLazyTarget, checkWritableView, viewWithoutGrads } from './view_assign.js'

export type Shape = number[]
export type { NestedArray } from './storage.js'
export type TensorData = NestedArray | TypedArray
export interface TensorOptions {
  shape?: readonly number[]
  dtype?: DType | string
  device?: string
  requiresGrad?: boolean
}
export type Operand = Tensor | number | boolean
export interface PadOptions {
  value?: number
}
const TENSOR_OPTS: KeySet<TensorOptions> = { shape: true, dtype: true, device: true, requiresGrad: true }

let noGradDepth = 0
let uniqueTag = 0
/** tensors with requiresGrad, found by backward() (weak: parameters can be collected) */
const gradTensors = new Set<WeakRef<Tensor>>()
/** a parameter's node before it was realized -> its buffer view (graphs built earlier use the old node) */
const paramViews = new WeakMap<UOp, UOp>()
/** The buffer view a parameter with lazy node `u` was realized into (backward matches old graphs through it). */
export const paramViewOf = (u: UOp): UOp | undefined => paramViews.get(u)
/** live unrealized tensors: realized before a buffer they read is overwritten or freed */
const lazyReaders = new LazyReaders<Tensor>()
let nextSerial = 0
/** Tensors the lazy-reader registry holds (tests check that it stays bounded). */
export const lazyReaderCount = (): number => lazyReaders.size
/** The serial the next tensor will get (a jitted call tells its own tensors from older ones). */
export const nextTensorSerial = (): number => nextSerial

/** The live tensors ever marked `requiresGrad`, in the order they were marked (dead entries dropped). */
export function markedGradTensors(): Tensor[] {
  const out: Tensor[] = []
  for (const ref of gradTensors) {
    const t = ref.deref()
    if (!t) gradTensors.delete(ref)
    else out.push(t)
  }
  return out
}

/** Whether `xs` are tensors of one device, dtype (`dtype`'s, when given) and shape: nothing to broadcast (the common case: checked without allocating). */
function sameShapeAndType(xs: readonly Operand[], dtype: DType | undefined): boolean {
  const f = xs[0]
  if (!(f instanceof Tensor)) return false
  const u = f.uop
  if (dtype !== undefined && u.dtype !== dtype) return false
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i]
    if (!(x instanceof Tensor)) return false
    const v = x.uop
    if (v.dtype !== u.dtype || v.device !== u.device || !shapeSEq(v.shape!, u.shape!)) return false
  }
  return true
}

/** The node a realized tensor takes: a view of its buffer (a write into a view leaves the tensor that view). */
const resultView = (buf: Buffer, like: UOp): UOp =>
  like.op === Ops.ASSIGN && !like.src[0]!.contiguousBase ? like.src[0]! : bufferView(buf, like.shape!)

/** Realize the live lazy tensors that read one of `bufs` (before something overwrites them). */
export function realizeLazyReaders(bufs: ReadonlySet<Buffer>): void {
  if (!bufs.size || !lazyReaders.size) return
  const { readers } = lazyReaders.readersOf(bufs, new Set(), new Set(), {
    skip: (n) => aliasedBuffer(n) !== undefined,
  })
  if (readers.length) Tensor.realize(...readers)
}

/** The lazy, not disposed, not stale gradients of `t`'s backward not in `taken` (the group is used up). */
function lazyGradSiblings(t: Tensor, taken: readonly Tensor[]): Tensor[] {
  return (t.gradGroup!.take() as Tensor[]).filter(
    (s) => !taken.includes(s) && !s.isDisposed && !s.uop.contiguousBase && s.valueAt >= writeClock.now,
  )
}

export class Tensor {
  private _uop!: UOp
  private _grad: Tensor | undefined
  /**
   * this tensor, a gradient, was read through `.grad` (by the user, clipping, a scaler): only a
   * gradient nobody read that way is the optimizer's to free at `zeroGrad` (see `releaseGrad`)
   */
  private gradRead = false
  /** its own `requiresGrad` flag (`requiresGrad` also counts tracking; read by backward.ts) */
  _requiresGrad = false
  private _disposed = false
  /** whether this tensor counts among its buffer's handles (a composite's internal ones stop) */
  private holdsHandle = true
  /** storage this lazy tensor keeps alive for its graph (tensor/storage_holds.ts) */
  heldStorage: Buffer[] | undefined
  /** held by the lazy-reader registry (tensor/lazy_readers.ts) */
  registered = false
  /** creation order */
  readonly serial = nextSerial++
  /** `writeClock.now` when the buffers this tensor's graph reads had the values it stands for */
  builtAt = writeClock.now
  /** dropout and BatchNorm statistics depend on this */
  static training = false

  /** the gradient of the last `backward()`s (accumulated), or undefined */
  get grad(): Tensor | undefined {
    if (this._grad) this._grad.gradRead = true
    return this._grad
  }
  set grad(g: Tensor | undefined) {
    this._grad = g
  }

  /** `p.grad` for an optimizer's own use (its update, the step's roots): not marked as read */
  static gradUnread(p: Tensor): Tensor | undefined {
    return p._grad
  }

  /**
   * Drop `p`'s gradient (an optimizer's zeroGrad). One that only the optimizer has read is disposed
   * now: a training step's gradients are realized into fresh buffers, and left to the garbage
   * collector they are freed only every many steps (a page's collector: none in 20 MLP steps, 2.6
   * MB each), so each step wrote its weight gradients onto fresh memory, a page fault per 4 KiB
   * (the MLP step's two weight-gradient matmuls took twice the time of its other matmuls).
   */
  static releaseGrad(p: Tensor): void {
    const g = p._grad
    p._grad = undefined
    if (g && !g.gradRead) g.dispose()
  }

  /** the lazy graph node this tensor currently stands for (an error once the tensor is disposed) */
  get uop(): UOp {
    if (this._disposed) throw this.disposedError('using it in an op')
    return this._uop
  }
  set uop(u: UOp) {
    const before = this._uop === undefined ? undefined : heldBuffer(this._uop)
    const after = heldBuffer(u)
    if (before !== after) {
      if (before && this.holdsHandle) before.handles--
      if (after) {
        after.handles++
        noteHandle(this)
      }
      this.holdsHandle = true
    }
    this._uop = u
    if (after || u.contiguousBase) this._readsBuffer = true
  }
  /** whether the graph may read a buffer (false for constants built from scalars) */
  private _readsBuffer = true
  /** Register a lazy tensor that reads buffers (views alias their buffer: not readers). */
  trackLazy(): void {
    if (!isInternal() && this._readsBuffer && !this._uop.contiguousBase && !aliasedBuffer(this._uop))
      lazyReaders.add(this)
  }
  /** this tensor's node while it is unrealized and not disposed (for the lazy-reader registry) */
  get lazyNode(): UOp | undefined {
    return this._disposed || this._uop.contiguousBase ? undefined : this._uop
  }
  /**
   * The write clock at which the buffers this tensor's graph reads held the values it stands for:
   * now for realized tensors and views (they alias their buffer), and for a lazy tensor none of
   * whose buffers was overwritten since it was built (it is then advanced to now, so a tensor built
   * from it later combines values of one moment).
   */
  get valueAt(): number {
    const now = writeClock.now
    if (this.builtAt >= now || this._uop.contiguousBase || aliasedBuffer(this._uop)) return now
    if (this.staleAt === now) return this.builtAt
    if (this.overwritten() === undefined) return (this.builtAt = now)
    this.staleAt = now
    return this.builtAt
  }
  /** writeClock.now when the tensor was last found stale (memo of valueAt) */
  private staleAt = -1
  /** A buffer of this lazy tensor's graph that was overwritten after the tensor was built. */
  private overwritten(): Buffer | undefined {
    for (const u of toposort([this._uop], (x) => x.op === Ops.BUFFER)) {
      const b = u.op === Ops.BUFFER ? (u.arg as Buffer) : undefined
      if (b && b.writtenAt > this.builtAt) return b
    }
    return undefined
  }

  /** The error for using this tensor after dispose() (`what`: the call). */
  disposedError(what: string): TsgradError {
    return new TsgradError(
      `${what}: ${this.toString()} (${this._uop.op}) was disposed and cannot be used; dispose() a tensor only when nothing reads it any more (clone() what must outlive it)`,
    )
  }

  constructor(data: TensorData | UOp, opts: TensorOptions = {}) {
    checkOptions('Tensor', opts, TENSOR_OPTS)
    if (data instanceof UOp) {
      this.uop = data
      let u = data
      while (MOVEMENT.has(u.op) || u.op === Ops.CAST) u = u.src[0]!
      this._readsBuffer = u.op !== Ops.CONST
    } else {
      this.uop = hostDataNode(data, opts)
    }
    if (opts.requiresGrad) this.requiresGrad = true
  }

  // ---- properties ----
  /** The shape; a symbolic size (a Variable expression) gives its bound value. */
  get shape(): Shape {
    const s = this._uop.shape!
    return isSymShape(s) ? sEvalShape(s) : [...(s as number[])]
  }
  /** The shape with symbolic sizes as expressions (sint: number | UOp). */
  get sshape(): readonly sint[] {
    return this._uop.shape!
  }
  /** Whether a size of the shape is a Variable expression. */
  get isSymbolic(): boolean {
    return isSymShape(this._uop.shape!)
  }
  get dtype(): DType {
    return this._uop.dtype
  }
  get device(): string {
    return this._uop.device
  }
  get ndim(): number {
    return this._uop.shape!.length
  }
  numel(): number {
    return prod(this.shape)
  }
  /** true for parameters and for tensors computed from them (outside noGrad) */
  get requiresGrad(): boolean {
    return this._requiresGrad || this._tracks
  }
  set requiresGrad(v: boolean) {
    if (v && !this.dtype.isFloat)
      throw new TsgradError(
        `requiresGrad: only floating point tensors can require gradients, got a ${this.dtype.name} tensor of shape ${fmtShape(this.shape)} (create it with { dtype: 'float32' } or call .float())`,
      )
    if (v && !this._requiresGrad) {
      // a parameter must be its own node: two equal constant graphs would otherwise be one UOp
      if (!this.uop.contiguousBase)
        this.uop = UOp.new(Ops.CONTIGUOUS, this.dtype, [this.uop], { tag: uniqueTag++ })
      gradTensors.add(new WeakRef(this))
    }
    this._requiresGrad = v
  }
  toString(): string {
    return `<Tensor ${fmtSShape(this.sshape)} ${this.dtype.name} on ${this.device}${this.requiresGrad ? ' requiresGrad' : ''}>`
  }

  /** Wrap a node in a new Tensor; gradient tracking follows the inputs. */
  static fromUOp(u: UOp, ...inputs: Tensor[]): Tensor {
    const t = new Tensor(u)
    for (const x of inputs) t.builtAt = Math.min(t.builtAt, x.valueAt)
    if (inputs.length) t._readsBuffer = inputs.some((x) => x._readsBuffer)
    if (MOVEMENT.has(u.op) && u.contiguousBase) t._reshapeView = true
    t.trackLazy()
    if (inputs.some((x) => x._requiresGrad || x._tracks)) {
      if (noGradDepth > 0) t.uop = UOp.new(Ops.DETACH, u.dtype, [u])
      else t._tracks = true
    }
    return t
  }
  /** the gradients of the backward() that made this one (see ./grad_group.ts) */
  gradGroup: GradGroup | undefined
  /** true when this tensor was computed from tensors that require gradients */
  private _tracks = false
  /** a reshape of another tensor's buffer (not its own): `assign` writes through it at once */
  private _reshapeView = false

  // ---- realization and reading ----
  /**
   * Build a composite op (attention, ...): the tensors `fn` makes on the way are internal
   * (./composite.ts), so they are not lazy readers that a later in-place write must realize to keep
   * their values (dead ones stay registered until the garbage collector runs: the first KV-cache
   * write after a prefill recomputed its attention scores), nor handles keeping `dispose()` of a
   * buffer they view from freeing it. Only the result is registered.
   */
  static composite<T extends Tensor>(fn: () => T): T {
    const out = runComposite(fn, nextSerial)
    out.trackLazy()
    return out
  }

  /** Stop counting among the buffer's handles (an internal tensor of a composite that returned: composite.ts). */
  releaseHandle(): void {
    const buf = this._disposed || !this.holdsHandle ? undefined : heldBuffer(this._uop)
    if (!buf) return
    this.holdsHandle = false
    buf.handles--
  }

  /** Compute this tensor's value (and the others') now. Returns this. */
  realize(...others: Tensor[]): this {
    Tensor.realize(this, ...others)
    return this
  }

  /**
   * Realize these tensors in one schedule. When it overwrites buffers in place (ASSIGN), the live
   * lazy tensors that read their old contents are realized in it too (tensor/lazy_readers.ts), and
   * tensors whose pending assign ran become views of the written buffer.
   */
  static realize(...tensors: Tensor[]): void {
    for (const t of tensors) if (t._disposed) throw t.disposedError('realize')
    const unrealized = tensors.filter((t) => !t._uop.contiguousBase)
    if (!unrealized.length) return
    if (unrealized.some((t) => t.gradGroup))
      for (const t of [...unrealized]) if (t.gradGroup) unrealized.push(...lazyGradSiblings(t, unrealized))
    for (const t of unrealized) t.checkNotStale('realize')
    let readers: Tensor[] = []
    let holders: Tensor[] = []
    const roots = unrealized.map((t) => t._uop)
    // (called only for a schedule that writes buffers in place)
    const beforeRun: BeforeRun = (nodes, written) => {
      const inJit = jitScope.depth > 0
      const found = lazyReaders.readersOf(written, nodes, new Set(unrealized), {
        skip: (n) => aliasedBuffer(n) !== undefined,
        roots: new Set(roots),
      })
      holders = found.holders
      // inside a jitted call, readers from before the call are realized outside the capture (once);
      // those made in the call (a loss read after the step inside it) are part of the capture
      const before = inJit ? found.readers.filter((t) => t.serial < jitScope.startSerial) : []
      const inside = inJit ? found.readers.filter((t) => t.serial >= jitScope.startSerial) : found.readers
      if (before.length) {
        const rec = setRealizeObserver(undefined)
        try {
          Tensor.realize(...before)
        } finally {
          setRealizeObserver(rec)
        }
      }
      // readers with bound Variables may bind them to other values than this graph (an earlier
      // decode position): one schedule has one value per variable, so they get their own
      if (inside.some((t) => t._uop.hasVars) || roots.some((r) => r.hasVars)) {
        if (inside.length) Tensor.realize(...inside)
        return undefined
      }
      readers = inside
      return [...new Set(readers.map((t) => t._uop))]
    }
    const { views } = realizeUOps(roots, resultView, beforeRun)
    for (let i = 0; i < unrealized.length; i++) unrealized[i]!.becomeRealized(views[i]!)
    if (readers.length) {
      const extra = [...new Set(readers.map((t) => t._uop))]
      for (const t of readers) t.becomeRealized(views[roots.length + extra.indexOf(t._uop)]!)
    }
    // a tensor on a node that was realized takes its buffer (for an ASSIGN: realizing the node
    // again would apply it twice)
    for (const t of holders) {
      const i = roots.indexOf(t._uop)
      if (i >= 0) t.becomeRealized(views[i]!)
      else if (t._uop.op === Ops.ASSIGN) t.becomeRealized(t._uop.src[0]!)
    }
  }

  /** Swap the lazy node for its buffer view; autograd still sees the graph behind it. */
  private becomeRealized(view: UOp): void {
    const old = this._uop
    if (view === old) return
    if (this._requiresGrad) paramViews.set(old, view)
    this.uop = this._tracks ? customGradNode(view, [old], (g) => [g]) : view
    this.builtAt = writeClock.now
    releaseStorage(this)
  }

  /** A lazy tensor whose buffers were overwritten since it was built has lost its value: an error. */
  private checkNotStale(what: string): void {
    if (this.valueAt >= writeClock.now) return
    const b = this.overwritten()
    if (b)
      throw new TsgradError(
        `${what}: ${this.toString()} (${this._uop.op}) is lazy and reads a buffer (${b.describe()}) that was overwritten in place (an optimizer step, a BatchNorm update or assign) after the tensor was built, inside the graph of a tensor realized with the update, so its value is gone; realize it before or with the update (Tensor.realize(t, ...opt.scheduleStep()))`,
      )
  }

  /**
   * Release this tensor now; the tensor must not be used after. Its storage is freed when no other
   * tensor holds it (a reshape view, the tensor it is a view of) and no jit capture uses it; live
   * lazy tensors computed from it keep their values: those made in earlier jobs are realized first,
   * those made in this one hold the storage until they are realized or collected (storage_holds.ts).
   */
  dispose(): void {
    if (this._disposed) return
    // (a composite's internal tensor is no handle: its buffer is not its to free)
    const buf = this.holdsHandle ? heldBuffer(this._uop) : undefined
    if (buf && buf.handles <= 1 && !buf.disposed) {
      const { readers, young } = lazyReaders.readersOf(new Set([buf]), new Set(), new Set([this]))
      for (const r of young) {
        holdStorage(r, buf)
        lazyReaders.add(r) // (still a lazy reader of its other buffers)
      }
      const older = readers.filter((r) => !young.has(r))
      if (older.length) Tensor.realize(...older)
    }
    this._disposed = true
    releaseStorage(this)
    if (buf && --buf.handles <= 0) buf.dispose()
    this._grad?.dispose()
  }
  get isDisposed(): boolean {
    return this._disposed
  }

  // ---- dtype, device, identity ----
  cast(dtype: DType | string): Tensor {
    const dt = toDType(dtype)
    if (dt === this.dtype) return this
    Device.checkDType('cast', this.device, dt)
    return Tensor.fromUOp(G.castNode(this.uop, dt), this)
  }
  float(): Tensor {
    return this.cast(dtypes.float32)
  }
  half(): Tensor {
    return this.cast(dtypes.float16)
  }
  int(): Tensor {
    return this.cast(dtypes.int32)
  }
  bool(): Tensor {
    return this.cast(dtypes.bool)
  }
  double(): Tensor {
    return this.cast(dtypes.float64)
  }
  to(device: string): Tensor {
    const d = canonicalDevice(device)
    Device.checkDType('to', d, this.dtype)
    if (d === this.device) return this
    return Tensor.fromUOp(UOp.new(Ops.COPY, this.dtype, [this.uop], d), this)
  }
  /** Materialize into a fresh buffer when realized (each call gets its own storage). */
  contiguous(): Tensor {
    if (this.uop.contiguousBase) return this
    checkBufferSize('contiguous', this.shape, this.dtype, this.device)
    return Tensor.fromUOp(UOp.new(Ops.CONTIGUOUS, this.dtype, [this.uop], { tag: uniqueTag++ }), this)
  }
  detach(): Tensor {
    const t = new Tensor(UOp.new(Ops.DETACH, this.dtype, [this.uop]))
    t.builtAt = this.valueAt
    t._readsBuffer = this._readsBuffer
    t.trackLazy()
    return t
  }
  /** A copy with its own storage (also for tensors that already are a buffer). */
  clone(): Tensor {
    return Tensor.fromUOp(UOp.new(Ops.CONTIGUOUS, this.dtype, [this.uop], { tag: uniqueTag++ }), this)
  }

  /**
   * In-place write. Into this tensor's own buffer (or a reshape of it) it is lazy: the buffer
   * receives `x` when this tensor is realized. Into another view of a buffer (shrink, permute,
   * flip, `get` slices: `cache.shrink(...).assign(k)`) it is written now, as PyTorch's
   * `c[1:2] = x`, by a kernel over the view's elements only, so the buffer and its other views see
   * it (they hold no link to this view); lazy tensors built before read the old values. A reshape
   * of another tensor (`c.reshape([12]).assign(x)`) is such a view too.
   */
  assign(x: Tensor | number): this {
    if (this._disposed) throw this.disposedError('assign')
    if (x instanceof Tensor && x._disposed) throw x.disposedError('assign (the value)')
    const v = typeof x === 'number' ? this.fullLike(x) : x
    if (!shapeEq(v.shape, this.shape))
      throw new TsgradError(
        `assign: value shape ${fmtShape(v.shape)} does not match target ${fmtShape(this.shape)}`,
      )
    if (v.dtype !== this.dtype)
      throw new TsgradError(`assign: value dtype ${v.dtype.name} does not match target ${this.dtype.name}`)
    if (v.device !== this.device)
      throw new TsgradError(`assign: value on ${v.device}, target on ${this.device}`)
    jitScope.assigned?.add(this)
    this.builtAt = v.valueAt
    if ((!this.uop.contiguousBase || this._reshapeView) && assignIntoView(this, v)) return this
    if (this.uop.contiguousBase)
      this.uop = UOp.new(Ops.ASSIGN, this.dtype, [this.uop, v.uop.op === Ops.DETACH ? v.uop.src[0]! : v.uop])
    else this.uop = v.uop
    this._readsBuffer = true
    this.trackLazy()
    return this
  }

  // ---- autograd ----
  static noGrad<T>(fn: () => T): T {
    noGradDepth++
    try {
      return fn()
    } finally {
      noGradDepth--
    }
  }

  // ---- broadcasting and elementwise core ----
  /** Make a tensor of `v` like this one (same device; dtype by the promotion rules). */
  private scalar(op: string, v: number | boolean, dt?: DType): Tensor {
    const d = dt ?? scalarDType(v, this.dtype)
    checkFitsDType(op, v, d, ` (a scalar operand, as ${d.name})`)
    return new Tensor(G.constNode(typeof v === 'boolean' ? Number(v) : v, d, this.device))
  }

  /** Broadcast and promote operands of an elementwise op. */
  static broadcast(op: string, xs: Operand[], dtype?: DType): Tensor[] {
    if (sameShapeAndType(xs, dtype)) return xs as Tensor[]
    const scalarPair = xs.length === 2 && dtype === undefined ? withScalar(xs) : undefined
    if (scalarPair) return scalarPair
    const first = xs.find((x): x is Tensor => x instanceof Tensor)
    if (!first) throw new TsgradError(`${op}: at least one operand must be a Tensor`)
    for (const x of xs)
      if (!(x instanceof Tensor) && typeof x !== 'number' && typeof x !== 'boolean')
        throw new TsgradError(`${op}: expected a Tensor or a number, got ${x === null ? 'null' : typeof x}`)
    const tensors = xs.filter((x): x is Tensor => x instanceof Tensor)
    const device = first.device
    for (const t of tensors)
      if (t.device !== device)
        throw new TsgradError(`${op}: tensors on different devices (${device} and ${t.device})`)
    let dt = dtype
    if (!dt) {
      dt = tensors.map((t) => t.dtype).reduce(promoteTypes)
      for (const x of xs) if (!(x instanceof Tensor)) dt = promoteTypes(dt, scalarDType(x, dt))
    }
    const ts = xs.map((x) => (x instanceof Tensor ? x : first.scalar(op, x, dt)))
    const shape = broadcastShapes(op, ...ts.map((t) => t.sshape))
    return ts.map((t) => t.cast(dt!)._broadcastTo(shape))
  }

  _broadcastTo(shape: readonly sint[]): Tensor {
    const sh = this.sshape
    if (shapeSEq(sh, shape)) return this
    const padded = [...Array<sint>(shape.length - this.ndim).fill(1), ...sh]
    return this.reshape(padded).expand([...shape])
  }

  /** Apply an ALU op to already-broadcast tensors. */
  static alu(op: Op, ...xs: Tensor[]): Tensor {
    return Tensor.fromUOp(G.aluNode(op, ...xs.map((x) => x.uop)), ...xs)
  }

  /** the reversed axes (a view; movement ops are in movement.ts) */
  get T(): Tensor {
    return this.ndim < 2 ? this : this.permute(range(this.ndim).reverse())
  }

  /** arange over an axis of this tensor's device (int32) */
  static iota(n: number, device: string): Tensor {
    return new Tensor(G.iotaNode(n, device))
  }
}

/**
 * A tensor and a number its dtype holds (`x.add(0.5)` on floats): the constant broadcast to the
 * tensor's shape as one tensor (the general path of Tensor.broadcast made three: the constant, its
 * reshape and its expand; the same nodes). Undefined for anything else (a promotion, a symbolic shape).
 */
function withScalar(xs: readonly Operand[]): Tensor[] | undefined {
  const [a, b] = xs
  const first = a instanceof Tensor
  const t = first ? a : b
  const v = first ? b : a
  if (!(t instanceof Tensor) || typeof v !== 'number') return undefined
  const u = t.uop
  const d = u.dtype
  // (a number takes the tensor's dtype only when that dtype holds it: nothing to check)
  if (scalarDType(v, d) !== d || isSymShape(u.shape!)) return undefined
  const c = new Tensor(G.constNode(v, d, u.device, u.shape as number[]))
  return first ? [t, c] : [c, t]
}

/** `assign` into a view of a buffer (see Tensor.assign); false when `t` views no buffer. */
function assignIntoView(t: Tensor, v: Tensor): boolean {
  const target = viewWithoutGrads(t.uop)
  if (target !== t.uop && [Ops.BUFFER, Ops.ASSIGN].includes(target.viewBase.op as 'BUFFER')) t.uop = target
  let base = t.uop.viewBase
  let written: Map<UOp, UOp> | undefined
  if (base.op === Ops.ASSIGN && base.src[0]!.contiguousBase) {
    // a view of a pending whole-buffer write: that write lands first, and this view and the
    // value read the buffer after it (the ASSIGN node must not run twice)
    written = new Map([[base, base.src[0]!]])
    t.uop = substituteAll(t.uop, written).get(t.uop)!
    Tensor.realize(Tensor.fromUOp(base))
    t.builtAt = writeClock.now
    base = t.uop.viewBase
  }
  if (base.op !== Ops.BUFFER) {
    checkLazyTarget(t.uop, t.shape)
    return false
  }
  checkWritableView(t.uop, t.shape)
  let value = v.uop.op === Ops.DETACH ? v.uop.src[0]! : v.uop
  if (written) value = substituteAll(value, written).get(value)!
  t.uop = UOp.new(Ops.ASSIGN, t.dtype, [t.uop, value])
  Tensor.realize(t)
  return true
}
