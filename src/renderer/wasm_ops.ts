// The WebAssembly renderer's instruction emitters: one kernel function's locals and body, and the
// code for loads, stores, casts and ALU ops with the JS reference renderer's semantics (see wasm.ts).
import { bf16BitsToF32, type DType, dtypes, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../dtype.js'
import { ACC_SET, type Op, Ops, type UOp } from '../uop/ops.js'
import { Code, F32, F64, type FuncImport, type FuncType, I32, I64, op, type ValType } from './wasm_encoder.js'
import { type LoopPointer, splitConstant } from './wasm_pointers.js'

/** Helpers imported from JavaScript (same functions as the JS device uses: same results). */
export const WASM_IMPORTS: Record<string, { type: FuncType; fn: (...a: never[]) => unknown }> = {}
const f64f64: FuncType = { params: [F64], results: [F64] }
function jsImport(name: string, type: FuncType, fn: (...a: never[]) => unknown): void {
  WASM_IMPORTS[name] = { type, fn }
}
jsImport('exp', f64f64, Math.exp)
jsImport('log', f64f64, Math.log)
jsImport('log2', f64f64, Math.log2)
jsImport('sin', f64f64, Math.sin)
jsImport('cos', f64f64, Math.cos)
jsImport('tanh', f64f64, Math.tanh)
jsImport('pow', { params: [F64, F64], results: [F64] }, (a: number, b: number) => a ** b)
jsImport('fmod', { params: [F64, F64], results: [F64] }, (a: number, b: number) => a % b)
jsImport('f2h', { params: [F32], results: [I32] }, f32ToF16Bits)
jsImport('h2f', { params: [I32], results: [F32] }, f16BitsToF32)
jsImport('f2b', { params: [F32], results: [I32] }, f32ToBf16Bits)
jsImport('rbf16', { params: [F32], results: [F32] }, (v: number) => bf16BitsToF32(f32ToBf16Bits(v)))
jsImport('toi32', { params: [F64], results: [I32] }, (v: number) => v | 0)
jsImport('toi64', { params: [F64], results: [I64] }, (v: number) =>
  Number.isFinite(v) ? BigInt.asIntN(64, BigInt(Math.trunc(v))) : 0n,
)

/** The wasm value type holding a dtype's values. */
export function valType(dt: DType): ValType {
  if (dt.name === 'int64') return I64
  if (dt.name === 'float64') return F64
  if (dt.isFloat) return F32
  return I32
}

const isHalf = (dt: DType): boolean => dt.name === 'float16' || dt.name === 'bfloat16'
const log2Size = (dt: DType): number => Math.log2(dt.itemsize)

/** Constant index terms below this many bytes fold into a load's or store's memarg offset. */
export const MAX_FOLDED_OFFSET = 65536
/**
 * Byte address of the int32 a threaded kernel's threads take chunks of its THREAD loop from
 * (i32.atomic.rmw.add), set to 0 before each launch: below MAX_FOLDED_OFFSET, where no buffer is.
 */
export const THREAD_COUNTER = 64
/** Chunks per thread a THREAD loop is cut into (a late or descheduled thread's share is taken by the others). */
export const CHUNKS_PER_THREAD = 8

/** Everything one kernel function is built from: locals, imports used, the body. */
export class KernelCode {
  readonly code = new Code()
  readonly locals: ValType[] = []
  readonly params: ValType[] = []
  readonly local = new Map<UOp, number>()
  private readonly imports: string[] = []
  /** the running pointers of the innermost loop being emitted */
  private pointers: (LoopPointer & { local: number; loop: UOp })[] = []

  newLocal(t: ValType): number {
    return this.params.length + this.locals.push(t) - 1
  }
  /** the function index of an imported JS helper */
  imp(name: string): number {
    let i = this.imports.indexOf(name)
    if (i < 0) i = this.imports.push(name) - 1
    return i
  }
  get importList(): FuncImport[] {
    return this.imports.map((n) => ({ module: 'js', name: n, type: WASM_IMPORTS[n]!.type }))
  }
  /** push a node's value: a constant, or its local */
  push(u: UOp): void {
    if (u.op === Ops.CONST) this.constant(u.constValue, u.dtype)
    else {
      const l = this.local.get(u)
      if (l === undefined) throw new Error(`WASM renderer: ${u.op} used before it was defined`)
      this.code.get(l)
    }
  }
  constant(v: number, dt: DType): void {
    const t = valType(dt)
    if (t === F32) this.code.f32c(v)
    else if (t === F64) this.code.f64c(v)
    else if (t === I64) this.code.i64(BigInt(Math.trunc(Math.max(-(2 ** 63), Math.min(2 ** 63 - 1, v)))))
    else this.code.i32(dt.isBool ? (v ? 1 : 0) : v)
  }
  /** push a node's value converted to wasm type `t` (integers only: index math mixing widths) */
  pushAs(u: UOp, t: ValType): void {
    this.push(u)
    const from = valType(u.dtype)
    if (from === t) return
    if (from === I32 && t === I64)
      this.code.o(u.dtype.isUnsigned || u.dtype.isBool ? op.i64_extend_i32_u : op.i64_extend_i32_s)
    else if (from === I64 && t === I32) this.code.o(op.i32_wrap_i64)
    else throw new Error(`WASM renderer: cannot use ${u.dtype.name} as ${t}`)
  }
  /**
   * Push the byte address of element `idx` of buffer `buf`, returning the constant byte offset for
   * the access's memarg: a constant index, or the constant term of `x + c` (then only `x` is
   * computed, so loads at x, x+1, ... of one row share one address). Folding `x + c` is exact
   * because `buf + x*size` cannot wrap below 0: every buffer starts at or above
   * MAX_FOLDED_OFFSET (runtime/wasm_memory.ts) and the folded offset is smaller.
   */
  address(buf: UOp, idx: UOp, dt: DType): number {
    if (idx.op === Ops.CONST && idx.constValue >= 0 && idx.constValue * dt.itemsize < 2 ** 31) {
      this.push(buf)
      return idx.constValue * dt.itemsize
    }
    let { x, bytes } = splitConstant(idx, dt, MAX_FOLDED_OFFSET, isInt32)
    // the innermost loop's running pointer for this index (wasm_pointers.ts)
    const ptr = this.pointers.find((p) => p.buf === buf && p.index === x && p.itemsize === dt.itemsize)
    if (ptr) {
      this.code.get(ptr.local)
      return bytes
    }
    if (!this.local.has(x)) [x, bytes] = [idx, 0]
    this.push(buf)
    this.pushAs(x, I32)
    if (dt.itemsize > 1) this.code.i32(log2Size(dt)).o(op.i32_shl)
    this.code.o(op.i32_add)
    return bytes
  }

  /**
   * Before innermost loop `r` starts: its running pointers (wasm_pointers.ts) set to their first
   * step's address, those whose invariant terms all have values here.
   */
  startPointers(r: UOp, planned: readonly LoopPointer[]): void {
    const c = this.code
    for (const p of planned) {
      if (!p.invariant.every((t) => t.op === Ops.CONST || this.local.has(t))) continue
      const local = this.newLocal(I32)
      this.push(p.buf)
      if (p.invariant.length) {
        p.invariant.forEach((t, i) => {
          this.pushAs(t, I32)
          if (i > 0) c.o(op.i32_add)
        })
        if (p.itemsize > 1) c.i32(Math.log2(p.itemsize)).o(op.i32_shl)
        c.o(op.i32_add)
      }
      c.set(local)
      this.pointers.push({ ...p, local, loop: r })
    }
  }

  /** At the end of a step of loop `r`: its pointers advanced; after its last step, dropped. */
  advancePointers(r: UOp): void {
    for (const p of this.pointers)
      if (p.loop === r)
        this.code
          .get(p.local)
          .i32(p.stride * p.itemsize)
          .o(op.i32_add)
          .set(p.local)
  }
  endPointers(r: UOp): void {
    this.pointers = this.pointers.filter((p) => p.loop !== r)
  }
}

const isInt32 = (u: UOp): boolean => valType(u.dtype) === I32

/** Re-wrap an i32 on the stack to the width of `dt`. */
export function wrap(c: Code, dt: DType): void {
  if (dt.name === 'int8') c.o(op.i32_extend8_s)
  else if (dt.name === 'int16') c.o(op.i32_extend16_s)
  else if (dt.name === 'uint8') c.i32(255).o(op.i32_and)
  else if (dt.name === 'uint16') c.i32(65535).o(op.i32_and)
}

/** Round an f32 on the stack holding a float16/bfloat16 result to that dtype. */
function roundHalf(k: KernelCode, dt: DType): void {
  if (dt.name === 'float16') k.code.call(k.imp('f2h')).call(k.imp('h2f'))
  else if (dt.name === 'bfloat16') k.code.call(k.imp('rbf16'))
}

/** Load a dtype's value from the address on the stack (constant offset `off`). */
export function emitLoad(k: KernelCode, dt: DType, off: number): void {
  const c = k.code
  switch (dt.name) {
    case 'float32':
      c.mem(op.f32_load, 2, off)
      return
    case 'float64':
      c.mem(op.f64_load, 3, off)
      return
    case 'int64':
      c.mem(op.i64_load, 3, off)
      return
    case 'int32':
    case 'uint32':
      c.mem(op.i32_load, 2, off)
      return
    case 'int16':
      c.mem(op.i32_load16_s, 1, off)
      return
    case 'uint16':
      c.mem(op.i32_load16_u, 1, off)
      return
    case 'int8':
      c.mem(op.i32_load8_s, 0, off)
      return
    case 'uint8':
      c.mem(op.i32_load8_u, 0, off)
      return
    case 'bool':
      c.mem(op.i32_load8_u, 0, off).i32(0).o(op.i32_ne)
      return
    case 'float16':
      c.mem(op.i32_load16_u, 1, off).call(k.imp('h2f'))
      return
    case 'bfloat16':
      c.mem(op.i32_load16_u, 1, off).i32(16).o(op.i32_shl, op.f32_reinterpret_i32)
      return
  }
  throw new Error(`WASM renderer: no load for ${dt.name}`)
}

/** Store the value on the stack (above its address) as `dt`. */
export function emitStore(k: KernelCode, dt: DType, off: number): void {
  const c = k.code
  switch (dt.name) {
    case 'float32':
      c.mem(op.f32_store, 2, off)
      return
    case 'float64':
      c.mem(op.f64_store, 3, off)
      return
    case 'int64':
      c.mem(op.i64_store, 3, off)
      return
    case 'int32':
    case 'uint32':
      c.mem(op.i32_store, 2, off)
      return
    case 'int16':
    case 'uint16':
      c.mem(op.i32_store16, 1, off)
      return
    case 'int8':
    case 'uint8':
    case 'bool':
      c.mem(op.i32_store8, 0, off)
      return
    case 'float16':
      c.call(k.imp('f2h')).mem(op.i32_store16, 1, off)
      return
    case 'bfloat16':
      c.call(k.imp('f2b')).mem(op.i32_store16, 1, off)
      return
  }
  throw new Error(`WASM renderer: no store for ${dt.name}`)
}

/** Convert the f64 on the stack to an int dtype the way JS does (ToInt32 / truncation; NaN, inf -> 0). */
function f64ToInt(k: KernelCode, to: DType): void {
  const c = k.code
  if (to.name === 'int64') {
    c.call(k.imp('toi64'))
    return
  }
  // in range: a plain truncation; otherwise JS's modular ToInt32 (imported)
  const t = k.newLocal(F64)
  c.tee(t)
    .o(op.f64_abs)
    .f64c(2 ** 31)
    .o(op.f64_lt)
  c.o(op.if, I32).get(t).fc(6).o(op.i32_wrap_i64).o(op.else).get(t).call(k.imp('toi32')).o(op.end)
  wrap(c, to)
}

/** Cast the value on the stack from `from` to `to` with the JS renderer's semantics. */
export function emitCast(k: KernelCode, from: DType, to: DType): void {
  const c = k.code
  if (from === to) return
  const ft = valType(from)
  if (to.isBool) {
    if (from.isBool) return
    if (ft === F32) c.f32c(0).o(op.f32_ne)
    else if (ft === F64) c.f64c(0).o(op.f64_ne)
    else if (ft === I64) c.i64(0n).o(op.i64_ne)
    else c.i32(0).o(op.i32_ne)
    return
  }
  const signed = !(from.isUnsigned || from.isBool)
  if (to.isFloat) {
    if (to.name === 'float64') {
      if (ft === F32) c.o(op.f64_promote_f32)
      else if (ft === I32) c.o(signed ? op.f64_convert_i32_s : op.f64_convert_i32_u)
      else if (ft === I64) c.o(op.f64_convert_i64_s)
      return
    }
    // to f32 (then rounded to a half type)
    if (ft === F64) c.o(op.f32_demote_f64)
    else if (ft === I32) c.o(signed ? op.f32_convert_i32_s : op.f32_convert_i32_u)
    // int64 -> double -> float32, as JS does (two roundings)
    else if (ft === I64) c.o(op.f64_convert_i64_s, op.f32_demote_f64)
    if (isHalf(to) && !(ft === F32 && to.name === from.name)) roundHalf(k, to)
    return
  }
  // to an integer
  if (ft === F32 || ft === F64) {
    if (ft === F32) c.o(op.f64_promote_f32)
    f64ToInt(k, to)
    return
  }
  if (to.name === 'int64') {
    if (ft === I32) c.o(signed ? op.i64_extend_i32_s : op.i64_extend_i32_u)
    return
  }
  if (ft === I64) c.o(op.i32_wrap_i64)
  wrap(c, to)
}

/** Reinterpret the bits of the value on the stack (same storage size) as `to`. */
function emitBitcast(k: KernelCode, from: DType, to: DType): void {
  const c = k.code
  // to raw bits (i32 with the bits in the low itemsize bytes, or i64)
  if (from.name === 'float32') c.o(op.i32_reinterpret_f32)
  else if (from.name === 'float64') c.o(op.i64_reinterpret_f64)
  else if (from.name === 'float16') c.call(k.imp('f2h'))
  else if (from.name === 'bfloat16') c.o(op.i32_reinterpret_f32).i32(16).o(op.i32_shr_u)
  else if (from.isBool) throw new Error('WASM renderer: bitcast from bool')
  if (to.name === 'float32') c.o(op.f32_reinterpret_i32)
  else if (to.name === 'float64') c.o(op.f64_reinterpret_i64)
  else if (to.name === 'float16') c.i32(65535).o(op.i32_and).call(k.imp('h2f'))
  else if (to.name === 'bfloat16') c.i32(16).o(op.i32_shl, op.f32_reinterpret_i32)
  else wrap(c, to)
}

/** Integer division or modulo with the JS results: by 0 -> 0, INT_MIN / -1 wraps. */
function emitIntDivMod(k: KernelCode, u: UOp, isDiv: boolean): void {
  const c = k.code
  const dt = u.dtype
  const [x, y] = [u.src[0]!, u.src[1]!]
  const t = valType(dt)
  const unsigned = dt.isUnsigned && dt.bits === 32
  const o =
    t === I64
      ? isDiv
        ? op.i64_div_s
        : op.i64_rem_s
      : isDiv
        ? unsigned
          ? op.i32_div_u
          : op.i32_div_s
        : unsigned
          ? op.i32_rem_u
          : op.i32_rem_s
  // a constant divisor other than 0 and -1 needs no guards (index math: x // 32, x % 34)
  if (y.op === Ops.CONST && y.constValue !== 0 && (y.constValue !== -1 || unsigned)) {
    k.push(x)
    k.push(y)
    c.o(o)
    if (t === I32) wrap(c, dt)
    return
  }
  const zero = (): void => {
    if (t === I64) c.i64(0n)
    else c.i32(0)
  }
  // y == 0 ? 0 : y == -1 && div ? -x : x op y
  k.push(y)
  if (t === I64) c.o(op.i64_eqz)
  else c.o(op.i32_eqz)
  c.o(op.if, t)
  zero()
  c.o(op.else)
  if (isDiv && !unsigned) {
    k.push(y)
    if (t === I64) c.i64(-1n).o(op.i64_eq)
    else c.i32(-1).o(op.i32_eq)
    c.o(op.if, t)
    zero()
    k.push(x)
    c.o(t === I64 ? op.i64_sub : op.i32_sub)
    c.o(op.else)
    k.push(x)
    k.push(y)
    c.o(o)
    c.o(op.end)
  } else {
    k.push(x)
    k.push(y)
    c.o(o)
  }
  c.o(op.end)
  if (t === I32) wrap(c, dt)
}

/** Push an f32/f64 value as f64 (for the helpers JS computes in double). */
function pushF64(k: KernelCode, u: UOp): void {
  k.push(u)
  if (valType(u.dtype) === F32) k.code.o(op.f64_promote_f32)
  else if (valType(u.dtype) !== F64) emitCast(k, u.dtype, dtypes.float64)
}

/** Back from f64 to the node's float type, rounded like the JS renderer. */
function fromF64(k: KernelCode, dt: DType): void {
  if (valType(dt) === F32) {
    k.code.o(op.f32_demote_f64)
    if (isHalf(dt)) roundHalf(k, dt)
  }
}

/** Compare ops by operand type. */
function emitCompare(k: KernelCode, u: UOp): void {
  const c = k.code
  const sdt = u.src[0]!.dtype
  const t = valType(sdt)
  k.push(u.src[0]!)
  k.push(u.src[1]!)
  const unsigned = sdt.isUnsigned || sdt.isBool
  if (u.op === Ops.CMPLT) {
    if (t === F32) c.o(op.f32_lt)
    else if (t === F64) c.o(op.f64_lt)
    else if (t === I64) c.o(op.i64_lt_s)
    else c.o(unsigned ? op.i32_lt_u : op.i32_lt_s)
    return
  }
  const eq = u.op === Ops.CMPEQ
  if (t === F32) c.o(eq ? op.f32_eq : op.f32_ne)
  else if (t === F64) c.o(eq ? op.f64_eq : op.f64_ne)
  else if (t === I64) c.o(eq ? op.i64_eq : op.i64_ne)
  else c.o(eq ? op.i32_eq : op.i32_ne)
}

const BINARY: Partial<Record<Op, [number, number, number, number]>> = {
  // i32, i64, f32, f64
  [Ops.ADD]: [op.i32_add, op.i64_add, op.f32_add, op.f64_add],
  [Ops.SUB]: [op.i32_sub, op.i64_sub, op.f32_sub, op.f64_sub],
  [Ops.MUL]: [op.i32_mul, op.i64_mul, op.f32_mul, op.f64_mul],
  [Ops.FDIV]: [op.i32_div_s, op.i64_div_s, op.f32_div, op.f64_div],
  [Ops.AND]: [op.i32_and, op.i64_and, 0, 0],
  [Ops.OR]: [op.i32_or, op.i64_or, 0, 0],
  [Ops.XOR]: [op.i32_xor, op.i64_xor, 0, 0],
}
const typeSlot = (t: ValType): number => (t === I32 ? 0 : t === I64 ? 1 : t === F32 ? 2 : 3)

const UNARY_IMPORT: Partial<Record<Op, string>> = {
  [Ops.EXP]: 'exp',
  [Ops.LOG]: 'log',
  [Ops.LOG2]: 'log2',
  [Ops.SIN]: 'sin',
  [Ops.COS]: 'cos',
  [Ops.TANH]: 'tanh',
}

/** 1/n! for n = 0..11: exp(r) on |r| <= ln2/2 to ~1e-14, so float32 results round like JS's. */
export const EXP_POLY = Array.from(
  { length: 12 },
  (_, n) => 1 / Array.from({ length: n }, (_, i) => i + 1).reduce((a, b) => a * b, 1),
)

/**
 * exp (or exp2) of the f64 on the stack, in double, inline: x = k ln2 + r, a degree-11 polynomial
 * for exp(r), times 2^k built from bits. For float32 (and half) results only: x is clamped to where
 * float32 results stop changing (NaN passes through), and the double result then rounds once to
 * float32, as JS rounds Math.exp; about 1e-14 relative error, so results equal JS's except when
 * the exact value lies within that of a float32 rounding boundary. Replaces an imported Math.exp
 * call per element (softmax: most of its time).
 */
function emitExpF64(k: KernelCode, base2: boolean): void {
  const c = k.code
  const x = k.newLocal(F64)
  const n = k.newLocal(F64)
  const r = k.newLocal(F64)
  c.f64c(base2 ? 129 : 89)
    .o(op.f64_min)
    .f64c(base2 ? -152 : -104)
    .o(op.f64_max)
    .tee(x)
  if (!base2) c.f64c(Math.LOG2E).o(op.f64_mul)
  c.o(op.f64_nearest).set(n)
  // r = x - n ln2 (exp) or (x - n) ln2 (exp2)
  if (base2) c.get(x).get(n).o(op.f64_sub).f64c(Math.LN2).o(op.f64_mul).set(r)
  else c.get(x).get(n).f64c(Math.LN2).o(op.f64_mul, op.f64_sub).set(r)
  c.f64c(EXP_POLY[11]!)
  for (let i = 10; i >= 0; i--) c.get(r).o(op.f64_mul).f64c(EXP_POLY[i]!).o(op.f64_add)
  // 2^n from its exponent bits (n is within [-152, 129]: a normal double)
  c.get(n).fc(6).i64(1023n).o(op.i64_add).i64(52n).o(op.i64_shl, op.f64_reinterpret_i64, op.f64_mul)
}

/** Push the value of ALU node `u` (operands are locals or constants). */
export function emitAlu(k: KernelCode, u: UOp): void {
  const c = k.code
  const dt = u.dtype
  const t = valType(dt)
  const [x, y, z] = u.src as [UOp, UOp | undefined, UOp | undefined]
  const float = dt.isFloat
  switch (u.op) {
    case Ops.NEG:
      if (dt.isBool) {
        k.push(x)
        c.o(op.i32_eqz)
      } else if (float) {
        k.push(x)
        c.o(t === F32 ? op.f32_neg : op.f64_neg)
      } else {
        if (t === I64) c.i64(0n)
        else c.i32(0)
        k.push(x)
        c.o(t === I64 ? op.i64_sub : op.i32_sub)
        if (t === I32) wrap(c, dt)
      }
      return
    case Ops.EXP:
    case Ops.EXP2:
      if (t === F32) {
        pushF64(k, x)
        emitExpF64(k, u.op === Ops.EXP2)
        fromF64(k, dt)
        return
      }
      if (u.op === Ops.EXP2) {
        c.f64c(2)
        pushF64(k, x)
        c.call(k.imp('pow'))
        fromF64(k, dt)
        return
      }
      pushF64(k, x)
      c.call(k.imp('exp'))
      return
    case Ops.LOG:
    case Ops.LOG2:
    case Ops.SIN:
    case Ops.COS:
    case Ops.TANH:
      pushF64(k, x)
      c.call(k.imp(UNARY_IMPORT[u.op]!))
      fromF64(k, dt)
      return
    case Ops.SQRT:
      k.push(x)
      c.o(t === F32 ? op.f32_sqrt : op.f64_sqrt)
      if (isHalf(dt)) roundHalf(k, dt)
      return
    case Ops.RECIP:
      k.constant(1, dt)
      k.push(x)
      c.o(t === F32 ? op.f32_div : op.f64_div)
      if (isHalf(dt)) roundHalf(k, dt)
      return
    case Ops.TRUNC:
      k.push(x)
      if (t === F32) c.o(op.f32_trunc)
      else if (t === F64) c.o(op.f64_trunc)
      return
    case Ops.CAST:
      k.push(x)
      emitCast(k, x.dtype, dt)
      return
    case Ops.BITCAST:
      k.push(x)
      emitBitcast(k, x.dtype, dt)
      return
    case Ops.ADD:
    case Ops.SUB:
    case Ops.MUL:
    case Ops.FDIV:
    case Ops.AND:
    case Ops.OR:
    case Ops.XOR: {
      if (dt.isBool && (u.op === Ops.ADD || u.op === Ops.MUL)) {
        k.push(x)
        k.push(y!)
        c.o(u.op === Ops.ADD ? op.i32_or : op.i32_and)
        return
      }
      k.push(x)
      k.pushAs(y!, t === I64 || t === I32 ? t : valType(y!.dtype))
      c.o(BINARY[u.op]![typeSlot(t)]!)
      if (t === I32) wrap(c, dt)
      else if (isHalf(dt)) roundHalf(k, dt)
      return
    }
    case Ops.IDIV:
      if (float) {
        pushF64(k, x)
        pushF64(k, y!)
        c.o(op.f64_div, op.f64_trunc)
        fromF64(k, dt)
      } else emitIntDivMod(k, u, true)
      return
    case Ops.MOD:
      if (float) {
        pushF64(k, x)
        pushF64(k, y!)
        c.call(k.imp('fmod'))
        fromF64(k, dt)
      } else emitIntDivMod(k, u, false)
      return
    case Ops.MAX:
      if (dt.isBool) {
        k.push(x)
        k.push(y!)
        c.o(op.i32_or)
      } else if (float) {
        k.push(x)
        k.push(y!)
        c.o(t === F32 ? op.f32_max : op.f64_max)
      } else {
        k.push(x)
        k.push(y!)
        k.push(x)
        k.push(y!)
        c.o(t === I64 ? op.i64_gt_s : dt.isUnsigned && dt.bits === 32 ? op.i32_gt_u : op.i32_gt_s)
        c.o(op.select)
      }
      return
    case Ops.POW:
      pushF64(k, x)
      pushF64(k, y!)
      c.call(k.imp('pow'))
      if (float) fromF64(k, dt)
      else f64ToInt(k, dt)
      return
    case Ops.CMPLT:
    case Ops.CMPNE:
    case Ops.CMPEQ:
      emitCompare(k, u)
      return
    case Ops.SHL:
    case Ops.SHR: {
      k.push(x)
      k.pushAs(y!, t)
      if (t === I64) c.o(u.op === Ops.SHL ? op.i64_shl : op.i64_shr_s)
      else {
        c.o(u.op === Ops.SHL ? op.i32_shl : dt.isUnsigned && dt.bits === 32 ? op.i32_shr_u : op.i32_shr_s)
        wrap(c, dt)
      }
      return
    }
    case Ops.WHERE:
      k.push(y!)
      k.push(z!)
      k.push(x)
      c.o(op.select)
      return
  }
  throw new Error(`WASM renderer: no rendering for ${u.op}`)
}

/** acc = acc op v, as the JS renderer's accUpdate. */
export function emitAccUpdate(k: KernelCode, kind: string, acc: number, v: UOp, dt: DType): void {
  const c = k.code
  const t = valType(dt)
  if (kind === ACC_SET) {
    k.push(v)
    c.set(acc)
    return
  }
  if (dt.isBool) {
    c.get(acc)
    k.push(v)
    c.o(kind === 'MUL' ? op.i32_and : op.i32_or).set(acc)
    return
  }
  if (kind === 'ADD' || kind === 'MUL') {
    c.get(acc)
    k.push(v)
    c.o(BINARY[kind === 'ADD' ? Ops.ADD : Ops.MUL]![typeSlot(t)]!)
    if (t === I32) wrap(c, dt)
    else if (isHalf(dt)) roundHalf(k, dt)
    c.set(acc)
    return
  }
  // MAX
  if (dt.isFloat) {
    c.get(acc)
    k.push(v)
    c.o(t === F32 ? op.f32_max : op.f64_max).set(acc)
    return
  }
  c.get(acc)
  k.push(v)
  c.get(acc)
  k.push(v)
  c.o(t === I64 ? op.i64_gt_s : dt.isUnsigned && dt.bits === 32 ? op.i32_gt_u : op.i32_gt_s)
  c.o(op.select).set(acc)
}
