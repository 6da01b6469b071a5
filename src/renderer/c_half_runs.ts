// float16 loads of a register tile as whole-vector conversions (C renderer). A tile over a float16
// operand (an f16 KV cache's values in decode attention: softmax(q k) @ v with 32 output columns
// upcast) reads 16 adjacent halves per step, each loaded and converted on its own. gcc 12's SLP
// vectorizer makes poor code of that: with the integer-math conversion (tg_h2f) the LLaMA-1B tile
// took 12x the f32 tile's time (9x built without SLP, as cpu.ts rebuilds the tile of 8-wide heads
// that gcc turned into an instruction the assembler rejects), with `(float)h` (F16C's vcvtph2ps per
// element) 1.5x.
// Here 16 halves that are loaded side by side (one buffer, one base index plus offsets s..s+15,
// no gate, one block of code) become one load and one conversion (`tg_ldh16`: vcvtph2ps on a zmm
// with AVX-512, two ymm with F16C, the integer form elsewhere), and each lane is read from it: the
// decode tile at 512 positions went from 0.43 to 0.015 ms on one core (the f32 tile: 0.05 ms).
// Conversions are exact either way (f16 -> f32 loses nothing), so the results are the same bits.
import { Ops, type UOp } from '../uop/ops.js'

/** Halves per run (one AVX-512 register of floats). */
export const HALF_RUN = 16

/** Helpers for the runs (part of the C prelude). */
export const HALF_RUNS_PRELUDE = `typedef float tgh16f __attribute__((vector_size(64)));
#if defined(__AVX512F__)
static inline tgh16f tg_ldh16(const _Float16* p) {
  return (tgh16f)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
#elif defined(__F16C__)
#include <immintrin.h>
static inline tgh16f tg_ldh16(const _Float16* p) {
  __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
  __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(p + 8)));
  tgh16f y; memcpy(&y, &lo, 32); memcpy((char*)&y + 32, &hi, 32); return y; }
#else
static inline tgh16f tg_ldh16(const _Float16* p) {
  tgh16f y; for (int l = 0; l < 16; l++) y[l] = tg_h2f(p[l]); return y; }
#endif
// one float16 of a register tile outside a run: F16C's conversion, which the SLP vectorizer
// groups (the integer form is what it miscompiled)
#if defined(__F16C__)
#define tg_h2ft(x) ((float)(x))
#else
#define tg_h2ft tg_h2f
#endif
`

/** A run of HALF_RUN adjacent float16 loads. */
export interface HalfRun {
  /** the buffer (DEFINE_GLOBAL) */
  readonly buf: UOp
  /** the index the offsets are added to */
  readonly base: UOp
  /** the offset of lane 0 */
  readonly start: number
}

/** Where a program's runs are: the load each is emitted before, and each load's run and lane. */
export interface HalfRuns {
  /** the first load of a run in program order -> the runs to define there */
  readonly at: ReadonlyMap<UOp, readonly HalfRun[]>
  /** a load in a run -> its run and lane */
  readonly lanes: ReadonlyMap<UOp, { run: HalfRun; lane: number }>
}

/** `idx` as base + constant offset. */
function split(idx: UOp): [UOp, number] {
  if (idx.op === Ops.ADD) {
    const [a, b] = idx.src as [UOp, UOp]
    if (b.op === Ops.CONST) return [a, b.constValue]
    if (a.op === Ops.CONST) return [b, a.constValue]
  }
  return [idx, 0]
}

/** The runs of adjacent float16 loads in `uops` (a register tile's linear program). */
export function findHalfRuns(uops: readonly UOp[]): HalfRuns {
  // (buffer, base) -> offset -> [load, position]; a loop boundary starts a new block
  const groups = new Map<UOp, Map<UOp, Map<number, [UOp, number]>>>()
  const block: number[] = []
  let blk = 0
  for (const [pc, u] of uops.entries()) {
    if (u.op === Ops.RANGE || u.op === Ops.ENDRANGE) blk++
    block[pc] = blk
    if (u.op !== Ops.LOAD || u.dtype.name !== 'float16' || u.src[2] !== undefined) continue
    const buf = u.src[0]!
    if (buf.op !== Ops.DEFINE_GLOBAL) continue
    const [base, off] = split(u.src[1]!)
    let byBase = groups.get(buf)
    if (!byBase) groups.set(buf, (byBase = new Map()))
    let offs = byBase.get(base)
    if (!offs) byBase.set(base, (offs = new Map()))
    if (!offs.has(off)) offs.set(off, [u, pc])
  }
  const at = new Map<UOp, HalfRun[]>()
  const lanes = new Map<UOp, { run: HalfRun; lane: number }>()
  for (const [buf, byBase] of groups)
    for (const [base, offs] of byBase) {
      const sorted = [...offs.keys()].sort((a, b) => a - b)
      for (let i = 0; i + HALF_RUN <= sorted.length; ) {
        const start = sorted[i]!
        const members = Array.from({ length: HALF_RUN }, (_, l) => offs.get(start + l))
        const ok = members.every((m) => m !== undefined && block[m[1]] === block[members[0]![1]])
        if (!ok) {
          i++
          continue
        }
        const run: HalfRun = { buf, base, start }
        const first = members.reduce((a, m) => (m![1] < a![1] ? m : a))![0]
        at.set(first, [...(at.get(first) ?? []), run])
        for (const [lane, m] of members.entries()) lanes.set(m![0], { run, lane })
        i += HALF_RUN
      }
    }
  return { at, lanes }
}
