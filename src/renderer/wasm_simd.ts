// SIMD128 for the WASM renderer: straight-line vectorization of the copies that UPCAST made.
//
// After expansion an upcast axis is k scalar STOREs to consecutive addresses (the first applied
// UPCAST varies fastest), each with its own copy of the value graph. Four such stores of float32
// become one v128.store of a vector built lane-wise from the four value graphs (the SLP idea):
// equal lanes are splats, loads of consecutive addresses one v128.load, equal ops one f32x4 op,
// REDUCEs over one loop nest a vector accumulator (four accumulators -> one v128 local, their
// updates one f32x4 add/max, a multiply-add fused by relaxed_madd where the engine has it), and
// anything else is gathered from scalar lanes. A matmul's register tile (8 columns x m rows of
// accumulators) becomes 2 x m vector accumulators updated from splats of A and vector loads of B.
//
// Scalar code for nodes used only by vectorized lanes is not emitted (needed-scalar analysis).
// Stores are delayed to the last store of their group, so a group is vectorized only when none of
// its lanes reads its output buffer elsewhere than at the lane's own address.
import type { LinearProgram } from './target.js'
import { ACC_SET, ALU, type Op, Ops, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'
import { F32, simd, V128 } from './wasm_encoder.js'
import { emitExpF32x4, emitExpNonPositiveF32x4, emitSigmoidF32x4 } from './wasm_exp.js'
import type { KernelCode } from './wasm_ops.js'
import { nonPositiveExps } from './nonpositive.js'

const W = 4
type Lanes = readonly UOp[]

type VPlan =
  | { kind: 'splat'; key: string; u: UOp }
  | { kind: 'consts'; key: string; vals: number[] }
  | { kind: 'load'; key: string; lanes: Lanes }
  /** nonPositive: an EXP/EXP2 whose lanes' arguments are all <= 0 or NaN */
  | { kind: 'alu'; key: string; op: Op; src: VPlan[]; nonPositive?: boolean }
  | { kind: 'acc'; key: string; group: AccGroup }
  | { kind: 'gather'; key: string; lanes: Lanes }
  | { kind: 'mask'; key: string; op: Op; src: VPlan[] }
  | { kind: 'maskLanes'; key: string; lanes: Lanes }

interface AccGroup {
  accs: UOp[]
  reduces: Lanes
  op: string
  steps: { updates: UOp[]; value: VPlan }[]
  local: number
}

interface StoreGroup {
  stores: UOp[]
  value: VPlan
}

type Action =
  | { kind: 'init'; group: AccGroup }
  | { kind: 'update'; group: AccGroup; step: number }
  | { kind: 'store'; group: StoreGroup }

/** Float ops with an f32x4 form (lanes of equal op become one vector op). */
const VEC_OPS = new Set<Op>([
  Ops.ADD,
  Ops.SUB,
  Ops.MUL,
  Ops.FDIV,
  Ops.MAX,
  Ops.NEG,
  Ops.SQRT,
  Ops.RECIP,
  Ops.WHERE,
  Ops.EXP,
  Ops.EXP2,
])
const F32_BIN: Partial<Record<Op, number>> = {
  [Ops.ADD]: simd.f32x4_add,
  [Ops.SUB]: simd.f32x4_sub,
  [Ops.MUL]: simd.f32x4_mul,
  [Ops.FDIV]: simd.f32x4_div,
  [Ops.MAX]: simd.f32x4_max,
}
const F32_CMP: Partial<Record<Op, number>> = {
  [Ops.CMPLT]: simd.f32x4_lt,
  [Ops.CMPNE]: simd.f32x4_ne,
  [Ops.CMPEQ]: simd.f32x4_eq,
}

const isF32 = (u: UOp): boolean => u.dtype.name === 'float32'
/** an ungated float32 load: splatted by v128.load32_splat straight from memory */
const loadSplattable = (u: UOp): boolean => u.op === Ops.LOAD && u.src.length === 2 && isF32(u)
const keyOf = (lanes: Lanes): string => lanes.map((l) => l.id).join(',')

/** An index as (the sorted ids of its non-constant terms, the sum of its constant terms). */
function linearParts(idx: UOp): { key: string; off: number } {
  const terms: number[] = []
  let off = 0
  const walk = (u: UOp): void => {
    if (u.op === Ops.ADD) {
      walk(u.src[0]!)
      walk(u.src[1]!)
    } else if (u.op === Ops.AFTER)
      walk(u.src[0]!) // an index ordered after a reduce (reuse.ts)
    else if (u.op === Ops.CONST) off += u.constValue
    else terms.push(u.id)
  }
  walk(idx)
  return { key: terms.sort((a, b) => a - b).join(','), off }
}

/** Do these accesses (same buffer) touch consecutive elements, lane i at lane 0's + i? */
function consecutive(lanes: Lanes): boolean {
  const parts = lanes.map((l) => linearParts(l.src[1]!))
  return parts.every((p, i) => p.key === parts[0]!.key && p.off === parts[0]!.off + i)
}

export class SimdPlan {
  readonly skip = new Set<UOp>()
  private readonly after = new Map<UOp, Action[]>()
  /** value nodes some scalar code (or a splat, gather or address) needs */
  private readonly needed = new Set<UOp>()
  private readonly groupOfAcc = new Map<UOp, { group: AccGroup; lane: number }>()
  private readonly accGroups = new Map<string, AccGroup | null>()
  private readonly updatesOf = new Map<UOp, UOp[]>()
  private readonly blockOf = new Map<UOp, number>()
  private readonly readAccs = new Set<UOp>()
  private readonly position = new Map<UOp, number>()
  private scopes: Map<string, number>[] = [new Map()]
  readonly groups: StoreGroup[] = []
  private readonly nonPositive: ReadonlySet<UOp>

  constructor(
    private readonly prog: LinearProgram,
    private readonly relaxed: boolean,
  ) {
    const stack: number[] = [-1]
    prog.uops.forEach((u, i) => {
      this.position.set(u, i)
      if (u.op === Ops.ENDRANGE) stack.pop()
      this.blockOf.set(u, stack.at(-1)!)
      if (u.op === Ops.RANGE) stack.push(i)
      if (u.op === Ops.ACC_UPDATE) {
        const a = u.src[0]!
        const list = this.updatesOf.get(a)
        if (list) list.push(u)
        else this.updatesOf.set(a, [u])
      }
    })
    for (const [n, acc] of prog.accOf) if (n.op === Ops.ACC) this.readAccs.add(acc)
    this.nonPositive = nonPositiveExps(prog)
    this.findStoreGroups()
    this.findReduceGroups()
    this.markNeeded()
  }

  /** nothing to vectorize: no store group and no accumulator group (a row sum has only the latter) */
  get empty(): boolean {
    return this.groups.length === 0 && ![...this.accGroups.values()].some((g) => g)
  }

  private findStoreGroups(): void {
    const buckets = new Map<string, UOp[]>()
    for (const u of this.prog.uops) {
      if (u.op !== Ops.STORE || !isF32(u.src[2]!)) continue
      const p = linearParts(u.src[1]!)
      const k = `${this.blockOf.get(u)}|${u.src[0]!.id}|${p.key}`
      const list = buckets.get(k)
      if (list) list.push(u)
      else buckets.set(k, [u])
    }
    for (const list of buckets.values()) {
      if (list.length < W) continue
      const sorted = [...list].sort((a, b) => linearParts(a.src[1]!).off - linearParts(b.src[1]!).off)
      for (let i = 0; i + W <= sorted.length; ) {
        const lanes = sorted.slice(i, i + W)
        if (!consecutive(lanes)) {
          i++
          continue
        }
        const value = this.plan(lanes.map((s) => s.src[2]!))
        if (value && value.kind !== 'gather' && this.safeStore(lanes, value)) {
          this.addStoreGroup({ stores: lanes, value })
          i += W
        } else i++
      }
    }
  }

  /**
   * REDUCEs over one loop nest not reached from stores (UNROLL's k accumulators, combined by a
   * scalar tree after the loop): four whose steps read consecutive elements share a vector
   * accumulator, its lanes extracted for the tree.
   */
  private findReduceGroups(): void {
    const byLoop = new Map<string, UOp[]>()
    for (const u of this.prog.uops) {
      if (u.op !== Ops.REDUCE || !isF32(u)) continue
      const acc = this.prog.accOf.get(u)
      if (!acc || this.groupOfAcc.has(acc)) continue
      const k = `${u.arg}|${u.src
        .slice(1)
        .map((r) => r.id)
        .join(',')}`
      const list = byLoop.get(k)
      if (list) list.push(u)
      else byLoop.set(k, [u])
    }
    // lane order: by the offset of the first load each value reads
    const laneOf = (r: UOp): number => {
      const ld = toposort([r.src[0]!]).find((n) => n.op === Ops.LOAD)
      return ld ? linearParts(ld.src[1]!).off : 0
    }
    for (const list of byLoop.values()) {
      const sorted = [...list].sort((a, b) => laneOf(a) - laneOf(b))
      for (let i = 0; i + W <= sorted.length; i += W) this.accGroup(sorted.slice(i, i + W), false)
    }
  }

  /** The delayed stores must not change what the lanes read from the output buffer. */
  private safeStore(stores: Lanes, value: VPlan): boolean {
    const buf = stores[0]!.src[0]!
    const off0 = linearParts(stores[0]!.src[1]!)
    const readsBuf = (lanes: Lanes): boolean =>
      toposort([...lanes]).some((n) => n.op === Ops.LOAD && n.src[0] === buf)
    const ok = (p: VPlan): boolean => {
      switch (p.kind) {
        case 'load': {
          if (p.lanes[0]!.src[0] !== buf) return true
          const l = linearParts(p.lanes[0]!.src[1]!)
          return l.key === off0.key && l.off === off0.off
        }
        case 'gather':
        case 'maskLanes':
          return !readsBuf(p.lanes)
        case 'alu':
        case 'mask':
          return p.src.every(ok)
        default:
          return true
      }
    }
    return ok(value)
  }

  private addStoreGroup(g: StoreGroup): void {
    this.groups.push(g)
    for (const s of g.stores) this.skip.add(s)
    this.addAction(g.stores, { kind: 'store', group: g })
  }

  private addAction(at: readonly UOp[], a: Action): void {
    const last = at.reduce((a, b) => (this.position.get(b)! > this.position.get(a)! ? b : a))
    const list = this.after.get(last)
    if (list) list.push(a)
    else this.after.set(last, [a])
  }

  /** The vector form of four lane values, or undefined when they have none worth making. */
  private plan(lanes: Lanes): VPlan | undefined {
    const key = keyOf(lanes)
    const l0 = lanes[0]!
    if (lanes.every((l) => l.op === Ops.CONST))
      return { kind: 'consts', key, vals: lanes.map((l) => l.constValue) }
    if (!lanes.every(isF32)) return undefined
    if (lanes.every((l) => l === l0)) return { kind: 'splat', key, u: l0 }
    const same = lanes.every((l) => l.op === l0.op)
    if (same && l0.op === Ops.LOAD) {
      if (lanes.every((l) => l.src[0] === l0.src[0] && l.src.length === 2) && consecutive(lanes))
        return { kind: 'load', key, lanes }
    } else if (same && l0.op === Ops.REDUCE) {
      const g = this.accGroup(lanes)
      if (g) return { kind: 'acc', key, group: g }
    } else if (same && VEC_OPS.has(l0.op) && lanes.every((l) => l.src.length === l0.src.length)) {
      const src: VPlan[] = []
      for (let j = 0; j < l0.src.length; j++) {
        const col = lanes.map((l) => l.src[j]!)
        const p = l0.op === Ops.WHERE && j === 0 ? this.planMask(col) : (this.plan(col) ?? this.gather(col))
        if (!p) return undefined
        src.push(p)
      }
      const nonPositive = lanes.every((l) => this.nonPositive.has(l))
      return { kind: 'alu', key, op: l0.op, src, ...(nonPositive ? { nonPositive } : {}) }
    }
    return { kind: 'gather', key, lanes }
  }

  private gather(lanes: Lanes): VPlan | undefined {
    return lanes.every(isF32) ? { kind: 'gather', key: keyOf(lanes), lanes } : undefined
  }

  /** Bool lanes as a mask (all ones / zeros per lane). */
  private planMask(lanes: Lanes): VPlan | undefined {
    if (!lanes.every((l) => l.dtype.isBool)) return undefined
    const key = `m${keyOf(lanes)}`
    const l0 = lanes[0]!
    if (lanes.every((l) => l.op === l0.op) && F32_CMP[l0.op] !== undefined && isF32(l0.src[0]!)) {
      const a = this.plan(lanes.map((l) => l.src[0]!)) ?? this.gather(lanes.map((l) => l.src[0]!))
      const b = this.plan(lanes.map((l) => l.src[1]!)) ?? this.gather(lanes.map((l) => l.src[1]!))
      if (a && b) return { kind: 'mask', key, op: l0.op, src: [a, b] }
    }
    return { kind: 'maskLanes', key, lanes }
  }

  /** Four REDUCEs over one loop nest whose updates pair up step by step: one vector accumulator. */
  private accGroup(reduces: Lanes, gathers = true): AccGroup | undefined {
    const accs = reduces.map((r) => this.prog.accOf.get(r))
    const key = accs.map((a) => a?.id).join(',')
    if (this.accGroups.has(key)) return this.accGroups.get(key) ?? undefined
    this.accGroups.set(key, null)
    const op = reduces[0]!.arg as string
    if (accs.some((a) => !a || this.readAccs.has(a) || this.groupOfAcc.has(a))) return undefined
    if (new Set(accs).size !== W || op === ACC_SET || reduces.some((r) => r.arg !== op)) return undefined
    const ups = accs.map((a) => this.updatesOf.get(a!) ?? [])
    const n = ups[0]!.length
    if (!n || ups.some((u) => u.length !== n)) return undefined
    const steps: AccGroup['steps'] = []
    for (let s = 0; s < n; s++) {
      const updates = ups.map((u) => u[s]!)
      if (updates.some((u) => this.blockOf.get(u) !== this.blockOf.get(updates[0]!))) return undefined
      const col = updates.map((u) => u.src[1]!)
      const value = this.plan(col) ?? this.gather(col)
      // a sum of gathered scalars is no faster than the scalar sums
      if (!value || (!gathers && value.kind === 'gather')) return undefined
      steps.push({ updates, value })
    }
    const g: AccGroup = { accs: accs as UOp[], reduces, op, steps, local: -1 }
    this.accGroups.set(key, g)
    accs.forEach((a, lane) => {
      this.groupOfAcc.set(a!, { group: g, lane })
      this.skip.add(a!)
    })
    this.addAction(g.accs, { kind: 'init', group: g })
    steps.forEach((st, step) => {
      for (const u of st.updates) this.skip.add(u)
      this.addAction(st.updates, { kind: 'update', group: g, step })
    })
    return g
  }

  /** Which value nodes scalar code needs: a reverse pass from everything emitted as scalar. */
  private markNeeded(): void {
    const seed = (p: VPlan): void => {
      // a splat of a load is one v128.load32_splat: it needs the load's index, not the scalar
      if (p.kind === 'splat') this.needed.add(loadSplattable(p.u) ? p.u.src[1]! : p.u)
      else if (p.kind === 'gather' || p.kind === 'maskLanes') for (const l of p.lanes) this.needed.add(l)
      else if (p.kind === 'load') {
        this.needed.add(p.lanes[0]!.src[1]!)
      } else if (p.kind === 'alu' || p.kind === 'mask') p.src.forEach(seed)
      else if (p.kind === 'acc') for (const s of p.group.steps) seed(s.value)
    }
    for (const g of this.groups) {
      seed(g.value)
      this.needed.add(g.stores[0]!.src[1]!)
    }
    for (const g of this.accGroups.values()) if (g) for (const st of g.steps) seed(st.value)
    const uops = this.prog.uops
    for (let i = uops.length - 1; i >= 0; i--) {
      const u = uops[i]!
      const root =
        u.op === Ops.RANGE || ((u.op === Ops.STORE || u.op === Ops.ACC_UPDATE) && !this.skip.has(u))
      if (!root && !this.needed.has(u)) continue
      // a REDUCE or ACC reads its accumulator (a grouped one by a lane extract), not its sources
      if (u.op === Ops.REDUCE || u.op === Ops.ACC) this.needed.add(this.prog.accOf.get(u)!)
      else for (const s of u.src) this.needed.add(s)
    }
  }

  /** Is this instruction left out of the scalar code? */
  skips(u: UOp): boolean {
    if (this.skip.has(u)) return true
    if (ALU.has(u.op) || u.op === Ops.LOAD || u.op === Ops.AFTER || u.op === Ops.ACC)
      return !this.needed.has(u)
    return false
  }

  /** A REDUCE whose accumulator is a vector lane: the lane extracted when scalar code needs it. */
  reduceLane(k: KernelCode, u: UOp): boolean {
    const acc = this.prog.accOf.get(u)
    const g = acc && this.groupOfAcc.get(acc)
    if (!g) return false
    if (this.needed.has(u)) {
      const l = k.newLocal(F32)
      k.code.get(g.group.local).v(simd.f32x4_extract_lane).byte(g.lane).set(l)
      k.local.set(u, l)
    }
    return true
  }

  enterLoop(): void {
    this.scopes.push(new Map())
  }
  exitLoop(): void {
    this.scopes.pop()
  }

  /** Run the vector work placed after instruction `u`. */
  emitAfter(k: KernelCode, u: UOp): void {
    for (const a of this.after.get(u) ?? []) {
      const c = k.code
      if (a.kind === 'init') {
        const g = a.group
        g.local = k.newLocal(V128)
        const init = g.accs.map((acc) => (acc.arg as { init: number }).init)
        this.constVec(k, init)
        c.set(g.local)
      } else if (a.kind === 'update') {
        const g = a.group
        const v = g.steps[a.step]!.value
        if (g.op === 'ADD' && this.relaxed && v.kind === 'alu' && v.op === Ops.MUL) {
          // acc + a * b rounded once (gcc contracts the C kernels' updates the same way)
          c.get(this.vec(k, v.src[0]!)).get(this.vec(k, v.src[1]!)).get(g.local).v(simd.f32x4_relaxed_madd)
        } else {
          c.get(g.local).get(this.vec(k, v))
          c.v(g.op === 'ADD' ? simd.f32x4_add : g.op === 'MUL' ? simd.f32x4_mul : simd.f32x4_max)
        }
        c.set(g.local)
      } else {
        const s0 = a.group.stores[0]!
        const vl = this.vec(k, a.group.value)
        const off = k.address(s0.src[0]!, s0.src[1]!, s0.src[2]!.dtype)
        c.get(vl).vmem(simd.v128_store, 2, off)
      }
    }
  }

  private constVec(k: KernelCode, vals: number[]): void {
    const d = new DataView(new ArrayBuffer(16))
    vals.forEach((v, i) => {
      d.setFloat32(i * 4, v, true)
    })
    k.code.v(simd.v128_const).bytes(new Uint8Array(d.buffer))
  }

  /** The v128 local holding a plan's value (computed once per loop scope). */
  private vec(k: KernelCode, p: VPlan): number {
    if (p.kind === 'acc') return p.group.local
    for (const s of this.scopes) {
      const l = s.get(p.key)
      if (l !== undefined) return l
    }
    const c = k.code
    switch (p.kind) {
      case 'splat':
        if (loadSplattable(p.u) && !this.needed.has(p.u)) {
          const off = k.address(p.u.src[0]!, p.u.src[1]!, p.u.dtype)
          c.vmem(simd.v128_load32_splat, 2, off)
        } else {
          k.push(p.u)
          c.v(simd.f32x4_splat)
        }
        break
      case 'consts':
        this.constVec(k, p.vals)
        break
      case 'load': {
        const l0 = p.lanes[0]!
        const off = k.address(l0.src[0]!, l0.src[1]!, l0.dtype)
        c.vmem(simd.v128_load, 2, off)
        break
      }
      case 'gather':
      case 'maskLanes': {
        const f = p.kind === 'gather'
        k.push(p.lanes[0]!)
        c.v(f ? simd.f32x4_splat : simd.i32x4_splat)
        for (let i = 1; i < W; i++) {
          k.push(p.lanes[i]!)
          c.v(f ? simd.f32x4_replace_lane : simd.i32x4_replace_lane).byte(i)
        }
        if (!f) c.v(simd.i32x4_neg) // 0/1 -> 0/-1
        break
      }
      case 'mask': {
        const [a, b] = [this.vec(k, p.src[0]!), this.vec(k, p.src[1]!)]
        c.get(a).get(b).v(F32_CMP[p.op]!)
        break
      }
      case 'alu': {
        const pm = pseudoMinMax(p)
        if (pm) {
          // where(a < b, b, a) is f32x4.pmax(a, b) and where(a < b, a, b) pmin(b, a), NaN and -0
          // included: one instruction for a relu instead of a compare and a 3-instruction select
          c.get(this.vec(k, pm.x)).get(this.vec(k, pm.y)).v(pm.op)
          break
        }
        const sx = sigmoidInput(p)
        if (sx) {
          emitSigmoidF32x4(k, this.vec(k, sx), this.relaxed)
          break
        }
        const s = p.src.map((x) => this.vec(k, x))
        if (p.op === Ops.WHERE) c.get(s[1]!).get(s[2]!).get(s[0]!).v(simd.v128_bitselect)
        else if (p.op === Ops.NEG) c.get(s[0]!).v(simd.f32x4_neg)
        else if (p.op === Ops.SQRT) c.get(s[0]!).v(simd.f32x4_sqrt)
        else if (p.op === Ops.EXP || p.op === Ops.EXP2)
          (p.nonPositive ? emitExpNonPositiveF32x4 : emitExpF32x4)(k, s[0]!, p.op === Ops.EXP2, this.relaxed)
        else if (p.op === Ops.RECIP) {
          this.constVec(k, [1, 1, 1, 1])
          c.get(s[0]!).v(simd.f32x4_div)
        } else c.get(s[0]!).get(s[1]!).v(F32_BIN[p.op]!)
        break
      }
    }
    const l = k.newLocal(V128)
    c.set(l)
    this.scopes.at(-1)!.set(p.key, l)
    return l
  }
}

/** x of a sigmoid 1 / (1 + exp(-x)) (Tensor.sigmoid's form), or undefined. */
function sigmoidInput(p: VPlan): VPlan | undefined {
  if (p.kind !== 'alu' || p.op !== Ops.RECIP) return undefined
  const d = p.src[0]!
  if (d.kind !== 'alu' || d.op !== Ops.ADD) return undefined
  const ones = (q: VPlan): boolean => q.kind === 'consts' && q.vals.every((v) => v === 1)
  const e = ones(d.src[0]!) ? d.src[1]! : ones(d.src[1]!) ? d.src[0]! : undefined
  if (e?.kind !== 'alu' || e.op !== Ops.EXP) return undefined
  const n = e.src[0]!
  return n.kind === 'alu' && n.op === Ops.NEG ? n.src[0] : undefined
}

/** A WHERE of a float compare selecting between the compared values, as f32x4.pmax/pmin operands. */
function pseudoMinMax(p: VPlan): { op: number; x: VPlan; y: VPlan } | undefined {
  if (p.kind !== 'alu' || p.op !== Ops.WHERE) return undefined
  const [m, t, f] = p.src as [VPlan, VPlan, VPlan]
  if (m.kind !== 'mask' || m.op !== Ops.CMPLT) return undefined
  const [a, b] = m.src as [VPlan, VPlan]
  // pmax(a, b) = a < b ? b : a
  if (t.key === b.key && f.key === a.key) return { op: simd.f32x4_pmax, x: a, y: b }
  // pmin(b, a) = a < b ? a : b
  if (t.key === a.key && f.key === b.key) return { op: simd.f32x4_pmin, x: b, y: a }
  return undefined
}
