// C renderer for the CPU device (gcc or clang): the C-style renderer plus a prelude of helpers
// (c_prelude.ts) and OpenMP `parallel for` on thread ranges.
import { type KernelLimits, type LinearProgram, PANELS_32 } from './target.js'
import type { DType } from '../dtype.js'
import { ACC_SET, Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { renderQuadPairLoop } from './c_dot_quad_pairs.js'
import { renderColumnLoop } from './c_dot_cols.js'
import { findDotQuad, QUAD_LANES, renderQuadLoop } from './c_dot_quads.js'
import { findHalfRuns, type HalfRun, type HalfRuns } from './c_half_runs.js'
import { renderVectorLoop, strideIn } from './c_vector.js'
import { preludeFor } from './c_prelude.js'
import { CStyleRenderer, type LoopToRender } from './cstyle.js'

/** OpenMP reduction identifier for an accumulator update, if it can be vectorized. */
function simdReduction(op: string, dt: DType): string | undefined {
  if (dt.name === 'float16' || dt.name === 'bfloat16' || dt.isBool || op === ACC_SET) return undefined
  if (op === 'ADD') return '+'
  if (op === 'MUL') return '*'
  if (dt.isInt) return 'max'
  return dt.name === 'float64' ? 'maxnand' : 'maxnan'
}

/**
 * `uops` with the stores that follow a loop in its enclosing loop body (a register tile's epilogue)
 * moved to the end of that body. Inside an OpenMP parallel loop the buffers lose `restrict` (the
 * outlined function reads them from a struct), so gcc cannot move the epilogue's loads (a residual
 * add's) above the stores of the lanes before them, and the SLP vectorizer, which builds the tile's
 * vector code from those stores, left the whole tile scalar (a transformer's MLP down projection
 * plus residual: 0.54 GFLOP in 230-430 ms).
 */
function storesLast(uops: readonly UOp[]): UOp[] {
  const out: UOp[] = []
  const held: UOp[][] = [[]] // per open loop body: the stores moved to its end
  const afterLoop: boolean[] = [false] // per open loop body: whether a loop in it has closed
  for (const u of uops) {
    if (u.op === Ops.RANGE) {
      held.push([])
      afterLoop.push(false)
    } else if (u.op === Ops.ENDRANGE) {
      out.push(...held.pop()!)
      afterLoop.pop()
      afterLoop[afterLoop.length - 1] = true
    } else if (u.op === Ops.STORE && afterLoop.at(-1)) {
      held.at(-1)!.push(u)
      continue
    }
    out.push(u)
  }
  out.push(...held.pop()!)
  return out
}

/** Accumulators in one loop beyond which the loop is an UPCAST register tile (SLP, not simd). */
const SIMD_MAX_ACCS = 4

/**
 * Kernels with more parameters than this also get `<name>_packed(const int *vars, void *const
 * *bufs)`, which the CPU runtime calls instead: the FFI (koffi) takes at most 64 parameters per
 * function, and a kernel may read more buffers than that (a cat of 70 tensors).
 */
export const PACKED_ARGS_ABOVE = 32

export class CRenderer extends CStyleRenderer {
  readonly name = 'c'
  // AVX-512 class machines: 32 vector registers of 16 floats (gcc picks the real width)
  readonly target = {
    threads: true,
    vectorWidth: 16,
    registers: 24,
    simdReduce: true,
    orderedAccs: SIMD_MAX_ACCS + 1,
    // an F16 matvec whose x does not stay in L1 (48 KB on Zen 4) next to the weights streaming
    // through: rows in fours, each vector of x loaded once for four rows. LLaMA-1B's down
    // projection (2048 x 8192, x 32 KB) 0.92 -> 0.73 ms on two threads (weights from DRAM); with
    // x of 16 KB or less one row at a time is faster (8192 x 2048: 0.66 -> 0.86 ms in fours; the
    // hardware prefetcher follows one stream of rows better than four 4 KB rows); more rows than
    // SIMD_MAX_ACCS lose their lanes (8: 3x slower)
    matvecRows: { rows: SIMD_MAX_ACCS, vectorBytesAbove: 16 << 10 },
  }
  // B in panels as wide as the register tile (heuristics.ts upcasts n by 2 vectors), from 2^25
  // multiply-adds: up to 256x256x256 B (256 KiB) stays in L2 read in place, and the tile ran as fast
  // without the copy (0.30 ms on one thread either way), which only cost its kernel, its buffer and
  // a launch (~35 us of a 0.45 ms call)
  readonly layout = { ...PANELS_32, panel: 2 * this.target.vectorWidth, packMinWork: 1 << 25 }
  // gcc vectorizes a register tile from its stores back through the epilogue: plain arithmetic
  // (a bias, a residual, a scale) keeps it vector code, anything else (relu's max, exp, erf,
  // selects) left the whole tile scalar, 7x slower; from 2^18 multiply-adds such a product is
  // realized and its epilogue runs as its own kernel (schedule/tile_epilogue.ts)
  readonly limits: KernelLimits = {
    tileEpilogue: { ops: new Set([Ops.ADD, Ops.SUB, Ops.MUL, Ops.NEG]), minWork: 1 << 18 },
  }

  protected prelude(code: string): string {
    return preludeFor(code)
  }

  protected override entryPoints(name: string, vars: number, bufs: number): string {
    if (vars + bufs <= PACKED_ARGS_ABOVE) return ''
    const args = [
      ...Array.from({ length: vars }, (_, i) => `v[${i}]`),
      ...Array.from({ length: bufs }, (_, i) => `b[${i}]`),
    ]
    return `void ${name}_packed(const int *v, void *const *b) { ${name}(${args.join(', ')}); }\n`
  }

  /** whether the kernel being rendered is a register tile (more accumulators than SIMD_MAX_ACCS) */
  private tile = false
  /** a register tile's runs of adjacent float16 loads, and the vector each run is named */
  private halves: HalfRuns | undefined
  private readonly halfNames = new Map<HalfRun, string>()

  override render(name: string, prog: LinearProgram): string {
    this.tile = prog.uops.filter((u) => u.op === Ops.DEFINE_ACC).length > SIMD_MAX_ACCS
    const p = this.tile ? { ...prog, uops: storesLast(prog.uops) } : prog
    this.halves = this.tile ? findHalfRuns(p.uops) : undefined
    this.halfNames.clear()
    return super.render(name, p)
  }

  protected override beforeLoad(u: UOp, ref: (u: UOp) => string): string[] {
    return (this.halves?.at.get(u) ?? []).map((run) => {
      const n = `hv${this.halfNames.size}`
      this.halfNames.set(run, n)
      const off = run.start > 0 ? ` + ${run.start}` : run.start < 0 ? ` - ${-run.start}` : ''
      return `tgh16f ${n} = tg_ldh16(${ref(run.buf)} + ${ref(run.base)}${off});`
    })
  }

  protected signature(name: string, params: string[], _prog: LinearProgram): string {
    // Many accumulators means an UPCAST/UNROLL register tile, written for the SLP vectorizer;
    // gcc's loop vectorizer then rewrites the reduce loop with wide unaligned loads that can run
    // 50x slower (matmul at N=512), so it is turned off for such kernels. Contraction is off too:
    // with it, gcc fused some of a tile's multiply-adds and not others depending on how it
    // vectorized them, so two tile sizes of one kernel differed in the last bits (the first tier,
    // codegen/first_tier.ts, must compute what the full tile does); the tile's accumulator updates
    // are fused explicitly instead (accAdd).
    const attr = this.tile ? '__attribute__((optimize("no-tree-loop-vectorize", "fp-contract=off"))) ' : ''
    return `${attr}void ${name}(${params.join(', ')})`
  }

  protected override accAdd(acc: string, val: UOp, ref: (u: UOp) => string): string {
    const f = val.dtype.name === 'float32' ? 'TG_FMAF' : val.dtype.name === 'float64' ? 'TG_FMA' : undefined
    if (!this.tile || val.op !== Ops.MUL || f === undefined) return super.accAdd(acc, val, ref)
    return `${f}(${ref(val.src[0]!)}, ${ref(val.src[1]!)}, ${acc})`
  }

  protected override renderLoop(loop: LoopToRender): boolean {
    const inBody = new Set(loop.body)
    return (
      renderColumnLoop(loop, loop.accOf) ||
      renderQuadPairLoop(loop, (range, body) => {
        const within = new Set(body)
        return (idx) => strideIn(idx, range, within)
      }) ||
      renderQuadLoop(loop, (idx) => strideIn(idx, loop.range, inBody)) ||
      renderVectorLoop(loop, (u, a) => this.aluExpr(u, a))
    )
  }

  protected override aluExpr(u: UOp, a: string[], inner = true): string {
    // float32 exp/exp2/erf inline (tg_expf, tg_erff above); other dtypes and functions go to libm/libmvec
    const f32 = u.src[0]?.dtype.name === 'float32'
    if (f32 && (u.op === Ops.EXP || u.op === Ops.EXP2 || u.op === Ops.ERF))
      return `${u.op === Ops.EXP ? 'tg_expf' : u.op === Ops.EXP2 ? 'tg_exp2f' : 'tg_erff'}(${a[0]})`
    // outside innermost loops (a quantized block's scale) one F16C instruction; inside, the
    // integer form that gcc vectorizes; in a register tile a lane of a run's vector, or the form
    // the SLP vectorizer groups (c_half_runs.ts)
    if (u.op === Ops.CAST && u.src[0]!.dtype.name === 'float16' && u.dtype.name === 'float32') {
      const lane = this.halves?.lanes.get(u.src[0]!)
      if (lane) return `${this.halfNames.get(lane.run)!}[${lane.lane}]`
      return `${this.tile ? 'tg_h2ft' : inner ? 'tg_h2f' : 'tg_h2f1'}(${a[0]})`
    }
    return super.aluExpr(u, a, inner)
  }

  protected override laneAccs(prog: LinearProgram): ReadonlyMap<UOp, number> {
    // a float32 sum updated in each iteration of an innermost reduce loop of 16..64 (a multiple
    // of 16) that another reduce loop encloses (a SPLIT block loop): the simd reduction would add
    // its lanes up at the end of every block, keeping lanes costs one vector add per step
    const out = new Map<UOp, number>()
    const open: UOp[] = []
    const defined = new Map<UOp, number>() // acc -> loop depth at its DEFINE_ACC
    const updatedIn = new Map<UOp, UOp | undefined>() // acc -> the loop of its updates
    const rejected = new Set<UOp>()
    const perLoop = new Map<UOp | undefined, Set<UOp>>() // accumulators updated in each loop
    // a loop of 8 whose body is a byte-quad dot product (c_dot_quads.ts) keeps 8 lanes
    const quadLoops = new Map<UOp, boolean>()
    const isQuadLoop = (loop: UOp, from: number): boolean => {
      let q = quadLoops.get(loop)
      if (q === undefined) {
        const start = prog.uops.lastIndexOf(loop, from)
        const end = prog.uops.findIndex((e, j) => j > from && e.op === Ops.ENDRANGE && e.src[0] === loop)
        const body = prog.uops.slice(start + 1, end)
        const inBody = new Set(body)
        const uses = new Map<UOp, number>()
        for (const u of body) for (const s of u.src) uses.set(s, (uses.get(s) ?? 0) + 1)
        q = findDotQuad(body, (idx) => strideIn(idx, loop, inBody), uses) !== undefined
        quadLoops.set(loop, q)
      }
      return q
    }
    for (const [pc, u] of prog.uops.entries()) {
      if (u.op === Ops.RANGE) open.push(u)
      else if (u.op === Ops.ENDRANGE) open.pop()
      else if (u.op === Ops.DEFINE_ACC) defined.set(u, open.length)
      else if (u.op === Ops.ACC_UPDATE) {
        const acc = u.src[0]!
        const loop = open.at(-1)
        // several updates (the steps of a CHAIN) only within one loop
        if (updatedIn.has(acc) && updatedIn.get(acc) !== loop) rejected.add(acc)
        updatedIn.set(acc, loop)
        if (!perLoop.has(loop)) perLoop.set(loop, new Set())
        perLoop.get(loop)!.add(acc)
        const inner = open.slice(defined.get(acc) ?? open.length)
        const bound = loop?.src[0]
        const n = bound?.op === Ops.CONST ? bound.constValue : 0
        const ok =
          acc.dtype.name === 'float32' &&
          u.arg === 'ADD' &&
          inner.length >= 2 &&
          inner.every((r) => (r.arg as RangeArg).kind === 'reduce') &&
          ((n >= 16 && n <= 64 && n % 16 === 0) || (n === QUAD_LANES && isQuadLoop(loop!, pc))) &&
          // the innermost loop: no RANGE before its ENDRANGE
          prog.uops[
            pc +
              prog.uops
                .slice(pc)
                .findIndex((e) => e.op === Ops.RANGE || (e.op === Ops.ENDRANGE && e.src[0] === loop))
          ]?.op === Ops.ENDRANGE
        if (ok) out.set(acc, n)
        else rejected.add(acc)
      }
    }
    // a register tile (many accumulators in one loop) stays as it is: lanes for each would spill
    for (const accs of perLoop.values()) if (accs.size > SIMD_MAX_ACCS) for (const a of accs) rejected.add(a)
    for (const acc of [...out.keys()]) if (rejected.has(acc)) out.delete(acc)
    return out
  }

  protected override loopPrefix(
    range: UOp,
    body: readonly UOp[],
    names: ReadonlyMap<UOp, string>,
    lanes: ReadonlyMap<UOp, number>,
  ): string[] {
    const kind = (range.arg as RangeArg).kind
    if (kind === 'thread') return ['#pragma omp parallel for schedule(static)']
    // an innermost reduce loop with a few accumulators: an OpenMP simd reduction lets the loop
    // vectorizer reorder the float sum (and call libmvec for exp/log inside it)
    if (kind !== 'reduce' || body.some((u) => u.op === Ops.RANGE)) return []
    // one update per accumulator (a CHAIN updates one accumulator several times)
    const updates = [
      ...new Map(body.filter((u) => u.op === Ops.ACC_UPDATE).map((u) => [u.src[0]!, u])).values(),
    ]
    if (!updates.length || updates.length > SIMD_MAX_ACCS) return []
    // lane accumulators need no reduction clause: each iteration updates its own lane
    if (updates.every((upd) => lanes.has(upd.src[0]!))) return ['#pragma omp simd']
    const clauses: string[] = []
    for (const upd of updates) {
      const acc = upd.src[0]!
      const id = simdReduction(upd.arg as string, acc.dtype)
      if (!id) return []
      clauses.push(`reduction(${id}:${names.get(acc)})`)
    }
    return [`#pragma omp simd ${clauses.join(' ')}`]
  }
}
