// Rangeify: lower one kernel's region of the tensor graph into kernel IR.
//
// The output gets one RANGE per dimension; each node is then evaluated at an index (one int
// expression per dimension of its shape). Movement ops never copy: they turn into index math on
// the way down (reshape -> flatten/unflatten with // and %, permute -> reorder, expand -> 0,
// pad -> shifted index plus a validity gate, shrink -> offset, flip -> n-1-i). A REDUCE_AXIS opens
// fresh 'reduce' ranges. Nodes at the region's boundary (realized buffers) become LOADs. A GATHER
// is a data-dependent index: its index tensor is lowered first and its value, clamped and gated,
// becomes the index of the gathered axis (one indexed load, not a one-hot reduction).
import { type DType, dtypes } from '../dtype.js'
import { positionDType } from '../uop/graph.js'
import { ALU, type BufferRef, MOVEMENT, Ops, type PadArg, type ReduceOp, type sint, UOp } from '../uop/ops.js'
import { smax, sMul, sprod } from '../uop/sint.js'

export interface LoweringContext {
  /** is this node read from a buffer (not computed in this kernel)? */
  isBoundary(u: UOp): boolean
  /** DEFINE_GLOBAL index for a boundary node (registers it as a kernel input) */
  paramFor(u: UOp): number
  /** dtype of every range and index expression of this kernel (`indexDTypeFor`; int32 if absent) */
  readonly indexDType?: DType
}

interface Task {
  n: UOp
  idx: readonly UOp[]
  gate: UOp | undefined
}

/** Index math goes int64 once a size passes this: partial sums of index terms with mixed signs
 * (flip, pad) reach about twice the largest size, and int32 ends at 2^31. */
const INT32_INDEX_LIMIT = 2 ** 30

/**
 * The index dtype of a kernel computing `root`: int64 if any tensor in its region (up to the
 * boundary buffers, whose sizes count too) has more than 2^30 elements, else int32. Codegen
 * narrows the int64 index nodes whose value range fits back to int32 (`narrowIndexMath`).
 */
export function indexDTypeFor(root: UOp, isBoundary: (u: UOp) => boolean): DType {
  const seen = new Set<UOp>()
  const stack = [root]
  while (stack.length) {
    const u = stack.pop()!
    if (seen.has(u)) continue
    seen.add(u)
    const n = u.op === Ops.BUFFER ? (u.arg as BufferRef).size : u.shape ? smax(sprod(u.shape)) : 0
    if (n > INT32_INDEX_LIMIT) return dtypes.int64
    if (u === root || !isBoundary(u)) for (const s of u.src) stack.push(s)
  }
  return dtypes.int32
}

/** A size as an index expression of dtype `dt` (a symbolic size is int32 math over variables). */
const sizeU = (d: sint, dt: DType): UOp => (typeof d === 'number' ? UOp.const(dt, d) : d.cast(dt))

/** Row-major strides of a shape whose sizes may be symbolic. */
function sStrides(shape: readonly sint[]): sint[] {
  const st = new Array<sint>(shape.length)
  let acc: sint = 1
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc
    acc = sMul(acc, shape[i]!)
  }
  return st
}

function flatIndex(idx: readonly UOp[], shape: readonly sint[], dt: DType): UOp {
  const st = sStrides(shape)
  let acc: UOp = UOp.const(dt, 0)
  idx.forEach((ix, i) => {
    if (shape[i] !== 1) acc = acc.add(ix.mul(sizeU(st[i]!, dt)))
  })
  return acc
}

function unflatIndex(flat: UOp, shape: readonly sint[]): UOp[] {
  const st = sStrides(shape)
  const dt = flat.dtype
  // a valid flat index is below the size, so the outermost axis needs no `% d`; without it a gated
  // (padded) index that may go negative outside its gate keeps no modulo over the whole buffer
  const outer = shape.findIndex((d) => d !== 1)
  return shape.map((d, i) =>
    d === 1
      ? flat.constLike(0)
      : i === outer
        ? flat.idiv(sizeU(st[i]!, dt))
        : flat.idiv(sizeU(st[i]!, dt)).mod(sizeU(d, dt)),
  )
}

/** idx for `inShape` from idx for `outShape` of a reshape. */
function reshapeIndex(
  idx: readonly UOp[],
  outShape: readonly sint[],
  inShape: readonly sint[],
  dt: DType,
): UOp[] {
  // fast path: the shapes only differ by size-1 axes
  const outNon1 = outShape.map((d, i) => [d, i] as const).filter(([d]) => d !== 1)
  const inNon1 = inShape.map((d, i) => [d, i] as const).filter(([d]) => d !== 1)
  if (outNon1.length === inNon1.length && outNon1.every(([d], k) => d === inNon1[k]![0])) {
    const res = inShape.map(() => UOp.const(dt, 0))
    inNon1.forEach(([, i], k) => {
      res[i] = idx[outNon1[k]![1]]!
    })
    return res
  }
  return unflatIndex(flatIndex(idx, outShape, dt), inShape)
}

export class KernelLowering {
  private rangeId = 0
  private readonly memo = new Map<string, UOp>()

  readonly indexDType: DType

  constructor(private readonly ctx: LoweringContext) {
    this.indexDType = ctx.indexDType ?? dtypes.int32
  }

  private iconst(v: number): UOp {
    return UOp.const(this.indexDType, v)
  }

  newRange(size: sint, kind: 'global' | 'reduce'): UOp {
    return UOp.range(sizeU(size, this.indexDType), this.rangeId++, kind, this.indexDType)
  }

  private size(d: sint): UOp {
    return sizeU(d, this.indexDType)
  }
  private sizeMinus1(d: sint): UOp {
    return typeof d === 'number' ? this.iconst(d - 1) : this.size(d).sub(1)
  }

  /** Output ranges for a kernel producing `shape` (size-1 axes get index 0). */
  outputIndex(shape: readonly sint[]): UOp[] {
    return shape.map((d) => (d === 1 ? this.iconst(0) : this.newRange(d, 'global')))
  }

  flatIndex(idx: readonly UOp[], shape: readonly sint[]): UOp {
    return flatIndex(idx, shape, this.indexDType)
  }

  /**
   * Where the element at `idx` of `view` (movement ops and DETACH over a BUFFER) lives in the
   * buffer: its flat index, and the validity gate its pads impose (undefined without one). The
   * index math is the one reads use (`plan`), so an assign through a view writes exactly the
   * elements a read of the view sees, symbolic offsets included.
   */
  viewIndex(view: UOp, idx: readonly UOp[]): { index: UOp; gate: UOp | undefined } {
    let t: Task = { n: view, idx, gate: undefined }
    while (t.n.op !== Ops.BUFFER) {
      if (!MOVEMENT.has(t.n.op) && t.n.op !== Ops.DETACH)
        throw new Error(`rangeify: the target of a write is not a view of a buffer (found ${t.n.op})`)
      t = this.planOp(t).children[0]!
    }
    return { index: this.flatIndex(t.idx, [(t.n.arg as BufferRef).size]), gate: t.gate }
  }

  /**
   * Value of tensor node `root` at index `idx` as kernel IR (iterative, memoized); loads of it
   * happen only where `gate` holds.
   */
  lower(root: UOp, idx: readonly UOp[], gate?: UOp): UOp {
    const key = (t: Task): string => `${t.n.id}:${t.idx.map((u) => u.id).join(',')}:${t.gate?.id ?? ''}`
    const stack: [Task, number][] = [[{ n: root, idx, gate }, 0]]
    const plans = new Map<string, { children: Task[]; combine: (v: UOp[]) => UOp }>()
    const rootKey = key(stack[0]![0])
    while (stack.length) {
      const [t, stage] = stack.pop()!
      const k = key(t)
      if (this.memo.has(k)) continue
      if (stage === 0) {
        const plan = this.plan(t)
        plans.set(k, plan)
        stack.push([t, 1])
        for (const c of plan.children) if (!this.memo.has(key(c))) stack.push([c, 0])
      } else {
        const plan = plans.get(k)!
        this.memo.set(k, plan.combine(plan.children.map((c) => this.memo.get(key(c))!)))
        plans.delete(k)
      }
    }
    return this.memo.get(rootKey)!
  }

  /**
   * A loaded index value `v` as a position below `size`: `valid` says whether 0 <= v < size, and
   * `at` is v clamped into 0..size-1, so its value range is known to the symbolic passes (index
   * math over it folds, narrow_index_math sizes it) and no address ever leaves the buffer even
   * where the gate is off. Compared in a dtype wide enough for v and size (an int8 index against
   * a vocabulary of 128k, a uint32 or int64 index against an int32 size).
   */
  private dataIndex(v: UOp, size: number): { at: UOp; valid: UOp } {
    const w = v.cast(positionDType(v.dtype))
    const c = (x: number) => UOp.const(w.dtype, x)
    const valid = c(-1).lt(w).and(w.lt(size))
    const last = c(size - 1)
    const at = last.sub(last.sub(w.max(0)).max(0))
    return { at: at.cast(this.indexDType), valid }
  }

  private plan(t: Task): { children: Task[]; combine: (v: UOp[]) => UOp } {
    const { n, idx, gate } = t
    if (this.ctx.isBoundary(n)) {
      const param = this.ctx.paramFor(n)
      const shape = n.op === Ops.BUFFER ? [(n.arg as BufferRef).size] : n.shape!
      const dg = UOp.new(Ops.DEFINE_GLOBAL, n.dtype, [], param)
      const flat = this.flatIndex(idx, shape)
      const load = UOp.new(Ops.LOAD, n.dtype, gate ? [dg, flat, gate] : [dg, flat])
      return { children: [], combine: () => load }
    }
    return this.planOp(t)
  }

  /** The plan of `t.n` computed in this kernel (not read from a buffer). */
  private planOp(t: Task): { children: Task[]; combine: (v: UOp[]) => UOp } {
    const { n, idx, gate } = t
    const leaf = (u: UOp) => ({ children: [], combine: () => u })
    const same = (src: UOp, f: (v: UOp) => UOp = (v) => v) => ({
      children: [{ n: src, idx, gate }],
      combine: (v: UOp[]) => f(v[0]!),
    })
    const inShape = n.src[0]?.shape ?? []
    switch (n.op) {
      case Ops.CONST:
        // a Variable's value (Tensor.fromVariable): the expression, a kernel argument after unbind
        if (n.src[1]) return leaf(n.src[1].cast(n.dtype))
        return leaf(UOp.const(n.dtype, n.arg as number))
      case Ops.IOTA:
        return leaf(idx[0]!.cast(n.dtype))
      case Ops.CONTIGUOUS:
      case Ops.DETACH:
        return same(n.src[0]!)
      case Ops.RESHAPE:
        return {
          children: [{ n: n.src[0]!, idx: reshapeIndex(idx, n.shape!, inShape, this.indexDType), gate }],
          combine: (v) => v[0]!,
        }
      case Ops.PERMUTE: {
        const order = n.arg as number[]
        const ci = new Array<UOp>(order.length)
        order.forEach((o, i) => {
          ci[o] = idx[i]!
        })
        return { children: [{ n: n.src[0]!, idx: ci, gate }], combine: (v) => v[0]! }
      }
      case Ops.EXPAND: {
        const ci = inShape.map((d, i) => (d === 1 ? this.iconst(0) : idx[i]!))
        return { children: [{ n: n.src[0]!, idx: ci, gate }], combine: (v) => v[0]! }
      }
      case Ops.SHRINK: {
        const ci = (n.arg as [sint, sint][]).map(([s], i) => (s === 0 ? idx[i]! : idx[i]!.add(this.size(s))))
        return { children: [{ n: n.src[0]!, idx: ci, gate }], combine: (v) => v[0]! }
      }
      case Ops.FLIP: {
        const ci = (n.arg as boolean[]).map((f, i) =>
          f ? this.sizeMinus1(inShape[i]!).sub(idx[i]!) : idx[i]!,
        )
        return { children: [{ n: n.src[0]!, idx: ci, gate }], combine: (v) => v[0]! }
      }
      case Ops.PAD: {
        const { pads, value } = n.arg as PadArg
        let valid: UOp | undefined
        const ci = pads.map(([b], i) => {
          const ix = idx[i]!
          if (pads[i]![0] === 0 && pads[i]![1] === 0) return ix
          const bu = this.size(b)
          const d = inShape[i]!
          const lo = typeof b === 'number' ? this.iconst(b - 1) : bu.sub(1)
          const hi =
            typeof b === 'number' && typeof d === 'number' ? this.iconst(b + d) : bu.add(this.size(d))
          const ok = lo.lt(ix).and(ix.lt(hi))
          valid = valid ? valid.and(ok) : ok
          return b === 0 ? ix : ix.sub(bu)
        })
        if (!valid) return { children: [{ n: n.src[0]!, idx: ci, gate }], combine: (v) => v[0]! }
        const v = valid
        const g = gate ? gate.and(v) : v
        return {
          children: [{ n: n.src[0]!, idx: ci, gate: g }],
          combine: (c) => v.where(c[0]!, UOp.const(n.dtype, value)),
        }
      }
      case Ops.GATHER: {
        // the index's value selects the position along `axis`; outside 0..size-1 nothing is
        // loaded (the gate) and the value is 0. x is lowered once the index's value is known.
        const axis = n.arg as number
        const x = n.src[0]!
        const size = x.shape![axis]!
        // (the front end refuses indexing of symbolic tensors)
        if (typeof size !== 'number') throw new Error('rangeify: GATHER along a symbolic axis')
        if (size === 0) return leaf(UOp.const(n.dtype, 0)) // nothing to select from
        return {
          children: [{ n: n.src[1]!, idx, gate }],
          combine: (v) => {
            const { at, valid } = this.dataIndex(v[0]!, size)
            const ci = idx.map((ix, i) => (i === axis ? at : ix))
            const xv = this.lower(x, ci, gate ? gate.and(valid) : valid)
            // a plain load under the gate already reads 0 where the index is invalid
            return xv.op === Ops.LOAD ? xv : valid.where(xv, UOp.const(n.dtype, 0))
          },
        }
      }
      case Ops.REDUCE_AXIS: {
        const [op, axes] = n.arg as [ReduceOp, number[]]
        const ranges: UOp[] = []
        const ci = inShape.map((d, i) => {
          if (!axes.includes(i)) return idx[i]!
          if (d === 1) return this.iconst(0)
          const r = this.newRange(d, 'reduce')
          ranges.push(r)
          return r
        })
        return {
          children: [{ n: n.src[0]!, idx: ci, gate }],
          combine: (v) => (ranges.length ? UOp.new(Ops.REDUCE, n.dtype, [v[0]!, ...ranges], op) : v[0]!),
        }
      }
    }
    if (ALU.has(n.op)) {
      return {
        children: n.src.map((s) => ({ n: s, idx, gate })),
        combine: (v) => UOp.new(n.op, n.dtype, v, n.arg),
      }
    }
    throw new Error(`rangeify: cannot lower ${n.op} inside a kernel`)
  }
}
