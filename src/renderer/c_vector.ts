// Explicit vector loops for the C renderer. An innermost output loop whose loads and stores are
// contiguous along it is rendered with GCC vector types, one register of floats per step (16
// lanes with AVX-512, else 8: TG_VLEN, chosen by the compiler's target), plus a scalar loop for
// the remainder.
//
// Why not leave it to the auto-vectorizer: its code for exp needs compares and selects for the
// subnormal, overflow and NaN cases (~37 instructions per 16 floats for relu(2x+1)*sigmoid(x)),
// while on AVX-512 the vector helpers in the prelude clamp with vmaxps/vminps and scale with
// vscalefps. That kernel went from 6.9 to 5.0 ms per 16M floats on one core with data in cache.
//
// A value the loop needs as a vector is rendered in vector form; an index the loads and stores
// need is rendered as a scalar at the loop's lane 0 (it is `base + r`). Ops without a vector form
// run as a loop over the lanes of the scalar expression, which gcc vectorizes like the plain loop.
//
// An innermost reduce loop whose accumulators are lane accumulators as long as the loop (a SPLIT
// block loop of a quantized matvec) is rendered the same way, each step adding a vector into the
// lanes. Its narrow integers (the raw bytes of quantized blocks) and float16 values are loaded
// widened to int32 lanes: gcc's own vectorizer sizes such a loop by its bytes (16 chars, so four
// xmm registers of floats per step, 3.4 ms on a Q4_0 matvec), explicit vectors use zmm (1.8 ms).
import type { DType } from '../dtype.js'
import { type Op, Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { type DotPairs, findDotPairs, renderPair } from './c_dot_pairs.js'
import { INFIX, type LoopToRender } from './cstyle.js'

/** Loops shorter than this stay plain (the widest vector, AVX-512's, has 16 float lanes). */
const MIN_LEN = 16
/** The lane count, fixed when the C compiler sees the target (TG_VLEN in the prelude). */
const VLEN = 'TG_VLEN'

/** Vector types and helpers the vector loops use (part of the C prelude). */
export const VECTOR_PRELUDE = `#if defined(__AVX512F__)
#define TG_VLEN 16
#else
#define TG_VLEN 8
#endif
typedef float tgvf __attribute__((vector_size(TG_VLEN * 4)));
typedef int tgvi __attribute__((vector_size(TG_VLEN * 4)));
typedef unsigned int tgvu __attribute__((vector_size(TG_VLEN * 4)));
typedef float tgvfu __attribute__((vector_size(TG_VLEN * 4), aligned(4)));
typedef int tgviu __attribute__((vector_size(TG_VLEN * 4), aligned(4)));
#if TG_VLEN == 16
static const tgvi tg_iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#else
static const tgvi tg_iota = {0, 1, 2, 3, 4, 5, 6, 7};
#endif
// x - 0 keeps -0.0 (x + 0 would not)
static inline tgvf tg_vf(float x) { return x - (tgvf){}; }
static inline tgvi tg_vi(int x) { return x + (tgvi){}; }
static inline tgvf tg_self(tgvi m, tgvf a, tgvf b) { return (tgvf)((m & (tgvi)a) | (~m & (tgvi)b)); }
static inline tgvi tg_seli(tgvi m, tgvi a, tgvi b) { return (m & a) | (~m & b); }
// float16 bits (in int32 lanes) -> float32, the same integer math as tg_h2f (bit-identical)
static inline tgvf tg_h2fv(tgvi h) {
  tgvi em = h & 0x7fff, b = em << 13;
  tgvi r = tg_seli(em >= 0x7c00, b | 0x7f800000, (tgvi)((tgvf)b * 0x1p112f));
  return (tgvf)(r | ((h & 0x8000) << 16));
}
static inline tgvf tg_maxf(tgvf a, tgvf b) { return tg_self((a > b) | (a != a), a, b); }
// exp and exp2 as tg_expf/tg_exp2f (same reduction and polynomial, bit-identical results)
static inline tgvf tg_exp_polyv(tgvf r) {
  tgvf p = r * 1.38146e-3f + 8.36871e-3f;
  p = p * r + 4.166839e-2f;
  p = p * r + 1.6666521e-1f;
  p = p * r + 4.9999994e-1f;
  return (p * (r * r) + r) + 1.0f;
}
`

/**
 * The vector helpers built on intrinsics (immintrin.h: ~1.4 MB of headers that cost every compiler
 * process ~0.13 s even precompiled), in the full prelude only (c_prelude.ts): narrow loads and
 * exp/exp2 (vscalefps on AVX-512). Needs VECTOR_PRELUDE before it.
 */
export const VECTOR_INTRINSICS_PRELUDE = `// narrow loads widened to int32 lanes: gcc 12 scalarizes __builtin_convertvector from bytes
// (16 byte extracts), so by intrinsics (vpmovzxbd and kin) where the target has them
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#define TG_WIDEN(name, T, conv, load) \\
  static inline tgvi name(const T* p) { return (tgvi)conv(load((const void*)p)); }
#endif
#if defined(__AVX512F__)
TG_WIDEN(tg_ldu8, unsigned char, _mm512_cvtepu8_epi32, _mm_loadu_si128)
TG_WIDEN(tg_ldi8, signed char, _mm512_cvtepi8_epi32, _mm_loadu_si128)
TG_WIDEN(tg_ldu16, void, _mm512_cvtepu16_epi32, _mm256_loadu_si256)
TG_WIDEN(tg_ldi16, void, _mm512_cvtepi16_epi32, _mm256_loadu_si256)
#elif defined(__AVX2__)
TG_WIDEN(tg_ldu8, unsigned char, _mm256_cvtepu8_epi32, _mm_loadl_epi64)
TG_WIDEN(tg_ldi8, signed char, _mm256_cvtepi8_epi32, _mm_loadl_epi64)
TG_WIDEN(tg_ldu16, void, _mm256_cvtepu16_epi32, _mm_loadu_si128)
TG_WIDEN(tg_ldi16, void, _mm256_cvtepi16_epi32, _mm_loadu_si128)
#else
#define TG_WIDEN(name, T, LT) \\
  static inline tgvi name(const T* q) { \\
    const LT* p = (const LT*)q; tgvi y; for (int l = 0; l < TG_VLEN; l++) y[l] = p[l]; return y; }
TG_WIDEN(tg_ldu8, unsigned char, unsigned char)
TG_WIDEN(tg_ldi8, signed char, signed char)
TG_WIDEN(tg_ldu16, void, unsigned short)
TG_WIDEN(tg_ldi16, void, short)
#endif
// a float16 vector load and its conversion to float32 as one instruction where the target has it
// (vcvtph2ps: AVX-512 for 16 lanes, F16C for 8), else the integer form; f16 -> f32 is exact either
// way. The integer form took ~8 vector instructions per 16 weights: an F16 LLaMA-1B decode step's
// matvecs ran at ~36-41 GB/s against a ~57 GB/s copy.
#if defined(__AVX512F__)
static inline tgvf tg_ldh2fv(const void* p) { return (tgvf)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
#elif defined(__AVX2__) && defined(__F16C__)
static inline tgvf tg_ldh2fv(const void* p) { return (tgvf)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
#else
static inline tgvf tg_ldh2fv(const void* p) { return tg_h2fv(tg_ldu16(p)); }
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
// AVX-512: vmaxps/vminps clamp (they return their second operand, x, when it is NaN) and
// vscalefps computes p * 2^k rounded once: 13 instructions for exp
static inline tgvf tg_clampv(tgvf x, float lo, float hi) {
  __m512 l = _mm512_max_ps(_mm512_set1_ps(lo), (__m512)x);
  return (tgvf)_mm512_min_ps(_mm512_set1_ps(hi), l);
}
static inline tgvf tg_expv(tgvf x) {
  x = tg_clampv(x, -104.0f, 89.0f);
  tgvf k = (x * 1.44269504088896341f + 0x1.8p23f) - 0x1.8p23f;
  tgvf r = k * -0.693359375f + x;
  r = k * 2.12194440e-4f + r;
  return (tgvf)_mm512_scalef_ps((__m512)tg_exp_polyv(r), (__m512)k);
}
static inline tgvf tg_exp2v(tgvf x) {
  x = tg_clampv(x, -152.0f, 129.0f);
  tgvf k = (x + 0x1.8p23f) - 0x1.8p23f;
  return (tgvf)_mm512_scalef_ps((__m512)tg_exp_polyv((x - k) * 0.693147180559945309f), (__m512)k);
}
#else
static inline tgvf tg_clampv(tgvf x, float lo, float hi) {
  x = tg_self(x < lo, tg_vf(lo), x);
  return tg_self(x > hi, tg_vf(hi), x);
}
static inline tgvf tg_scale2v(tgvf p, tgvf kf, tgvf kh) {
  return p * (tgvf)((tgvi)kh << 23) * (tgvf)(((tgvi)kf - (tgvi)kh) << 23);
}
static inline tgvf tg_expv(tgvf x) {
  x = tg_clampv(x, -104.0f, 89.0f);
  tgvf kf = x * 1.44269504088896341f + (0x1.8p23f + 254.0f);
  tgvf kh = x * 0.72134752044448170f + (0x1.8p23f + 127.0f);
  tgvf k = kf - (0x1.8p23f + 254.0f);
  tgvf r = k * -0.693359375f + x;
  r = k * 2.12194440e-4f + r;
  return tg_scale2v(tg_exp_polyv(r), kf, kh);
}
static inline tgvf tg_exp2v(tgvf x) {
  x = tg_clampv(x, -152.0f, 129.0f);
  tgvf kf = x + (0x1.8p23f + 254.0f);
  tgvf kh = x * 0.5f + (0x1.8p23f + 127.0f);
  tgvf k = kf - (0x1.8p23f + 254.0f);
  return tg_scale2v(tg_exp_polyv((x - k) * 0.693147180559945309f), kf, kh);
}
#endif
`

type Kind = 'f' | 'i' | 'b' | 'n' | 'h'

/** Narrow integers: the prelude's loader that widens them to tgvi lanes. */
const NARROW: Readonly<Record<string, string>> = {
  uint8: 'tg_ldu8',
  int8: 'tg_ldi8',
  uint16: 'tg_ldu16',
  int16: 'tg_ldi16',
}

/**
 * The vector kind of a dtype: float32 -> tgvf, int32 -> tgvi, bool -> tgvi mask (-1/0), narrow
 * integers -> tgvi lanes holding their values, float16 -> tgvi lanes holding its bits.
 */
function kindOf(dt: DType): Kind | undefined {
  if (dt.isBool) return 'b'
  if (dt.name === 'float32') return 'f'
  if (dt.name === 'int32') return 'i'
  if (dt.name in NARROW) return 'n'
  if (dt.name === 'float16') return 'h'
  return undefined
}
const VTYPE: Record<Kind, string> = { f: 'tgvf', i: 'tgvi', b: 'tgvi', n: 'tgvi', h: 'tgvi' }

/** int32 lanes `e` wrapped to the values of narrow integer type `dt` (what a C cast does). */
function narrowWrap(dt: DType, e: string): string {
  const s = 32 - dt.bits
  return dt.isUnsigned ? `(${e} & ${2 ** dt.bits - 1})` : `((tgvi)((tgvu)${e} << ${s}) >> ${s})`
}

/** How `idx` moves when `r` steps by one: 0 (invariant), a constant, or NaN (not affine). */
export function strideIn(idx: UOp, r: UOp, inBody: ReadonlySet<UOp>): number {
  if (idx === r) return 1
  if (!inBody.has(idx)) return 0
  const [a, b] = idx.src
  switch (idx.op) {
    case Ops.AFTER:
      return strideIn(a!, r, inBody)
    case Ops.CAST:
      // widening an index to int64 (a big kernel's address math) keeps its stride
      return idx.dtype.isInt && a!.dtype.isInt && idx.dtype.bits >= a!.dtype.bits
        ? strideIn(a!, r, inBody)
        : Number.NaN
    case Ops.ADD:
      return strideIn(a!, r, inBody) + strideIn(b!, r, inBody)
    case Ops.SUB:
      return strideIn(a!, r, inBody) - strideIn(b!, r, inBody)
    case Ops.MUL:
      if (b!.op === Ops.CONST) return strideIn(a!, r, inBody) * b!.constValue
      if (a!.op === Ops.CONST) return strideIn(b!, r, inBody) * a!.constValue
      return Number.NaN
  }
  return Number.NaN
}

interface Plan {
  /** body nodes rendered as vectors */
  vector: Set<UOp>
  /** body nodes rendered as scalars at lane 0 (address arithmetic) */
  scalar: Set<UOp>
  /** lanes that sum two products of 16-bit pairs (c_dot_pairs.ts) */
  pairs: DotPairs
}

/**
 * Which body nodes the vector loop renders in which form, or undefined if it cannot. A reduce
 * loop qualifies when every accumulator it updates is a float32 sum kept in lanes as many as its
 * trips (its remainder loop would have no lanes to add into otherwise).
 */
function plan(range: UOp, body: readonly UOp[], lanes: ReadonlyMap<UOp, number>): Plan | undefined {
  if (range.src[0]!.op !== Ops.CONST) return undefined
  if (range.dtype.name !== 'int32') return undefined // lanes are int32: r + iota must not wrap
  const n = range.src[0]!.constValue
  if (n < MIN_LEN) return undefined
  const reduce = (range.arg as RangeArg).kind === 'reduce'
  if (reduce && (n % MIN_LEN !== 0 || !body.some((u) => u.op === Ops.ACC_UPDATE))) return undefined
  const inBody = new Set(body)
  const vector = new Set<UOp>()
  const scalar = new Set<UOp>()
  const uses = new Map<UOp, number>()
  for (const u of body) for (const s of u.src) uses.set(s, (uses.get(s) ?? 0) + 1)
  const pairs = findDotPairs(body, (idx) => strideIn(idx, range, inBody), uses)
  for (const u of pairs.vectors) vector.add(u)
  for (const u of pairs.scalars) scalar.add(u)
  for (let i = body.length - 1; i >= 0; i--) {
    const u = body[i]!
    if (pairs.fused.has(u)) continue
    if (pairs.dots.has(u)) {
      if (scalar.has(u)) return undefined
      continue
    }
    switch (u.op) {
      case Ops.RANGE:
      case Ops.DEFINE_ACC:
      case Ops.ACC:
      case Ops.REDUCE:
        return undefined
      case Ops.ACC_UPDATE: {
        const acc = u.src[0]!
        if (!reduce || lanes.get(acc) !== n || u.arg !== 'ADD' || acc.dtype.name !== 'float32')
          return undefined
        vector.add(u.src[1]!)
        break
      }
      case Ops.STORE:
      case Ops.LOAD: {
        const dt = u.op === Ops.STORE ? u.src[2]!.dtype : u.dtype
        const k = kindOf(dt)
        if (!k || (u.op === Ops.STORE && (k === 'n' || k === 'h'))) return undefined
        if (strideIn(u.src[1]!, range, inBody) !== 1) return undefined
        if (u.op === Ops.LOAD && scalar.has(u)) return undefined // a loaded index: a gather
        scalar.add(u.src[1]!)
        for (const s of u.op === Ops.STORE ? [u.src[2]!] : u.src.slice(2)) vector.add(s)
        break
      }
      default:
        if (scalar.has(u)) {
          if (u.op !== Ops.AFTER && !u.dtype.isInt) return undefined
          for (const s of u.src) scalar.add(s)
        }
        if (vector.has(u)) {
          if (!kindOf(u.dtype) || u.op === Ops.AFTER || u.src.some((s) => !kindOf(s.dtype))) return undefined
          // float16 bits have no lane-loop form: only the loads, bitcasts and casts to float32 below
          const h = kindOf(u.dtype) === 'h'
          if (h && !(u.op === Ops.BITCAST && u.src[0]!.dtype.bits === 16)) return undefined
          if (
            !h &&
            u.src.some((s) => kindOf(s.dtype) === 'h') &&
            !(u.op === Ops.CAST && u.dtype.name === 'float32')
          )
            return undefined
          for (const s of u.src) vector.add(s)
        }
    }
  }
  return { vector, scalar, pairs }
}

/**
 * Render `loop` as a vector loop if every access is contiguous along it and every value is a
 * float32, int32 or bool; returns false (nothing written) otherwise.
 */
export function renderVectorLoop(
  loop: LoopToRender,
  scalarExpr: (u: UOp, operands: string[]) => string,
): boolean {
  const { range, body, prefix, writer: w, statement, lanes } = loop
  const p = plan(range, body, lanes)
  if (!p) return false
  const n = range.src[0]!.constValue
  const vend = `${n} / ${VLEN} * ${VLEN}`
  const r = w.name(range)
  const vnames = new Map<UOp, string>()
  let next = 0
  // a vector operand: body values by name, the loop index as lanes r, r+1, ..., others splatted
  const vref = (u: UOp): string => {
    const v = vnames.get(u)
    if (v) return v
    if (u === range) return `(tg_vi(${r}) + tg_iota)`
    const k = kindOf(u.dtype)
    const s = w.ref(u)
    if (k === 'f') return `tg_vf(${s})`
    if (k === 'h') return `tg_vi(BITCAST(unsigned short, ${s}))`
    return k === 'b' ? `tg_vi(-(int)${s})` : `tg_vi(${s})`
  }
  // the same operand inside a lane loop over a scalar expression (index l_)
  const laneRef = (u: UOp): string => {
    const v = vnames.get(u)
    if (v) return u.dtype.isBool ? `(${v}[l_] != 0)` : `${v}[l_]`
    return u === range ? `(${r} + l_)` : w.ref(u)
  }
  const vdefine = (u: UOp, e: string): void => {
    const name = `x${next++}`
    w.line(`${VTYPE[kindOf(u.dtype)!]} ${name} = ${e};`)
    vnames.set(u, name)
  }
  const inBody = new Set(body)
  // an OpenMP simd pragma is for the plain loop
  for (const line of prefix) if (!line.startsWith('#pragma omp simd')) w.line(line)
  w.open(`for (int ${r} = 0; ${r} < ${vend}; ${r} += ${VLEN}) {`)
  for (const u of body) {
    if (p.pairs.fused.has(u)) continue
    const dot = p.pairs.dots.get(u)
    if (dot) {
      const addr = (ld: UOp) => `(const void *)(${w.ref(ld.src[0]!)} + ${w.ref(ld.src[1]!)})`
      const [a, b] = dot.map((q) => renderPair(q, vref, addr))
      vdefine(u, `tg_madd16(${a}, ${b})`)
      continue
    }
    if (p.scalar.has(u)) statement(u)
    if (u.op === Ops.ACC_UPDATE) {
      const lane = `*(tgvfu*)(${w.ref(u.src[0]!)}_l + ${r})`
      w.line(`${lane} = ${lane} + ${vref(u.src[1]!)};`)
    } else if (u.op === Ops.STORE)
      w.line(storeVector(w.ref(u.src[0]!), w.ref(u.src[1]!), u.src[2]!.dtype, vref(u.src[2]!)))
    else if (u.op === Ops.LOAD)
      vdefine(
        u,
        u.src[2] && !inBody.has(u.src[2])
          ? invariantGatedLoad(u, w.ref(u.src[0]!), w.ref(u.src[1]!), w.ref(u.src[2]))
          : loadVector(u, w.ref(u.src[0]!), w.ref(u.src[1]!), u.src[2] && vref(u.src[2])),
      )
    else if (p.vector.has(u))
      vdefine(
        u,
        reinterpretedLoad(u, w) ??
          vectorExpr(u, u.src.map(vref)) ??
          laneLoop(kindOf(u.dtype)!, scalarExpr(u, u.src.map(laneRef))),
      )
  }
  w.close()
  if (n % MIN_LEN !== 0) {
    // the remainder, as the plain loop (none when n is a multiple of 16, hence of either width)
    w.open(`for (int ${r} = ${vend}; ${r} < ${n}; ${r}++) {`)
    for (const u of body) statement(u)
    w.close()
  }
  return true
}

/** A vector of kind `k` whose lane l_ is the scalar expression `e` (a bool `e` becomes -1/0). */
function laneLoop(k: Kind, e: string): string {
  return `({ ${VTYPE[k]} y_; for (int l_ = 0; l_ < ${VLEN}; l_++) y_[l_] = ${k === 'b' ? `-(int)(${e})` : e}; y_; })`
}

/** Unaligned vector types for whole-vector loads and stores of float32/int32. */
const UNALIGNED: Record<Kind, string> = { f: 'tgvfu', i: 'tgviu', b: '', n: '', h: '' }

function loadVector(u: UOp, buf: string, idx: string, gate: string | undefined): string {
  const k = kindOf(u.dtype)!
  const at =
    k === 'b'
      ? `(${buf}[${idx} + l_] != 0)`
      : k === 'h'
        ? `BITCAST(unsigned short, ${buf}[${idx} + l_])`
        : `${buf}[${idx} + l_]`
  if (gate) return laneLoop(k, `${gate}[l_] ? ${at} : 0`)
  if (k === 'b') return laneLoop(k, at)
  const narrow = k === 'h' ? 'tg_ldu16' : NARROW[u.dtype.name]
  if (narrow) return `${narrow}(${buf} + ${idx})`
  return `*(const ${UNALIGNED[k]}*)(${buf} + ${idx})`
}

/**
 * A narrow integer load reinterpreted as the other signedness of its width (Q8_0's int8 quants are
 * uint8 block bytes BITCAST to int8): loaded again, widened by the target type's own loader
 * (vpmovsxbd), instead of zero-extended lanes shifted left and back (two more vector ops per 16
 * weights in a Q8_0 matvec). The first load, if nothing else reads it, is dead code for gcc.
 */
function reinterpretedLoad(u: UOp, w: LoopToRender['writer']): string | undefined {
  const x = u.src[0]
  // float16 -> float32 of an ungated load: one converting load (tg_ldh2fv)
  if (
    u.op === Ops.CAST &&
    u.dtype.name === 'float32' &&
    x?.op === Ops.LOAD &&
    !x.src[2] &&
    kindOf(x.dtype) === 'h'
  )
    return `tg_ldh2fv((const void *)(${w.ref(x.src[0]!)} + ${w.ref(x.src[1]!)}))`
  const to = NARROW[u.dtype.name]
  if ((u.op !== Ops.BITCAST && u.op !== Ops.CAST) || !to || x?.op !== Ops.LOAD || x.src[2]) return undefined
  if (!(x.dtype.name in NARROW) || x.dtype.bits !== u.dtype.bits) return undefined
  return `${to}((const void *)(${w.ref(x.src[0]!)} + ${w.ref(x.src[1]!)}))`
}

/**
 * A load whose gate does not change along the loop (an embedding row's `0 <= id < vocab`): one
 * whole-vector load or zeros, not a select per lane.
 */
function invariantGatedLoad(u: UOp, buf: string, idx: string, gate: string): string {
  const k = kindOf(u.dtype)!
  if (k === 'b') return loadVector(u, buf, idx, `tg_vi(-(int)${gate})`)
  return `(${gate} ? ${loadVector(u, buf, idx, undefined)} : ${k === 'f' ? 'tg_vf(0.0f)' : 'tg_vi(0)'})`
}

function storeVector(buf: string, idx: string, dt: DType, val: string): string {
  const k = kindOf(dt)!
  if (k === 'b')
    return `for (int l_ = 0; l_ < ${VLEN}; l_++) ${buf}[${idx} + l_] = (unsigned char)(${val}[l_] & 1);`
  return `*(${UNALIGNED[k]}*)(${buf} + ${idx}) = ${val};`
}

/** Ops that are one operator on vectors, by result kind (int add/sub/mul wrap, see below). */
const VECTOR_INFIX: Record<Kind, ReadonlySet<Op>> = {
  f: new Set([Ops.ADD, Ops.SUB, Ops.MUL, Ops.FDIV]),
  b: new Set([Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR]),
  i: new Set([Ops.AND, Ops.OR, Ops.XOR]),
  // bitwise ops keep zero- or sign-extended narrow values in range
  n: new Set([Ops.AND, Ops.OR, Ops.XOR]),
  h: new Set(),
}

/** The vector form of an ALU op, if it has one. */
function vectorExpr(u: UOp, a: string[]): string | undefined {
  const [x = '', y = '', z = ''] = a
  const out = kindOf(u.dtype)!
  const src = kindOf(u.src[0]!.dtype)
  // a bool CMPLT compares -1/0 lanes the wrong way round; it takes the lane loop
  if (VECTOR_INFIX[out].has(u.op) || (u.op === Ops.CMPLT && src !== 'b')) return `(${x} ${INFIX[u.op]} ${y})`
  if (out === 'f') {
    switch (u.op) {
      case Ops.NEG:
        return `(-${x})`
      case Ops.RECIP:
        return `(1.0f / ${x})`
      case Ops.MAX:
        return `tg_maxf(${x}, ${y})`
      case Ops.WHERE:
        return `tg_self(${x}, ${y}, ${z})`
      case Ops.EXP:
        return `tg_expv(${x})`
      case Ops.EXP2:
        return `tg_exp2v(${x})`
      case Ops.CAST:
        if (src === 'i' || src === 'n') return `__builtin_convertvector(${x}, tgvf)`
        if (src === 'b') return `__builtin_convertvector(-${x}, tgvf)`
        if (src === 'h') return `tg_h2fv(${x})`
    }
  } else if (out === 'b') {
    switch (u.op) {
      case Ops.MUL:
        return `(${x} & ${y})`
      case Ops.ADD:
      case Ops.MAX:
        return `(${x} | ${y})`
      case Ops.NEG:
        return `(~${x})`
      case Ops.WHERE:
        return `tg_seli(${x}, ${y}, ${z})`
      case Ops.CAST:
        return src === 'f' ? `(${x} != 0.0f)` : `(${x} != 0)`
    }
  } else if (out === 'h') {
    // the bits of a 16-bit integer (an int16's lanes are sign-extended)
    if (u.op === Ops.BITCAST) return `(${x} & 0xffff)`
  } else if (out === 'n') {
    switch (u.op) {
      case Ops.SHR:
        // narrow values are >= 0 (unsigned) or sign-extended (signed): the int32 shift is C's
        return `(${x} >> (${y} & 31))`
      case Ops.ADD:
      case Ops.SUB:
      case Ops.MUL:
      case Ops.SHL: {
        const op = u.op === Ops.SHL ? '<<' : INFIX[u.op]
        const rhs = u.op === Ops.SHL ? `(tgvu)(${y} & 31)` : `(tgvu)${y}`
        return narrowWrap(u.dtype, `(tgvi)((tgvu)${x} ${op} ${rhs})`)
      }
      case Ops.WHERE:
        return `tg_seli(${x}, ${y}, ${z})`
      case Ops.CAST:
      case Ops.BITCAST:
        if (src === 'n' || src === 'i') return narrowWrap(u.dtype, x)
        if (src === 'b' && u.op === Ops.CAST) return `(-${x})`
    }
  } else {
    // int32 add/sub/mul/neg wrap through unsigned lanes (JS semantics, no signed overflow)
    const unsigned = (op: string): string => `(tgvi)((tgvu)${x} ${op} (tgvu)${y})`
    switch (u.op) {
      case Ops.ADD:
        return unsigned('+')
      case Ops.SUB:
        return unsigned('-')
      case Ops.MUL:
        return unsigned('*')
      case Ops.NEG:
        return `(tgvi)(-(tgvu)${x})`
      case Ops.MAX:
        return `tg_seli(${x} > ${y}, ${x}, ${y})`
      case Ops.WHERE:
        return `tg_seli(${x}, ${y}, ${z})`
      case Ops.CAST:
        if (src === 'b') return `(-${x})`
        if (src === 'n') return x
    }
  }
  return undefined
}
