// C renderer for the CPU device (gcc or clang): the C-style renderer plus a prelude of helpers
// that give JS-reference semantics, OpenMP `parallel for` on thread ranges, and declarations that
// let the compiler call the vector math library (libmvec) from vectorized loops.
import { type KernelLimits, type LinearProgram, PANELS_32 } from './target.js'
import type { DType } from '../dtype.js'
import { ACC_SET, Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { DOT_PAIRS_PRELUDE } from './c_dot_pairs.js'
import { DOT_QUAD_PAIRS_PRELUDE, renderQuadPairLoop } from './c_dot_quad_pairs.js'
import { DOT_COLS_PRELUDE, renderColumnLoop } from './c_dot_cols.js'
import { DOT_QUADS_PRELUDE, findDotQuad, QUAD_LANES, renderQuadLoop } from './c_dot_quads.js'
import { findHalfRuns, HALF_RUNS_PRELUDE, type HalfRun, type HalfRuns } from './c_half_runs.js'
import { VECTOR_PRELUDE, renderVectorLoop, strideIn } from './c_vector.js'
import { CStyleRenderer, type LoopToRender } from './cstyle.js'

const INTS: [string, string][] = [
  ['i8', 'signed char'],
  ['i16', 'short'],
  ['i32', 'int'],
  ['i64', 'long long'],
  ['u8', 'unsigned char'],
  ['u16', 'unsigned short'],
  ['u32', 'unsigned int'],
]

// Integer division and modulo: by 0 -> 0 and by -1 without the INT_MIN trap (JS semantics).
const intHelpers = INTS.map(([s, t]) => {
  const signed = s.startsWith('i')
  const neg1 = signed ? `if (y == -1) return (${t})(0ull - (unsigned long long)x);\n  ` : ''
  const mneg1 = signed ? ' || y == -1' : ''
  const f2i =
    s === 'i64'
      ? 'return (x == x && x > -9.2e18 && x < 9.2e18) ? (long long)x : 0;'
      : `return (${t})toint32(x);`
  return [
    `static inline ${t} idiv_${s}(${t} x, ${t} y) {\n  if (y == 0) return 0;\n  ${neg1}return x / y;\n}`,
    `static inline ${t} imod_${s}(${t} x, ${t} y) { return (y == 0${mneg1}) ? 0 : x % y; }`,
    `static inline ${t} f2${s}(double x) { ${f2i} }`,
  ].join('\n')
}).join('\n')

/** Helpers of JS semantics in plain C (also the quick compiler's prelude, c_quick.ts). */
export const SCALAR_HELPERS = `// ToInt32 of JS: truncate, wrap modulo 2^32, non-finite -> 0
static inline int toint32(double x) {
  if (x > -2147483649.0 && x < 2147483648.0) return (int)x;
  if (x != x || x == __builtin_inf() || x == -__builtin_inf()) return 0;
  double t = fmod(trunc(x), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return (int)(unsigned int)(long long)t;
}
${intHelpers}
static inline float fmax_nanf(float a, float b) { return (a > b || a != a) ? a : b; }
static inline double fmax_nan(double a, double b) { return (a > b || a != a) ? a : b; }
#define BITCAST(T, x) ({ __typeof__(x) s_ = (x); T d_; memcpy(&d_, &s_, sizeof(T)); d_; })
static inline float bf2f(unsigned short h) { unsigned int u = (unsigned int)h << 16; float f; memcpy(&f, &u, 4); return f; }
static inline unsigned short f2bf(float f) {
  unsigned int x; memcpy(&x, &f, 4);
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu)) return (unsigned short)((x >> 16) | 0x40);
  return (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
static inline float rbf(float f) { return bf2f(f2bf(f)); }
`

/** Scalar float32 exp/exp2/erf (the quick prelude defines __builtin_fmaf where the compiler lacks it). */
export const SCALAR_EXP = `// exp in float32, inlined so the loop vectorizer keeps it in registers (libmvec's call costs
// about as much as a 64 MB pass of memory in softmax). x is clamped to where exp is finite and
// nonzero (selects that keep NaN), then x = k ln2 + r with |r| <= ln2/2: k is rounded by adding
// 1.5 * 2^23 (so k sits in kf's low mantissa bits), ln2 is split in two parts (r exact to float
// precision), exp(r) is a degree-6 minimax polynomial (relative error 3e-9; about 1 ulp in all,
// checked over every float), and 2^k is applied as two multiplies by 2^h and 2^(k-h), h ~ k/2,
// built from the low bits of kf and kh by a shift: the first is exact, the second rounds once,
// also for subnormal results, and overflows to inf. No branches and no float/int conversion, so
// gcc vectorizes it with AVX2 as with AVX-512 (the earlier form with an integer exponent add
// stayed scalar on AVX2: 55 vs 10 ms per 16M). Bit-identical to the vector tg_expv.
static inline float tg_exp_poly(float r) {
  float p = 1.38146e-3f;
  p = __builtin_fmaf(p, r, 8.36871e-3f);
  p = __builtin_fmaf(p, r, 4.166839e-2f);
  p = __builtin_fmaf(p, r, 1.6666521e-1f);
  p = __builtin_fmaf(p, r, 4.9999994e-1f);
  return __builtin_fmaf(p, r * r, r) + 1.0f;
}
// p * 2^k where kf holds k + 254 and kh holds h + 127 in their low mantissa bits
static inline float tg_scale2(float p, float kf, float kh) {
  unsigned int a = BITCAST(unsigned int, kh), b = BITCAST(unsigned int, kf);
  return p * BITCAST(float, a << 23) * BITCAST(float, (b - a) << 23);
}
static inline float tg_clampf(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}
static inline float tg_expf(float x) {
  x = tg_clampf(x, -104.0f, 89.0f);
  float kf = __builtin_fmaf(x, 1.44269504088896341f, 0x1.8p23f + 254.0f);
  float kh = __builtin_fmaf(x, 0.72134752044448170f, 0x1.8p23f + 127.0f);
  float k = kf - (0x1.8p23f + 254.0f);
  float r = __builtin_fmaf(k, -0.693359375f, x);
  r = __builtin_fmaf(k, 2.12194440e-4f, r);
  return tg_scale2(tg_exp_poly(r), kf, kh);
}
static inline float tg_exp2f(float x) {
  x = tg_clampf(x, -152.0f, 129.0f);
  float kf = x + (0x1.8p23f + 254.0f);
  float kh = __builtin_fmaf(x, 0.5f, 0x1.8p23f + 127.0f);
  float k = kf - (0x1.8p23f + 254.0f);
  return tg_scale2(tg_exp_poly((x - k) * 0.693147180559945309f), kf, kh);
}
// erf in float32, inline and branchless for the same reason as tg_expf: a call to erff in a register
// tile's epilogue (matmul then gelu) made gcc give up vectorizing the whole tile (spilled scalar
// accumulators, 15x slower). |x| <= 1: x * P(x^2), P of degree 6 (relative error 1.2e-9); above:
// 1 - exp(Q(|x| - 1)) with Q of degree 8 fitted to log(erfc) on [1, 4] (1.2e-8; erfc(4) is below
// half an ulp of 1). Both are minimax fits (scripts/fit_erf_poly.py); within 2.5 ulp of erf over
// every float (glibc's erff: 1 ulp), odd, NaN stays NaN, +-inf -> +-1.
static inline float tg_erff(float x) {
  float t = x * x, p = 7.853856368e-05f;
  p = __builtin_fmaf(p, t, -8.010190795e-04f);
  p = __builtin_fmaf(p, t, 5.188327283e-03f);
  p = __builtin_fmaf(p, t, -2.685381100e-02f);
  p = __builtin_fmaf(p, t, 1.128358543e-01f);
  p = __builtin_fmaf(p, t, -3.761262596e-01f);
  p = __builtin_fmaf(p, t, 1.128379107e+00f);
  float a = tg_clampf(fabsf(x), 1.0f, 4.0f) - 1.0f, q = 1.599810844e-06f;
  q = __builtin_fmaf(q, a, -3.249943620e-05f);
  q = __builtin_fmaf(q, a, 3.179109481e-04f);
  q = __builtin_fmaf(q, a, -2.048137598e-03f);
  q = __builtin_fmaf(q, a, 1.006868202e-02f);
  q = __builtin_fmaf(q, a, -4.156829789e-02f);
  q = __builtin_fmaf(q, a, -8.431078196e-01f);
  q = __builtin_fmaf(q, a, -2.638967276e+00f);
  q = __builtin_fmaf(q, a, -1.849605560e+00f);
  float big = copysignf(1.0f - tg_expf(q), x);
  return fabsf(x) <= 1.0f ? x * p : big;
}
`

/** The prelude every C kernel starts with (the CPU device compiles it once as a gcc PCH, cpu_pch.ts). */
export const PRELUDE = `#include <math.h>
#include <string.h>
${SCALAR_HELPERS}// float16 -> float32 by integer math: gcc 12 keeps a (float) conversion of _Float16 scalar (one
// vcvtph2ps per element), this form vectorizes (4x on an F16 matvec). Exact: the f16 bits shifted
// into f32 position read as 2^-112 times the value (normal or subnormal), inf/NaN are rebuilt.
static inline float tg_h2f(_Float16 x) {
  unsigned short h; memcpy(&h, &x, 2);
  unsigned int em = h & 0x7fffu, b = em << 13, r; float f; memcpy(&f, &b, 4);
  f = f * 0x1p112f; memcpy(&r, &f, 4);
  r = (em >= 0x7c00u ? (b | 0x7f800000u) : r) | ((unsigned int)(h & 0x8000u) << 16);
  memcpy(&f, &r, 4); return f;
}
// one float16 -> float32 outside a vectorized loop: vcvtph2ps where the target has F16C (1.8 ->
// 1.3 ms on a Q4_0 matvec, one scale per block). Exact as tg_h2f (NaNs come out quiet).
#if defined(__F16C__)
#include <immintrin.h>
static inline float tg_h2f1(_Float16 x) { unsigned short h; memcpy(&h, &x, 2); return _cvtsh_ss(h); }
#else
#define tg_h2f1 tg_h2f
#endif
${SCALAR_EXP}${['expf', 'exp2f', 'logf', 'log2f', 'sinf', 'cosf', 'tanhf', 'erff'].map((f) => `#pragma omp declare simd notinbranch\nfloat ${f}(float);`).join('\n')}
#pragma omp declare simd notinbranch
float powf(float, float);
// a register tile's multiply-adds, fused as written: the tile is compiled without contraction
// (fp-contract=off), so its results do not depend on how gcc vectorized it (CRenderer.accAdd)
#if defined(__FMA__)
#define TG_FMAF __builtin_fmaf
#define TG_FMA __builtin_fma
#else
#define TG_FMAF(a, b, c) ((a) * (b) + (c))
#define TG_FMA(a, b, c) ((a) * (b) + (c))
#endif
#pragma omp declare reduction(maxnan : float : omp_out = fmax_nanf(omp_out, omp_in)) initializer(omp_priv = -__builtin_inff())
#pragma omp declare reduction(maxnand : double : omp_out = fmax_nan(omp_out, omp_in)) initializer(omp_priv = -__builtin_inf())
${VECTOR_PRELUDE}${HALF_RUNS_PRELUDE}${DOT_PAIRS_PRELUDE}${DOT_QUADS_PRELUDE}${DOT_QUAD_PAIRS_PRELUDE}${DOT_COLS_PRELUDE}`

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

  protected prelude(): string {
    return PRELUDE
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
