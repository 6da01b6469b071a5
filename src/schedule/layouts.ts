// Pass `layouts`: memory layouts that pay for a copy, chosen per device from its renderer's
// `LayoutTarget` (renderer/target.ts), never in the Tensor front end. It runs on the lazy graph
// before realize points are found (engine/realize.ts), after autograd, so a product and its
// structural gradients are laid out alike.
//
// A matmul-like reduce is a sum over one axis k of a product of two broadcasts, A broadcast along
// the output's innermost axis n and B along some output axis m (the rows): `a @ b`, its gradients
// `g @ b^T` and `a^T @ g`, attention's scores. The register tile (codegen/heuristics.ts) reads one
// row of n values of B per step of k. When the product is big enough (`packMinRows` rows and
// `packMinWork` multiply-adds), B is copied in the product's dtype:
// - to panels (..., n/panel, k, panel) when n is a multiple of `panel` (the register tile's width):
//   the k x panel strip the tile walks down is contiguous and stays in L2 while the tile moves
//   along m (read in place, a wide B's row stride is a power of two that falls into a few cache
//   sets); the reduce then runs over n split into (n/panel, panel), read back as n by a reshape;
// - else contiguous along n (k, n), unless it is already (x @ W.T reads W at its row stride per
//   step of k otherwise).
// Casting in the copy matters: float16 weights of a float32 product packed as float16 had their
// cast realized as a second copy in the cast's own layout, read at stride k (11 instead of 210
// GFLOP/s for a prefill at T=512).
// Convolutions' products (a window view times a weight) are laid out by conv_layouts.ts first.
import type { DType } from '../dtype.js'
import { stridesFor } from '../helpers.js'
import { viz } from '../trace.js'
import * as G from '../uop/graph.js'
import { MOVEMENT, Ops, type sint, UOp } from '../uop/ops.js'
import { graphRewrite, PatternMatcher, rule, UPat } from '../uop/rewrite.js'
import type { LayoutTarget } from '../renderer/target.js'
import { layOutConvReduce, type Pads, sharedGradients } from './conv_layouts.js'
import { layoutCopy, viewIsLayoutCopy } from './layout_copy.js'

const isInt = (d: sint): d is number => typeof d === 'number'

/**
 * Element strides of `u` as a view of a contiguous base (a BUFFER, or a CONTIGUOUS about to be one)
 * through RESHAPE, PERMUTE and EXPAND; undefined for anything else (computed values, pads,
 * shrinks, flips) or a reshape that needs a copy.
 */
function viewStrides(u: UOp, anyBase = false): number[] | undefined {
  const chain: UOp[] = []
  let b = u
  while (b.op === Ops.RESHAPE || b.op === Ops.PERMUTE || b.op === Ops.EXPAND || b.op === Ops.DETACH) {
    chain.push(b)
    b = b.src[0]!
  }
  // (anyBase: a computed base counts as the contiguous buffer it is realized into)
  if (!anyBase && b.op !== Ops.BUFFER && b.op !== Ops.CONTIGUOUS) return undefined
  if (MOVEMENT.has(b.op)) return undefined
  if (!b.shape!.every(isInt)) return undefined
  let shape = b.shape as number[]
  let st = stridesFor(shape)
  for (const v of chain.reverse()) {
    if (!v.shape!.every(isInt)) return undefined
    const to = v.shape as number[]
    if (v.op === Ops.PERMUTE) st = (v.arg as number[]).map((i) => st[i]!)
    else if (v.op === Ops.EXPAND) st = st.map((s, i) => (shape[i] === to[i] ? s : 0))
    else if (v.op === Ops.RESHAPE) {
      const r = reshapeStrides(shape, st, to)
      if (!r) return undefined
      st = r
    }
    shape = to
  }
  return st
}

/** Strides of a view reshaped from (shape, st) to `to` without a copy, or undefined. */
function reshapeStrides(
  shape: readonly number[],
  st: readonly number[],
  to: readonly number[],
): number[] | undefined {
  // drop unit axes, then match groups of equal products; each old group must be contiguous
  const old = shape.map((d, i) => [d, st[i]!] as const).filter(([d]) => d !== 1)
  const out = new Array<number>(to.length).fill(0)
  let i = 0
  let j = 0
  while (j < to.length && to[j] === 1) j++
  while (i < old.length || j < to.length) {
    if (i >= old.length || j >= to.length) return undefined
    // one group: old axes i..i2, new axes j..j2 with equal products
    let po = old[i]![0]
    let pn = to[j]!
    const i0 = i
    const j0 = j
    while (po !== pn) {
      if (po < pn) po *= old[++i]?.[0] ?? Number.NaN
      else pn *= to[++j] ?? Number.NaN
      if (Number.isNaN(po) || Number.isNaN(pn)) return undefined
    }
    for (let a = i0; a < i; a++) if (old[a]![1] !== old[a + 1]![1] * old[a + 1]![0]) return undefined
    // the new axes of the group: row-major from the group's innermost stride
    let acc = old[i]![1]
    for (let b = j; b >= j0; b--) {
      out[b] = to[b] === 1 ? 0 : acc
      acc *= to[b]!
    }
    i++
    j++
    while (j < to.length && to[j] === 1) j++
  }
  return out
}

/** One operand of the product: `view` broadcast to the product's shape, then maybe cast. */
interface Operand {
  /** the node before the broadcast (1 on the broadcast axes) */
  readonly view: UOp
  /** axes it is broadcast along */
  readonly broadcast: ReadonlySet<number>
  /** the dtype of the product when the operand is cast after its broadcast */
  readonly castTo: DType | undefined
}

/**
 * Whether a view pads or flips: a convolution's sliding windows (conv_layouts.ts lays those out;
 * copied here, the patches were an im2col copy its direct kernels avoid). A slice (SHRINK:
 * attention's q, k and v taken from one projection) is an ordinary operand.
 */
function isWindowed(v: UOp): boolean {
  for (let u = v; MOVEMENT.has(u.op) || u.op === Ops.DETACH; u = u.src[0]!)
    if (u.op === Ops.PAD || u.op === Ops.FLIP) return true
  return false
}

function operandOf(u: UOp, shape: readonly number[]): Operand | undefined {
  const castTo = u.op === Ops.CAST ? u.dtype : undefined
  const e = castTo ? u.src[0]! : u
  if (e.op !== Ops.EXPAND) return undefined
  const view = e.src[0]!
  if (isWindowed(view)) return undefined
  const from = view.shape!
  if (!from.every(isInt)) return undefined
  const broadcast = new Set(shape.map((_, i) => i).filter((i) => from[i] === 1 && shape[i]! > 1))
  return { view, broadcast, castTo }
}

/** A matmul-like reduce, in the terms of the module comment. */
interface Product {
  readonly reduce: UOp
  readonly shape: readonly number[]
  /** the reduced axis k, the output's innermost axis n, the rows m (B's innermost broadcast axis) */
  readonly k: number
  readonly n: number
  readonly m: number
  /** every row that reads B: the product of the axes B is broadcast along and A is not */
  readonly rowsReadingB: number
  readonly a: Operand
  readonly b: Operand
  /** whether the product's operands are (B, A) rather than (A, B) */
  readonly swapped: boolean
  /** the dtype the sum accumulates in, when it casts the product */
  readonly accDType: DType | undefined
}

/**
 * A sum over several adjacent axes along which no operand is broadcast (a weight's gradient summed
 * over batch and sequence) as a sum over one merged axis: the reduce, or undefined when it has one
 * axis or cannot merge. Its result has the merged shape (reshape it back).
 */
function mergedReduce(r: UOp): UOp | undefined {
  const [op, axes] = r.arg as [string, number[]]
  const body = r.src[0]!
  if (op !== 'ADD' || !body.shape!.every(isInt)) return undefined
  const shape = body.shape as number[]
  const reduced = axes.filter((a) => shape[a]! > 1)
  if (reduced.length < 2 || reduced.some((a, i) => i > 0 && a !== reduced[i - 1]! + 1)) return undefined
  const [lo, hi] = [reduced[0]!, reduced.at(-1)! + 1]
  const merge = (s: readonly number[]): number[] | undefined => {
    const part = s.slice(lo, hi)
    // an operand varies along all of the axes or none
    if (!part.every((d, i) => d === shape[lo + i]) && !part.every((d) => d === 1)) return undefined
    return [...s.slice(0, lo), part.reduce((a, b) => a * b, 1), ...s.slice(hi)]
  }
  const to = merge(shape)!
  const rebuild = (u: UOp): UOp | undefined => {
    // through the product's casts and its operands' broadcasts to the views they broadcast
    if (u.op === Ops.CAST || u.op === Ops.MUL) {
      const src = u.src.map(rebuild)
      return src.every((x) => x) ? u.replace({ src: src as UOp[] }) : undefined
    }
    if (u.op !== Ops.EXPAND || !u.src[0]!.shape!.every(isInt)) return undefined
    const m = merge(u.src[0]!.shape as number[])
    return m && G.expand(G.reshape(u.src[0]!, m), to)
  }
  const b = rebuild(body)
  return b && UOp.new(Ops.REDUCE_AXIS, r.dtype, [b], ['ADD', [lo]])
}

function productOf(r: UOp): Product | undefined {
  const [op, axes] = r.arg as [string, number[]]
  if (op !== 'ADD') return undefined
  const accDType = r.src[0]!.op === Ops.CAST ? r.src[0]!.dtype : undefined
  const mul = accDType ? r.src[0]!.src[0]! : r.src[0]!
  if (mul.op !== Ops.MUL || !mul.shape!.every(isInt)) return undefined
  const shape = mul.shape as number[]
  const reduced = axes.filter((a) => shape[a]! > 1)
  if (reduced.length !== 1) return undefined
  const k = reduced[0]!
  const outAxes = shape.map((_, i) => i).filter((i) => i !== k && shape[i]! > 1)
  const n = outAxes.at(-1)
  if (n === undefined) return undefined
  const x = operandOf(mul.src[0]!, shape)
  const y = operandOf(mul.src[1]!, shape)
  if (!x || !y) return undefined
  // A is broadcast along n, B is not; B is broadcast along the rows, A is not; neither along k
  const swapped = y.broadcast.has(n)
  const [a, b] = swapped ? [y, x] : [x, y]
  if (!a.broadcast.has(n) || b.broadcast.has(n) || a.broadcast.has(k) || b.broadcast.has(k)) return undefined
  const rows = [...b.broadcast].filter((i) => !a.broadcast.has(i))
  if (!rows.length || [...a.broadcast].some((i) => b.broadcast.has(i))) return undefined
  const rowsReadingB = rows.reduce((acc, i) => acc * shape[i]!, 1)
  return { reduce: r, shape, k, n, m: Math.max(...rows), rowsReadingB, a, b, swapped, accDType }
}

/** Whether B, as laid out now, is read along n contiguously with rows of n per step of k. */
function bIsPacked(p: Product): boolean {
  const st = viewStrides(p.b.view)
  if (!st) return false
  const { shape, k, n } = p
  // the axes B varies along, in the packed order: batch axes, then k, then n
  const order = shape
    .map((_, i) => i)
    .filter((i) => !p.b.broadcast.has(i) && i !== k && i !== n && shape[i]! > 1)
  order.push(k, n)
  let acc = 1
  for (let i = order.length - 1; i >= 0; i--) {
    if (st[order[i]!] !== acc) return false
    acc *= shape[order[i]!]!
  }
  return true
}

/** B's values in `dtype` as a tensor of its axes `order` of the product's shape (a view). */
function bAxes(p: Product, order: readonly number[], dtype: DType): UOp {
  const v = p.b.view
  const rest = v.shape!.map((_, i) => i).filter((i) => !order.includes(i))
  const core = G.reshape(
    G.permute(v, [...order, ...rest]),
    order.map((i) => p.shape[i]!),
  )
  return G.castNode(core, dtype)
}

/** `packed` (B's axes in `order`) viewed as B in a product of shape `shape`, broadcast. */
function viewAs(
  packed: UOp,
  order: readonly number[],
  shape: readonly number[],
  broadcast: ReadonlySet<number>,
): UOp {
  // the packed axes in product order, then unit axes where B is broadcast
  const sorted = [...order].sort((x, y) => x - y)
  const inProductOrder = G.permute(
    packed,
    sorted.map((a) => order.indexOf(a)),
  )
  const withUnits = G.reshape(
    inProductOrder,
    shape.map((d, i) => (broadcast.has(i) || !order.includes(i) ? 1 : d)),
  )
  return G.expand(withUnits, shape)
}

/** B as the product reads it (broadcast, maybe cast), unchanged. */
function bFull(p: Product): UOp {
  const e = G.expand(p.b.view, p.shape)
  return p.b.castTo ? G.castNode(e, p.b.castTo) : e
}

/** The product's dtype: what B is multiplied in. */
const productDType = (p: Product): DType =>
  p.reduce.src[0]!.op === Ops.CAST ? p.reduce.src[0]!.src[0]!.dtype : p.reduce.src[0]!.dtype

/**
 * A read across its rows (stride along k not 1: a permuted view of a buffer or of a computed value) copied contiguous along
 * k where the target asks (LayoutTarget.packTransposedA): a view of A's shape over the copy, or
 * undefined when A stays as it is.
 */
function packedA(p: Product, t: LayoutTarget): UOp | undefined {
  if (!t.packTransposedA) return undefined
  const st = viewStrides(p.a.view, true)
  if (!st || st[p.k] === 1) return undefined
  const { shape, k } = p
  const order = shape.map((_, i) => i).filter((i) => !p.a.broadcast.has(i) && i !== k && shape[i]! > 1)
  order.push(k)
  const v = p.a.view
  const rest = v.shape!.map((_, i) => i).filter((i) => !order.includes(i))
  const rows = layoutCopy(
    G.reshape(
      G.permute(v, [...order, ...rest]),
      order.map((i) => shape[i]!),
    ),
  )
  const sorted = [...order].sort((x, y) => x - y)
  return G.reshape(
    G.permute(
      rows,
      sorted.map((a) => order.indexOf(a)),
    ),
    v.shape!,
  )
}

/** The reduce with B packed (contiguous along n, or in panels), or undefined when it keeps B. */
export function packProduct(r: UOp, t: LayoutTarget): UOp | undefined {
  const p = productOf(r)
  if (!p || viewIsLayoutCopy(p.b.view)) return undefined
  const { shape, k, n, m } = p
  const [M, N, K] = [shape[m]!, shape[n]!, shape[k]!]
  // the work that reads one copy of B: every row reading it (a grouped-query attention's scores
  // read a key head for each query head of its group: 4 x 512 rows, 3.6x faster packed at T=512)
  if (M < t.packMinRows || p.rowsReadingB * N * K < t.packMinWork) return undefined
  const dtype = productDType(p)
  const aView = packedA(p, t) ?? p.a.view
  const batch = shape
    .map((_, i) => i)
    .filter((i) => !p.b.broadcast.has(i) && i !== k && i !== n && shape[i]! > 1)
  const rebuild = (a: UOp, b: UOp, kAxis: number): UOp => {
    const prod = G.aluNode(Ops.MUL, ...(p.swapped ? [b, a] : [a, b]))
    const acc = p.accDType ? G.castNode(prod, p.accDType) : prod
    return UOp.new(Ops.REDUCE_AXIS, r.dtype, [acc], ['ADD', [kAxis]])
  }
  const aFull = (shp: readonly number[], view: UOp): UOp => {
    const e = G.expand(view, shp)
    return p.a.castTo ? G.castNode(e, p.a.castTo) : e
  }
  if (t.panel > 0 && N % t.panel === 0) {
    // split n into (n/panel, panel): axes after n move one up
    const P = t.panel
    const split = [...shape.slice(0, n), N / P, P, ...shape.slice(n + 1)]
    const up = (i: number) => (i > n ? i + 1 : i)
    const bcast = new Set([...p.b.broadcast].map(up))
    // B (batch..., k, n) -> panels (batch..., n/P, k, P)
    const kn = bAxes(p, [...batch, k, n], dtype)
    const lead = batch.length
    const panels = layoutCopy(
      G.permute(G.reshape(kn, [...batch.map((i) => shape[i]!), K, N / P, P]), [
        ...batch.map((_, i) => i),
        lead + 1,
        lead,
        lead + 2,
      ]),
    )
    const b = viewAs(panels, [...batch.map(up), n, up(k), n + 1], split, bcast)
    const aSplit = G.reshape(aView, [...aView.shape!.slice(0, n), 1, 1, ...aView.shape!.slice(n + 1)])
    const red = rebuild(aFull(split, aSplit), b, up(k))
    return G.reshape(red, r.shape!)
  }
  if (bIsPacked(p)) return aView === p.a.view ? undefined : rebuild(aFull(shape, aView), bFull(p), k)
  const order = [...batch, k, n]
  const b = viewAs(layoutCopy(bAxes(p, order, dtype)), order, shape, p.b.broadcast)
  return rebuild(aFull(shape, aView), b, k)
}

/** `r` with B packed (its axes merged first where that makes it a product), or undefined. */
function packReduce(r: UOp, t: LayoutTarget): UOp | undefined {
  const m = mergedReduce(r)
  const out = packProduct(m ?? r, t)
  return out && G.reshape(out, r.shape!)
}

const layoutRules = new PatternMatcher<(device: string) => LayoutTarget | undefined>([
  rule(UPat.op(Ops.REDUCE_AXIS, undefined, { name: 'r' }), ({ r }, targetOf) => {
    const t = targetOf(r!.device)
    return t ? packReduce(r!, t) : undefined
  }),
])

/** The reduce under a permute of reshapes (a chain `orientation` may read through). */
function reduceUnder(v: UOp): UOp | undefined {
  let u = v.src[0]!
  while (u.op === Ops.RESHAPE) u = u.src[0]!
  return u.op === Ops.REDUCE_AXIS ? u : undefined
}

/**
 * A product read only through a transpose (a weight's gradient `a^T @ g` comes out of autograd as
 * the sum over the rows of (m, n, k), dropped to (n, k) and permuted to (k, n)) is computed in the
 * order it is read: the product's axes are permuted instead of its result, so the reduce's output
 * axes are the kernel's and B is chosen (and packed) along the output's innermost axis.
 */
function orientation(v: UOp): { r: UOp; order: number[]; shape: readonly sint[] } | undefined {
  if (v.op !== Ops.PERMUTE || v.src[0]!.op !== Ops.RESHAPE) return undefined
  const rs = v.src[0]!
  const r0 = reduceUnder(v)
  if (!r0) return undefined
  const r = mergedReduce(r0) ?? r0
  const p = productOf(r)
  if (!p) return undefined
  // the reshape only drops or adds unit axes: the reduce's output axes (of size > 1) in order
  const out = p.shape.map((_, i) => i).filter((i) => i !== p.k && p.shape[i]! > 1)
  const mid = rs.shape!.map((_, i) => i).filter((i) => rs.shape![i] !== 1)
  if (mid.length !== out.length || mid.some((a, j) => rs.shape![a] !== p.shape[out[j]!])) return undefined
  // the reduce's output axes in the order the permute reads them
  const perm = v.arg as number[]
  const read = perm.filter((a) => rs.shape![a] !== 1).map((a) => out[mid.indexOf(a)]!)
  if (read.every((a, j) => a === out[j])) return undefined
  const units = p.shape.map((_, i) => i).filter((i) => i !== p.k && !(p.shape[i]! > 1))
  return { r, order: [...read, ...units, p.k], shape: v.shape! }
}

/** The product of `o` computed in its reading order, then packed: a node of the permute's shape. */
function orient(v: UOp, t: LayoutTarget): UOp | undefined {
  const o = orientation(v)
  if (!o) return undefined
  const p = productOf(o.r)!
  const shape = o.order.map((i) => p.shape[i]!)
  const side = (op: Operand): UOp => {
    const e = G.expand(G.permute(op.view, o.order), shape)
    return op.castTo ? G.castNode(e, op.castTo) : e
  }
  const [a, b] = [side(p.a), side(p.b)]
  const prod = G.aluNode(Ops.MUL, ...(p.swapped ? [b, a] : [a, b]))
  const acc = p.accDType ? G.castNode(prod, p.accDType) : prod
  const r = UOp.new(Ops.REDUCE_AXIS, o.r.dtype, [acc], ['ADD', [shape.length - 1]])
  return G.reshape(packProduct(r, t) ?? r, o.shape)
}

/** Whether `r` is a product big enough to pack B for (packed or not yet), or of `minWork`. */
function isBigProduct(r: UOp, t: LayoutTarget, minWork = t.packMinWork): boolean {
  const p = productOf(mergedReduce(r) ?? r)
  if (!p) return false
  const [M, N, K] = [p.shape[p.m]!, p.shape[p.n]!, p.shape[p.k]!]
  return M >= t.packMinRows && p.rowsReadingB * N * K >= minWork
}

/**
 * Multiply-adds (per batch entry) from which a product read through a pad gets its own buffer; not
 * the packing threshold: when the CPU's went up to 2^25, a transformer block's q, k and v
 * gradients (128 x 64 x 128 per head) fused into one gated kernel again (3x the work, untiled).
 */
const PAD_SPLIT_MIN_WORK = 1 << 18

/**
 * A big product read through a pad (a slice of a concatenation's gradient, e.g. attention's q, k
 * and v gradients stacked into their projection's) gets its own buffer: fused, the padded
 * products of one kernel each ran their loops under a gate for every output, untiled (a
 * transformer block's step 25% slower).
 */
function padOfProduct(x: UOp, t: LayoutTarget): UOp | undefined {
  let v = x.src[0]!
  while (v.op === Ops.RESHAPE || v.op === Ops.PERMUTE) v = v.src[0]!
  if (v.op !== Ops.REDUCE_AXIS || !isBigProduct(v, t, PAD_SPLIT_MIN_WORK)) return undefined
  return x.replace({ src: [layoutCopy(x.src[0]!)] })
}

export interface LaidOutGraph {
  readonly roots: readonly UOp[]
  /** for each node of the new graph that stands for a node of the old one: that node */
  readonly origin: ReadonlyMap<UOp, UOp>
  /** for each new node with no counterpart (a copy the pass added): the old node it serves */
  readonly servedBy: ReadonlyMap<UOp, UOp>
}

/**
 * The graph of `roots` (topological order `topo`) with the layouts each node's device asks for;
 * `origin`/`servedBy` map the new nodes back (the schedule reports its buffers by the old ones).
 */
export function applyLayouts(
  roots: readonly UOp[],
  topo: readonly UOp[],
  targetOf: (device: string) => LayoutTarget | undefined,
): LaidOutGraph {
  const done = new Map<UOp, UOp>()
  const origin = new Map<UOp, UOp>()
  const servedBy = new Map<UOp, UOp>()
  const old = new Set(topo)
  // products read only through a transpose: oriented (and packed) at their permute
  const users = new Map<UOp, UOp[]>()
  for (const u of topo)
    for (const s of u.src) {
      const us = users.get(s)
      if (us) us.push(u)
      else users.set(s, [u])
    }
  const only = (u: UOp): UOp | undefined => {
    const us = users.get(u)
    return us?.length === 1 ? us[0] : undefined
  }
  const oriented = new Set<UOp>()
  for (const u of topo) {
    const t = u.op === Ops.PERMUTE ? targetOf(u.device) : undefined
    const o = t && orientation(u)
    if (!o || !isBigProduct(o.r, t)) continue
    // the reduce and the reshapes over it are read only by this permute
    let single = true
    for (let c = u; c.op !== Ops.REDUCE_AXIS; c = c.src[0]!) single &&= only(c.src[0]!) === c
    if (single) oriented.add(reduceUnder(u)!)
  }
  // gradients a convolution's weight gradient copies channels-last (for the input gradient too)
  const sharedOld = sharedGradients(topo, targetOf)
  const shared = new Map<UOp, Pads>()
  for (const u of topo) {
    const sp = sharedOld.get(u)
    if (u.op === Ops.BUFFER) {
      if (sp) shared.set(u, sp)
      continue
    }
    let changed = false
    const src = u.src.map((s) => {
      const r = done.get(s) ?? s
      if (r !== s) changed = true
      return r
    })
    let x = changed ? u.replace({ src }) : u
    let out: UOp | undefined
    const t =
      x.op === Ops.REDUCE_AXIS || x.op === Ops.PERMUTE || x.op === Ops.PAD ? targetOf(u.device) : undefined
    if (t && x.op === Ops.REDUCE_AXIS && !oriented.has(u))
      out = layOutConvReduce(x, t, shared) ?? layoutRules.rewrite(x, targetOf)?.out
    else if (t && x.op === Ops.PERMUTE && oriented.has(reduceUnder(u) ?? u)) out = orient(x, t)
    else if (t && x.op === Ops.PAD) out = padOfProduct(x, t)
    if (out) {
      // the new nodes between the old sources and the replacement serve the old node
      const stack = [...out.src]
      while (stack.length) {
        const v = stack.pop()!
        if (old.has(v) || servedBy.has(v) || origin.has(v)) continue
        servedBy.set(v, u)
        stack.push(...v.src)
      }
      x = out
    }
    if (x !== u) {
      done.set(u, x)
      origin.set(x, u)
    }
    if (sp) shared.set(x, sp)
  }
  if (!done.size) return { roots, origin, servedBy }
  if (viz) {
    // while VIZ records, as a traced rewrite of the products (packing only)
    const sink = UOp.new(Ops.SINK, roots[0]!.dtype, roots)
    graphRewrite(sink, layoutRules, targetOf, 'layouts')
  }
  return { roots: roots.map((r) => done.get(r) ?? r), origin, servedBy }
}
