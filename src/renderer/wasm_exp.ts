// exp and exp2 of four float32 lanes for the WASM renderer's SIMD code (renderer/wasm_simd.ts), in
// float32 arithmetic like the other wasm peers' (XNNPACK's, TF.js's): n = round(x log2 e), r = x - n
// ln 2 in two parts, exp(r) by Cephes' degree-7 polynomial, times 2^n built from exponent bits.
// The scalar code's double-precision exp (renderer/wasm_ops.ts) on two f64x2 halves took four
// times the work: most of an elementwise kernel with sigmoid, and of softmax.
import { simd, V128 } from './wasm_encoder.js'
import type { KernelCode } from './wasm_ops.js'

/** 1.5 * 2^23: adding it rounds a float32 below 2^22 to an integer held in the low mantissa bits */
const ROUND_MAGIC = 12582912
/** ROUND_MAGIC + 127: the sum's low mantissa bits are the rounded value plus the exponent bias */
const ROUND_MAGIC_BIASED = ROUND_MAGIC + 127
/** x below this (ln 2^-126): exp(x) is no normal float32 */
const EXP_NORMAL_MIN = Math.fround(-126 * Math.LN2)

/** Cephes' expf polynomial: exp(r) = 1 + r + r^2 * P(r) for |r| <= ln2/2, about 1 ulp. */
const EXPF_POLY = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
]

class ExpEmitter {
  constructor(
    readonly k: KernelCode,
    readonly relaxed: boolean,
  ) {}

  /** a constant vector as v128.const (an f32 constant and a splat per use cost V8 two instructions) */
  private lanes(set: (d: DataView, i: number) => void): void {
    const d = new DataView(new ArrayBuffer(16))
    for (let i = 0; i < 16; i += 4) set(d, i)
    this.k.code.v(simd.v128_const).bytes(new Uint8Array(d.buffer))
  }
  splat(f: number): void {
    this.lanes((d, i) => d.setFloat32(i, f, true))
  }
  splatInt(v: number): void {
    this.lanes((d, i) => d.setInt32(i, v, true))
  }

  /** a * b + c of the two values on the stack and constant c (fused where the engine has relaxed SIMD) */
  private madd(c: number): void {
    if (this.relaxed) {
      this.splat(c)
      this.k.code.v(simd.f32x4_relaxed_madd)
    } else {
      this.k.code.v(simd.f32x4_mul)
      this.splat(c)
      this.k.code.v(simd.f32x4_add)
    }
  }

  /** r = v - n ln2 (exp: ln 2 in two parts, n times the first exact) or (v - n) ln2 (exp2) */
  reduce(v: number, n: number, base2: boolean): number {
    const c = this.k.code
    const r = this.k.newLocal(V128)
    if (base2) {
      c.get(v).get(n).v(simd.f32x4_sub)
      this.splat(Math.LN2)
      c.v(simd.f32x4_mul).set(r)
    } else {
      // ln 2 = 0.693359375 (exact in a few bits) - 2.12194440e-4
      c.get(v).get(n)
      this.splat(0.693359375)
      c.v(simd.f32x4_mul).v(simd.f32x4_sub).get(n)
      this.splat(-2.1219444e-4)
      c.v(simd.f32x4_mul).v(simd.f32x4_sub).set(r)
    }
    return r
  }

  /** exp(r) for |r| <= ln2/2 left on the stack: 1 + r + r^2 * P(r), Horner steps p * r + c */
  poly(r: number): void {
    const c = this.k.code
    this.splat(EXPF_POLY[0]!)
    for (let i = 1; i < EXPF_POLY.length; i++) {
      c.get(r)
      this.madd(EXPF_POLY[i]!)
    }
    c.get(r).get(r).v(simd.f32x4_mul)
    if (this.relaxed) c.get(r).v(simd.f32x4_relaxed_madd)
    else c.v(simd.f32x4_mul).get(r).v(simd.f32x4_add)
    this.splat(1)
    c.v(simd.f32x4_add)
  }
}

/**
 * exp/exp2 of the f32x4 in local `x`, within 2 ulp of the exact result over the whole float range:
 * x is clamped to where the result is finite and nonzero, and the result scaled by two exact
 * powers 2^(n>>1) and 2^(n - (n>>1)) so that results that overflow to infinity or underflow into
 * subnormals round as one multiply would. NaN stays NaN.
 */
export function emitExpF32x4(k: KernelCode, x: number, base2: boolean, relaxed: boolean): void {
  const e = new ExpEmitter(k, relaxed)
  const c = k.code
  const [v, n, m] = [k.newLocal(V128), k.newLocal(V128), k.newLocal(V128)]
  // clamp: beyond these the result is 0 or infinity anyway, and 2^n's halves stay normal (pmin
  // and pmax keep a NaN x, as the comparisons are false)
  c.get(x)
  e.splat(base2 ? 129 : 89)
  c.v(simd.f32x4_pmin)
  e.splat(base2 ? -152 : -104)
  c.v(simd.f32x4_pmax).tee(v)
  if (!base2) {
    e.splat(Math.LOG2E)
    c.v(simd.f32x4_mul)
  }
  // round to an integer by adding 1.5 * 2^23 (|t| <= 152): the sum's low mantissa bits are n
  e.splat(ROUND_MAGIC)
  c.v(simd.f32x4_add).tee(m)
  e.splat(ROUND_MAGIC)
  c.v(simd.f32x4_sub).set(n)
  e.poly(e.reduce(v, n, base2))
  // * 2^h * 2^(n - h), h = n >> 1: each a float with exponent field (h + 127) << 23
  const [ni, h] = [k.newLocal(V128), k.newLocal(V128)]
  c.get(m)
  e.splatInt(0x4b400000)
  c.v(simd.i32x4_sub).tee(ni).i32(1).v(simd.i32x4_shr_s).set(h)
  const pow2 = (l: number): void => {
    c.get(l)
    e.splatInt(127)
    c.v(simd.i32x4_add).i32(23).v(simd.i32x4_shl)
  }
  pow2(h)
  c.v(simd.f32x4_mul)
  c.get(ni).get(h).v(simd.i32x4_sub).set(ni)
  pow2(ni)
  c.v(simd.f32x4_mul)
}

/**
 * exp/exp2 of the f32x4 in local `x` known to be <= 0 or NaN (softmax's x - max(x):
 * renderer/nonpositive.ts), as XNNPACK's softmax does: no clamp, and 2^n is one shift of the rounded
 * sum that already holds n + 127, since n >= -126 wherever the result is a normal float (~17
 * instructions against ~26). Results below 2^-126 (x < ln 2^-126) are 0, not subnormals; -inf
 * gives 0 and NaN stays NaN. Within 2 ulp of the exact result elsewhere.
 */
export function emitExpNonPositiveF32x4(k: KernelCode, x: number, base2: boolean, relaxed: boolean): void {
  const e = new ExpEmitter(k, relaxed)
  const c = k.code
  const [m, n] = [k.newLocal(V128), k.newLocal(V128)]
  c.get(x)
  if (base2) {
    e.splat(ROUND_MAGIC_BIASED)
    c.v(simd.f32x4_add)
  } else {
    e.splat(Math.LOG2E)
    if (relaxed) {
      e.splat(ROUND_MAGIC_BIASED)
      c.v(simd.f32x4_relaxed_madd)
    } else {
      c.v(simd.f32x4_mul)
      e.splat(ROUND_MAGIC_BIASED)
      c.v(simd.f32x4_add)
    }
  }
  c.tee(m)
  e.splat(ROUND_MAGIC_BIASED)
  c.v(simd.f32x4_sub).set(n)
  e.poly(e.reduce(x, n, base2))
  // 2^n: the sum's bits shifted left by 23 leave exactly (n + 127) << 23 (the magic's own bits go)
  c.get(m).i32(23).v(simd.i32x4_shl).v(simd.f32x4_mul)
  // below the normal range n + 127 would leave the exponent field: 0 there
  c.get(x)
  e.splat(base2 ? -126 : EXP_NORMAL_MIN)
  c.v(simd.f32x4_lt).v(simd.v128_andnot)
}

/**
 * 1 / (1 + exp(-x)) of the f32x4 in local `x` through e = exp(-|x|), an argument <= 0: 1 / (1 + e)
 * where x >= 0, e / (1 + e) where x < 0 (~24 instructions against ~30 with the full-range exp;
 * XNNPACK's sigmoid is built the same way). Within 2 ulp of the exact value down to 2^-126, 0
 * below (x < -87.3, where the true value is under 1.2e-38); NaN stays NaN.
 */
export function emitSigmoidF32x4(k: KernelCode, x: number, relaxed: boolean): void {
  const e = new ExpEmitter(k, relaxed)
  const c = k.code
  const [nx, ex, r] = [k.newLocal(V128), k.newLocal(V128), k.newLocal(V128)]
  // -|x|: the sign bit set
  c.get(x)
  e.splatInt(-0x80000000)
  c.v(simd.v128_or).set(nx)
  emitExpNonPositiveF32x4(k, nx, false, relaxed)
  c.set(ex)
  e.splat(1)
  e.splat(1)
  c.get(ex).v(simd.f32x4_add).v(simd.f32x4_div).tee(r)
  c.get(ex).v(simd.f32x4_mul).get(r)
  // x < 0 (NaN: false, and r is NaN already)
  c.get(x)
  e.splat(0)
  c.v(simd.f32x4_lt).v(simd.v128_bitselect)
}
