// Combining and selecting: cat, stack, split, chunk, repeat, gather, tril/triu and `get` indexing.
// All of these are movement ops, masks and indexed loads; nothing is copied until a kernel reads
// the result.
import { dtypes, promoteTypes } from '../dtype.js'
import { fmtShape, normAxis, prod, range, shapeEq, TsgradError } from '../helpers.js'
import { checkKnownIndices, knownValues } from './index_check.js'
import { indexedLoad } from './indexed_load.js'
import { broadcastShapes } from './shapes.js'
import { Tensor } from './tensor.js'

/** One item of `get(...)`: index, 'start:stop:step' slice, '...', null (new axis) or an int tensor. */
export type IndexItem = number | string | null | Tensor

declare module './tensor.js' {
  interface Tensor {
    split(sizes: number | readonly number[], dim?: number): Tensor[]
    chunk(n: number, dim?: number): Tensor[]
    repeat(repeats: readonly number[]): Tensor
    gather(dim: number, index: Tensor): Tensor
    tril(k?: number): Tensor
    triu(k?: number): Tensor
    get(...items: IndexItem[]): Tensor
  }
  namespace Tensor {
    let cat: (tensors: readonly Tensor[], dim?: number) => Tensor
    let stack: (tensors: readonly Tensor[], dim?: number) => Tensor
  }
}

const P = Tensor.prototype

Tensor.cat = (tensors, dim = 0) => {
  if (!Array.isArray(tensors) || tensors.length === 0 || !tensors.every((t) => t instanceof Tensor))
    throw new TsgradError('cat: expected a non-empty array of tensors')
  const first = tensors[0]!
  const d = normAxis('cat', dim, first.ndim, first.shape)
  for (const t of tensors)
    if (t.ndim !== first.ndim || !t.shape.every((s, i) => i === d || s === first.shape[i]))
      throw new TsgradError(
        `cat: shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside dimension ${d}`,
      )
  if (tensors.length === 1) return first
  const dt = tensors.map((t) => t.dtype).reduce(promoteTypes)
  const total = tensors.reduce((a, t) => a + t.shape[d]!, 0)
  let off = 0
  let out: Tensor | undefined
  for (const t of tensors) {
    const pads = t.shape.map((_, i) =>
      i === d ? ([off, total - off - t.shape[d]!] as [number, number]) : ([0, 0] as [number, number]),
    )
    off += t.shape[d]!
    const p = t.cast(dt).pad(pads)
    out = out ? (dt.isBool ? out.logicalOr(p) : out.add(p)) : p
  }
  return out!
}

Tensor.stack = (tensors, dim = 0) => {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new TsgradError('stack: expected a non-empty array of tensors')
  const first = tensors[0]!
  for (const t of tensors)
    if (!shapeEq(t.shape, first.shape))
      throw new TsgradError(
        `stack: all tensors need the same shape, got ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`,
      )
  const d = normAxis('stack', dim, first.ndim + 1, first.shape)
  return Tensor.cat(
    tensors.map((t) => t.unsqueeze(d)),
    d,
  )
}

P.split = function (sizes, dim = 0) {
  const d = normAxis('split', dim, this.ndim, this.shape)
  const n = this.shape[d]!
  let list: number[]
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0)
      throw new TsgradError(`split: size must be a positive integer, got ${sizes}`)
    list = range(Math.ceil(n / sizes)).map((i) => Math.min(sizes, n - i * sizes))
  } else list = [...sizes]
  if (list.reduce((a, b) => a + b, 0) !== n)
    throw new TsgradError(
      `split: sizes ${fmtShape(list)} do not add up to ${n} (dimension ${d} of ${fmtShape(this.shape)})`,
    )
  let off = 0
  return list.map((s) => {
    const arg = this.shape.map((sz, i) =>
      i === d ? ([off, off + s] as [number, number]) : ([0, sz] as [number, number]),
    )
    off += s
    return this.shrink(arg)
  })
}
P.chunk = function (n, dim = 0) {
  const d = normAxis('chunk', dim, this.ndim, this.shape)
  if (!Number.isInteger(n) || n <= 0)
    throw new TsgradError(`chunk: number of chunks must be a positive integer, got ${n}`)
  return this.split(Math.max(1, Math.ceil(this.shape[d]! / n)), d)
}
P.repeat = function (repeats) {
  if (
    !Array.isArray(repeats) ||
    repeats.length < this.ndim ||
    !repeats.every((r) => Number.isInteger(r) && r >= 0)
  )
    throw new TsgradError(
      `repeat: need at least ${this.ndim} non-negative integer repeats for shape ${fmtShape(this.shape)}, got ${JSON.stringify(repeats)}`,
    )
  const base = [...Array(repeats.length - this.ndim).fill(1), ...this.shape]
  const x = this.reshape(base.flatMap((s) => [1, s]))
  return x.expand(base.flatMap((s, i) => [repeats[i]!, s])).reshape(base.map((s, i) => s * repeats[i]!))
}

P.gather = function (dim, index) {
  const d = normAxis('gather', dim, this.ndim, this.shape)
  if (!(index instanceof Tensor) || !index.dtype.isInt)
    throw new TsgradError(
      `gather: index must be an integer Tensor, got ${index instanceof Tensor ? `${index.dtype.name} of shape ${fmtShape(index.shape)}` : typeof index} (JS numbers make float32 tensors: create indices with { dtype: 'int32' })`,
    )
  if (index.ndim !== this.ndim || !index.shape.every((s, i) => i === d || s <= this.shape[i]!))
    throw new TsgradError(
      `gather: index shape ${fmtShape(index.shape)} does not fit input ${fmtShape(this.shape)} at dimension ${d}`,
    )
  const n = this.shape[d]!
  // PyTorch raises on an out-of-range index; a lazy index selects nothing there (gives 0)
  checkKnownIndices('gather', index, 0, n - 1, `dimension ${d} of size ${n} (input ${fmtShape(this.shape)})`)
  // x restricted to the index's extent on the other axes: one indexed load per output element
  const x = this.shrink(
    this.shape.map((s, i) => (i === d ? [0, s] : [0, index.shape[i]!]) as [number, number]),
  )
  return indexedLoad(x, index, d)
}

function triMask(t: Tensor, k: number, lower: boolean): Tensor {
  if (t.ndim < 2)
    throw new TsgradError(`${lower ? 'tril' : 'triu'}: needs at least 2 dimensions, got ${fmtShape(t.shape)}`)
  const [r, c] = t.shape.slice(-2) as [number, number]
  const rows = Tensor.iota(r, t.device).reshape([r, 1])
  const cols = Tensor.iota(c, t.device).reshape([1, c])
  const m = lower ? cols.le(rows.add(k)) : cols.ge(rows.add(k))
  return m.where(t, 0).cast(t.dtype)
}
P.tril = function (k = 0) {
  return triMask(this, k, true)
}
P.triu = function (k = 0) {
  return triMask(this, k, false)
}

function parseSlice(s: string, n: number): [number, number, number] {
  const parts = s.split(':')
  if (parts.length < 2 || parts.length > 3)
    throw new TsgradError(`get: invalid slice '${s}' (expected 'start:stop:step')`)
  const num = (p: string | undefined): number | undefined => {
    if (p === undefined || p.trim() === '') return undefined
    const v = Number(p)
    if (!Number.isInteger(v)) throw new TsgradError(`get: invalid slice '${s}'`)
    return v
  }
  const step = num(parts[2]) ?? 1
  if (step === 0) throw new TsgradError(`get: slice step cannot be zero ('${s}')`)
  const norm = (v: number | undefined, dflt: number, lo: number, hi: number): number =>
    v === undefined ? dflt : Math.min(hi, Math.max(lo, v < 0 ? v + n : v))
  if (step > 0) return [norm(num(parts[0]), 0, 0, n), norm(num(parts[1]), n, 0, n), step]
  return [norm(num(parts[0]), n - 1, -1, n - 1), norm(num(parts[1]), -1, -1, n - 1), step]
}

/** basic slice of one axis: [start, stop) with a step (negative steps flip) */
function sliceAxis(t: Tensor, ax: number, [start, stop, step]: [number, number, number]): Tensor {
  const n = t.shape[ax]!
  let x = t
  let s = start
  let e = stop
  if (step < 0) {
    x = x.flip(ax)
    s = n - 1 - start
    e = n - 1 - stop
  }
  const st = Math.abs(step)
  const len = Math.max(0, Math.ceil((e - s) / st))
  const shrinkArg = x.shape.map(
    (d, i) => (i === ax ? [s, s + Math.min(len * st, n - s)] : [0, d]) as [number, number],
  )
  x = x.shrink(len === 0 ? shrinkArg.map((a, i) => (i === ax ? [0, 0] : a) as [number, number]) : shrinkArg)
  if (st === 1 || len === 0) return x
  // strided: pad to len*st, view as (len, st), keep column 0
  const cur = x.shape[ax]!
  x = x.pad(x.shape.map((_, i) => (i === ax ? [0, len * st - cur] : [0, 0]) as [number, number]))
  const sh = x.shape
  x = x.reshape([...sh.slice(0, ax), len, st, ...sh.slice(ax + 1)])
  x = x.shrink(x.shape.map((d, i) => (i === ax + 1 ? [0, 1] : [0, d]) as [number, number]))
  return x.reshape([...sh.slice(0, ax), len, ...sh.slice(ax + 1)])
}

P.get = function (...items) {
  const ell = items.filter((it) => it === '...').length
  if (ell > 1) throw new TsgradError("get: at most one '...' allowed")
  const consumes = (it: IndexItem) => it !== null && it !== '...'
  const used = items.filter(consumes).length
  if (used > this.ndim)
    throw new TsgradError(`get: too many indices (${used}) for a tensor of shape ${fmtShape(this.shape)}`)
  const full: IndexItem[] = []
  for (const it of items) {
    if (it === '...') for (let i = 0; i < this.ndim - used; i++) full.push(':')
    else full.push(it)
  }
  while (full.filter(consumes).length < this.ndim) full.push(':')
  let x: Tensor = this
  let ax = 0 // axis of x the next item applies to
  const tensorAxes: { axis: number; index: Tensor }[] = []
  for (const it of full) {
    if (it === null) {
      x = x.unsqueeze(ax)
      ax++
    } else if (typeof it === 'number') {
      const n = x.shape[ax]!
      if (!Number.isInteger(it) || it < -n || it >= n)
        throw new TsgradError(
          `get: index ${it} out of range for dimension ${ax} of size ${n} (shape ${fmtShape(this.shape)})`,
        )
      const i = it < 0 ? it + n : it
      x = x.shrink(x.shape.map((d, j) => (j === ax ? [i, i + 1] : [0, d]) as [number, number])).squeeze(ax)
    } else if (typeof it === 'string') {
      x = sliceAxis(x, ax, parseSlice(it, x.shape[ax]!))
      ax++
    } else if (it instanceof Tensor) {
      if (!it.dtype.isInt && !it.dtype.isBool)
        throw new TsgradError(
          `get: tensor indices must be integers or bools, got ${it.dtype.name} (JS numbers make float32 tensors: create indices with { dtype: 'int32' })`,
        )
      const n = x.shape[ax]!
      // numpy: -n..n-1; a lazy index outside that selects nothing (gives 0)
      const index = it.dtype.isBool ? maskPositions(it, n, ax, this.shape) : it
      checkKnownIndices(
        'get',
        index,
        -n,
        n - 1,
        `dimension ${ax} of size ${n} (shape ${fmtShape(this.shape)})`,
      )
      // int64 where int32 could wrap a lazy value onto a valid position (2^32 + 1 -> 1) or the
      // axis is longer than int32 counts
      const wide = index.dtype.bits > 32 || index.dtype === dtypes.uint32 || n - 1 > 2 ** 31 - 1
      tensorAxes.push({ axis: ax, index: index.cast(wide ? dtypes.int64 : dtypes.int32) })
      ax++
    } else throw new TsgradError(`get: unsupported index item ${JSON.stringify(it)}`)
  }
  if (tensorAxes.length === 0) return x
  return advancedIndex(x, tensorAxes)
}

/**
 * numpy: a bool mask on an axis selects the positions where it is true. The result's length
 * depends on the values, so they must be known when the graph is built.
 */
function maskPositions(mask: Tensor, n: number, ax: number, shape: readonly number[]): Tensor {
  const vals = knownValues(mask)
  if (mask.ndim !== 1 || mask.shape[0] !== n || !vals || vals.length !== n)
    throw new TsgradError(
      `get: a bool mask index must be a realized 1-d tensor of length ${n} (dimension ${ax} of shape ${fmtShape(shape)}), got ${fmtShape(mask.shape)}${vals ? '' : ' whose values are not known yet (realize it first)'}`,
    )
  const pos: number[] = []
  for (let i = 0; i < n; i++) if (Number(vals[i]!)) pos.push(i)
  return new Tensor(Int32Array.from(pos), { device: mask.device })
}

/**
 * numpy advanced indexing with int tensors on some axes: the indexed axes are flattened into one
 * position (its index computed from the index tensors, -1 where any is out of range) and read by
 * one indexed load per output element.
 */
function advancedIndex(x: Tensor, idx: { axis: number; index: Tensor }[]): Tensor {
  const bshape = broadcastShapes('get', ...idx.map((i) => i.index.shape))
  const axes = idx.map((i) => i.axis)
  const rest = range(x.ndim).filter((a) => !axes.includes(a))
  const restShape = rest.map((a) => x.shape[a]!)
  const nShape = axes.map((a) => x.shape[a]!)
  const positions = prod(nShape)
  // x as (positions, rest...): the indexed axes first, flattened
  const xp = x.permute([...axes, ...rest]).reshape([positions, ...restShape])
  const wide =
    positions - 1 > 2 ** 31 - 1 || idx.some((i) => i.index.dtype === dtypes.int64)
      ? dtypes.int64
      : dtypes.int32
  let flat: Tensor | undefined
  let valid: Tensor | undefined
  let stride = positions
  idx.forEach(({ axis, index }) => {
    const n = x.shape[axis]!
    stride /= n
    // numpy: -n..n-1
    const i = index.lt(0).where(index.add(n), index).cast(wide)._broadcastTo(bshape)
    const term = stride === 1 ? i : i.mul(stride)
    flat = flat ? flat.add(term) : term
    if (idx.length > 1) {
      const ok = i.ge(0).logicalAnd(i.lt(n))
      valid = valid ? valid.logicalAnd(ok) : ok
    }
  })
  // with one index the load's own gate rejects what is out of range; with several, one index in
  // range must not carry another's overflow into a valid flat position
  if (valid) flat = valid.where(flat!, -1)
  const B = prod(bshape)
  const at = flat!.reshape([B, ...restShape.map(() => 1)]).expand([B, ...restShape])
  let out = indexedLoad(xp, at, 0).reshape([...bshape, ...restShape])
  // numpy: adjacent tensor axes keep their place, otherwise the broadcast dims go first
  const adjacent = axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1)
  if (adjacent && axes[0]! > 0) {
    const pos = rest.filter((a) => a < axes[0]!).length
    const bn = bshape.length
    const order = [
      ...range(pos).map((i) => bn + i),
      ...range(bn),
      ...range(restShape.length - pos).map((i) => bn + pos + i),
    ]
    out = out.permute(order)
  }
  return out
}
