// Hand-written optimization heuristics: the Opt list a kernel gets when BEAM search is off.
//
// The kernel is classified by how its buffers are indexed along each axis (strides measured by
// evaluating index expressions):
//   matmul-like  two output axes m, n and a reduce, one input broadcast along n (A) and one along
//                m (B): a register tile UPCAST n x m (n contiguous in the output, so the n copies
//                vectorize), panel order (n outer, so a K x n strip of B stays in cache), threads
//   reduce       contiguous reduce axis: UNROLL into independent (vector) accumulators; strided
//                reduce with a contiguous output axis: UPCAST that axis instead
//                reduce over blocked data (quantized weights: the index divides the reduce axis
//                by a block size): SPLIT it into a block loop and a loop within the block, so the
//                inner loop reads contiguous elements (and vectorizes) and the per-block scales
//                and index math run once per block
//   elementwise  left to the C compiler's vectorizer; only threaded when big
import { ALU, Ops, type UOp } from '../uop/ops.js'
import { execAlu } from '../uop/exec.js'
import { range } from '../helpers.js'
import { toposort } from '../uop/rewrite.js'
import type { OptTarget } from '../renderer/target.js'
import { elementwiseUpcast, groupReduce } from './gpu_opts.js'
import { type Opt, OptState } from './opts.js'

export type { OptTarget }

/** Reduce axes up to this long are expanded into straight-line accumulator steps (CHAIN). */
const CHAIN_MAX = 7

/**
 * Minimum work (loop iterations) before a kernel is worth threading: below it, waking the OpenMP
 * workers (they sleep between kernels: runtime/openmp.ts) and their closing barrier cost more than
 * a second core saves, and on a busy machine far more (a 64x64 matmul, 2^18: 0.2 ms on one
 * thread, 0.3-2.3 ms on two).
 */
export const THREAD_MIN_WORK = 1 << 20

function evalIndex(u: UOp, env: Map<UOp, number>, memo: Map<UOp, number>): number {
  const m = memo.get(u)
  if (m !== undefined) return m
  let v: number
  if (u.op === Ops.CONST) v = u.constValue
  else if (u.op === Ops.RANGE) v = env.get(u) ?? 0
  // strides over a symbolic size: measured at the variable's largest value
  else if (u.op === Ops.DEFINE_VAR) v = u.vmax
  else if (ALU.has(u.op))
    v = execAlu(
      u.op,
      u.dtype,
      u.src.map((s) => evalIndex(s, env, memo)),
    )
  else v = 0
  memo.set(u, v)
  return v
}

/** The ranges that the values loaded inside index expression `idx` depend on (none: no gather). */
function loadedIndexRanges(idx: UOp): Set<UOp> {
  const out = new Set<UOp>()
  for (const u of toposort([idx]))
    if (u.op === Ops.LOAD) for (const n of toposort([u.src[1]!])) if (n.op === Ops.RANGE) out.add(n)
  return out
}

interface Access {
  kind: 'load' | 'store'
  /** element stride of each axis (0: broadcast along it) */
  strides: number[]
  /** a 16-bit float (float16, bfloat16) */
  halfFloat: boolean
  /** one-byte elements */
  bytes: boolean
  itemsize: number
}

/** Strides of every buffer access along each axis of `s`. */
function accessStrides(s: OptState): Access[] {
  const out: Access[] = []
  for (const u of toposort([s.ast])) {
    if (u.op !== Ops.LOAD && u.op !== Ops.STORE) continue
    const idx = u.src[1]!
    const base = evalIndex(idx, new Map(), new Map())
    const loaded = loadedIndexRanges(idx)
    const strides = s.axes.map((r) => {
      if (r.src[0]!.vmax < 2) return 0
      // an index that loads a value varying along r (a gather) has no stride along it
      if (loaded.has(r)) return Number.NaN
      return evalIndex(idx, new Map([[r, 1]]), new Map()) - base
    })
    const dt = u.op === Ops.LOAD ? u.dtype : u.src[2]!.dtype
    const halfFloat = dt.isFloat && dt.itemsize === 2
    out.push({
      kind: u.op === Ops.LOAD ? 'load' : 'store',
      strides,
      halfFloat,
      bytes: dt.itemsize === 1,
      itemsize: dt.itemsize,
    })
  }
  return out
}

/**
 * The block sizes a reduce axis is divided into by the kernel's index math, largest first: c /
 * stride for each IDIV/MOD by a constant c whose dividend steps by `stride` (dividing c) along the
 * axis (a MOD of such a quotient has stride 0 there: skipped).
 */
function blockSizes(s: OptState, axis: number): number[] {
  const r = s.axes[axis]!
  const out = new Set<number>()
  for (const u of toposort([s.ast])) {
    if ((u.op !== Ops.IDIV && u.op !== Ops.MOD) || u.src[1]!.op !== Ops.CONST) continue
    const c = u.src[1]!.constValue
    const x = u.src[0]!
    const stride = evalIndex(x, new Map([[r, 1]]), new Map()) - evalIndex(x, new Map(), new Map())
    if (stride > 0 && c % stride === 0 && c / stride > 1) out.add(c / stride)
  }
  return [...out].sort((a, b) => b - a)
}

/**
 * Unpacking blocks of bytes (a quantized weight dequantized into a matmul's panels, k outside the
 * panel's 32 rows): an outer output axis whose index the kernel divides into blocks, upcast by one
 * block (at most 32), so each block's scale and index math run once per block instead of per
 * element and its nibble planes are picked statically (a 64 MB Q4_0 panel of LLaMA-1B: ~50 -> ~30 ms
 * of CPU, one thread). Not the innermost axis: the C compiler vectorizes that loop itself.
 */
function unpackUpcast(s: OptState, sizes: readonly number[]): { axis: number; size: number } | undefined {
  const bytes = toposort([s.ast]).some((u) => u.op === Ops.LOAD && u.dtype.itemsize === 1 && !u.dtype.isFloat)
  if (!bytes) return undefined
  for (let axis = 0; axis < sizes.length - 1; axis++) {
    const size = blockSizes(s, axis).find((b) => b >= 4 && b <= 32 && sizes[axis]! % b === 0)
    if (size !== undefined) return { axis, size }
  }
  return undefined
}

const largestDivisor = (n: number, choices: readonly number[]): number =>
  choices.find((c) => n % c === 0) ?? 1

export function handOpts(ast: UOp, target: OptTarget): Opt[] {
  const s = new OptState(ast)
  const acc = accessStrides(s)
  const loads = acc.filter((a) => a.kind === 'load')
  if (target.gpu) {
    const g = groupReduce(ast, target.gpu, (axis) => loads.some((l) => l.strides[axis] === 1))
    if (g) return g
  }
  const nOut = s.outputAxes
  const sizes = s.sizes()
  const reduceAxes = sizes.map((_, i) => i).filter((i) => i >= nOut)
  const store = acc.find((a) => a.kind === 'store')
  const work = sizes.reduce((a, b) => a * b, 1)
  const try_ = (o: Opt): boolean => {
    if (s.check(o) !== undefined) return false
    s.apply(o)
    return true
  }
  const vec = Math.max(1, target.vectorWidth)
  if (reduceAxes.length && store) {
    // matmul-like: output axis n contiguous in the output and in one operand (B), and an axis m
    // that B broadcasts along while another operand (A) does not; among several m candidates
    // (a convolution's batch, rows, columns) the one with the largest register-tile factor wins
    const tileWidth = (axis: number): number =>
      axis < 0
        ? 1
        : largestDivisor(
            sizes[axis]!,
            [2 * vec, vec, 8, 4, 2].filter((c) => c <= 2 * vec),
          )
    let n = store.strides.findIndex((st, i) => i < nOut && st === 1 && sizes[i]! > 1)
    let nu = tileWidth(n)
    // an output too short along its contiguous axis for a vector (a conv weight gradient's 3-wide
    // window), on a target that vectorizes only the accumulators it is given (WASM): the tile's
    // vector runs along an output axis one operand reads contiguously instead (the output
    // channels of a channels-last gradient), its lanes stored one by one
    if (nu < vec && target.upcastElementwise && vec > 1) {
      const alt = range(nOut).find(
        (i) =>
          sizes[i]! % vec === 0 &&
          loads.some((l) => l.strides[i] === 1) &&
          loads.some((l) => l.strides[i] === 0 && reduceAxes.some((r) => l.strides[r] !== 0)),
      )
      if (alt !== undefined) [n, nu] = [alt, tileWidth(alt)]
    }
    const isA = (l: Access, m: number) => l.strides[n] === 0 && l.strides[m] !== 0
    const isB = (l: Access, m: number) => l.strides[m] === 0 && l.strides[n] !== 0
    const kSize = reduceAxes.reduce((a, i) => a * sizes[i]!, 1)
    const regsLeft = Math.max(1, Math.floor(target.registers / Math.max(1, nu / vec)) - 2)
    const muOf = (m: number) =>
      largestDivisor(
        sizes[m]!,
        [16, 8, 6, 5, 4, 3, 2].filter((c) => c <= regsLeft),
      )
    // ties: the axis A is closest to contiguous along (its 8 values share cache lines)
    const aStride = (j: number) =>
      Math.min(...loads.filter((l) => isA(l, j)).map((l) => Math.abs(l.strides[j]!)))
    let m = -1
    if (n >= 0 && kSize >= 8)
      for (let i = 0; i < nOut; i++) {
        if (i === n || sizes[i]! < 2 || store.strides[i] === 0) continue
        if (!loads.some((l) => isA(l, i)) || !loads.some((l) => isB(l, i))) continue
        if (m < 0 || muOf(i) > muOf(m) || (muOf(i) === muOf(m) && aStride(i) < aStride(m))) m = i
      }
    if (m >= 0) {
      const mu = muOf(m)
      if (nu > 1) try_({ op: 'UPCAST', axis: n, arg: nu })
      if (mu > 1) try_({ op: 'UPCAST', axis: m, arg: mu })
      // panel order (a K x n strip of B stays in cache) unless that leaves too little to thread:
      // n, or for B packed in panels (m, n/panel, panel) the panel axis that B alone varies along
      // (only the reduce's operands count: an epilogue load such as a residual add varies along
      // both output axes and used to veto the panel order, 16x slower for an LLM down projection)
      const left = s.sizes()
      const operands = loads.filter((l) => reduceAxes.some((r) => l.strides[r] !== 0))
      const bOnly = (i: number) =>
        i !== m &&
        left[i]! >= 8 &&
        operands.every((l) => l.strides[i] === 0 || l.strides[m] === 0) &&
        operands.some((l) => l.strides[i] !== 0)
      const panel = bOnly(n) ? n : range(nOut).find(bOnly)
      // (not on a GPU: there neighbouring invocations run the innermost axis, which must stay n)
      if (panel !== undefined && panel > 0 && !target.gpu) try_({ op: 'SWAP', axis: 0, arg: panel })
      // short reduce axes nested inside the long ones (a convolution's window, inside its
      // channels) become straight-line steps of the one accumulator instead of 3-trip loops.
      // Not outside them: that turns the loop order inside out (slower, measured 7x on a conv).
      // With no long axis at all (a 5x5 window over 1 channel) there would be no loop left, and
      // the tile times 25 steps ran 2.5x slower than the loops. Not on a target whose compiler
      // spills such a tile (target.chainReduces false: WASM under V8).
      const lastLong = Math.max(-1, ...reduceAxes.filter((i) => sizes[i]! > CHAIN_MAX))
      if (target.chainReduces !== false)
        for (const r of reduceAxes)
          if (lastLong >= 0 && r > lastLong && sizes[r]! > 1 && sizes[r]! <= CHAIN_MAX)
            try_({ op: 'CHAIN', axis: r, arg: sizes[r]! })
    } else {
      // contiguous along the reduce counts for the loads that vary along an output axis: one
      // read per reduce step shared by every output (an embedding gradient's token ids, the
      // vector of x^T v) does not make a strided reduce over the big operand contiguous
      const perOutput = loads.filter((l) => l.strides.some((st, i) => i < nOut && sizes[i]! > 1 && st !== 0))
      // (stride 2 counts: an integer dot product reads its operands in pairs of adjacent
      // elements per lane, quant_matvec.ts; upcasting its outputs instead cost the lane sums;
      // so does a byte load's stride 4, its quads of bytes)
      const contiguous = reduceAxes.filter((i) =>
        (perOutput.length ? perOutput : loads).some(
          (l) => l.strides[i] === 1 || l.strides[i] === 2 || (l.bytes && l.strides[i] === 4),
        ),
      )
      const r = contiguous[0]
      const outContig = store.strides.findIndex((st, i) => i < nOut && st === 1 && sizes[i]! > 1)
      // blocked data: one nested loop per block size that divides the next larger one, the
      // innermost (contiguous elements) at least 4 long
      const blocksOf = (ax: number): number[] => {
        const out: number[] = []
        for (const b of blockSizes(s, ax))
          if (b >= 4 && (out.at(-1) ?? sizes[ax]!) % b === 0 && b < (out.at(-1) ?? sizes[ax]!)) out.push(b)
        // an innermost loop of one vector: gcc vectorizes a 16-trip loop, not a 32-trip one with
        // lane accumulators (measured 3x on a Q8_0 matvec)
        const last = out.at(-1)
        if (last !== undefined && last > vec && last % vec === 0) out.push(vec)
        return out
      }
      const splitBlocks = (ax: number, bl: readonly number[]): void => {
        for (const [i, b] of bl.entries()) try_({ op: 'SPLIT', axis: ax + i, arg: b })
        // one block size split into vectors (Q8_0's two halves of a block, Q4_0's two nibble
        // planes): that short loop as straight-line steps, which share their byte loads (no
        // plane select) and the block scale that multiplies every step, factored out of them
        // (expand.ts): 9-14% off a Q8_0/Q4_0 matvec. Not for nested block sizes (K-quants): their
        // steps have scales of their own and the plane selects sit on outer loops (Q6_K +20%).
        const n = s.sizes()[ax + 1]!
        if (bl.length === 2 && n > 1 && n <= CHAIN_MAX) try_({ op: 'CHAIN', axis: ax + 1, arg: n })
      }
      // a matrix-vector product over 16-bit floats with a long vector (read along the reduce ax,
      // the same for every row): target.matvecRows rows at once, along the output axis the
      // weights vary along and the vector does not
      const matvecRows = (ax: number): void => {
        const t = target.matvecRows
        if (!t) return
        const vector = (i: number) =>
          loads.find(
            (l) =>
              l.strides[i] === 0 &&
              l.strides[ax] !== 0 &&
              !l.halfFloat &&
              sizes[ax]! * l.itemsize > t.vectorBytesAbove,
          )
        const o = range(nOut).find(
          (i) => sizes[i]! > 1 && vector(i) && loads.some((l) => l.halfFloat && l.strides[i] !== 0),
        )
        // (in twos it was no faster than one row: 0.95 against 0.92 ms on the down projection)
        if (o !== undefined && sizes[o]! % t.rows === 0) try_({ op: 'UPCAST', axis: o, arg: t.rows })
      }
      const blocks = r === undefined ? [] : blocksOf(r)
      // a contiguous reduce over 16-bit floats (float16 weights): one vector per inner step, so
      // the renderer keeps a float32 sum in vector lanes (C compilers size the plain loop by its
      // narrowest type: 3.4 vs 2.4-2.8 ms on an F16 matvec, one core)
      const narrow =
        r !== undefined &&
        target.simdReduce === true &&
        vec > 1 &&
        sizes[r]! % vec === 0 &&
        sizes[r]! > vec &&
        loads.some((l) => l.strides[r] === 1 && l.halfFloat) &&
        toposort([s.ast]).every((u) => u.op !== Ops.REDUCE || (u.arg === 'ADD' && u.dtype.name === 'float32'))
      if (r !== undefined && !blocks.length && narrow) {
        blocks.push(vec)
        matvecRows(r)
      }
      if (r !== undefined && blocks.length) {
        // every reduce over blocked data, not only the first: a gated MLP's silu(x Wg) * (x Wu)
        // is one kernel with two quantized matvecs (the unsplit one, with a division and two
        // modulos per weight, took 23 ms of a 0.7 s LLaMA-1B decode step, 16 times). Later axes
        // first, so the earlier axes' indices still hold.
        for (const ax of contiguous.slice(1).reverse()) splitBlocks(ax, blocksOf(ax))
        splitBlocks(r, blocks)
      } else if (r !== undefined) {
        // a simdReduce target vectorizes the plain loop itself; others get k accumulators. A
        // target that vectorizes only the accumulators it is given (WASM) gets two vectors of them
        // for a MAX: wasm's f32x4.max (NaN and -0 rules) is 7 dependent x86 instructions, and one
        // accumulator made softmax's row max 3x its row sum
        const reduceOps = toposort([s.ast]).filter((u) => u.op === Ops.REDUCE)
        const accumulators = (ax: number): number => {
          const max =
            target.upcastElementwise === true &&
            reduceOps.some((u) => u.arg === 'MAX' && u.src.includes(s.axes[ax]!))
          return largestDivisor(
            sizes[ax]!,
            [max ? 2 * vec : vec, vec, 8, 4, 2].filter((c) => c <= Math.max(vec, 1) * (max ? 2 : 1)),
          )
        }
        const k = accumulators(r)
        if (k > 1 && !target.simdReduce) try_({ op: 'UNROLL', axis: r, arg: k })
        // the other contiguous reduces of the kernel too (softmax's row max before its sum):
        // vector lanes for a target that vectorizes only accumulators it is given (WASM: the
        // scalar max loop was a fifth of softmax's time)
        if (k > 1 && !target.simdReduce && !target.gpu)
          for (const ax of contiguous.slice(1)) {
            const ka = accumulators(ax)
            if (ka > 1) try_({ op: 'UNROLL', axis: ax, arg: ka })
          }
        // an output loop after the reduces (softmax's normalize) whose loads no reduce reads
        // along it: upcast for a target that vectorizes only upcast copies
        const independent = (ax: number) =>
          loads.every((l) => l.strides[ax] === 0 || reduceAxes.every((ra) => l.strides[ra] === 0))
        if (
          target.upcastElementwise &&
          outContig >= 0 &&
          sizes[outContig]! % vec === 0 &&
          independent(outContig)
        )
          try_({ op: 'UPCAST', axis: outContig, arg: vec })
      } else if (outContig >= 0 && vec > 1) {
        const k = largestDivisor(
          sizes[outContig]!,
          [vec, 8, 4, 2].filter((c) => c <= vec),
        )
        if (k > 1) try_({ op: 'UPCAST', axis: outContig, arg: k })
      }
    }
  }
  if (!reduceAxes.length && store && !target.gpu) {
    const b = unpackUpcast(s, sizes)
    if (b) try_({ op: 'UPCAST', axis: b.axis, arg: b.size })
  }
  if (!reduceAxes.length && store && target.upcastElementwise && vec > 1) {
    const axis = store.strides.findIndex((st, i) => i < nOut && st === 1 && sizes[i]! % vec === 0)
    if (axis >= 0) try_({ op: 'UPCAST', axis, arg: vec })
  }
  if (target.gpu && !reduceAxes.length) {
    const o = elementwiseUpcast(s, store?.strides)
    if (o) s.apply(o)
  }
  if (target.threads && nOut > 0 && work >= (target.threadMinWork ?? THREAD_MIN_WORK)) {
    // thread the outermost axis that is not a unit left over from a full upcast
    const first = s.sizes().findIndex((n, i) => i < nOut && n > 1)
    if (first > 0) try_({ op: 'SWAP', axis: 0, arg: first })
    if (s.sizes()[0]! > 1) try_({ op: 'THREAD', axis: 0, arg: 0 })
  }
  return s.applied
}
