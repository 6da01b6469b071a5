// The C kernels' prelude: helpers that give JS-reference semantics, OpenMP reductions, and
// declarations that let the compiler call the vector math library (libmvec) from vectorized loops.
// It comes in two sizes: PRELUDE_CORE for kernels in plain C and vector extensions, and PRELUDE
// (the core plus the helpers built on intrinsics) for kernels that call one of those; preludeFor
// picks by the kernel's text, so the CPU device's compilers parse immintrin.h only when needed.
import { DOT_PAIRS_PRELUDE } from './c_dot_pairs.js'
import { DOT_QUAD_PAIRS_PRELUDE } from './c_dot_quad_pairs.js'
import { DOT_COLS_PRELUDE } from './c_dot_cols.js'
import { DOT_QUADS_PRELUDE } from './c_dot_quads.js'
import { HALF_RUNS_PRELUDE } from './c_half_runs.js'
import { VECTOR_INTRINSICS_PRELUDE, VECTOR_PRELUDE } from './c_vector.js'

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
/**
 * The prelude of C kernels that use no intrinsics (most: plain C and gcc vector extensions): no
 * immintrin.h, so a compiler process reads ~20 KB of prelude text instead of 1.4 MB of headers
 * (~0.11 s of gcc CPU per process, against ~0.24 s with those headers precompiled and ~0.4 s as
 * text), and no precompiled header needs building first (~0.9 s of gcc before a cold start's first
 * kernel). A cold MNIST CNN step uses no intrinsics at all.
 */
export const PRELUDE_CORE = `#include <math.h>
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
${VECTOR_PRELUDE}`

/** The helpers built on intrinsics (they include immintrin.h where the target has the instructions). */
const INTRINSICS_PRELUDE = `// one float16 -> float32 outside a vectorized loop: vcvtph2ps where the target has F16C (1.8 ->
// 1.3 ms on a Q4_0 matvec, one scale per block). Exact as tg_h2f (NaNs come out quiet).
#if defined(__F16C__)
#include <immintrin.h>
static inline float tg_h2f1(_Float16 x) { unsigned short h; memcpy(&h, &x, 2); return _cvtsh_ss(h); }
#else
#define tg_h2f1 tg_h2f
#endif
${VECTOR_INTRINSICS_PRELUDE}${HALF_RUNS_PRELUDE}${DOT_PAIRS_PRELUDE}${DOT_QUADS_PRELUDE}${DOT_QUAD_PAIRS_PRELUDE}${DOT_COLS_PRELUDE}`

/** The full prelude: the core and the helpers built on intrinsics (the CPU device precompiles it, cpu_pch.ts). */
export const PRELUDE = `${PRELUDE_CORE}${INTRINSICS_PRELUDE}`

/** The preludes a C kernel may start with, the longer first (PRELUDE starts with PRELUDE_CORE). */
export const PRELUDES: readonly string[] = [PRELUDE, PRELUDE_CORE]

/** Names (tg_*, TG_*, tg* types) the intrinsic helpers define that the core does not (comments aside: they name helpers of the other part). */
const namesIn = (text: string): Set<string> =>
  new Set(text.replace(/\/\/.*$/gm, '').match(/\b[tT][gG]\w*/g) ?? [])
const coreNames = namesIn(PRELUDE_CORE)
const intrinsicNames = [...namesIn(INTRINSICS_PRELUDE)].filter((n) => !coreNames.has(n))
const NEEDS_INTRINSICS = new RegExp(`\\b(?:${intrinsicNames.join('|')}|_mm\\w*|__m\\d+\\w*)\\b`)

/** The prelude for a kernel's `body`: the full one when it names an intrinsic helper (or an intrinsic), else the core. */
export const preludeFor = (body: string): string => (NEEDS_INTRINSICS.test(body) ? PRELUDE : PRELUDE_CORE)
