// Reading a tensor's values back to the host: data/dataSync, tolist/tolistSync, item/itemSync.
// A read realizes the tensor (a value that was read keeps it) and copies its buffer out.
import type { TypedArray } from '../dtype.js'
import { eventLoopTurn, fmtShape, prod, range, TsgradError } from '../helpers.js'
import type { Buffer } from '../runtime/buffer.js'
import { prefixOfView } from './buffer_views.js'
import { jitScope } from './jit_scope.js'
import { aliasedBuffer } from './lazy_readers.js'
import { fromStorage, type NestedArray } from './storage.js'
import { Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    data(): Promise<TypedArray>
    dataSync(): TypedArray
    tolist(): Promise<NestedArray>
    tolistSync(): NestedArray
    item(): Promise<number | boolean>
    itemSync(): number | boolean
  }
}

/** The buffer holding `t`'s values (the first `n` elements of it for a symbolic result). */
function hostBuffer(t: Tensor, what: string): { buf: Buffer; n: number | undefined } {
  if (t.isDisposed) throw t.disposedError(what)
  if (jitScope.depth > 0)
    throw new TsgradError(
      'reading tensor values (data/item/tolist and their Sync forms) inside a jitted function is not allowed: a replay does not run the function, so the read would not happen; return the tensor and read it after the call',
    )
  // a value that was read keeps it (a later assign to a buffer its graph reads does not change
  // it), and a pending in-place write is committed once; a view of a buffer stays a view
  const aliased = aliasedBuffer(t.uop)
  if (aliased?.disposed)
    throw new TsgradError(
      `${what}: ${t.toString()} (${t.uop.op}) is a view of storage that was disposed (${aliased.describe()}); only reshape views keep a disposed tensor's storage: clone() the view before disposing its base`,
    )
  if (!aliased) t.realize()
  const pre = prefixOfView(t.uop)
  if (pre) return pre
  const c = t.contiguous().realize()
  const base = c.uop.contiguousBase
  return base ? { buf: base.arg as Buffer, n: undefined } : prefixOfView(c.uop)!
}

/** Flat values -> nested arrays of `t`'s shape (booleans for bool, numbers for int64). */
function toNested(t: Tensor, d: TypedArray): NestedArray {
  const vals = Array.from(d as ArrayLike<number | bigint>, (v) =>
    t.dtype.isBool ? v !== 0 : typeof v === 'bigint' ? Number(v) : v,
  ) as (number | boolean)[]
  const shape = t.shape
  if (shape.length === 0) return vals[0]!
  const build = (dim: number, off: number): NestedArray => {
    const stride = prod(shape.slice(dim + 1))
    return range(shape[dim]!).map((i) =>
      dim === shape.length - 1 ? vals[off + i]! : build(dim + 1, off + i * stride),
    )
  }
  return build(0, 0)
}

/** `item`'s checks: a live tensor of one element. */
function checkOneElement(t: Tensor, what: string): void {
  if (t.isDisposed) throw t.disposedError(what)
  if (t.numel() !== 1)
    throw new TsgradError(
      `${what}: tensor of shape ${fmtShape(t.shape)} has ${t.numel()} elements, expected 1`,
    )
}

const P = Tensor.prototype

P.data = async function () {
  const { buf, n } = hostBuffer(this, 'data')
  const raw = await buf.copyout()
  const out = n === undefined ? raw : raw.slice(0, n)
  await eventLoopTurn() // lets finalizers run in loops that only await reads (helpers.ts)
  return fromStorage(out, this.dtype)
}

P.dataSync = function () {
  const { buf, n } = hostBuffer(this, 'dataSync')
  const raw = buf.copyout()
  const out = n === undefined || raw instanceof Promise ? raw : raw.slice(0, n)
  if (out instanceof Promise) {
    out.catch(() => {}) // the read started: its failure is reported by the data() that awaits
    throw new TsgradError(`dataSync: device ${this.device} is asynchronous; use await data()`)
  }
  return fromStorage(out, this.dtype)
}

P.tolist = async function () {
  return toNested(this, await this.data())
}

P.tolistSync = function () {
  return toNested(this, this.dataSync())
}

P.item = async function () {
  checkOneElement(this, 'item')
  const v = (await this.data())[0]!
  return this.dtype.isBool ? v !== 0 : Number(v)
}

P.itemSync = function () {
  checkOneElement(this, 'itemSync')
  const v = this.dataSync()[0]!
  return this.dtype.isBool ? v !== 0 : Number(v)
}
