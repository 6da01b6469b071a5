// Integer dot products whose vector lanes are 16 output columns, in the C renderer: the block loop
// of an integer matrix product (nn/quant_matmul.ts) as 512-bit vector code.
//
// The loop (over blocks b) holds one inner loop (over the block's quads j) whose body sums, into
// an int32 accumulator per (row, column), four products `int32(u) * int32(x)` of unsigned bytes u
// (four adjacent bytes of the weights' panel) and signed bytes x (four adjacent int8 of a row of
// activations). For each row, the 16 columns' u are 64 adjacent bytes (column c at +4c) and x is
// the same: one vpdpbusd (`tg_cdp`: u in a register, x's four bytes broadcast) per row and quad.
// After the inner loop, each (row, column)'s float accumulator is updated from its int32 sum by
// the same expression in every column; the 16 columns' expressions are rendered as vector code
// side by side (`vectorTuple`: nodes equal in every lane are scalars, loads at consecutive
// addresses are one vector load, other ops one vector op). Exact integer sums; the float update
// is a fused multiply-add per lane, as the scalar register tile's (TG_FMAF).
//
// Anything the pattern does not cover leaves the loop to the plain renderer (the same values).
import { Ops, type UOp } from '../uop/ops.js'
import { addLeaves, elemOf, split } from './c_dot_quads.js'
import type { LoopToRender } from './cstyle.js'

/** Columns per vector: one 512-bit register of int32. */
export const COL_LANES = 16

/** Helpers for the column form (part of the C prelude). */
export const DOT_COLS_PRELUDE = `typedef int tgc16i __attribute__((vector_size(64)));
typedef float tgc16f __attribute__((vector_size(64)));
typedef float tgc16fu __attribute__((vector_size(64), aligned(4)));
typedef int tgc16iu __attribute__((vector_size(64), aligned(1)));
typedef unsigned tgc16u __attribute__((vector_size(64)));
static inline tgc16i tg_cld(const void* p) { return *(const tgc16iu*)p; }
static inline int tg_c4(const void* p) { int v; memcpy(&v, p, 4); return v; }
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
static inline tgc16i tg_cdp(tgc16i acc, tgc16i u, int x) {
  return (tgc16i)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)u, _mm512_set1_epi32(x)); }
#else
static inline tgc16i tg_cdp(tgc16i acc, tgc16i u, int x) {
  unsigned char a[64]; signed char b[4]; memcpy(a, &u, 64); memcpy(b, &x, 4);
  for (int l = 0; l < 16; l++) {
    int t = 0;
    for (int j = 0; j < 4; j++) t += (int)a[4 * l + j] * (int)b[j];
    acc[l] += t;
  }
  return acc; }
#endif
#if defined(__AVX512F__)
static inline tgc16f tg_cfma(tgc16f a, tgc16f b, tgc16f c) {
  return (tgc16f)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c); }
#else
static inline tgc16f tg_cfma(tgc16f a, tgc16f b, tgc16f c) {
  for (int l = 0; l < 16; l++) c[l] = __builtin_fmaf(a[l], b[l], c[l]);
  return c; }
#endif
`

/** One (row, column) quad: the first of x's four loads, the first of u's, and its accumulator. */
interface ColQuad {
  x: UOp
  u: UOp
  acc: UOp
  nodes: UOp[]
}

/** `upd` (acc += four byte products) as a column quad. */
function colQuad(upd: UOp, uses: ReadonlyMap<UOp, number>): ColQuad | undefined {
  if (upd.op !== Ops.ACC_UPDATE || upd.arg !== 'ADD' || upd.src[0]!.dtype.name !== 'int32') return undefined
  const inner: UOp[] = [upd.src[1]!]
  const muls = addLeaves(upd.src[1]!, uses, inner)
  if (
    muls.length !== 4 ||
    muls.some((m) => m.op !== Ops.MUL || m.dtype.name !== 'int32' || uses.get(m) !== 1)
  )
    return undefined
  let pairs: { x: [UOp, number]; u: [UOp, number]; xl: UOp; ul: UOp }[] = []
  const nodes: UOp[] = [...inner, ...muls]
  for (const m of muls) {
    const es = m.src.map(elemOf)
    const xi = es.findIndex((e) => e?.dtype === 'int8' && !e.nib && e.c === 0)
    const ui = 1 - xi
    const xe = es[xi]
    const ue = es[ui]
    if (xi < 0 || !xe || !ue || ue.dtype !== 'uint8' || ue.nib || ue.c !== 0) return undefined
    nodes.push(...xe.nodes, ...ue.nodes)
    pairs.push({ x: split(xe.load.src[1]!), u: split(ue.load.src[1]!), xl: xe.load, ul: ue.load })
  }
  pairs = pairs.sort((a, b) => a.x[1] - b.x[1])
  const p0 = pairs[0]!
  const ok = pairs.every(
    (p, g) =>
      p.x[0] === p0.x[0] &&
      p.u[0] === p0.u[0] &&
      p.x[1] === p0.x[1] + g &&
      p.u[1] === p0.u[1] + g &&
      p.xl.src[0] === p0.xl.src[0] &&
      p.ul.src[0] === p0.ul.src[0],
  )
  if (!ok) return undefined
  return { x: p0.xl, u: p0.ul, acc: upd.src[0]!, nodes }
}

const isConst = (u: UOp | undefined): boolean => u?.op === Ops.CONST

/** The (buffer, base, offset) of a load's address, as a key for grouping. */
const addrKey = (ld: UOp): string => {
  const [b, k] = split(ld.src[1]!)
  return `${ld.src[0]!.key}|${b.key}|${k}`
}

/**
 * Render `loop` (a block loop as described at the top) as vector code; false (nothing written)
 * when it is not one.
 */
export function renderColumnLoop(loop: LoopToRender, accOf: ReadonlyMap<UOp, UOp>): boolean {
  const { range, body, writer: w, statement } = loop
  const inner = body.filter((u) => u.op === Ops.RANGE)
  if (inner.length !== 1 || !isConst(inner[0]!.src[0])) return false
  const J = inner[0]!
  const jStart = body.indexOf(J)
  const jEnd = body.findIndex((u) => u.op === Ops.ENDRANGE && u.src[0] === J)
  const pre = body.slice(0, jStart)
  const mid = body.slice(jStart + 1, jEnd)
  const post = body.slice(jEnd + 1)
  const uses = new Map<UOp, number>()
  for (const u of body) for (const s of u.src) uses.set(s, (uses.get(s) ?? 0) + 1)
  // the inner loop: quads into int32 accumulators, plus scalar index arithmetic
  const quads = new Map<UOp, ColQuad>() // acc -> quad
  for (const u of mid.filter((u) => u.op === Ops.ACC_UPDATE)) {
    const q = colQuad(u, uses)
    if (!q || quads.has(q.acc)) return false
    quads.set(q.acc, q)
  }
  if (quads.size === 0 || quads.size % COL_LANES !== 0) return false
  const fused = new Set<UOp>()
  for (const q of quads.values()) for (const n of q.nodes) fused.add(n)
  // what the fused nodes read is only theirs (the loads the quads consume)
  for (const n of fused)
    if (n.op !== Ops.ACC_UPDATE && mid.includes(n)) {
      const readers = mid.filter((m) => m.src.includes(n))
      if (readers.some((m) => !fused.has(m) && !quads.has(m.src[0]!))) return false
    }
  const midScalar = mid.filter((u) => !fused.has(u) && !(u.op === Ops.ACC_UPDATE && quads.has(u.src[0]!)))
  const plainInt = (u: UOp) =>
    u.dtype.isInt && u.op !== Ops.LOAD && u.op !== Ops.RANGE && u.op !== Ops.ACC && u.op !== Ops.DEFINE_ACC
  if (!midScalar.every(plainInt)) return false
  // group the quads by row (x's address): 16 columns whose u is at +4c of the first's
  const rows = new Map<string, ColQuad[]>()
  for (const q of quads.values()) {
    const k = addrKey(q.x)
    if (!rows.has(k)) rows.set(k, [])
    rows.get(k)!.push(q)
  }
  const groups: { x: UOp; u: UOp; accs: UOp[] }[] = []
  for (const qs of rows.values()) {
    if (qs.length !== COL_LANES) return false
    const at = qs.map((q) => split(q.u.src[1]!))
    const k0 = Math.min(...at.map(([, k]) => k))
    const byLane: UOp[] = []
    for (const [i, [b, k]] of at.entries()) {
      const c = (k - k0) / 4
      if (b !== at[0]![0] || qs[i]!.u.src[0] !== qs[0]!.u.src[0] || !Number.isInteger(c) || byLane[c])
        return false
      byLane[c] = qs[i]!.acc
    }
    const first = qs[at.findIndex(([, k]) => k === k0)]!
    groups.push({ x: first.x, u: first.u, accs: byLane })
  }
  // the int32 accumulators: defined here at 0, read once after the inner loop
  const laneOf = new Map<UOp, [number, number]>() // int acc -> [group, lane]
  for (const [gi, g] of groups.entries()) for (const [c, a] of g.accs.entries()) laneOf.set(a, [gi, c])
  const defs = pre.filter((u) => u.op === Ops.DEFINE_ACC && laneOf.has(u))
  if (defs.length !== laneOf.size || defs.some((d) => (d.arg as { init: number }).init !== 0)) return false
  if (!pre.filter((u) => !laneOf.has(u)).every((u) => u.op !== Ops.DEFINE_ACC && u.op !== Ops.ACC_UPDATE))
    return false
  // after it: per (row, column) one float32 update acc += f(int sum), the same f in every column
  const reads = new Map<UOp, UOp>() // REDUCE node -> int acc
  for (const u of post) if (u.op === Ops.REDUCE && laneOf.has(accOf.get(u)!)) reads.set(u, accOf.get(u)!)
  if (reads.size !== laneOf.size) return false
  const updates = post.filter((u) => u.op === Ops.ACC_UPDATE)
  const inPost = new Set(post)
  /** the int accumulator an update's value reads (exactly one) */
  const sourceAcc = (upd: UOp): UOp | undefined => {
    const found = new Set<UOp>()
    const seen = new Set<UOp>()
    const walk = (u: UOp): void => {
      if (seen.has(u) || !inPost.has(u)) return
      seen.add(u)
      if (reads.has(u)) found.add(reads.get(u)!)
      else for (const s of u.src) walk(s)
    }
    walk(upd.src[1]!)
    return found.size === 1 ? [...found][0] : undefined
  }
  const roots: UOp[][] = groups.map(() => [])
  for (const upd of updates) {
    const a = sourceAcc(upd)
    const gl = a && laneOf.get(a)
    if (!gl || upd.arg !== 'ADD' || upd.src[0]!.dtype.name !== 'float32' || roots[gl[0]]![gl[1]]) return false
    roots[gl[0]]![gl[1]] = upd
  }
  if (roots.some((rs) => rs.length !== COL_LANES || rs.some((r) => !r))) return false
  // vectorize the updates lane by lane; expressions are built when written (scalars after theirs)
  type Expr = () => string
  const vec = new Map<string, Expr>() // tuple key -> C expression
  const vecNodes = new Set<UOp>()
  const lines: Expr[] = []
  const intAcc = (gi: number) => `${w.name(range)}_ia${gi}`
  let next = 0
  /** the scalars the vector code reads (splat values, load addresses) */
  const splats: UOp[] = []
  const laneReads = (x: UOp) => dependsOnLanes(x, reads, inPost)
  const tuple = (us: readonly UOp[]): Expr | undefined => {
    const key = us.map((u) => u.key).join(',')
    const known = vec.get(key)
    if (known !== undefined) return known
    const u0 = us[0]!
    if (us.every((u) => u === u0)) {
      // the same node in every lane: a scalar, rendered before (it must not read the lanes)
      if (laneReads(u0)) return undefined
      const t = u0.dtype.name === 'float32' ? 'tgc16f' : u0.dtype.name === 'int32' ? 'tgc16i' : undefined
      if (!t) return undefined
      splats.push(u0)
      return () => (t === 'tgc16f' ? `(${w.ref(u0)} - (tgc16f){})` : `((tgc16i){} + ${w.ref(u0)})`)
    }
    for (const u of us) vecNodes.add(u)
    const dt = u0.dtype.name
    const vt = dt === 'float32' ? 'tgc16f' : dt === 'int32' ? 'tgc16i' : undefined
    if (!vt || us.some((u) => u.op !== u0.op || u.dtype !== u0.dtype || u.src.length !== u0.src.length))
      return undefined
    if (u0.op === Ops.REDUCE) {
      const gl = us.map((u) => laneOf.get(reads.get(u)!))
      if (gl.some((x, c) => !x || x[0] !== gl[0]![0] || x[1] !== c)) return undefined
      return () => intAcc(gl[0]![0])
    }
    let e: Expr
    if (u0.op === Ops.LOAD) {
      if (us.some((u) => u.src[2] || u.src[0] !== u0.src[0])) return undefined
      const at = us.map((u) => split(u.src[1]!))
      if (at.some(([b, k], c) => b !== at[0]![0] || k !== at[0]![1] + c)) return undefined
      const lt = dt === 'float32' ? 'tgc16fu' : 'tgc16iu'
      splats.push(u0.src[1]!)
      e = () => `*(const ${lt}*)(${w.ref(u0.src[0]!)} + ${w.ref(u0.src[1]!)})`
    } else if (u0.op === Ops.CAST) {
      if (dt !== 'float32' || u0.src[0]!.dtype.name !== 'int32') return undefined
      const a = tuple(us.map((u) => u.src[0]!))
      if (a === undefined) return undefined
      e = () => `__builtin_convertvector(${a()}, tgc16f)`
    } else if (u0.op === Ops.ADD || u0.op === Ops.SUB || u0.op === Ops.MUL) {
      const srcs = alignOperands(us, laneReads)
      const a = srcs && tuple(srcs.map((s) => s[0]!))
      const b = a === undefined ? undefined : tuple(srcs!.map((s) => s[1]!))
      if (a === undefined || b === undefined) return undefined
      const op = u0.op === Ops.ADD ? '+' : u0.op === Ops.SUB ? '-' : '*'
      // int lanes wrap as the scalar code does (through unsigned math)
      e = dt === 'int32' ? () => `(tgc16i)((tgc16u)${a()} ${op} (tgc16u)${b()})` : () => `${a()} ${op} ${b()}`
    } else return undefined
    const name = `${w.name(range)}_v${next++}`
    lines.push(() => `${vt} ${name} = ${e()};`)
    const ref = () => name
    vec.set(key, ref)
    return ref
  }
  const updLines: Expr[] = []
  const floatAccs: UOp[][] = []
  for (const [gi, rs] of roots.entries()) {
    const val = rs.map((r) => r.src[1]!)
    let line: Expr | undefined
    const fa = `${w.name(range)}_fa${gi}`
    if (val.every((v) => v.op === Ops.MUL)) {
      const srcs = alignOperands(val, laneReads)
      const a = srcs && tuple(srcs.map((s) => s[0]!))
      const b = a === undefined ? undefined : tuple(srcs!.map((s) => s[1]!))
      if (a !== undefined && b !== undefined) line = () => `${fa} = tg_cfma(${a()}, ${b()}, ${fa});`
      for (const v of val) vecNodes.add(v)
    } else {
      const a = tuple(val)
      if (a !== undefined) line = () => `${fa} = ${fa} + ${a()};`
    }
    if (!line) return false
    updLines.push(line)
    floatAccs.push(rs.map((r) => r.src[0]!))
  }
  // everything else after the inner loop is scalar and reads no lane
  const postScalar = post.filter((u) => !vecNodes.has(u) && !reads.has(u) && u.op !== Ops.ACC_UPDATE)
  if (
    postScalar.some((u) => dependsOnLanes(u, reads, inPost) || u.op === Ops.STORE || u.op === Ops.DEFINE_ACC)
  )
    return false
  // render: float accumulators as vectors around the loop, the int ones inside
  const r = w.name(range)
  w.open('{')
  for (const [gi, accs] of floatAccs.entries())
    w.line(`tgc16f ${r}_fa${gi} = {${accs.map((a) => w.ref(a)).join(', ')}};`)
  w.open(`for (int ${r} = 0; ${r} < ${w.ref(range.src[0]!)}; ${r}++) {`)
  for (const u of pre) if (!laneOf.has(u)) statement(u)
  for (const gi of groups.keys()) w.line(`tgc16i ${intAcc(gi)} = {};`)
  const jr = w.name(J)
  w.open(`for (int ${jr} = 0; ${jr} < ${w.ref(J.src[0]!)}; ${jr}++) {`)
  const addr = (ld: UOp) => `(const void *)(${w.ref(ld.src[0]!)} + ${w.ref(ld.src[1]!)})`
  // the index arithmetic the quads' addresses need (the loads they consume are not rendered)
  for (const u of closure(
    groups.flatMap((g) => [g.x.src[1]!, g.u.src[1]!]),
    new Set(midScalar),
  ))
    statement(u)
  const uRegs = new Map<string, string>()
  for (const g of groups) {
    const k = addrKey(g.u)
    if (!uRegs.has(k)) {
      const name = `${r}_u${uRegs.size}`
      uRegs.set(k, name)
      w.line(`tgc16i ${name} = tg_cld(${addr(g.u)});`)
    }
  }
  for (const [gi, g] of groups.entries())
    w.line(`${intAcc(gi)} = tg_cdp(${intAcc(gi)}, ${uRegs.get(addrKey(g.u))}, tg_c4(${addr(g.x)}));`)
  w.close()
  for (const u of closure(splats, new Set(postScalar))) statement(u)
  for (const l of lines) w.line(l())
  for (const l of updLines) w.line(l())
  w.close()
  for (const [gi, accs] of floatAccs.entries())
    for (const [c, a] of accs.entries()) w.line(`${w.ref(a)} = ${r}_fa${gi}[${c}];`)
  w.close()
  return true
}

/** Whether `u` reads one of the int accumulators (through nodes of the loop's tail). */
function dependsOnLanes(u: UOp, reads: ReadonlyMap<UOp, UOp>, inPost: ReadonlySet<UOp>): boolean {
  const seen = new Set<UOp>()
  const stack = [u]
  while (stack.length) {
    const x = stack.pop()!
    if (seen.has(x)) continue
    seen.add(x)
    if (reads.has(x)) return true
    if (inPost.has(x)) stack.push(...x.src)
  }
  return false
}

/**
 * The operands of each lane's binary op in lane 0's order: a commutative op's operands may come in
 * either order per lane (the symbolic passes sort them by node), matched by op, dtype and whether
 * they read the lanes.
 */
function alignOperands(us: readonly UOp[], readsLanes: (u: UOp) => boolean): UOp[][] | undefined {
  const sig = (u: UOp) => `${u.op}|${u.dtype.name}|${readsLanes(u)}`
  const want = us[0]!.src.map(sig)
  const out: UOp[][] = []
  for (const u of us) {
    const [a, b] = u.src as [UOp, UOp]
    if (sig(a) === want[0] && sig(b) === want[1]) out.push([a, b])
    else if (u.op !== Ops.SUB && sig(b) === want[0] && sig(a) === want[1]) out.push([b, a])
    else return undefined
  }
  return out
}

/** The nodes of `within` that `roots` read, directly or through each other, in `within`'s order. */
function closure(roots: readonly UOp[], within: ReadonlySet<UOp>): UOp[] {
  const need = new Set<UOp>()
  const stack = [...roots]
  while (stack.length) {
    const u = stack.pop()!
    if (need.has(u) || !within.has(u)) continue
    need.add(u)
    stack.push(...u.src)
  }
  return [...within].filter((u) => need.has(u))
}
