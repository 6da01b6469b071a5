// Why the quantized matvec is slow, measured: hand-written forms of one Q8_0 / Q4_0 matvec
// y = x (1, K) @ W^T, W (N, K) in GGML blocks, next to a memcpy of as many bytes, all alternating
// in one process (the machine is shared: only ratios within one run mean anything).
//   gcc -O3 -march=native -fopenmp bench/quant_matvec_variants.c -o /tmp/qmv && OMP_NUM_THREADS=1 /tmp/qmv
// Needs AVX-512 with VNNI (Zen 4, Ice Lake and later) for the int16 forms.
//
// step   what tsgrad generated before issue 17: per 16 weights a widening load, int -> float
//        conversion, a multiply by the block scale and a multiply-add into lane accumulators
//        (Q8_0's int8 zero-extended then shifted left and back; Q4_0's planes picked by a select)
// block  what it generates now: sign-extending loads, a block's two halves (Q8_0) or nibble planes
//        (Q4_0) as straight-line steps summed before one multiply by the block scale
// int16  llama.cpp's idea with more precision: x quantized per block of 32 to int16 (scale
//        max|x| / 32767, once per call), 32 products summed exactly by one vpdpwssd, then one int
//        -> float conversion and one multiply-add by (weight scale x x scale) per block
// 2026-12-07, 2-core AMD EPYC (Zen 4), N = 16384, K = 8192 (DRAM-sized), one thread, quiet
// moment: Q8_0 step 17.2 ms, int16 8.8 ms, memcpy of the bytes 11.6 ms (the int16 form reads at
// 65% of the memcpy's read + write bandwidth, the float forms at 34-37%); Q4_0 step 12.1 ms, int16
// 7.8 ms, memcpy 6.2 ms. Two threads: Q8_0 int16 73% of memcpy, float 39%. The float forms are
// bound by their vector ops (Zen 4 splits each 512-bit op in two): about 10 per 32-weight block
// for Q8_0, ~1 per cycle; 4 accumulators instead of 1 changed nothing (not latency-bound).
// int8 (added later that day, machine loaded: load average ~13 on 2 cores, one thread, ratios
// only): Q8_0 int16 34.2 ms, int8 29.5 ms (1.16x); Q4_0 int16 24.5 ms, int8 19.7 ms (1.24x); int8's
// max |diff| / max |y| against the float forms 0.4% (x rounded to 1/254 of its block's range).
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));
typedef unsigned int vu __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));
enum { N = 16384, K = 8192, NB = K / 32, REPS = 31 };

static inline vi ldu8(const unsigned char *p) { return (vi)_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)p)); }
static inline vi ldi8(const unsigned char *p) { return (vi)_mm512_cvtepi8_epi32(_mm_loadu_si128((const void *)p)); }
static inline vf splat(float x) { return x - (vf){}; }
static inline vf cvt(vi x) { return __builtin_convertvector(x, vf); }
static inline vf ldf(const float *p) { return *(const vfu *)p; }
static inline float h2f(const unsigned char *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }
static inline float hsum(vf a) {
  float s = 0;
  for (int l = 0; l < 16; l++) s += a[l];
  return s;
}

static void q8_step(float *y, const unsigned char *w, const float *x) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 34;
    vf acc = {0};
    for (int b = 0; b < NB; b++) {
      float d = h2f(row + b * 34);
      for (int h = 0; h < 2; h++) {
        vi q = ldu8(row + b * 34 + 2 + h * 16);
        q = (vi)((vu)q << 24) >> 24;
        acc += ldf(x + b * 32 + h * 16) * (cvt(q) * splat(d));
      }
    }
    y[n] = hsum(acc);
  }
}

static void q8_block(float *y, const unsigned char *w, const float *x) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 34;
    vf acc = {0};
    for (int b = 0; b < NB; b++) {
      const unsigned char *q = row + b * 34 + 2;
      vf s = ldf(x + b * 32) * cvt(ldi8(q)) + ldf(x + b * 32 + 16) * cvt(ldi8(q + 16));
      acc += splat(h2f(row + b * 34)) * s;
    }
    y[n] = hsum(acc);
  }
}

static void q8_int16(float *y, const unsigned char *w, const short *xq, const float *xd) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 34;
    vf acc = {0};
    for (int b = 0; b < NB; b++) {
      __m512i q = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const void *)(row + b * 34 + 2)));
      __m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(xq + b * 32));
      acc += cvt((vi)s) * splat(h2f(row + b * 34) * xd[b]);
    }
    y[n] = hsum(acc);
  }
}

static void q4_step(float *y, const unsigned char *w, const float *x) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 18;
    vf acc = {0};
    for (int b = 0; b < NB; b++) {
      float d = h2f(row + b * 18);
      for (int h = 0; h < 2; h++) {
        vi q = ldu8(row + b * 18 + 2), m = -(vi){} - (h == 1);
        vi p = (m & ((q >> 4) & 15)) | (~m & (q & 15));
        acc += ldf(x + b * 32 + h * 16) * (splat(d) * (cvt(p) - splat(8.f)));
      }
    }
    y[n] = hsum(acc);
  }
}

static void q4_block(float *y, const unsigned char *w, const float *x) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 18;
    vf acc = {0};
    for (int b = 0; b < NB; b++) {
      vi q = ldu8(row + b * 18 + 2);
      vf s = ldf(x + b * 32) * (cvt(q & 15) - splat(8.f)) + ldf(x + b * 32 + 16) * (cvt(q >> 4) - splat(8.f));
      acc += splat(h2f(row + b * 18)) * s;
    }
    y[n] = hsum(acc);
  }
}

static void q4_int16(float *y, const unsigned char *w, const short *xq, const float *xd) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 18;
    vf acc = {0};
    for (int b = 0; b < NB; b++) {
      __m256i q = _mm256_cvtepu8_epi16(_mm_loadu_si128((const void *)(row + b * 18 + 2)));
      __m256i lo = _mm256_and_si256(q, _mm256_set1_epi16(15)), hi = _mm256_srli_epi16(q, 4);
      __m512i qq = _mm512_sub_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi16(8));
      __m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(), qq, _mm512_loadu_si512(xq + b * 32));
      acc += cvt((vi)s) * splat(h2f(row + b * 18) * xd[b]);
    }
    y[n] = hsum(acc);
  }
}

// int8   llama.cpp's numerics: x quantized per block of 32 to int8 (scale max|x| / 127) with the
//        block's sum of x kept, 32 products of a block summed exactly by vpdpbusd (unsigned x
//        signed bytes) at 256 bits (single-pumped on Zen 4). Q4_0's nibbles are unsigned already
//        (their - 8 is -8 x the block's sum of x, once per block); Q8_0's signed bytes are made
//        unsigned by xor 0x80 (w + 128), the extra 128 x sum of x taken off the same way.
static inline __m256i q4_unpack(const unsigned char *q) {
  // the 16 bytes in both halves, the high half shifted right by 4: low nibbles then high nibbles,
  // elements 0..31 in order
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const void *)q));
  return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(15));
}

static void q8_int8(float *y, const unsigned char *w, const signed char *xq, const float *xd, const float *xs) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 34;
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int b = 0; b < NB; b++) {
      __m256i q = _mm256_xor_si256(_mm256_loadu_si256((const void *)(row + b * 34 + 2)), _mm256_set1_epi8(-128));
      __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const void *)(xq + b * 32)));
      float d = h2f(row + b * 34) * xd[b];
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d), acc);
      corr += d * xs[b];
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_hadd_ps(h, h), h = _mm_hadd_ps(h, h);
    y[n] = _mm_cvtss_f32(h) - 128 * corr;
  }
}

static void q4_int8(float *y, const unsigned char *w, const signed char *xq, const float *xd, const float *xs) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const unsigned char *row = w + (size_t)n * NB * 18;
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int b = 0; b < NB; b++) {
      __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q4_unpack(row + b * 18 + 2), _mm256_loadu_si256((const void *)(xq + b * 32)));
      float d = h2f(row + b * 18) * xd[b];
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d), acc);
      corr += d * xs[b];
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_hadd_ps(h, h), h = _mm_hadd_ps(h, h);
    y[n] = _mm_cvtss_f32(h) - 8 * corr;
  }
}

static void copy(char *dst, const char *src, size_t n) {
#pragma omp parallel for schedule(static)
  for (int c = 0; c < 64; c++) memcpy(dst + n / 64 * c, src + n / 64 * c, n / 64);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(void) {
  size_t b8 = (size_t)N * NB * 34, b4 = (size_t)N * NB * 18;
  unsigned char *w8 = aligned_alloc(64, b8), *w4 = aligned_alloc(64, b4);
  char *src = aligned_alloc(64, b8), *dst = aligned_alloc(64, b8);
  float *x = aligned_alloc(64, K * 4), *y = aligned_alloc(64, N * 4), *xd = aligned_alloc(64, NB * 4);
  short *xq = aligned_alloc(64, K * 2);
  signed char *xq8 = aligned_alloc(64, K);
  float *xd8 = aligned_alloc(64, NB * 4), *xs8 = aligned_alloc(64, NB * 4);
  srand(1);
  for (size_t i = 0; i < b8; i++) w8[i] = rand();
  for (size_t i = 0; i < b4; i++) w4[i] = rand();
  for (size_t i = 0; i < b8; i += 34) w8[i] = 0, w8[i + 1] = 0x20;  // scales ~ 2^-7
  for (size_t i = 0; i < b4; i += 18) w4[i] = 0, w4[i + 1] = 0x20;
  for (int i = 0; i < K; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int b = 0; b < NB; b++) {  // x per block of 32 as int16 times a scale (once per call)
    float m = 0;
    for (int j = 0; j < 32; j++) m = fabsf(x[b * 32 + j]) > m ? fabsf(x[b * 32 + j]) : m;
    xd[b] = m / 32767;
    for (int j = 0; j < 32; j++) xq[b * 32 + j] = (short)__builtin_roundf(m ? x[b * 32 + j] / xd[b] : 0);
    xd8[b] = m / 127;
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += xq8[b * 32 + j] = (signed char)__builtin_roundf(m ? x[b * 32 + j] / xd8[b] : 0);
    xs8[b] = sum;
  }
  memset(src, 1, b8);
  memset(dst, 0, b8);
  const char *names[] = {"Q8_0 step", "Q8_0 block", "Q8_0 int16", "Q8_0 int8", "Q4_0 step", "Q4_0 block",
                         "Q4_0 int16", "Q4_0 int8", "memcpy Q8_0 bytes", "memcpy Q4_0 bytes"};
  enum { V = 10 };
  double t[V][REPS];
  for (int it = 0; it < REPS; it++) {
    double t0;
#define TIME(k, call) (t0 = now(), call, t[k][it] = now() - t0)
    TIME(0, q8_step(y, w8, x));
    TIME(1, q8_block(y, w8, x));
    TIME(2, q8_int16(y, w8, xq, xd));
    TIME(3, q8_int8(y, w8, xq8, xd8, xs8));
    TIME(4, q4_step(y, w4, x));
    TIME(5, q4_block(y, w4, x));
    TIME(6, q4_int16(y, w4, xq, xd));
    TIME(7, q4_int8(y, w4, xq8, xd8, xs8));
    TIME(8, copy(dst, src, b8));
    TIME(9, copy(dst, src, b4));
  }
  // the forms agree: y of each against the step form, relative to the largest |y|
  float *ref = aligned_alloc(64, N * 4), *got = aligned_alloc(64, N * 4);
  for (int k = 0; k < 8; k++) {
    if (k == 0 || k == 4) continue;
    int q8 = k < 4;
    (q8 ? q8_step : q4_step)(ref, q8 ? w8 : w4, x);
    const unsigned char *w = q8 ? w8 : w4;
    switch (k % 4) {
      case 1: (q8 ? q8_block : q4_block)(got, w, x); break;
      case 2: (q8 ? q8_int16 : q4_int16)(got, w, xq, xd); break;
      case 3: (q8 ? q8_int8 : q4_int8)(got, w, xq8, xd8, xs8); break;
    }
    double e = 0, m = 0;
    for (int i = 0; i < N; i++) e = fmax(e, fabs(got[i] - ref[i])), m = fmax(m, fabs(ref[i]));
    printf("%s vs step: max |diff| / max |y| = %.2g\n", names[k], e / m);
  }
  double med[V];
  for (int k = 0; k < V; k++) qsort(t[k], REPS, sizeof(double), cmp), med[k] = t[k][REPS / 2];
  printf("%d threads, W (%d, %d), median of %d\n", omp_get_max_threads(), N, K, REPS);
  for (int k = 0; k < 8; k++) {
    size_t by = k < 4 ? b8 : b4;
    double copyMs = med[k < 4 ? 8 : 9];
    printf("%-12s %8.3f ms %6.1f GB/s of weights  %3.0f%% of memcpy (read + written)\n", names[k], med[k],
           by / med[k] / 1e6, (by / med[k]) / (2 * by / copyMs) * 100);
  }
  for (int k = 8; k < V; k++) printf("%-18s %8.3f ms %6.1f GB/s (read + written)\n", names[k], med[k], 2 * (k == 8 ? b8 : b4) / med[k] / 1e6);
  return 0;
}
