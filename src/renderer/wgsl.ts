// WGSL renderer: a linear program -> one WebGPU compute shader.
//
// The kernel's output (global) ranges become the invocation grid: one invocation per point of
// their product, its linear id split into the range values innermost-fastest (so neighbouring
// invocations touch neighbouring elements), every other range stays a loop. The first line of the
// source is a `// tsgrad {...}` header the runtime reads: invocations, workgroup size, buffer and
// variable counts. Every buffer is bound read_write (a buffer may be bound twice in one dispatch,
// which WebGPU allows only for one usage), and the variables of symbolic shapes come in one extra
// array<i32> binding after the buffers.
//
// Values: bool is bool; int8/16/32 compute as i32 and uint8/16/32 as u32, wrapped to their width
// after every op (like the JS reference); float32 as f32; float16 as f16 (needs the adapter's
// `shader-f16`). Storage: 32-bit types and f16 as arrays of themselves; bool and 8/16-bit integers
// packed into array<u32> words (the host's little-endian bytes, unchanged), written with atomicAnd
// + atomicOr on the word so invocations writing neighbouring elements never lose each other's bytes.
// No int64, uint64, float64 or bfloat16 (WGSL has none; `unsupportedDTypes`).
//
// Semantics as the JS reference where WGSL allows: integer division and modulo by 0 give 0, float ->
// int casts truncate and wrap modulo 2^32 (non-finite -> 0), MAX propagates NaN (tested on the bit
// pattern: a shader compiler may assume no NaN in comparisons), shift counts masked to 5 bits, POW of
// a negative base with an integer exponent is signed. Differences: float math runs in f32 (JS rounds
// double results), and WGSL's sin/cos/exp/log have the precision the platform gives them.
import { type DType, dtypes } from '../dtype.js'
import type { KernelLimits, OptTarget } from './target.js'
import { type LinearProgram, PANELS_32 } from './target.js'
import { TsgradError } from '../helpers.js'
import { ACC_SET, ALU, type LocalArg, type Op, Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { kernelVars } from '../uop/sint.js'
import type { Renderer } from './renderer.js'
import { ProgramWriter } from './writer.js'

/** What the runtime needs to launch a rendered kernel (the source's first line). */
export interface WGSLLaunch {
  /** invocations to run (the product of the global ranges at their largest) */
  threads: number
  /** workgroup size (x) */
  workgroup: number
  /** buffer bindings 0..nbufs-1, then one binding for the variables if nvars > 0 */
  nbufs: number
  nvars: number
  /** computes in float16 (`enable f16;`): the device must have started with 'shader-f16' */
  f16?: true
}

const HEADER = '// tsgrad '

/** The launch header of a WGSL kernel source. */
export function parseWGSLLaunch(src: string): WGSLLaunch {
  const first = src.slice(0, src.indexOf('\n'))
  if (!first.startsWith(HEADER)) throw new Error('WGSL kernel without a launch header')
  return JSON.parse(first.slice(HEADER.length)) as WGSLLaunch
}

/** dtypes WGSL cannot hold (float16 only with the adapter's shader-f16). */
export function wgslUnsupported(dt: DType, f16: boolean): boolean {
  return (
    dt.name === 'int64' ||
    dt.name === 'float64' ||
    dt.name === 'bfloat16' ||
    dt.name === 'ptr' ||
    (dt.name === 'float16' && !f16)
  )
}

/** ALU ops WGSL renders directly (erf is decomposed to a polynomial first). */
const NATIVE: ReadonlySet<Op> = new Set<Op>([...ALU].filter((op) => op !== Ops.ERF))

const PACKED = new Set(['bool', 'int8', 'uint8', 'int16', 'uint16'])
const isPacked = (dt: DType): boolean => PACKED.has(dt.name)

function unsupported(dt: DType): never {
  if (dt.name === 'float16')
    throw new TsgradError(
      "WEBGPU: dtype float16 needs the adapter's 'shader-f16' feature, which this adapter lacks",
    )
  throw new TsgradError(`WEBGPU: dtype ${dt.name} is not supported by WGSL`)
}

/** WGSL type of a value inside the kernel. */
function valueType(dt: DType): string {
  if (dt.isBool) return 'bool'
  if (dt.name === 'float32') return 'f32'
  if (dt.name === 'float16') return 'f16'
  if (dt.isInt && dt.bits <= 32) return dt.isUnsigned ? 'u32' : 'i32'
  return unsupported(dt)
}

/** Element type of a buffer binding. */
function storageType(dt: DType, atomic: boolean): string {
  if (isPacked(dt)) return atomic ? 'atomic<u32>' : 'u32'
  return valueType(dt)
}

function fmtFloat(v: number): string {
  const s = String(v)
  return /[.eE]/.test(s) ? s : `${s}.0`
}

function literal(v: number, dt: DType): string {
  if (dt.isBool) return v ? 'true' : 'false'
  if (dt.isFloat) {
    const t = valueType(dt)
    // WGSL has no NaN or infinity literals, and rejects them in constant expressions: the bits
    // come from private variables (PRELUDE)
    if (Number.isNaN(v)) return `${t}(bitcast<f32>(nan_))`
    if (v === Number.POSITIVE_INFINITY) return `${t}(bitcast<f32>(inf_))`
    if (v === Number.NEGATIVE_INFINITY) return `${t}(bitcast<f32>(ninf_))`
    if (Object.is(v, -0)) return `(-0.0${t === 'f16' ? 'h' : 'f'})`
    // a value past f16's range (the float32 constant a half max reduce starts from) is inf
    if (t === 'f16' && Math.abs(v) > 65504)
      return `f16(bitcast<f32>(${v < 0 ? '0xff800000u' : '0x7f800000u'}))`
    const s = `${fmtFloat(v)}${t === 'f16' ? 'h' : 'f'}`
    return v < 0 ? `(${s})` : s
  }
  if (valueType(dt) === 'u32') return `${v >>> 0}u`
  if ((v | 0) === -2147483648) return 'bitcast<i32>(0x80000000u)'
  return v < 0 ? `(${v | 0}i)` : `${v | 0}i`
}

/** Keep an integer expression wrapped to the width of `dt` (i32/u32 wrap by themselves). */
function wrapInt(e: string, dt: DType): string {
  switch (dt.name) {
    case 'int16':
      return `((${e}) << 16u) >> 16u`
    case 'int8':
      return `((${e}) << 24u) >> 24u`
    case 'uint16':
      return `((${e}) & 65535u)`
    case 'uint8':
      return `((${e}) & 255u)`
  }
  return e
}

/** Helpers placed before every kernel (unused ones cost nothing). */
const PRELUDE = `var<private> inf_: u32 = 0x7f800000u;
var<private> ninf_: u32 = 0xff800000u;
var<private> nan_: u32 = 0x7fc00000u;
fn wrapbig_(t: f32) -> u32 {
  // |t| >= 2^31 is a multiple of 256: t mod 2^32 is exact in f32
  return u32(t - floor(t / 4294967296.0) * 4294967296.0);
}
fn f2u_(x: f32) -> u32 {
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { return 0u; }
  let t = trunc(x);
  if (t >= 0.0 && t < 4294967296.0) { return u32(t); }
  if (t < 0.0 && t >= -2147483648.0) { return bitcast<u32>(i32(t)); }
  return wrapbig_(t);
}
fn f2i_(x: f32) -> i32 { return bitcast<i32>(f2u_(x)); }
fn logf32_(x: f32) -> f32 {
  // near 1 a series in d = x - 1 (exact there): the platform's log has an absolute error there,
  // which Kahan's expm1/log1p formulas turn into a large relative one
  let d = x - 1.0;
  if (abs(d) < 0.0625) {
    return d * (1.0 - d * (0.5 - d * (0.33333334 - d * (0.25 - d * (0.2 - d * (0.16666667 - d * 0.14285715))))));
  }
  return log(x);
}
fn tanhf32_(x: f32) -> f32 {
  // near 0 a series: the platform's tanh (through exp) has an absolute error of ~2^-25 there
  // (mish(-50) read -1.5e-6 for -9.6e-21); elsewhere clamped where it is +-1 in f32 anyway,
  // since tanh through exp overflows to NaN on some drivers
  if (abs(x) < 0.125) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333334 + x2 * (0.13333334 + x2 * (-0.053968254 + x2 * 0.021869488))));
  }
  return tanh(clamp(x, -20.0, 20.0));
}
fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn maxf32_(x: f32, y: f32) -> f32 { if (isnan_(x) || isnan_(y)) { return x + y; } return max(x, y); }
fn powf32_(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (x == 0.0) { if (y < 0.0) { return bitcast<f32>(inf_); } return 0.0; }
  if (x < 0.0 && trunc(y) == y) {
    let m = pow(-x, y);
    if (trunc(y * 0.5) * 2.0 != y) { return -m; }
    return m;
  }
  return pow(x, y);
}
`
/** Integer powers by squaring, wrapping like the JS reference's `(x ** y) | 0` for exact results. */
const PRELUDE_POWI = `fn powi32_(x: i32, y: i32) -> i32 {
  if (y < 0) { if (x == 1) { return 1; } if (x == -1) { return select(1, -1, (y & 1) != 0); } return 0; }
  var r = 1; var b = x; var e = y;
  loop { if (e <= 0) { break; } if ((e & 1) != 0) { r = r * b; } b = b * b; e = e >> 1u; }
  return r;
}
fn powu32_(x: u32, y: u32) -> u32 {
  var r = 1u; var b = x; var e = y;
  loop { if (e == 0u) { break; } if ((e & 1u) != 0u) { r = r * b; } b = b * b; e = e >> 1u; }
  return r;
}
`
const PRELUDE_F16 = `enable f16;
fn rf16_(x: f32) -> f32 {
  // x rounded to the nearest float16 (ties to even), as an f32
  let a = abs(x);
  if (isnan_(x)) { return x; }
  if (a >= 65520.0) { return x * bitcast<f32>(inf_); }
  if (a < 6.1035156e-5) { return round(x * 16777216.0) / 16777216.0; }
  let b = bitcast<u32>(x);
  return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
}
fn maxf16_(x: f16, y: f16) -> f16 { return f16(maxf32_(f32(x), f32(y))); }
fn powf16_(x: f16, y: f16) -> f16 { return f16(powf32_(f32(x), f32(y))); }
`

function castExpr(a: string, from: DType, to: DType): string {
  if (from === to) return a
  if (to.isBool) return from.isBool ? a : `(${a} != ${literal(0, from)})`
  if (from.isBool) return `select(${literal(0, to)}, ${literal(1, to)}, ${a})`
  const t = valueType(to)
  // to float16 rounded on the bits (rf16_): a driver may keep f16 values in f32 registers and
  // fold f32(f16(x)), even unpack2x16float(pack2x16float(x)), to x (lavapipe did: a float16
  // sigmoid(12) read 0.9999938, not 1)
  if (to.name === 'float16') return `f16(rf16_(f32(${a})))`
  if (to.isFloat) return `${t}(${a})`
  // to an integer: the JS reference's ToInt32 / ToUint32 (wrap) then the width
  if (from.isFloat) return wrapInt(`${t === 'u32' ? 'f2u_' : 'f2i_'}(f32(${a}))`, to)
  const same = valueType(from) === t
  return wrapInt(same ? a : `bitcast<${t}>(${a})`, to)
}

const nan = (x: string, dt: DType): string => (dt.name === 'float32' ? `isnan_(${x})` : `isnan_(f32(${x}))`)

function fmax(x: string, y: string, dt: DType): string {
  if (dt.isBool) return `(${x} || ${y})`
  if (dt.isInt) return `max(${x}, ${y})`
  return `max${valueType(dt)}_(${x}, ${y})`
}

function aluExpr(u: UOp, a: string[]): string {
  const dt = u.dtype
  const sdt = u.src[0]!.dtype
  const [x = '', y = '', z = ''] = a
  const int = dt.isInt
  const unary = (f: string): string => `${f}(${x})`
  switch (u.op) {
    case Ops.NEG:
      if (dt.isBool) return `(!${x})`
      return int ? wrapInt(dt.isUnsigned ? `(0u - ${x})` : `(-${x})`, dt) : `(-${x})`
    case Ops.EXP:
      return unary('exp')
    case Ops.EXP2:
      return unary('exp2')
    case Ops.LOG:
      return dt.name === 'float32' ? unary('logf32_') : `${valueType(dt)}(logf32_(f32(${x})))`
    case Ops.LOG2:
      return unary('log2')
    case Ops.SIN:
      return unary('sin')
    case Ops.COS:
      return unary('cos')
    case Ops.TANH:
      return dt.name === 'float32' ? unary('tanhf32_') : `${valueType(dt)}(tanhf32_(f32(${x})))`
    case Ops.SQRT:
      return unary('sqrt')
    case Ops.RECIP:
      return `(${literal(1, dt)} / ${x})`
    case Ops.TRUNC:
      return unary('trunc')
    case Ops.CAST:
      return castExpr(x, sdt, dt)
    case Ops.BITCAST:
      if (dt.itemsize === 4 && sdt.itemsize === 4) return `bitcast<${valueType(dt)}>(${x})`
      // float16 <-> a 16-bit integer: through the low half of a u32
      if (dt.name === 'float16' && sdt.isInt && sdt.itemsize === 2)
        return `bitcast<vec2<f16>>(bitcast<u32>(${x}) & 65535u).x`
      if (sdt.name === 'float16' && dt.isInt && dt.itemsize === 2)
        return castExpr(`(bitcast<u32>(vec2<f16>(${x}, 0.0h)) & 65535u)`, dtypes.uint32, dt)
      if (dt.isInt && sdt.isInt && dt.itemsize === sdt.itemsize) return castExpr(x, sdt, dt)
      throw new TsgradError(`WEBGPU: bitcast ${sdt.name} -> ${dt.name} is not supported`)
    case Ops.ADD:
      return dt.isBool ? `(${x} || ${y})` : wrapInt(`(${x} + ${y})`, dt)
    case Ops.SUB:
      return wrapInt(`(${x} - ${y})`, dt)
    case Ops.MUL:
      return dt.isBool ? `(${x} && ${y})` : wrapInt(`(${x} * ${y})`, dt)
    case Ops.FDIV:
      return `(${x} / ${y})`
    case Ops.IDIV:
      if (!int) return `trunc(${x} / ${y})`
      if (u.src[1]!.op === Ops.CONST && u.src[1]!.constValue === 0) return literal(0, dt)
      return `select(${wrapInt(`(${x} / ${y})`, dt)}, ${literal(0, dt)}, ${y} == ${literal(0, dt)})`
    case Ops.MOD:
      if (!int) return `(${x} % ${y})`
      if (u.src[1]!.op === Ops.CONST && u.src[1]!.constValue === 0) return literal(0, dt)
      return `select((${x} % ${y}), ${literal(0, dt)}, ${y} == ${literal(0, dt)})`
    case Ops.MAX:
      return fmax(x, y, dt)
    case Ops.POW:
      if (int) return wrapInt(dt.isUnsigned ? `powu32_(${x}, ${y})` : `powi32_(${x}, ${y})`, dt)
      return `pow${valueType(dt)}_(${x}, ${y})`
    // float comparisons test NaN on the bits: shader compilers fold `x != x` to false
    case Ops.CMPLT:
      if (sdt.isFloat) return `(!${nan(x, sdt)} && !${nan(y, sdt)} && ${x} < ${y})`
      return sdt.isBool ? `(!${x} && ${y})` : `(${x} < ${y})`
    case Ops.CMPNE:
      if (sdt.isFloat) return `(${nan(x, sdt)} || ${nan(y, sdt)} || ${x} != ${y})`
      return `(${x} != ${y})`
    case Ops.CMPEQ:
      if (sdt.isFloat) return `(!${nan(x, sdt)} && !${nan(y, sdt)} && ${x} == ${y})`
      return `(${x} == ${y})`
    case Ops.AND:
      return dt.isBool ? `(${x} && ${y})` : `(${x} & ${y})`
    case Ops.OR:
      return dt.isBool ? `(${x} || ${y})` : `(${x} | ${y})`
    case Ops.XOR:
      return dt.isBool ? `(${x} != ${y})` : `(${x} ^ ${y})`
    case Ops.SHL:
      return wrapInt(`(${x} << (u32(${y}) & 31u))`, dt)
    case Ops.SHR:
      return wrapInt(`(${x} >> (u32(${y}) & 31u))`, dt)
    case Ops.WHERE:
      return `select(${z}, ${y}, ${x})`
  }
  throw new Error(`WGSL renderer: no rendering for ${u.op}`)
}

function accUpdate(op: string, acc: string, v: string, dt: DType): string {
  if (op === ACC_SET) return `${acc} = ${v};`
  if (dt.isBool) return `${acc} = ${acc} ${op === 'MUL' ? '&&' : '||'} ${v};`
  const r = (e: string): string => (dt.name === 'float16' ? `f16(rf16_(f32(${e})))` : wrapInt(e, dt))
  if (op === 'ADD') return `${acc} = ${r(`${acc} + ${v}`)};`
  if (op === 'MUL') return `${acc} = ${r(`${acc} * ${v}`)};`
  return `${acc} = ${fmax(acc, v, dt)};`
}

/** Invocations per workgroup (the WebGPU default limit allows 256). */
const WORKGROUP = 64

/** WebGPU's default maxStorageBuffersPerShaderStage (what every adapter has). */
const DEFAULT_STORAGE_BUFFERS = 8

/** Buffers a kernel may bind with `storageBuffers` storage bindings: one is kept for the variables. */
export const wgslMaxBuffers = (storageBuffers: number): number => storageBuffers - 1

export class WGSLRenderer implements Renderer {
  readonly name = 'wgsl'
  readonly supports = NATIVE
  // vectorWidth and registers size the matmul register tile (heuristics.ts): 8 x 8 outputs per
  // invocation (512^3 on lavapipe: 5.0 GFLOP per CPU-second, vs 1.9 with 2 x 4)
  readonly layout = PANELS_32
  readonly target: OptTarget = {
    threads: false,
    vectorWidth: 4,
    registers: 32,
    gpu: { maxWorkgroup: 256, localMemory: 16384 },
  }

  /** the adapter's (runtime/webgpu.ts sets it when the device starts; until then WebGPU's default) */
  limits: KernelLimits = { maxBuffers: wgslMaxBuffers(DEFAULT_STORAGE_BUFFERS) }

  /** `f16`: the adapter has shader-f16 (float16 kernels need it) */
  constructor(readonly f16: boolean) {}

  render(name: string, prog: LinearProgram): string {
    const w = new ProgramWriter('WGSL', literal)
    const ref = (u: UOp): string => w.ref(u)
    const uops = prog.uops
    const isGrid = (r: UOp): boolean => {
      const k = (r.arg as RangeArg).kind
      return k === 'global' || k === 'thread'
    }
    const grid = uops.filter((u) => u.op === Ops.RANGE && isGrid(u))
    // GROUP reduces (codegen/gpu_opts.ts): one workgroup per output point, its invocations split
    // the reduces (all by the same size); the accumulators updated inside a group range are
    // combined at its end
    const groups = uops.filter((u) => u.op === Ops.RANGE && (u.arg as RangeArg).kind === 'group')
    const group = groups[0]
    const groupSize = group ? group.src[0]!.constValue : 0
    const groupedIn = new Map<UOp, Map<UOp, string>>() // group range -> accumulator -> its reduce op
    for (const g of groups) {
      const accs = new Map<UOp, string>()
      for (let i = uops.indexOf(g) + 1; uops[i]!.op !== Ops.ENDRANGE || uops[i]!.src[0] !== g; i++)
        if (uops[i]!.op === Ops.ACC_UPDATE) accs.set(uops[i]!.src[0]!, uops[i]!.arg as string)
      groupedIn.set(g, accs)
    }
    const grouped = [...groupedIn.values()].flatMap((m) => [...m.keys()])
    // a 2-D workgroup (WORKGROUP opts, codegen/opts.ts): its local ranges split the invocation's
    // index, the last fastest; the grid ranges then index the workgroups
    const locals = group ? [] : uops.filter((u) => u.op === Ops.RANGE && (u.arg as RangeArg).kind === 'local')
    const localSize = locals.reduce((a, l) => a * l.src[0]!.constValue, 1)
    const byWorkgroup = group !== undefined || locals.length > 0
    const workgroup = group ? groupSize : locals.length ? localSize : WORKGROUP
    let inGroup = 0
    // values that differ between the invocations of a group kernel's workgroup (its LOCAL ranges)
    const perInvocation = new Set<UOp>()
    for (const u of uops)
      if (
        (u.op === Ops.RANGE && (u.arg as RangeArg).kind === 'local') ||
        u.src.some((x) => perInvocation.has(x))
      )
        perInvocation.add(u)
    const bufs = new Map<number, DType>()
    const stored = new Set<number>()
    let usesF16 = false
    for (const u of uops) {
      if (u.op === Ops.DEFINE_GLOBAL) bufs.set(u.arg as number, u.dtype)
      if (u.op === Ops.STORE && u.src[0]!.op === Ops.DEFINE_GLOBAL) stored.add(u.src[0]!.arg as number)
      if (u.dtype.name === 'float16') usesF16 = true
      if (u.dtype.name !== 'void' && wgslUnsupported(u.dtype, this.f16)) unsupported(u.dtype)
    }
    const atomic = (i: number): boolean => stored.has(i) && isPacked(bufs.get(i)!)
    const vars = kernelVars(uops)
    const nbufs = bufs.size ? Math.max(...bufs.keys()) + 1 : 0
    const threads = grid.reduce((a, r) => a * r.src[0]!.vmax, 1) * (byWorkgroup ? workgroup : 1)

    const loadExpr = (u: UOp): string => {
      const i = u.src[0]!.arg as number
      const b = ref(u.src[0]!)
      const idx = ref(u.src[1]!)
      const dt = u.dtype
      if (!isPacked(dt)) return `${b}[${idx}]`
      const bits = dt.isBool ? 8 : dt.bits
      const per = bits === 8 ? 3 : 1
      const at = `u32(${idx}) >> ${bits === 8 ? 2 : 1}u`
      const word = atomic(i) ? `atomicLoad(&${b}[${at}])` : `${b}[${at}]`
      const shift = `((u32(${idx}) & ${per}u) * ${bits}u)`
      const raw = `((${word} >> ${shift}) & ${bits === 8 ? '255u' : '65535u'})`
      if (dt.isBool) return `(${raw} != 0u)`
      return dt.isUnsigned ? raw : `((bitcast<i32>(${raw}) << ${32 - bits}u) >> ${32 - bits}u)`
    }
    const store = (u: UOp): void => {
      const b = ref(u.src[0]!)
      const idx = ref(u.src[1]!)
      const v = ref(u.src[2]!)
      const dt = u.src[2]!.dtype
      if (!isPacked(dt)) {
        w.line(`${b}[${idx}] = ${v};`)
        return
      }
      const bits = dt.isBool ? 8 : dt.bits
      const per = bits === 8 ? 3 : 1
      const mask = bits === 8 ? '255u' : '65535u'
      const val = dt.isBool ? `select(0u, 1u, ${v})` : dt.isUnsigned ? v : `bitcast<u32>(${v})`
      w.open('{')
      w.line(`let w_ = u32(${idx}) >> ${bits === 8 ? 2 : 1}u;`)
      w.line(`let s_ = (u32(${idx}) & ${per}u) * ${bits}u;`)
      w.line(`atomicAnd(&${b}[w_], ~(${mask} << s_));`)
      w.line(`atomicOr(&${b}[w_], (${val} & ${mask}) << s_);`)
      w.close()
    }

    for (const u of uops) {
      switch (u.op) {
        case Ops.DEFINE_GLOBAL:
          w.name(u)
          break
        case Ops.DEFINE_LOCAL:
          w.names.set(u, `lm${(u.arg as LocalArg).id}`)
          break
        case Ops.BARRIER:
          w.line('workgroupBarrier();')
          break
        case Ops.DEFINE_VAR:
          w.line(`let ${w.name(u)} = vars_[${vars.indexOf(u)}];`)
          break
        case Ops.RANGE: {
          const r = w.name(u)
          if (isGrid(u)) {
            if (u === grid[0]) {
              // the linear invocation id, its bound (symbolic sizes: computed here), and the split
              const total = grid.map((g) => ref(g.src[0]!)).join(' * ')
              // (a group kernel: the workgroup's id, the same for all its invocations, so the
              // return below keeps the control flow uniform for the workgroup barriers)
              w.line(
                byWorkgroup
                  ? 'let gi_ = i32(wg_.y * nwg_.x + wg_.x);'
                  : `let gi_ = i32((wg_.y * nwg_.x + wg_.x) * ${WORKGROUP}u + li_);`,
              )
              w.line(`if (gi_ >= ${total}) { return; }`)
              let inner = '1i'
              for (let k = grid.length - 1; k >= 0; k--) {
                const g = grid[k]!
                w.names.set(g, `r${(g.arg as RangeArg).id}`)
                const size = ref(g.src[0]!)
                const q = inner === '1i' ? 'gi_' : `(gi_ / (${inner}))`
                w.line(`let r${(g.arg as RangeArg).id} = ${k === 0 ? q : `${q} % ${size}`};`)
                inner = inner === '1i' ? size : `${inner} * ${size}`
              }
            }
            break
          }
          if ((u.arg as RangeArg).kind === 'local' && locals.length > 1) {
            const i = locals.indexOf(u)
            const stride = locals.slice(i + 1).reduce((a, l) => a * l.src[0]!.constValue, 1)
            w.line(`let ${r} = i32((li_ / ${stride}u) % ${u.src[0]!.constValue}u);`)
            break
          }
          if ((u.arg as RangeArg).kind === 'group' || (u.arg as RangeArg).kind === 'local') {
            w.line(`let ${r} = i32(li_);`)
            if ((u.arg as RangeArg).kind === 'group') inGroup++
            break
          }
          w.open(`for (var ${r}: i32 = 0i; ${r} < ${ref(u.src[0]!)}; ${r}++) {`)
          break
        }
        case Ops.ENDRANGE:
          if ((u.src[0]!.arg as RangeArg).kind === 'group') {
            inGroup--
            // tree reduction of the invocations' partial values in workgroup memory
            for (const [acc, op] of groupedIn.get(u.src[0]!)!) {
              const a = ref(acc)
              const sh = `grp_${a}`
              w.line(`${sh}[li_] = ${a};`)
              w.line('workgroupBarrier();')
              w.open(`for (var s_: u32 = ${groupSize / 2}u; s_ > 0u; s_ = s_ >> 1u) {`)
              w.line(`if (li_ < s_) { ${accUpdate(op, `${sh}[li_]`, `${sh}[li_ + s_]`, acc.dtype)} }`)
              w.line('workgroupBarrier();')
              w.close()
              w.line(`${a} = ${sh}[0];`)
              w.line('workgroupBarrier();')
            }
            break
          }
          if (!isGrid(u.src[0]!) && (u.src[0]!.arg as RangeArg).kind !== 'local') w.close()
          break
        case Ops.DEFINE_ACC:
          w.line(
            `var ${w.name(u)}: ${valueType(u.dtype)} = ${literal((u.arg as { init: number }).init, u.dtype)};`,
          )
          break
        case Ops.ACC_UPDATE:
          w.line(accUpdate(u.arg as string, ref(u.src[0]!), ref(u.src[1]!), u.src[0]!.dtype))
          break
        case Ops.REDUCE:
          w.alias(u, prog.accOf.get(u)!)
          break
        case Ops.AFTER:
          w.alias(u, u.src[0]!)
          break
        case Ops.ACC:
          // a snapshot: the accumulators of one loop are set after all their reads
          w.line(`let ${w.name(u)} = ${ref(prog.accOf.get(u)!)};`)
          break
        case Ops.LOAD: {
          const ld = loadExpr(u)
          const n = w.name(u)
          w.line(
            u.src[2]
              ? `let ${n} = select(${literal(0, u.dtype)}, ${ld}, ${ref(u.src[2])});`
              : `let ${n} = ${ld};`,
          )
          break
        }
        case Ops.STORE:
          // after a group reduce every invocation holds the same values: one of them stores
          if (group && inGroup === 0 && !perInvocation.has(u)) {
            w.open('if (li_ == 0u) {')
            store(u)
            w.close()
          } else store(u)
          break
        default: {
          const e = aluExpr(u, u.src.map(ref))
          // float16 results rounded after every op (the driver may compute them in f32)
          const exact = u.op === Ops.CAST || u.op === Ops.WHERE || u.op === Ops.MAX || u.op === Ops.NEG
          w.line(`let ${w.name(u)} = ${u.dtype.name === 'float16' && !exact ? `f16(rf16_(f32(${e})))` : e};`)
        }
      }
    }
    const launch: WGSLLaunch = {
      threads,
      workgroup,
      nbufs,
      nvars: vars.length,
      ...(usesF16 ? { f16: true } : {}),
    }
    // an empty output (a 0 in its shape): nothing to run, and its index math would divide by 0
    const body = grid.some((g) => g.src[0]!.op === Ops.CONST && g.src[0]!.constValue === 0) ? '' : w.body
    const decls: string[] = []
    for (const u of uops)
      if (u.op === Ops.DEFINE_LOCAL)
        decls.push(
          `var<workgroup> lm${(u.arg as LocalArg).id}: array<${valueType(u.dtype)}, ${(u.arg as LocalArg).size}>;`,
        )
    for (const acc of grouped)
      decls.push(`var<workgroup> grp_${w.ref(acc)}: array<${valueType(acc.dtype)}, ${groupSize}>;`)
    for (let i = 0; i < nbufs; i++) {
      const dt = bufs.get(i)
      const t = dt ? storageType(dt, atomic(i)) : 'u32'
      decls.push(`@group(0) @binding(${i}) var<storage, read_write> b${i}: array<${t}>;`)
    }
    if (vars.length) decls.push(`@group(0) @binding(${nbufs}) var<storage, read_write> vars_: array<i32>;`)
    return [
      `${HEADER}${JSON.stringify(launch)}`,
      (usesF16 ? PRELUDE_F16 : '') + PRELUDE + PRELUDE_POWI,
      ...decls,
      `@compute @workgroup_size(${workgroup})`,
      `fn ${name}(@builtin(workgroup_id) wg_: vec3<u32>, @builtin(num_workgroups) nwg_: vec3<u32>, @builtin(local_invocation_index) li_: u32) {`,
      body,
      '}',
      '',
    ].join('\n')
  }
}
