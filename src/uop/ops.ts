// The one IR: interned, immutable UOp nodes (op, dtype, src, arg).
//
// The same node type describes the lazy tensor graph (BUFFER, CONST, ALU ops, REDUCE_AXIS, movement
// ops), kernel bodies (RANGE, LOAD, STORE, REDUCE, index math) and the linear program a renderer
// reads (DEFINE_ACC, ENDRANGE, ...). Nodes are hash-consed: building the same node twice gives the
// same object, so `===` is structural equality. Each node has a stable structural `key` (a hash over
// op, dtype, arg and the keys of its sources) usable for on-disk caches.
import { DType, dtypes, roundToDType } from '../dtype.js'
import { hash53, TsgradError } from '../helpers.js'
import { inferShape } from './shape.js'

/** A shape dimension: a number, or an integer expression of variables (a symbolic size). */
export type sint = number | UOp

export const Ops = {
  // tensor graph leaves
  BUFFER: 'BUFFER',
  DEVICE: 'DEVICE',
  CONST: 'CONST',
  IOTA: 'IOTA',
  /** an integer variable (arg: VarArg); its value is a kernel argument */
  DEFINE_VAR: 'DEFINE_VAR',
  /** BIND(DEFINE_VAR, CONST): a variable with its value; taken out of the graph at realize */
  BIND: 'BIND',
  // movement (tensor graph only)
  RESHAPE: 'RESHAPE',
  PERMUTE: 'PERMUTE',
  EXPAND: 'EXPAND',
  PAD: 'PAD',
  SHRINK: 'SHRINK',
  FLIP: 'FLIP',
  // tensor graph structure
  REDUCE_AXIS: 'REDUCE_AXIS',
  CONTIGUOUS: 'CONTIGUOUS',
  DETACH: 'DETACH',
  COPY: 'COPY',
  ASSIGN: 'ASSIGN',
  /** GATHER(x, index), arg axis: out[p] = x[p with p[axis] = index[p]] where 0 <= index[p] < n, else
   * 0; a data-dependent load (schedule/rangeify.ts), shaped like `index` */
  GATHER: 'GATHER',
  /**
   * CUSTOM_GRAD(forward, ...inputs), arg a `CustomGradFn`: the value `forward` whose gradient is
   * the arg's function of the gradient inputs, not the rules of the ops `forward` is built from.
   * Every walk but autograd sees only `forward` (`forwardSrc`); the scheduler removes the node.
   */
  CUSTOM_GRAD: 'CUSTOM_GRAD',
  /** CUSTOM_KERNEL(...inputs), arg a `CustomKernelArg`: one output of a kernel written in UOps */
  CUSTOM_KERNEL: 'CUSTOM_KERNEL',
  // unary ALU
  NEG: 'NEG',
  EXP: 'EXP',
  EXP2: 'EXP2',
  LOG: 'LOG',
  LOG2: 'LOG2',
  SIN: 'SIN',
  COS: 'COS',
  TANH: 'TANH',
  ERF: 'ERF',
  SQRT: 'SQRT',
  RECIP: 'RECIP',
  TRUNC: 'TRUNC',
  CAST: 'CAST',
  BITCAST: 'BITCAST',
  // binary ALU
  ADD: 'ADD',
  SUB: 'SUB',
  MUL: 'MUL',
  FDIV: 'FDIV',
  IDIV: 'IDIV',
  MOD: 'MOD',
  MAX: 'MAX',
  POW: 'POW',
  CMPLT: 'CMPLT',
  CMPNE: 'CMPNE',
  CMPEQ: 'CMPEQ',
  AND: 'AND',
  OR: 'OR',
  XOR: 'XOR',
  SHL: 'SHL',
  SHR: 'SHR',
  // ternary ALU
  WHERE: 'WHERE',
  // kernel IR
  SINK: 'SINK',
  DEFINE_GLOBAL: 'DEFINE_GLOBAL',
  RANGE: 'RANGE',
  LOAD: 'LOAD',
  STORE: 'STORE',
  REDUCE: 'REDUCE',
  /** AFTER(x, dep): the value x, computed after dep (orders a load after a loop that stores) */
  AFTER: 'AFTER',
  /**
   * ACC(init, ranges...): the running value of an accumulator inside its loop (custom kernels'
   * ctx.accumulate); its REDUCE, arg ACC_SET, holds AFTER(next value, ACC) and the same ranges
   */
  ACC: 'ACC',
  /**
   * DEFINE_LOCAL (arg LocalArg): an array in GPU workgroup memory, shared by a workgroup's
   * invocations (the STAGE opt: operand tiles); loaded and stored like a DEFINE_GLOBAL
   */
  DEFINE_LOCAL: 'DEFINE_LOCAL',
  /** BARRIER(deps...): a workgroup barrier after its sources (workgroup-memory stores, a loop's range) */
  BARRIER: 'BARRIER',
  // linear program only
  DEFINE_ACC: 'DEFINE_ACC',
  ACC_UPDATE: 'ACC_UPDATE',
  ENDRANGE: 'ENDRANGE',
} as const
export type Op = (typeof Ops)[keyof typeof Ops]

export const UNARY: ReadonlySet<Op> = new Set<Op>([
  Ops.NEG,
  Ops.EXP,
  Ops.EXP2,
  Ops.LOG,
  Ops.LOG2,
  Ops.SIN,
  Ops.COS,
  Ops.TANH,
  Ops.ERF,
  Ops.SQRT,
  Ops.RECIP,
  Ops.TRUNC,
])
export const BINARY: ReadonlySet<Op> = new Set<Op>([
  Ops.ADD,
  Ops.SUB,
  Ops.MUL,
  Ops.FDIV,
  Ops.IDIV,
  Ops.MOD,
  Ops.MAX,
  Ops.POW,
  Ops.CMPLT,
  Ops.CMPNE,
  Ops.CMPEQ,
  Ops.AND,
  Ops.OR,
  Ops.XOR,
  Ops.SHL,
  Ops.SHR,
])
export const COMPARISON: ReadonlySet<Op> = new Set<Op>([Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ])
export const COMMUTATIVE: ReadonlySet<Op> = new Set<Op>([
  Ops.ADD,
  Ops.MUL,
  Ops.MAX,
  Ops.CMPNE,
  Ops.CMPEQ,
  Ops.AND,
  Ops.OR,
  Ops.XOR,
])
/** Every elementwise op (including casts and WHERE). */
export const ALU: ReadonlySet<Op> = new Set<Op>([...UNARY, ...BINARY, Ops.WHERE, Ops.CAST, Ops.BITCAST])
export const MOVEMENT: ReadonlySet<Op> = new Set<Op>([
  Ops.RESHAPE,
  Ops.PERMUTE,
  Ops.EXPAND,
  Ops.PAD,
  Ops.SHRINK,
  Ops.FLIP,
])

export type ReduceOp = 'ADD' | 'MAX' | 'MUL'

/** The arg of a REDUCE that sets its accumulator (an ACC) to a new value each step, not ADD/MAX/MUL. */
export const ACC_SET = 'SET'

/** The ACC whose next value a REDUCE with arg ACC_SET holds, else undefined. */
export const setAccOf = (red: UOp): UOp | undefined => (red.arg === ACC_SET ? red.src[0]!.src[1] : undefined)

/** The sources every walk but autograd follows: a CUSTOM_GRAD's forward value only. */
export const forwardSrc = (u: UOp): readonly UOp[] => (u.op === Ops.CUSTOM_GRAD ? u.src.slice(0, 1) : u.src)

/** What a BUFFER node's arg points at: owned by the runtime, seen by the IR only through this. */
export interface BufferRef {
  readonly id: number
  readonly size: number
  readonly dtype: DType
  readonly device: string
}

export interface RangeArg {
  readonly id: number
  /**
   * 'global' ranges index the output; 'reduce' ranges are summed over; 'loop' are plain loops;
   * 'thread' is a global range split across cores; 'upcast' (global), 'unroll' and 'chain' (reduce)
   * ranges are expanded into straight-line code by the optimizer before linearizing; 'group' is a
   * reduce range split across the invocations of a GPU workgroup (the GROUP opt), 'local' an output
   * range split across them (the LOCAL and WORKGROUP opts).
   */
  readonly kind: 'global' | 'reduce' | 'loop' | 'thread' | 'upcast' | 'unroll' | 'chain' | 'group' | 'local'
}

/** The arg of a DEFINE_LOCAL: its number in the kernel and its length in elements. */
export interface LocalArg {
  readonly id: number
  readonly size: number
}

/**
 * Arg of the binary op nodes that join the straight-line steps of a CHAIN-expanded reduce: the
 * linearizer adds them into the accumulator one by one (acc = acc + a; acc = acc + b) instead of
 * computing their sum first, so a C compiler can turn each step into one fused multiply-add.
 */
export const CHAIN_STEP = 'chain'

export type PadArg = { readonly pads: readonly (readonly [sint, sint])[]; readonly value: number }

/** The arg of a DEFINE_VAR: its name and inclusive value range. */
export interface VarArg {
  readonly name: string
  readonly min: number
  readonly max: number
}

// ---- interning ----
//
// A node is found from its sources, so the table holds it exactly as long as all of its sources
// live: the first source keeps a map of its users by op, dtype, arg and source count, and each
// further source is a level of WeakMaps keyed by that source (ephemerons: an entry lives while its
// key does). No WeakRef or FinalizationRegistry on this path: a WeakRef pins its target until the
// current job ends and registry callbacks wait for the event loop, so a synchronous training loop
// kept every node it ever built (and, through BUFFER nodes, every buffer).
// Two kinds of roots: an arg with identity (a BufferRef, a CONTIGUOUS's unique tag) keys a WeakMap,
// so its nodes die with it; other leaves (DEVICE, CONST, DEFINE_GLOBAL, DEFINE_ACC) are few and
// live in a WeakRef table: they, and the nodes built from them alone (kernel index math), are
// released once nothing holds them and the event loop has turned.

let nextId = 0

type Level = WeakMap<UOp, UOp | Level>
type Users = Map<string, UOp | Level>

/**
 * Where an identity arg keeps the users of its nodes: on the object itself, not in a WeakMap keyed
 * by it. V8's young-generation collector keeps a WeakMap value alive while the key is young and the
 * table is reachable, and the value (the map, its BUFFER node) holds the key: every eager op's
 * output Buffer, its nodes and what they reach survived each scavenge and went to the old space
 * until a full collection (~0.65 KB per op; ~1.2 KB in an eager chain). On the object, it is a
 * plain cycle the scavenger frees. A frozen arg keeps the WeakMap.
 */
export const INTERN_USERS: unique symbol = Symbol('internUsers')
type IdentityArg = { [INTERN_USERS]?: Users }
const frozenIdentities = new WeakMap<object, Users>()
const usersOfIdentity = (o: object): Users | undefined =>
  (o as IdentityArg)[INTERN_USERS] ?? frozenIdentities.get(o)
function setUsersOfIdentity(o: object, users: Users): void {
  if (Object.isExtensible(o)) (o as IdentityArg)[INTERN_USERS] = users
  else frozenIdentities.set(o, users)
}
const leaves = new Map<string, WeakRef<UOp>>()
let leavesSwept = 64
// dead leaves leave the table when the event loop turns, or at the next sweep of a loop that never
// yields (the table has doubled since the last one)
const leafCleanup = new FinalizationRegistry<string>((k) => {
  if (leaves.get(k)?.deref() === undefined) leaves.delete(k)
})

/** The arg object itself when it is an identity (a BufferRef or a unique tag), else undefined. */
function identityArg(arg: unknown): object | undefined {
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) return undefined
  const o = arg as Record<string, unknown>
  if (typeof o.id === 'number' && 'device' in o && 'size' in o) return o
  if (typeof o.tag === 'number') return o
  return undefined
}

/** Find `src[from..]` in the levels below `users.get(k)`. */
function lookup(users: Users | undefined, k: string, src: readonly UOp[], from: number): UOp | undefined {
  let s = users?.get(k)
  for (let i = from; i < src.length && s !== undefined; i++) s = (s as Level).get(src[i]!)
  return s as UOp | undefined
}

function store(users: Users, k: string, src: readonly UOp[], from: number, u: UOp): void {
  if (from === src.length) {
    users.set(k, u)
    return
  }
  let level = users.get(k) as Level | undefined
  if (!level) users.set(k, (level = new WeakMap()))
  for (let i = from; i < src.length - 1; i++) {
    let next = level.get(src[i]!) as Level | undefined
    if (!next) level.set(src[i]!, (next = new WeakMap()))
    level = next
  }
  level.set(src[src.length - 1]!, u)
}

function sweepLeaves(): void {
  for (const [k, r] of leaves) if (r.deref() === undefined) leaves.delete(k)
  leavesSwept = Math.max(64, 2 * leaves.size)
}

/** Leaves in the table after a sweep (tests: it must not keep entries whose node died). */
export function internStats(): { leaves: number } {
  sweepLeaves()
  return { leaves: leaves.size }
}

function argKey(arg: unknown): string {
  if (arg === undefined) return ''
  if (arg === null) return 'null'
  if (typeof arg === 'number') return Object.is(arg, -0) ? '-0' : String(arg)
  if (typeof arg === 'string' || typeof arg === 'boolean' || typeof arg === 'bigint') return String(arg)
  if (Array.isArray(arg)) return `[${arg.map(argKey).join(',')}]`
  if (arg instanceof DType) return arg.name
  // a symbolic size inside a movement op's arg: the expression's structural key
  if (arg instanceof UOp) return `$${arg.key}`
  if (typeof arg === 'object') {
    const o = arg as Record<string, unknown>
    // BufferRef: identity is its id
    if (typeof o.id === 'number' && 'device' in o && 'size' in o) return `buf${o.id}`
    // (functions are identities, not structure: a CUSTOM_GRAD's arg is keyed by its unique tag)
    return `{${Object.keys(o)
      .filter((k) => typeof o[k] !== 'function')
      .sort()
      .map((k) => `${k}:${argKey(o[k])}`)
      .join(',')}}`
  }
  throw new Error(`cannot intern arg ${String(arg)}`)
}

export class UOp {
  /** process-local unique id (interning order) */
  readonly id: number
  /** `key`, computed on first use: most tensor-graph nodes (an eager op's) never need it */
  private _key: string | undefined = undefined
  /** shape for tensor-graph nodes (undefined for kernel-IR nodes); sizes may be symbolic */
  readonly shape: readonly sint[] | undefined
  /** a variable (DEFINE_VAR or BIND) is in this node's graph or args: realize takes the bound values out */
  readonly hasVars: boolean
  private _vrange: [number, number] | undefined
  private _device: string | undefined
  /** interned nodes whose first source is this one (see interning above) */
  private users: Users | undefined
  /** whether a CUSTOM_GRAD is among this node and its forward sources (the scheduler strips them) */
  readonly hasCustomGrad: boolean

  private constructor(
    readonly op: Op,
    readonly dtype: DType,
    readonly src: readonly UOp[],
    readonly arg: unknown,
    /** `argKey(arg)`: the arg as interned (a BUFFER's is its buffer's id) */
    readonly argKey: string,
    shape: readonly sint[] | undefined,
  ) {
    this.id = nextId++
    this.hasVars =
      op === Ops.DEFINE_VAR ||
      op === Ops.BIND ||
      src.some((x) => x.hasVars) ||
      (Array.isArray(arg) || (typeof arg === 'object' && arg !== null && 'pads' in arg)
        ? argHasUOp(arg)
        : false)
    this.shape = shape
    this.hasCustomGrad = op === Ops.CUSTOM_GRAD || forwardSrc(this).some((x) => x.hasCustomGrad)
  }

  /** stable structural hash, the same across processes for the same graph */
  get key(): string {
    return this._key ?? UOp.computeKey(this)
  }

  /** The keys of `root` and of every source without one, sources first (a loop: graphs are deep). */
  private static computeKey(root: UOp): string {
    const stack: UOp[] = [root]
    while (stack.length) {
      const u = stack[stack.length - 1]!
      if (u._key !== undefined) {
        stack.pop()
        continue
      }
      let ready = true
      for (const x of u.src)
        if (x._key === undefined) {
          stack.push(x)
          ready = false
        }
      if (!ready) continue
      let s = `${u.op}|${u.dtype.name}|${u.argKey}`
      for (const x of u.src) s += `|${x._key}`
      u._key = hash53(s).toString(36)
      stack.pop()
    }
    return root._key!
  }

  static new(op: Op, dtype: DType, src: readonly UOp[] = [], arg?: unknown): UOp {
    const ak = argKey(arg)
    const ident = identityArg(arg)
    if (ident) {
      const k = [op, dtype.name, src.length].join('|')
      let users = usersOfIdentity(ident)
      const hit = lookup(users, k, src, 0)
      if (hit) return hit
      const u = new UOp(op, dtype, src, arg, ak, inferShape(op, src, arg))
      if (!users) setUsersOfIdentity(ident, (users = new Map()))
      store(users, k, src, 0, u)
      return u
    }
    if (src.length === 0 || op === Ops.CONST) {
      // a constant of the tensor graph (its source is a DEVICE) is a leaf too: a loop that makes a
      // new value every step (a decaying factor) must not keep each one and what is built from it
      const k = [op, dtype.name, ak, ...src.map((x) => x.id)].join('|')
      const hit = leaves.get(k)?.deref()
      if (hit) return hit
      const u = new UOp(op, dtype, src, arg, ak, inferShape(op, src, arg))
      leaves.set(k, new WeakRef(u))
      leafCleanup.register(u, k)
      if (leaves.size > leavesSwept) sweepLeaves()
      return u
    }
    // joined, not concatenated: a key kept in a table stays one flat string, not a rope of parts
    const k = [op, dtype.name, ak, src.length].join('|')
    const first = src[0]!
    const hit = lookup(first.users, k, src, 1)
    if (hit) return hit
    const u = new UOp(op, dtype, src, arg, ak, inferShape(op, src, arg))
    store((first.users ??= new Map()), k, src, 1, u)
    return u
  }

  replace(p: { op?: Op; dtype?: DType; src?: readonly UOp[]; arg?: unknown }): UOp {
    return UOp.new(p.op ?? this.op, p.dtype ?? this.dtype, p.src ?? this.src, 'arg' in p ? p.arg : this.arg)
  }

  // ---- constructors ----
  static const(dtype: DType, v: number): UOp {
    return UOp.new(Ops.CONST, dtype, [], normConst(v, dtype))
  }
  constLike(v: number): UOp {
    return UOp.const(this.dtype, v)
  }
  /** A loop index 0..end-1; `dtype` is the kernel's index dtype (int64 when sizes pass 2^30). */
  static range(end: number | UOp, id: number, kind: RangeArg['kind'], dtype: DType = dtypes.int32): UOp {
    const e = typeof end === 'number' ? UOp.const(dtype, end) : end
    return UOp.new(Ops.RANGE, dtype, [e], { id, kind })
  }

  /** An integer variable for symbolic shapes (`Variable` in the public API). */
  static variable(name: string, min: number, max: number): UOp {
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new TsgradError(`Variable: the name must be an identifier, got ${JSON.stringify(name)}`)
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min || max > 2 ** 31 - 1)
      throw new TsgradError(
        `Variable ${name}: min and max must be integers with 0 <= min <= max < 2^31, got [${min}, ${max}]`,
      )
    const arg: VarArg = { name, min, max }
    return UOp.new(Ops.DEFINE_VAR, dtypes.int32, [], arg)
  }
  /** This variable with a value (BIND), checked against its range. */
  bind(value: number): UOp {
    if (this.op !== Ops.DEFINE_VAR)
      throw new TsgradError(`bind: only a Variable can be bound, got a ${this.op} node`)
    const { name, min, max } = this.arg as VarArg
    if (!Number.isInteger(value) || value < min || value > max)
      throw new TsgradError(`bind: Variable ${name} takes integers in [${min}, ${max}], got ${String(value)}`)
    return UOp.new(Ops.BIND, this.dtype, [this, UOp.const(this.dtype, value)])
  }
  /** A BIND's variable and value; a DEFINE_VAR alone has no value. */
  unbind(): [UOp, number] {
    if (this.op !== Ops.BIND) throw new TsgradError(`unbind: not a bound variable (${this.op})`)
    return [this.src[0]!, this.src[1]!.constValue]
  }

  // ---- ALU builders (kernel IR and index math) ----
  alu(op: Op, ...others: UOp[]): UOp {
    const dt = COMPARISON.has(op) ? dtypes.bool : op === Ops.WHERE ? others[0]!.dtype : this.dtype
    return UOp.new(op, dt, [this, ...others])
  }
  private c(x: UOp | number): UOp {
    return typeof x === 'number' ? this.constLike(x) : x
  }
  add(x: UOp | number): UOp {
    return this.alu(Ops.ADD, this.c(x))
  }
  sub(x: UOp | number): UOp {
    return this.alu(Ops.SUB, this.c(x))
  }
  mul(x: UOp | number): UOp {
    return this.alu(Ops.MUL, this.c(x))
  }
  idiv(x: UOp | number): UOp {
    return this.alu(Ops.IDIV, this.c(x))
  }
  mod(x: UOp | number): UOp {
    return this.alu(Ops.MOD, this.c(x))
  }
  fdiv(x: UOp | number): UOp {
    return this.alu(Ops.FDIV, this.c(x))
  }
  max(x: UOp | number): UOp {
    return this.alu(Ops.MAX, this.c(x))
  }
  neg(): UOp {
    return this.alu(Ops.NEG)
  }
  lt(x: UOp | number): UOp {
    return this.alu(Ops.CMPLT, this.c(x))
  }
  ne(x: UOp | number): UOp {
    return this.alu(Ops.CMPNE, this.c(x))
  }
  eq(x: UOp | number): UOp {
    return this.alu(Ops.CMPEQ, this.c(x))
  }
  and(x: UOp): UOp {
    return this.alu(Ops.AND, x)
  }
  where(a: UOp, b: UOp): UOp {
    return UOp.new(Ops.WHERE, a.dtype, [this, a, b])
  }
  cast(dt: DType): UOp {
    return dt === this.dtype ? this : UOp.new(Ops.CAST, dt, [this])
  }

  /**
   * Device name of a tensor-graph node (walks first sources to a BUFFER/CONST/IOTA/COPY). Cached on
   * every node walked: uncached, each op of a long chain walked the whole chain (quadratic build).
   */
  get device(): string {
    if (this._device !== undefined) return this._device
    const walked: UOp[] = []
    let u: UOp = this
    let d: string
    for (;;) {
      if (u._device !== undefined) {
        d = u._device
        break
      }
      walked.push(u)
      if (u.op === Ops.BUFFER) d = (u.arg as BufferRef).device
      else if (u.op === Ops.COPY) d = u.arg as string
      else if ((u.op === Ops.CONST || u.op === Ops.IOTA) && u.src.length) d = u.src[0]!.arg as string
      else if (u.src.length === 0) throw new Error(`no device for ${u.op}`)
      else {
        u = u.src[u.op === Ops.WHERE ? 1 : 0]!
        continue
      }
      break
    }
    for (const w of walked) w._device = d
    return d
  }

  /**
   * The BUFFER under a chain of RESHAPEs, if this node is a contiguous view of a whole buffer (a
   * CUSTOM_GRAD over such a view, a realized tensor that keeps its graph for autograd, is one too).
   */
  /** The node under this node's movement ops and DETACHs (a BUFFER for a view of a buffer). */
  get viewBase(): UOp {
    let u: UOp = this
    while (MOVEMENT.has(u.op) || u.op === Ops.DETACH) u = u.src[0]!
    return u
  }

  get contiguousBase(): UOp | undefined {
    let u: UOp = this
    while (u.op === Ops.RESHAPE || u.op === Ops.CUSTOM_GRAD) u = u.src[0]!
    return u.op === Ops.BUFFER ? u : undefined
  }

  get isConst(): boolean {
    return this.op === Ops.CONST
  }
  get constValue(): number {
    return this.arg as number
  }

  /** Value range [vmin, vmax] of an integer/bool expression (for symbolic folding). */
  get vrange(): [number, number] {
    if (this._vrange === undefined) this._vrange = computeVRange(this)
    return this._vrange
  }
  get vmin(): number {
    return this.vrange[0]
  }
  get vmax(): number {
    return this.vrange[1]
  }

  toString(): string {
    return `UOp(${this.op}, ${this.dtype.name}${this.arg !== undefined ? `, arg=${argKey(this.arg)}` : ''}, src=[${this.src.map((s) => `#${s.id}`).join(',')}])`
  }
}

function argHasUOp(arg: unknown): boolean {
  if (arg instanceof UOp) return true
  if (Array.isArray(arg)) return arg.some(argHasUOp)
  if (typeof arg === 'object' && arg !== null && 'pads' in arg) return argHasUOp((arg as PadArg).pads)
  return false
}

/** A constant's value as its dtype stores it (the arg of its CONST). */
export function normConst(v: number, dt: DType): number {
  if (dt.isBool) return v ? 1 : 0
  // a float constant is a value of its dtype (3.7 in a float32 graph is 3.7f), on every backend
  if (dt.isFloat) return roundToDType(v, dt)
  if (dt.isInt && Number.isFinite(v)) return Math.trunc(v)
  return v
}

// ---- value ranges (for index math) ----

function computeVRange(u: UOp): [number, number] {
  const dt = u.dtype
  const full: [number, number] = dt.isBool
    ? [0, 1]
    : dt.isInt
      ? [dt.isUnsigned ? 0 : -(2 ** (dt.bits - 1)), 2 ** (dt.isUnsigned ? dt.bits : dt.bits - 1) - 1]
      : [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]
  if (u.op === Ops.CONST) return [u.constValue, u.constValue]
  if (u.op === Ops.RANGE) return [0, u.src[0]!.vmax - 1]
  if (u.op === Ops.IOTA) return [0, (u.arg as number) - 1]
  // a variable ranges over [min, max], bound or not: simplification must not depend on the value
  if (u.op === Ops.DEFINE_VAR) return [(u.arg as VarArg).min, (u.arg as VarArg).max]
  if (u.op === Ops.BIND) return u.src[0]!.vrange
  if (!dt.isInt && !dt.isBool) return full
  const s = u.src
  const [a0, a1] = s[0] ? s[0].vrange : [0, 0]
  const [b0, b1] = s[1] ? s[1].vrange : [0, 0]
  let r: [number, number] | undefined
  switch (u.op) {
    case Ops.ADD:
      r = [a0 + b0, a1 + b1]
      break
    case Ops.SUB:
      r = [a0 - b1, a1 - b0]
      break
    case Ops.NEG:
      // NEG of a bool is logical not
      r = dt.isBool ? [1 - a1, 1 - a0] : [-a1, -a0]
      break
    case Ops.MUL: {
      const c = [a0 * b0, a0 * b1, a1 * b0, a1 * b1]
      r = [Math.min(...c), Math.max(...c)]
      break
    }
    case Ops.IDIV:
      if (b0 === b1 && b0 > 0) r = [Math.trunc(a0 / b0), Math.trunc(a1 / b0)]
      break
    case Ops.MOD:
      if (b0 === b1 && b0 > 0) r = a0 >= 0 ? [0, Math.min(a1, b0 - 1)] : [-(b0 - 1), b0 - 1]
      break
    case Ops.MAX:
      r = [Math.max(a0, b0), Math.max(a1, b1)]
      break
    case Ops.CMPLT:
      r = a1 < b0 ? [1, 1] : a0 >= b1 ? [0, 0] : [0, 1]
      break
    case Ops.CMPNE:
      r = a1 < b0 || a0 > b1 ? [1, 1] : a0 === a1 && b0 === b1 && a0 === b0 ? [0, 0] : [0, 1]
      break
    case Ops.CMPEQ:
      r = a1 < b0 || a0 > b1 ? [0, 0] : a0 === a1 && b0 === b1 && a0 === b0 ? [1, 1] : [0, 1]
      break
    case Ops.AND:
      if (dt.isBool) r = [Math.min(a0, b0), Math.min(a1, b1)]
      break
    case Ops.OR:
      if (dt.isBool) r = [Math.max(a0, b0), Math.max(a1, b1)]
      break
    case Ops.AFTER:
      r = [a0, a1]
      break
    case Ops.WHERE: {
      const [c0, c1] = s[2]!.vrange
      r = a0 === 1 ? [b0, b1] : a1 === 0 ? [c0, c1] : [Math.min(b0, c0), Math.max(b1, c1)]
      break
    }
    case Ops.CAST:
      if (s[0]!.dtype.isInt || s[0]!.dtype.isBool) r = [a0, a1]
      break
  }
  if (!r || !(r[0] >= full[0] && r[1] <= full[1])) return full
  return r
}
