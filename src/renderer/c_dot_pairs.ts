// Integer dot products of 16-bit pairs in the C renderer's vector loops (c_vector.ts).
//
// A lane that sums two int32 products of narrow integers, `int32(a0) * int32(b0) + int32(a1) *
// int32(b1)`, where each operand pair (a0, a1) and (b0, b1) is two 16-bit values side by side, is
// one multiply-add of 16-bit pairs: x86's vpmaddwd (AVX2, AVX-512BW) multiplies 2 x VLEN int16
// and adds each lane's two products into one int32, exactly (no int16 product pair can overflow
// int32 unless both are -32768^2). An integer matvec (nn/quant_matvec.ts) is written that way: a
// lane owns one element pair of its weight block and of the quantized activations. Pairs come from
//   - two loads of adjacent elements (stride 2 along the loop): 2 x VLEN bytes widened to int16
//     (vpmovsxbw / vpmovzxbw) or 2 x VLEN int16 as they are;
//   - the low and high nibble of one byte (`v & 15`, `v >> 4`): Q4_0's elements l and l + 16;
//   - either of those minus the same constant in both halves (Q4_0's `- 8`), one 16-bit subtract.
// The values are those of the scalar loop: every product and sum is exact in int32.
import { type Op, Ops, type UOp } from '../uop/ops.js'

/** Helpers for the pair forms (part of the C prelude, after the vector types). */
export const DOT_PAIRS_PRELUDE = `typedef short tgvs __attribute__((vector_size(TG_VLEN * 4)));
typedef int tgvi_a1 __attribute__((vector_size(TG_VLEN * 4), aligned(1)));
// 2 x TG_VLEN narrow integers widened to int16 pairs
#if TG_VLEN == 16 && defined(__AVX512BW__)
static inline tgvi tg_pld_i8(const void* p) { return (tgvi)_mm512_cvtepi8_epi16(_mm256_loadu_si256(p)); }
static inline tgvi tg_pld_u8(const void* p) { return (tgvi)_mm512_cvtepu8_epi16(_mm256_loadu_si256(p)); }
static inline tgvi tg_madd16(tgvi a, tgvi b) { return (tgvi)_mm512_madd_epi16((__m512i)a, (__m512i)b); }
#elif TG_VLEN == 8 && defined(__AVX2__)
static inline tgvi tg_pld_i8(const void* p) { return (tgvi)_mm256_cvtepi8_epi16(_mm_loadu_si128(p)); }
static inline tgvi tg_pld_u8(const void* p) { return (tgvi)_mm256_cvtepu8_epi16(_mm_loadu_si128(p)); }
static inline tgvi tg_madd16(tgvi a, tgvi b) { return (tgvi)_mm256_madd_epi16((__m256i)a, (__m256i)b); }
#else
static inline tgvi tg_pld_i8(const void* p) {
  tgvs y; for (int l = 0; l < 2 * TG_VLEN; l++) y[l] = ((const signed char*)p)[l]; return (tgvi)y; }
static inline tgvi tg_pld_u8(const void* p) {
  tgvs y; for (int l = 0; l < 2 * TG_VLEN; l++) y[l] = ((const unsigned char*)p)[l]; return (tgvi)y; }
static inline tgvi tg_madd16(tgvi a, tgvi b) {
  tgvs x = (tgvs)a, z = (tgvs)b; tgvi y;
  for (int l = 0; l < TG_VLEN; l++) y[l] = (int)x[2 * l] * z[2 * l] + (int)x[2 * l + 1] * z[2 * l + 1];
  return y; }
#endif
static inline tgvi tg_pld_16(const void* p) { return *(const tgvi_a1*)p; }
// int32 lanes holding bytes 0..255: the low nibble in the low half, the high nibble in the high
static inline tgvi tg_pnib(tgvi v) { return (v & 15) | ((v & 0xf0) << 12); }
static inline tgvi tg_psub16(tgvi v, short c) { return (tgvi)((tgvs)v - c); }
`

/** One operand pair, low element first. */
type Pair =
  | { kind: 'load'; load: UOp; dtype: string }
  | { kind: 'nibbles'; byte: UOp }
  | { kind: 'minus'; pair: Pair; c: number }

export interface DotPairs {
  /** dot nodes -> their two operand pairs */
  readonly dots: Map<UOp, [Pair, Pair]>
  /** nodes only the pair forms read: not rendered */
  readonly fused: Set<UOp>
  /** values the pair forms need as vectors (a nibble pair's byte) */
  readonly vectors: UOp[]
  /** indices the pair forms need as scalars at lane 0 (a pair load's address) */
  readonly scalars: UOp[]
}

const isConst = (u: UOp | undefined, v?: number): boolean =>
  u?.op === Ops.CONST && (v === undefined || u.constValue === v)

/**
 * The dot-pair nodes of a loop body. `stride(idx)` is how an index moves per loop step; `uses`
 * counts each node's readers in the body (a pair's pieces must have no other reader).
 */
export function findDotPairs(
  body: readonly UOp[],
  stride: (idx: UOp) => number,
  uses: ReadonlyMap<UOp, number>,
): DotPairs {
  const out: DotPairs = { dots: new Map(), fused: new Set(), vectors: [], scalars: [] }
  for (const u of body) {
    if (u.op !== Ops.ADD || u.dtype.name !== 'int32') continue
    const [m0, m1] = u.src as [UOp, UOp]
    if (m0.op !== Ops.MUL || m1.op !== Ops.MUL) continue
    const found = matchDot(m0, m1, stride) ?? matchDot(m1, m0, stride)
    if (!found) continue
    const [pa, pb, inner] = found
    inner.push(m0, m1)
    // every piece read only inside the form (a load read elsewhere too stays a plain vector)
    const inside = new Set(inner)
    const readers = new Map<UOp, number>()
    for (const x of [u, ...inner])
      for (const s of x.src) if (inside.has(s)) readers.set(s, (readers.get(s) ?? 0) + 1)
    if (inner.some((x) => (uses.get(x) ?? 0) !== (readers.get(x) ?? 0))) continue
    out.dots.set(u, [pa, pb])
    for (const x of inner) out.fused.add(x)
    for (const p of [pa, pb]) collect(p, out)
  }
  return out
}

function collect(p: Pair, out: DotPairs): void {
  if (p.kind === 'load') out.scalars.push(p.load.src[1]!)
  else if (p.kind === 'nibbles') out.vectors.push(p.byte)
  else collect(p.pair, out)
}

/** m0 = x0 * y0 (the low elements), m1 = x1 * y1: the two pairs and the nodes they consume. */
function matchDot(m0: UOp, m1: UOp, stride: (idx: UOp) => number): [Pair, Pair, UOp[]] | undefined {
  for (const [i, j] of [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ] as const) {
    const inner: UOp[] = []
    const a = pairOf(m0.src[i]!, m1.src[j]!, stride, inner)
    const b = a && pairOf(m0.src[1 - i]!, m1.src[1 - j]!, stride, inner)
    if (a && b) return [a, b, inner]
  }
  return undefined
}

// (not uint16: its values do not fit the signed halves)
const NARROW_LOAD = new Set(['int8', 'uint8', 'int16'])

/** (e0, e1) as a pair with e0 in the low half, recording the nodes it consumes. */
function pairOf(e0: UOp, e1: UOp, stride: (idx: UOp) => number, inner: UOp[]): Pair | undefined {
  if (e0.dtype.name !== 'int32' || e1.dtype.name !== 'int32') return undefined
  // the same constant off both: a 16-bit subtract (values stay in int16: narrow minus a small c)
  const off = (e: UOp): [UOp, number] | undefined =>
    (e.op === Ops.SUB && isConst(e.src[1]) && [e.src[0]!, e.src[1]!.constValue]) ||
    (e.op === Ops.ADD && isConst(e.src[1]) && [e.src[0]!, -e.src[1]!.constValue]) ||
    undefined
  const o0 = off(e0)
  const o1 = off(e1)
  if (o0 && o1) {
    if (o0[1] !== o1[1] || Math.abs(o0[1]) > 255) return undefined
    const p = pairOf(o0[0], o1[0], stride, inner)
    if (!p) return undefined
    inner.push(e0, e1)
    return { kind: 'minus', pair: p, c: o0[1] }
  }
  if (e0.op !== Ops.CAST || e1.op !== Ops.CAST) return undefined
  const [x0, x1] = [e0.src[0]!, e1.src[0]!]
  const nib = nibbles(x0, x1)
  if (nib) {
    inner.push(e0, e1, ...nib.inner)
    return { kind: 'nibbles', byte: nib.byte }
  }
  // adjacent loads (a narrow load itself, or one reinterpreted as the other signedness)
  const loadOf = (x: UOp): UOp | undefined =>
    x.op === Ops.LOAD ? x : x.op === Ops.BITCAST && x.src[0]!.op === Ops.LOAD ? x.src[0] : undefined
  const [l0, l1] = [loadOf(x0), loadOf(x1)]
  if (!l0 || !l1 || l0.src[0] !== l1.src[0] || l0.src[2] || l1.src[2]) return undefined
  if (!NARROW_LOAD.has(x0.dtype.name) || x0.dtype !== x1.dtype || l0.dtype.bits !== x0.dtype.bits)
    return undefined
  const [i0, i1] = [l0.src[1]!, l1.src[1]!]
  // i1 = i0 + 1, or both a constant off one base (b + 2, b + 3)
  const split = (i: UOp): [UOp, number] =>
    i.op === Ops.ADD && isConst(i.src[1]) ? [i.src[0]!, i.src[1]!.constValue] : [i, 0]
  const [b0, c0] = split(i0)
  const [b1, c1] = split(i1)
  if (!((b1 === i0 && c1 === 1) || (b1 === b0 && c1 === c0 + 1))) return undefined
  if (stride(i0) !== 2) return undefined
  inner.push(e0, e1, l0, l1, i1)
  if (x0 !== l0) inner.push(x0, x1)
  return { kind: 'load', load: l0, dtype: x0.dtype.name }
}

/** x0 = v & 15 and x1 = v >> 4 (or (v >> 4) & 15) of one uint8 v. */
function nibbles(x0: UOp, x1: UOp): { byte: UOp; inner: UOp[] } | undefined {
  const is = (u: UOp, op: Op, c: number) => u.op === op && isConst(u.src[1], c)
  if (!is(x0, Ops.AND, 15) || x0.dtype.name !== 'uint8') return undefined
  const v = x0.src[0]!
  const hi = is(x1, Ops.AND, 15) ? x1.src[0]! : x1
  if (!is(hi, Ops.SHR, 4) || hi.src[0] !== v) return undefined
  return { byte: v, inner: hi === x1 ? [x0, x1] : [x0, x1, hi] }
}

/** The C of a pair as int32 lanes of 16-bit halves; `vec` names vector values, `addr` renders buffer + index. */
export function renderPair(p: Pair, vec: (u: UOp) => string, addr: (load: UOp) => string): string {
  if (p.kind === 'minus') return `tg_psub16(${renderPair(p.pair, vec, addr)}, ${p.c})`
  if (p.kind === 'nibbles') return `tg_pnib(${vec(p.byte)})`
  const f = p.dtype === 'int8' ? 'tg_pld_i8' : p.dtype === 'uint8' ? 'tg_pld_u8' : 'tg_pld_16'
  return `${f}(${addr(p.load)})`
}
