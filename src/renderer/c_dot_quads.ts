// Integer dot products of byte quads in the C renderer: 8 lanes that each sum four int32 products
// of bytes, one 256-bit multiply-add (x86's vpdpbusd: unsigned x signed bytes, exact int32 sums).
//
// An integer matvec over int8 activations (nn/quant_matvec.ts) is written as a reduce loop of 8
// lanes per weight block of 32; lane l sums `int32(w_j) * int32(x_j)` over four elements j whose
// operands sit side by side: x as four adjacent int8 (stride 4 along the loop), w as
//   - four adjacent bytes (Q8_0's int8, or uint8), or
//   - the low and high nibble of two adjacent bytes (Q4_0: `v & 15`, `v >> 4` of bytes 2l, 2l+1),
// either one plus a constant (Q4_0's `- 8`). The loop then runs as one step over 32 bytes:
//   d = dp(u, x) + c * dp(1, x)
// where u is the unsigned form of w (an int8 is u - 128: `w ^ 0x80`), c the constant (Q4_0's -8,
// Q8_0's -128), and dp(1, x) sums each lane's four x. When the sum also adds an int32 per lane read
// from memory (Q4_0's offsets, written by the activation quantizer: its c * dp(1, x)), that is the
// multiply-add's start and the UOps carry no constant: d = dp(start, u, x), one dot product. Every product and sum is the scalar loop's,
// exactly. 256 bits rather than the vector loops' 512 (c_vector.ts): a block of 32 bytes is one
// such register, and Zen 4 runs 512-bit integer ops as two halves.
//
// The loop must be exactly that: the quad's pieces, index arithmetic, one int -> float conversion of
// the sum, a multiply by a value set outside the loop (the block's scales) and the update of an
// 8-lane float accumulator. Anything else leaves the loop to the plain renderer.
import { Ops, type UOp } from '../uop/ops.js'
import type { LoopToRender } from './cstyle.js'

/** The lanes of a quad loop (one 256-bit register of int32). */
export const QUAD_LANES = 8

/** Helpers for the quad form (part of the C prelude). */
export const DOT_QUADS_PRELUDE = `typedef int tgq8i __attribute__((vector_size(32)));
typedef float tgq8f __attribute__((vector_size(32)));
typedef float tgq8fu __attribute__((vector_size(32), aligned(4)));
typedef int tgq8iu __attribute__((vector_size(32), aligned(1)));
typedef unsigned char tgq8b __attribute__((vector_size(32)));
typedef signed char tgq8sb __attribute__((vector_size(32)));
static inline tgq8i tg_qld(const void* p) { return *(const tgq8iu*)p; }
static inline tgq8i tg_qsplat(int c) { return c + (tgq8i){}; }
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
static inline tgq8i tg_qdpa(tgq8i a, tgq8i u, tgq8i s) {
  return (tgq8i)_mm256_dpbusd_epi32((__m256i)a, (__m256i)u, (__m256i)s); }
#elif defined(__AVXVNNI__)
static inline tgq8i tg_qdpa(tgq8i a, tgq8i u, tgq8i s) {
  return (tgq8i)_mm256_dpbusd_avx_epi32((__m256i)a, (__m256i)u, (__m256i)s); }
#else
#define TG_QDP_PLAIN 1
#endif
#ifndef TG_QDP_PLAIN
static inline tgq8i tg_qdp(tgq8i u, tgq8i s) { return tg_qdpa((tgq8i){}, u, s); }
#else
static inline tgq8i tg_qdp(tgq8i u, tgq8i s) {
  tgq8b a = (tgq8b)u; tgq8sb b = (tgq8sb)s; tgq8i y;
  for (int l = 0; l < 8; l++) {
    int t = 0;
    for (int j = 0; j < 4; j++) t += (int)a[4 * l + j] * (int)b[4 * l + j];
    y[l] = t;
  }
  return y; }
static inline tgq8i tg_qdpa(tgq8i a, tgq8i u, tgq8i s) { return a + tg_qdp(u, s); }
#endif
// 16 bytes -> 32: the low and high nibble of each byte side by side
#if defined(__AVX2__)
static inline tgq8i tg_qnib(const void* p) {
  __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(p));
  return (tgq8i)_mm256_and_si256(_mm256_or_si256(v, _mm256_slli_epi16(v, 4)), _mm256_set1_epi16(0x0f0f)); }
#else
static inline tgq8i tg_qnib(const void* p) {
  const unsigned char* b = (const unsigned char*)p; tgq8b y;
  for (int k = 0; k < 16; k++) { y[2 * k] = b[k] & 15; y[2 * k + 1] = b[k] >> 4; }
  return (tgq8i)y; }
#endif
`

/** The weight side of a quad: unsigned bytes in a register plus a constant per element. */
type WQuad =
  | { kind: 'bytes'; load: UOp; signed: boolean; c: number }
  | { kind: 'nibbles'; load: UOp; c: number }

export interface DotQuad {
  /** the int32 sum of the four products (rendered as the lanes' dot product) */
  readonly dot: UOp
  readonly w: WQuad
  /** the first of x's four int8 loads */
  readonly x: UOp
  /** an int32 load (one per lane) the sum starts from (Q4_0's offsets read with x), if any */
  readonly start?: UOp
  /** nodes only the quad reads: not rendered */
  readonly fused: ReadonlySet<UOp>
}

const isConst = (u: UOp | undefined, v?: number): boolean =>
  u?.op === Ops.CONST && (v === undefined || u.constValue === v)

/** index = base + constant */
export const split = (i: UOp): [UOp, number] =>
  i.op === Ops.ADD && isConst(i.src[1]) ? [i.src[0]!, i.src[1]!.constValue] : [i, 0]

/** One operand of a product: a narrow load or a nibble of a byte load, plus a constant. */
export interface Elem {
  load: UOp
  /** the narrow type the product widens (an int8 may be a uint8 load reinterpreted) */
  dtype: string
  /** 'lo' / 'hi': a nibble of the byte; undefined: the load's value */
  nib?: 'lo' | 'hi'
  c: number
  nodes: UOp[]
}

const NARROW_BYTES = new Set(['int8', 'uint8'])

export function elemOf(e: UOp): Elem | undefined {
  if (e.dtype.name !== 'int32') return undefined
  const nodes: UOp[] = [e]
  let c = 0
  if ((e.op === Ops.ADD || e.op === Ops.SUB) && isConst(e.src[1])) {
    c = e.op === Ops.ADD ? e.src[1]!.constValue : -e.src[1]!.constValue
    e = e.src[0]!
    nodes.push(e)
  }
  if (e.op !== Ops.CAST) return undefined
  let x = e.src[0]!
  const dtype = x.dtype.name
  if (!NARROW_BYTES.has(dtype)) return undefined
  nodes.push(x)
  const is = (u: UOp, op: string, k: number) => u.op === op && isConst(u.src[1], k)
  let nib: Elem['nib']
  if (is(x, Ops.AND, 15) && is(x.src[0]!, Ops.SHR, 4)) {
    nib = 'hi'
    nodes.push(x.src[0]!)
    x = x.src[0]!.src[0]!
  } else if (is(x, Ops.AND, 15)) {
    nib = 'lo'
    x = x.src[0]!
  } else if (is(x, Ops.SHR, 4)) {
    nib = 'hi'
    x = x.src[0]!
  }
  if (nib && x.dtype.name !== 'uint8') return undefined
  if (nib) nodes.push(x)
  // a load, or one reinterpreted as the other signedness
  if (x.op === Ops.BITCAST && x.src[0]!.op === Ops.LOAD && NARROW_BYTES.has(x.src[0]!.dtype.name)) {
    x = x.src[0]!
    nodes.push(x)
  }
  if (x.op !== Ops.LOAD || x.src[2] || !NARROW_BYTES.has(x.dtype.name)) return undefined
  return { load: x, dtype, ...(nib && { nib }), c, nodes }
}

/** The int32 ADD tree under `root` (nodes read once) as its leaves. */
export function addLeaves(root: UOp, uses: ReadonlyMap<UOp, number>, inner: UOp[]): UOp[] {
  const out: UOp[] = []
  const walk = (u: UOp, top: boolean): void => {
    if (u.op === Ops.ADD && u.dtype.name === 'int32' && (top || uses.get(u) === 1) && out.length < 5) {
      if (!top) inner.push(u)
      walk(u.src[0]!, false)
      walk(u.src[1]!, false)
    } else out.push(u)
  }
  walk(root, true)
  return out
}

/**
 * The quad dot product of a loop body, if it has one. `stride(idx)` is how an index moves per loop
 * step; `uses` counts each node's readers in the body.
 */
export function findDotQuad(
  body: readonly UOp[],
  stride: (idx: UOp) => number,
  uses: ReadonlyMap<UOp, number>,
): DotQuad | undefined {
  for (const u of body) {
    if (u.op !== Ops.ADD || u.dtype.name !== 'int32') continue
    const inner: UOp[] = []
    const leaves = addLeaves(u, uses, inner)
    const muls = leaves.filter((m) => m.op === Ops.MUL && m.dtype.name === 'int32')
    const rest = leaves.filter((m) => !muls.includes(m))
    if (muls.length !== 4 || rest.length > 1) continue
    // the lane's own int32 (contiguous along the lanes): the dot product's start
    const start = rest[0]
    if (
      start &&
      (start.op !== Ops.LOAD || start.dtype.name !== 'int32' || start.src[2] || stride(start.src[1]!) !== 1)
    )
      continue
    const q = matchQuad(muls, stride)
    if (!q) continue
    inner.push(...leaves, ...q.nodes)
    const fused = new Set(inner)
    // every piece read only inside the form
    const readers = new Map<UOp, number>()
    for (const x of new Set([u, ...inner]))
      for (const s of x.src) if (fused.has(s)) readers.set(s, (readers.get(s) ?? 0) + 1)
    if (inner.some((x) => (uses.get(x) ?? 0) !== (readers.get(x) ?? 0))) continue
    return { dot: u, w: q.w, x: q.x, ...(start && { start }), fused }
  }
  return undefined
}

/** The four products as x (four adjacent int8) times w (a byte or nibble quad). */
function matchQuad(
  muls: readonly UOp[],
  stride: (idx: UOp) => number,
): { w: WQuad; x: UOp; nodes: UOp[] } | undefined {
  const pairs: [Elem, Elem][] = []
  for (const m of muls) {
    const a = elemOf(m.src[0]!)
    const b = elemOf(m.src[1]!)
    if (!a || !b) return undefined
    pairs.push([a, b])
  }
  // either operand may be x: try a's side, then b's
  for (const side of [0, 1] as const) {
    const xs = pairs.map((p) => p[side])
    const ws = pairs.map((p) => p[1 - side]!)
    if (xs.some((e) => e.nib || e.c !== 0 || e.dtype !== 'int8')) continue
    // x: one buffer, indices base + k + {0, 1, 2, 3}, stride 4 along the loop
    const at = xs.map((e) => split(e.load.src[1]!))
    const [b0] = at[0]!
    if (at.some(([b]) => b !== b0) || xs.some((e) => e.load.src[0] !== xs[0]!.load.src[0])) continue
    const order = at.map(([, k]) => k - Math.min(...at.map(([, kk]) => kk)))
    if ([...order].sort().join() !== '0,1,2,3') continue
    const first = xs[order.indexOf(0)]!.load
    if (stride(first.src[1]!) !== 4) continue
    const wOrdered = order.map((_, j) => ws[order.indexOf(j)]!)
    const w = weightQuad(wOrdered, stride)
    if (!w) continue
    return { w, x: first, nodes: [...xs.flatMap((e) => e.nodes), ...ws.flatMap((e) => e.nodes)] }
  }
  return undefined
}

/** w's four elements in lane order as a quad: adjacent bytes, or nibbles of two adjacent bytes. */
function weightQuad(ws: readonly Elem[], stride: (idx: UOp) => number): WQuad | undefined {
  const c = ws[0]!.c
  if (ws.some((e) => e.c !== c) || Math.abs(c) > 255) return undefined
  if (ws.some((e) => e.load.src[0] !== ws[0]!.load.src[0])) return undefined
  const at = ws.map((e) => split(e.load.src[1]!))
  const base = ws[0]!.load
  if (ws.every((e) => !e.nib)) {
    // four adjacent bytes of one type: base + 0..3
    const dt = ws[0]!.dtype
    if (ws.some((e) => e.dtype !== dt)) return undefined
    const [b0, k0] = at[0]!
    if (!at.every(([b, k], j) => (b === b0 && k === k0 + j) || (j > 0 && b === base.src[1] && k === j)))
      return undefined
    if (stride(base.src[1]!) !== 4) return undefined
    return { kind: 'bytes', load: base, signed: dt === 'int8', c }
  }
  // lo(v0), hi(v0), lo(v1), hi(v1) with v1 the byte after v0
  const want: Elem['nib'][] = ['lo', 'hi', 'lo', 'hi']
  if (ws.some((e, j) => e.nib !== want[j])) return undefined
  if (ws[1]!.load !== ws[0]!.load || ws[3]!.load !== ws[2]!.load) return undefined
  const [b0, k0] = at[0]!
  const [b2, k2] = at[2]!
  if (!((b2 === b0 && k2 === k0 + 1) || (b2 === base.src[1] && k2 === 1))) return undefined
  if (stride(base.src[1]!) !== 2) return undefined
  return { kind: 'nibbles', load: base, c }
}

/** A quad loop's parts: the quad, the index arithmetic beside it, the scale and the accumulator. */
export interface QuadLoopPlan {
  readonly q: DotQuad
  /** the body's int index arithmetic (rendered as scalars, the loop variable at 0) */
  readonly scalar: readonly UOp[]
  /** the float every lane's sum is multiplied by (set outside the loop) */
  readonly scale: UOp
  /** the 8-lane float accumulator updated */
  readonly acc: UOp
  /** the constant per weight element (Q4_0's -8, an int8's -128), summed as c * dp(|c|, x) */
  readonly c: number
}

/** The plan of a loop of 8 lanes whose body is a quad dot product feeding an 8-lane float accumulator. */
export function planQuadLoop(
  range: UOp,
  body: readonly UOp[],
  lanes: ReadonlyMap<UOp, number>,
  stride: (idx: UOp) => number,
): QuadLoopPlan | undefined {
  if (!isConst(range.src[0], QUAD_LANES) || range.dtype.name !== 'int32') return undefined
  const uses = new Map<UOp, number>()
  for (const u of body) for (const s of u.src) uses.set(s, (uses.get(s) ?? 0) + 1)
  const q = findDotQuad(body, stride, uses)
  if (!q) return undefined
  const inBody = new Set(body)
  // the rest of the body: int index arithmetic, then sum -> float, * invariant, lane update
  const cast = body.find((u) => u.op === Ops.CAST && u.src[0] === q.dot)
  const mul = cast && body.find((u) => u.op === Ops.MUL && u.src.includes(cast))
  const scale = mul?.src[0] === cast ? mul?.src[1] : mul?.src[0]
  const upd = mul && body.find((u) => u.op === Ops.ACC_UPDATE && u.src[1] === mul)
  if (cast?.dtype.name !== 'float32' || !mul || !scale || inBody.has(scale) || !upd) return undefined
  if (upd.arg !== 'ADD' || lanes.get(upd.src[0]!) !== QUAD_LANES || upd.src[0]!.dtype.name !== 'float32')
    return undefined
  if (uses.get(q.dot) !== 1 || uses.get(cast) !== 1 || uses.get(mul) !== 1) return undefined
  const vector = new Set([q.dot, cast, mul, upd])
  const scalar = body.filter((u) => !q.fused.has(u) && !vector.has(u))
  const plainInt = (u: UOp) =>
    u.dtype.isInt && u.op !== Ops.LOAD && u.op !== Ops.RANGE && u.op !== Ops.ACC && u.op !== Ops.DEFINE_ACC
  if (!scalar.every(plainInt)) return undefined
  // the constant, with an int8's -128: |c| must fit the unsigned bytes of the fix-up dot product
  const c = q.w.c - (q.w.kind === 'bytes' && q.w.signed ? 128 : 0)
  if (Math.abs(c) > 255) return undefined
  return { q, scalar, scale, acc: upd.src[0]!, c }
}

/** `c * dp(1, x)` as a dot product with the bytes |c| (`dp`: the quad or pair-of-quads helper). */
export function quadFixup(c: number, x: string, dp: string, splat: string): string {
  if (c === 0) return ''
  return ` ${c < 0 ? '-' : '+'} ${dp}(${splat}((int)0x${((Math.abs(c) * 0x01010101) >>> 0).toString(16)}u), ${x})`
}

/** The address of a load's element, as `const void *`. */
export const loadAddress = (w: LoopToRender['writer'], ld: UOp): string =>
  `(const void *)(${w.ref(ld.src[0]!)} + ${w.ref(ld.src[1]!)})`

/**
 * Render `loop` (8 lanes whose body is a quad dot product feeding an 8-lane float accumulator) as
 * one 256-bit step; returns false (nothing written) otherwise.
 */
export function renderQuadLoop(loop: LoopToRender, stride: (idx: UOp) => number): boolean {
  const { range, body, writer: w, statement, lanes } = loop
  const plan = planQuadLoop(range, body, lanes, stride)
  if (!plan) return false
  const { q, scalar, scale, acc: accu, c } = plan
  const r = w.name(range)
  const addr = (ld: UOp) => loadAddress(w, ld)
  w.open('{')
  w.line(`const int ${r} = 0;`)
  for (const u of scalar) statement(u)
  const x = `tg_qld(${addr(q.x)})`
  const u8 =
    q.w.kind === 'nibbles'
      ? `tg_qnib(${addr(q.w.load)})`
      : q.w.signed
        ? // an int8 is its unsigned bytes (w ^ 0x80 = w + 128) minus 128
          `(tg_qld(${addr(q.w.load)}) ^ tg_qsplat((int)0x80808080u))`
        : `tg_qld(${addr(q.w.load)})`
  w.line(`tgq8i xq_ = ${x};`)
  const dp = q.start ? `tg_qdpa(tg_qld(${addr(q.start)}), ${u8}, xq_)` : `tg_qdp(${u8}, xq_)`
  w.line(`tgq8i dq_ = ${dp}${quadFixup(c, 'xq_', 'tg_qdp', 'tg_qsplat')};`)
  const acc = `*(tgq8fu*)${w.ref(accu)}_l`
  w.line(`${acc} = ${acc} + __builtin_convertvector(dq_, tgq8f) * (${w.ref(scale)} - (tgq8f){});`)
  w.close()
  return true
}
