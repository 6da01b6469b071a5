// Pass `layouts`, convolutions: the memory layouts of a convolution's product, chosen from the
// device's `LayoutTarget` (renderer/target.ts). The front end (tensor/conv.ts) builds two plain
// products over the window view of a padded input (uop/windows.ts), recognized here by rebuilding
// that view (interned nodes: built alike, it is the same node):
// - a convolution (N, O, OH, OW, C, KH, KW) summed over (C, KH, KW): the forward, and the input
//   gradient (the gradient padded by K-1-p, correlated with the flipped, transposed weight);
// - a weight gradient (O, C, KH, KW, N, OH, OW) summed over (N, OH, OW).
// A convolution takes one of two forms:
// - direct (output width a multiple of `convDirectWidth`, above it, >= `convDirectMinChannels` input
//   channels): the padded input copied contiguous, the output NCHW (its consumers may fuse). The register
//   tile is (o x 8 columns of x): x contiguous in the output and in the input rows, the weight a
//   broadcast, the window straight-line steps (CHAIN) inside the channel loop.
// - channels-last (otherwise): the weight copied to (KH, KW, C, O) and the product computed as
//   (N, OH, OW, O), in its own buffer, read through an NCHW view: the tile vectorizes along O.
// A weight gradient reads the gradient channels-last, copied once, padded as the input gradient's
// convolution reads it: that convolution (channels-last, whatever its width) reads the same copy,
// ungated, and its output is left to its consumers. The weight gradient is summed over batch
// groups (partial sums over >= `convGradGroupPositions` positions, then a small sum) so each
// group's slice of the gradient stays in cache while the register tiles sweep it.
// Every rewrite only reorders the product's axes and puts copies under views, so a graph that
// matches only in part computes the same values.
import type { DType } from '../dtype.js'
import type { LayoutTarget } from '../renderer/target.js'
import * as G from '../uop/graph.js'
import { MOVEMENT, Ops, type PadArg, type sint, type UOp } from '../uop/ops.js'
import { slidingWindows } from '../uop/windows.js'
import { isLayoutCopy, layoutCopy } from './layout_copy.js'

/** Spatial padding (top, bottom, left, right). */
export type Pads = readonly [number, number, number, number]

const isInt = (d: sint): d is number => typeof d === 'number'
const unitWindows = (input: UOp, kh: number, kw: number): UOp =>
  slidingWindows(input, [kh, kw], [1, 1], [1, 1])

/** The window view's input (N, C, H, W): `base` padded by `pads` with zeros, or `base` itself. */
interface WindowInput {
  readonly input: UOp
  readonly base: UOp
  readonly pads: Pads
}

/** The node under the lowest expand of the view `v` and its unsqueeze: a window view's input. */
function windowInput(v: UOp): WindowInput | undefined {
  let input: UOp | undefined
  for (let u = v; MOVEMENT.has(u.op); u = u.src[0]!)
    if (u.op === Ops.EXPAND) input = u.src[0]!.op === Ops.RESHAPE ? u.src[0]!.src[0]! : u.src[0]!
  if (!input || input.shape!.length !== 4 || !input.shape!.every(isInt)) return undefined
  if (input.op === Ops.PAD) {
    const { pads: p, value } = input.arg as PadArg
    const flat = p.flat()
    if (value === 0 && flat.every(isInt) && flat.slice(0, 4).every((x) => x === 0))
      return { input, base: input.src[0]!, pads: flat.slice(4) as unknown as Pads }
  }
  return { input, base: input, pads: [0, 0, 0, 0] }
}

/** A product the front end builds for a convolution, in the terms of the module comment. */
interface ConvProduct {
  readonly kind: 'conv' | 'weightGrad'
  readonly reduce: UOp
  /** the product's shape: (N, O, OH, OW, C, KH, KW) or (O, C, KH, KW, N, OH, OW) */
  readonly shape: readonly number[]
  readonly win: WindowInput
  /** the weight (O, C, KH, KW) of a convolution; the gradient (N, O, OH, OW) of a weight gradient */
  readonly other: UOp
  /** whether the windows are the product's first operand */
  readonly winFirst: boolean
  /** the dtype the sum accumulates in, when it casts the product */
  readonly accDType: DType | undefined
}

/** `c` (a movement op or a DETACH) over `v` instead of its source, through the builders. */
function replay(c: UOp, v: UOp): UOp {
  if (c.op === Ops.DETACH) return v
  if (c.op === Ops.RESHAPE) return G.reshape(v, c.arg as sint[])
  if (c.op === Ops.PERMUTE) return G.permute(v, c.arg as number[])
  if (c.op === Ops.EXPAND) return G.expand(v, c.arg as sint[])
  if (c.op === Ops.PAD) return G.pad(v, (c.arg as PadArg).pads, (c.arg as PadArg).value)
  if (c.op === Ops.SHRINK) return G.shrink(v, c.arg as [sint, sint][])
  if (c.op === Ops.FLIP) return G.flip(v, c.arg as boolean[])
  return c.replace({ src: [v] })
}

/**
 * The view `u` without the DETACHs `noGrad` puts after every op on a parameter's values (an
 * evaluation's graph), rebuilt through the builders, which fold what they fold (a permute of a
 * permute): the nodes the same ops build outside `noGrad`.
 */
function withoutDetach(u: UOp): UOp {
  const chain: UOp[] = []
  let b = u
  for (; MOVEMENT.has(b.op) || b.op === Ops.DETACH; b = b.src[0]!) chain.push(b)
  if (!chain.some((c) => c.op === Ops.DETACH)) return u
  return chain.reduceRight((v, c) => replay(c, v), b)
}

/** An operand of the product as the view before its broadcast. */
const operandView = (u: UOp): UOp => {
  const v = withoutDetach(u)
  return v.op === Ops.EXPAND ? v.src[0]! : v
}

/** The convolution or weight gradient summed by `r`, or undefined. */
function convProductOf(r: UOp): ConvProduct | undefined {
  const [op, axes] = r.arg as [string, number[]]
  if (op !== 'ADD' || axes.join() !== '4,5,6') return undefined
  const accDType = r.src[0]!.op === Ops.CAST ? r.src[0]!.dtype : undefined
  const mul = accDType ? r.src[0]!.src[0]! : r.src[0]!
  if (mul.op !== Ops.MUL || mul.shape!.length !== 7 || !mul.shape!.every(isInt)) return undefined
  const shape = mul.shape as number[]
  // the product's shape with 1 on the axes an operand is broadcast along
  const only = (axes: readonly number[]) => shape.map((d, j) => (axes.includes(j) ? d : 1))
  for (const i of [0, 1]) {
    const [a, b] = [operandView(mul.src[i]!), operandView(mul.src[1 - i]!)]
    const win = windowInput(a)
    if (!win) continue
    const [, , H, W] = win.input.shape as number[]
    const common = { reduce: r, shape, win, winFirst: i === 0, accDType }
    // a convolution: the windows as (N, 1, OH, OW, C, KH, KW), the weight as (1, O, 1, 1, C, KH, KW)
    const [, , OH, OW, , KH, KW] = shape as number[]
    if (H === OH! + KH! - 1 && W === OW! + KW! - 1) {
      const x = G.reshape(
        G.permute(unitWindows(win.input, KH!, KW!), [0, 2, 3, 1, 4, 5]),
        only([0, 2, 3, 4, 5, 6]),
      )
      const w = b.op === Ops.RESHAPE ? b.src[0]! : b
      if (a === x && w.shape!.length === 4 && b === G.reshape(w, only([1, 4, 5, 6])))
        return { kind: 'conv', other: w, ...common }
    }
    // a weight gradient: the windows as (1, C, KH, KW, N, OH, OW), the gradient as (O, 1, 1, 1, N, OH, OW)
    const [, , gKH, gKW, , gOH, gOW] = shape as number[]
    if (H === gOH! + gKH! - 1 && W === gOW! + gKW! - 1) {
      const x = G.reshape(
        G.permute(unitWindows(win.input, gKH!, gKW!), [1, 4, 5, 0, 2, 3]),
        only([1, 2, 3, 4, 5, 6]),
      )
      const under = b.op === Ops.RESHAPE ? b.src[0]! : b
      if (a !== x || under.shape!.length !== 4) continue
      // (a permute of a permute folds: the gradient is the node the product permuted)
      const g = G.permute(under, [1, 0, 2, 3])
      if (b === G.reshape(G.permute(g, [1, 0, 2, 3]), only([0, 4, 5, 6])))
        return { kind: 'weightGrad', other: g, ...common }
    }
  }
  return undefined
}

/** The product of the operands `a` (the windows' side) and `b`, broadcast to `shape`, summed over `axes`. */
function sumProduct(c: ConvProduct, a: UOp, b: UOp, shape: readonly number[], axes: number[]): UOp {
  const [x, y] = [G.expand(a, shape), G.expand(b, shape)]
  const m = G.aluNode(Ops.MUL, ...(c.winFirst ? [x, y] : [y, x]))
  return G.reduce(c.accDType ? G.castNode(m, c.accDType) : m, 'ADD', axes)
}

/** The gradient g (N, O, OH, OW) channels-last, padded by `pads`: (N, OH + ..., OW + ..., O). */
const gradientCopy = (g: UOp, p: Pads): UOp =>
  layoutCopy(
    G.pad(G.permute(g, [0, 2, 3, 1]), [
      [0, 0],
      [p[0], p[1]],
      [p[2], p[3]],
      [0, 0],
    ]),
  )

/** The padding by which a weight gradient's gradient is copied: K-1-p (the input gradient's). */
function gradientPads(c: ConvProduct): Pads | undefined {
  const [kh, kw] = [c.shape[2]!, c.shape[3]!]
  const p = c.win.pads
  const full: Pads = [kh - 1 - p[0], kh - 1 - p[1], kw - 1 - p[2], kw - 1 - p[3]]
  return full.every((x) => x >= 0) ? full : undefined
}

/** The largest batch group count whose groups each sum over >= `min` positions (1 at least). */
function batchGroups(n: number, positions: number, min: number): number {
  let g = 1
  for (let d = 1; d <= n; d++) if (n % d === 0 && (n / d) * positions >= min) g = d
  return g
}

/**
 * For each gradient a weight gradient in `topo` reads: the padding its channels-last copy gets,
 * which the input gradient's convolution of it reads too.
 */
export function sharedGradients(
  topo: readonly UOp[],
  targetOf: (device: string) => LayoutTarget | undefined,
): Map<UOp, Pads> {
  const out = new Map<UOp, Pads>()
  for (const u of topo) {
    if (u.op !== Ops.REDUCE_AXIS || !targetOf(u.device)) continue
    const c = convProductOf(u)
    const pads = c?.kind === 'weightGrad' ? gradientPads(c) : undefined
    if (c && pads) out.set(c.other, pads)
  }
  return out
}

const samePads = (a: Pads | undefined, b: Pads): boolean => !!a && a.every((x, i) => x === b[i])

function layOutConv(c: ConvProduct, t: LayoutTarget, shared: ReadonlyMap<UOp, Pads>): UOp | undefined {
  const [N, O, OH, OW, C, KH, KW] = c.shape as [number, number, number, number, number, number, number]
  const { input, base, pads } = c.win
  if (isLayoutCopy(input)) return undefined
  const ofGradient = samePads(shared.get(base), pads)
  const direct = t.convDirectWidth > 0 && OW % t.convDirectWidth === 0 && OW > t.convDirectWidth
  if (!ofGradient && direct && C >= t.convDirectMinChannels) {
    const xp = input.contiguousBase ? input : layoutCopy(input)
    const a = G.reshape(G.permute(unitWindows(xp, KH, KW), [0, 2, 3, 1, 4, 5]), [N, 1, OH, OW, C, KH, KW])
    const b = G.reshape(c.other, [1, O, 1, 1, C, KH, KW])
    return sumProduct(c, a, b, c.shape, [4, 5, 6])
  }
  const w = layoutCopy(G.permute(c.other, [2, 3, 1, 0])) // (KH, KW, C, O)
  const xin = ofGradient ? G.permute(gradientCopy(base, pads), [0, 3, 1, 2]) : input
  const a = G.reshape(G.permute(unitWindows(xin, KH, KW), [0, 2, 3, 4, 5, 1]), [N, OH, OW, 1, KH, KW, C])
  const b = G.reshape(G.permute(w, [3, 0, 1, 2]), [1, 1, 1, O, KH, KW, C])
  const nhwc = G.reshape(sumProduct(c, a, b, [N, OH, OW, O, KH, KW, C], [4, 5, 6]), [N, OH, OW, O])
  return G.reshape(G.permute(ofGradient ? nhwc : layoutCopy(nhwc), [0, 3, 1, 2]), c.reduce.shape!)
}

function layOutWeightGrad(c: ConvProduct, t: LayoutTarget): UOp | undefined {
  const [O, C, KH, KW, N, OH, OW] = c.shape as [number, number, number, number, number, number, number]
  const p = gradientPads(c)
  if (!p) return undefined
  const g = gradientCopy(c.other, p)
  const B = batchGroups(N, OH * OW, t.convGradGroupPositions)
  const x = G.reshape(G.permute(unitWindows(c.win.input, KH, KW), [0, 2, 3, 4, 5, 1]), [
    B,
    N / B,
    OH,
    OW,
    KH,
    KW,
    C,
    1,
  ])
  const shrunk = G.shrink(g, [
    [0, N],
    [p[0], p[0] + OH],
    [p[2], p[2] + OW],
    [0, O],
  ])
  const gw = G.reshape(shrunk, [B, N / B, OH, OW, 1, 1, 1, O])
  const part = G.reshape(sumProduct(c, x, gw, [B, N / B, OH, OW, KH, KW, C, O], [1, 2, 3]), [B, KH, KW, C, O])
  const dw = G.reshape(B > 1 ? G.reduce(part, 'ADD', [0]) : part, [KH, KW, C, O])
  return G.reshape(G.permute(dw, [3, 2, 0, 1]), c.reduce.shape!)
}

/**
 * The reduce `r` laid out for `t` when it is a convolution's product, else undefined; `shared`
 * maps the (rewritten) gradients that weight gradients copy to the padding of their copies.
 */
export function layOutConvReduce(r: UOp, t: LayoutTarget, shared: ReadonlyMap<UOp, Pads>): UOp | undefined {
  const c = convProductOf(r)
  if (!c) return undefined
  return c.kind === 'conv' ? layOutConv(c, t, shared) : layOutWeightGrad(c, t)
}
