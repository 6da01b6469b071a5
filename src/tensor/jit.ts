// jit(fn): run a function's kernels as one recorded launch list once its input signature repeats.
//
// Per input signature: call 1 runs eagerly (compiles kernels, lets lazy state settle), call 2 runs
// eagerly while recording every kernel launched by every realize inside it (engine/jit.ts), and
// calls 3+ replay that launch list with the input buffers swapped, without building or scheduling
// any graph. Semantics:
// - Tensor arguments must be top-level arguments; they are realized at entry. The signature is
//   their shapes, dtypes, devices and which of them share a buffer, plus `Tensor.training` and the
//   non-tensor arguments: numbers, strings, booleans, arrays and plain objects by value, anything
//   else (a model, a function) by identity. A new signature counts from call 1 again; earlier
//   signatures keep their captures, so alternating batch shapes replay both.
// - Non-tensor arguments, tensors created from host data inside the function (`new Tensor(...)`
//   uploads) and tensors read but not passed in (parameters, optimizer state) are baked into the
//   capture: the replay reads those same buffers. State carried between calls must therefore be
//   updated in place with `assign` (optimizers and BatchNorm do); set `opt.lr` outside the call.
// - Random numbers are an implicit input: each replay writes the current seed and counter into the
//   captured random-state uploads and advances the counter, so replays draw fresh numbers and a
//   jitted run draws exactly what the same eager run would after the same `manualSeed`.
// - Every `assign` made during the call is committed (realized) when the call ends, so in-place
//   updates such as BatchNorm running statistics are part of the capture.
// - The return value may be a Tensor, or arrays/plain objects holding Tensors (other values are
//   returned as captured). Returned tensors are realized; each replay computes them into new
//   buffers, so they keep their values and may be disposed. An output that is an input buffer is
//   returned on this call's input. Lazy tensors made before a call that read the state it updates
//   are realized before the update (they keep their values); those made in the call (a loss
//   returned after `opt.step()` inside it) are realized with the update, in the capture. A buffer the capture uses keeps its
//   storage while the capture lives, even if its tensor is disposed (jit.reset() drops it). An
//   input the capture writes (e.g. the previous call's output fed back: `h = step(h)`) is copied
//   before the replay, so it is not overwritten while read.
// - The function must be synchronous (returning a Promise is an error). Replay outputs are plain
//   tensors (no gradient tracking).
// - Reading values (data/item/tolist, *Sync) inside the function throws; a jitted function called
//   inside another jitted function simply runs its body. `Tensor.manualSeed` inside the function
//   is an error (seed before calling it).
import { DEBUG, fmtShape, TsgradError } from '../helpers.js'
import { CapturedGraph, Recorder } from '../engine/jit.js'
import type { Buffer } from '../runtime/buffer.js'
import { Ops, type sint, UOp } from '../uop/ops.js'
import { isSymShape, rebindSint, unbindSint } from '../uop/sint.js'
import { rng, rngState } from './create.js'
import { bufferView } from './buffer_views.js'
import { jitScope } from './jit_scope.js'
import { nextTensorSerial, realizeLazyReaders, Tensor } from './tensor.js'

/** How a result is rebuilt after a replay. */
type Out =
  | { kind: 'buf'; buf: Buffer; shape: OutShape }
  | { kind: 'input'; index: number; shape: OutShape }
  | { kind: 'fresh'; index: number; shape: OutShape }
  | { kind: 'array'; items: Out[] }
  | { kind: 'object'; entries: [string, Out][] }
  | { kind: 'value'; value: unknown }

interface Capture {
  graph: CapturedGraph
  out: Out
  /** random-state uploads (counter relative to the call's start) and the call's counter advance */
  rngUploads: { buf: Buffer; offset: number }[]
  rngAdvance: number
}

interface Entry {
  calls: number
  capture?: Capture
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype

const identities = new WeakMap<object, number>()
let nextIdentity = 0
function identity(o: object): number {
  let id = identities.get(o)
  if (id === undefined) identities.set(o, (id = nextIdentity++))
  return id
}

/**
 * Cache key of a non-tensor argument; `where` names it for the error about nested tensors. A bound
 * Variable (or a size built from one) keys by its variable alone and its value goes into `vals`:
 * one capture serves every value, and a replay passes the new values to the kernels.
 */
function valueKey(v: unknown, where: string, vals: Map<UOp, number>): string {
  if (v instanceof Tensor)
    throw new TsgradError(
      `jit: tensors must be top-level arguments of the jitted function, found one at ${where}`,
    )
  if (v instanceof UOp) return `U:${(unbindSint(v, vals) as UOp).key}`
  if (Array.isArray(v)) return `[${v.map((x, i) => valueKey(x, `${where}[${i}]`, vals)).join(',')}]`
  if (isPlain(v))
    return `{${Object.keys(v)
      .map((k) => `${JSON.stringify(k)}:${valueKey(v[k], `${where}.${k}`, vals)}`)
      .join(',')}}`
  if ((typeof v === 'object' && v !== null) || typeof v === 'function') return `#${identity(v)}`
  return `${typeof v}:${String(v)}`
}

function bufferOf(t: Tensor): Buffer {
  return t.uop.contiguousBase!.arg as Buffer
}

/**
 * The buffer under a realized tensor: a reshape of it, or (symbolic shapes) a reshape of its first
 * elements; a tensor that tracks gradients has it under a CUSTOM_GRAD.
 */
function resultBuffer(t: Tensor): Buffer {
  let u = t.uop
  while (u.op === Ops.RESHAPE || u.op === Ops.SHRINK || u.op === Ops.CUSTOM_GRAD) u = u.src[0]!
  return u.arg as Buffer
}

/** A result's shape: sizes with variables keep them (unbound), to be evaluated at each replay's values. */
type OutShape = readonly sint[]

function view(buf: Buffer, shape: OutShape, vals: ReadonlyMap<UOp, number>): Tensor {
  // as Tensor.realize does; a symbolic shape bound to this call's values
  return new Tensor(bufferView(buf, isSymShape(shape) ? shape.map((d) => rebindSint(d, vals)) : shape))
}

/** The tensors inside a return value (Tensor, arrays and plain objects of them). */
function tensorsIn(v: unknown, acc: Tensor[] = []): Tensor[] {
  if (v instanceof Tensor) acc.push(v)
  else if (Array.isArray(v)) for (const x of v) tensorsIn(x, acc)
  else if (isPlain(v)) for (const x of Object.values(v)) tensorsIn(x, acc)
  return acc
}

/** How to rebuild `v` after a replay; `fresh` collects the output buffers computed by the call. */
function template(
  v: unknown,
  inputs: readonly Buffer[],
  computed: ReadonlySet<Buffer>,
  fresh: Buffer[],
  shapes: ReadonlyMap<Tensor, OutShape>,
): Out {
  if (v instanceof Tensor) {
    const buf = resultBuffer(v)
    const shape = shapes.get(v) ?? v.shape
    const index = inputs.indexOf(buf)
    if (index >= 0) return { kind: 'input', index, shape }
    if (!computed.has(buf)) return { kind: 'buf', buf, shape }
    if (!fresh.includes(buf)) fresh.push(buf)
    return { kind: 'fresh', index: fresh.indexOf(buf), shape }
  }
  if (Array.isArray(v))
    return { kind: 'array', items: v.map((x) => template(x, inputs, computed, fresh, shapes)) }
  if (isPlain(v))
    return {
      kind: 'object',
      entries: Object.entries(v).map(([k, x]) => [k, template(x, inputs, computed, fresh, shapes)]),
    }
  return { kind: 'value', value: v }
}

function build(
  o: Out,
  inputs: readonly Buffer[],
  outputs: readonly Buffer[],
  vals: ReadonlyMap<UOp, number>,
): unknown {
  switch (o.kind) {
    case 'buf':
      return view(o.buf, o.shape, vals)
    case 'input':
      return view(inputs[o.index]!, o.shape, vals)
    case 'fresh':
      return view(outputs[o.index]!, o.shape, vals)
    case 'array':
      return o.items.map((x) => build(x, inputs, outputs, vals))
    case 'object':
      return Object.fromEntries(o.entries.map(([k, x]) => [k, build(x, inputs, outputs, vals)]))
    case 'value':
      return o.value
  }
}

/** A function with its captures; `call` is what the function returned by `jit` runs. */
export class Jit<A extends unknown[], R> {
  private readonly entries = new Map<string, Entry>()

  constructor(readonly fn: (...args: A) => R) {
    if (typeof fn !== 'function') throw new TsgradError(`jit: expected a function, got ${typeof fn}`)
  }

  /** The capture of the signature of `args`, if it has been captured (kernel counts, memory). */
  captured(...args: A): CapturedGraph | undefined {
    const inputs = args.filter((a): a is Tensor => a instanceof Tensor)
    Tensor.realize(...inputs)
    return this.entries.get(this.signature(args, inputs.map(bufferOf), new Map()))?.capture?.graph
  }

  /** Forget every capture (the next call of each signature runs eagerly again). */
  reset(): void {
    for (const e of this.entries.values()) e.capture?.graph.release()
    this.entries.clear()
  }

  call(...args: A): R {
    if (jitScope.depth > 0) return this.fn(...args) // inside another jitted call: part of its capture
    const inputs = args.filter((a): a is Tensor => a instanceof Tensor)
    inputs.forEach((t) => {
      if (t.isDisposed)
        throw new TsgradError(
          `jit: argument ${args.indexOf(t)} (${t.toString()}) was disposed; pass a live tensor`,
        )
    })
    for (const t of inputs)
      if (t.isSymbolic)
        throw new TsgradError(
          `jit: argument ${args.indexOf(t)} (${t.toString()}) has a symbolic shape; pass the bound Variable itself as an argument and build the symbolic view inside the function`,
        )
    Tensor.realize(...inputs)
    const bufs = inputs.map(bufferOf)
    const vals = new Map<UOp, number>()
    const key = this.signature(args, bufs, vals)
    let entry = this.entries.get(key)
    if (!entry) this.entries.set(key, (entry = { calls: 0 }))
    if (entry.capture) return this.replay(entry.capture, bufs, vals)
    entry.calls++
    return this.run(args, bufs, entry.calls === 2 ? entry : undefined)
  }

  private signature(args: A, bufs: readonly Buffer[], vals: Map<UOp, number>): string {
    let t = 0
    const parts = args.map((a, i) => {
      if (!(a instanceof Tensor)) return valueKey(a, `args[${i}]`, vals)
      const b = bufs[t++]!
      return `T${fmtShape(a.shape)}${a.dtype.name}@${a.device}=${bufs.indexOf(b)}`
    })
    return `${Tensor.training ? 'train' : 'eval'}|${parts.join('|')}`
  }

  /** Run the function (recording its launches when `capture` is the entry to fill). */
  private run(args: A, bufs: readonly Buffer[], capture: Entry | undefined): R {
    const rec = capture ? new Recorder() : undefined
    const rngStart = rng.counter
    const seed = rng.seed
    const saved = {
      assigned: jitScope.assigned,
      rngUploads: jitScope.rngUploads,
      startSerial: jitScope.startSerial,
    }
    jitScope.startSerial = nextTensorSerial()
    jitScope.depth++
    jitScope.assigned = new Set()
    jitScope.rngUploads = rec ? [] : undefined
    const uploads = jitScope.rngUploads
    let result: R
    const outShapes = new Map<Tensor, OutShape>()
    try {
      rec?.start()
      result = this.fn(...args)
      if (result instanceof Promise) {
        result.catch(() => {}) // reported by the error below instead
        throw new TsgradError(
          'jit: the function returned a Promise; a jitted function must be synchronous (a replay does not run it), so read results after the call',
        )
      }
      if (rng.seed !== seed || rng.counter < rngStart)
        throw new TsgradError(
          'jit: Tensor.manualSeed inside a jitted function is not supported (replays continue the global random stream); seed before the call',
        )
      // commit the in-place writes made during the call together with the results
      const pending = [...(jitScope.assigned as Set<Tensor>)].filter((t) => t.uop.op === Ops.ASSIGN)
      // symbolic results keep their sizes as expressions of the variables (unbound): a replay
      // evaluates them at its own values
      const results = tensorsIn(result)
      for (const r of results)
        if (r.isSymbolic)
          outShapes.set(
            r,
            r.sshape.map((d) => unbindSint(d, new Map())),
          )
      Tensor.realize(...results, ...pending)
    } finally {
      rec?.stop()
      jitScope.depth--
      jitScope.assigned = saved.assigned
      jitScope.rngUploads = saved.rngUploads
      jitScope.startSerial = saved.startSerial
    }
    if (rec && capture && uploads) {
      const fresh: Buffer[] = []
      const out = template(result, bufs, rec.kept, fresh, outShapes)
      const graph = new CapturedGraph(rec, bufs, fresh)
      capture.capture = {
        graph,
        out,
        rngUploads: uploads.map((u) => ({ buf: u.buf, offset: u.counter - rngStart })),
        rngAdvance: rng.counter - rngStart,
      }
      if (DEBUG() >= 1) {
        const s = graph.stats
        console.log(
          `jit: captured ${s.kernels} kernels, ${s.copies} copies; temporaries ${s.temps} -> ${s.tempsPlanned} (${(s.tempBytes / 1024).toFixed(1)} KiB)`,
        )
      }
    }
    return result
  }

  private replay(c: Capture, bufs: readonly Buffer[], vals: ReadonlyMap<UOp, number>): R {
    // lazy tensors that read state the replay overwrites keep the values they were built with
    realizeLazyReaders(c.graph.stateWrites)
    for (const u of c.rngUploads) u.buf.copyin(rngState(rng.counter + u.offset))
    rng.counter += c.rngAdvance
    const r = c.graph.replay(bufs, vals)
    return build(c.out, r.inputs, r.outputs, vals) as R
  }
}

/** The jitted function returned by `jit`; `.jit` gives access to its captures. */
export type JittedFunction<A extends unknown[], R> = ((...args: A) => R) & { readonly jit: Jit<A, R> }

/** Capture the kernels `fn` launches and replay them on later calls (see the notes above). */
export function jit<A extends unknown[], R>(fn: (...args: A) => R): JittedFunction<A, R> {
  const j = new Jit(fn)
  return Object.assign((...args: A) => j.call(...args), { jit: j })
}
