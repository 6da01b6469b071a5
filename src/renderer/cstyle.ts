// C-style renderer: a linear program -> a C function body. Shared by the CPU (gcc/clang) backend
// and, later, CUDA C; subclasses supply the prelude, the function signature and loop pragmas.
//
// Semantics match the JS reference device: integers wrap (through unsigned math), integer division
// and modulo by zero give 0, float->int casts truncate and wrap (non-finite -> 0), shift counts are
// masked to the width, MAX propagates NaN. float16 computes in _Float16 (rounded at every
// assignment), bfloat16 is stored as uint16 and computes in float rounded after every op.
import type { DType } from '../dtype.js'
import type { LayoutTarget, OptTarget } from './target.js'
import type { LinearProgram } from './target.js'
import { ACC_SET, ALU, type Op, Ops, type UOp } from '../uop/ops.js'
import type { Renderer } from './renderer.js'
import { ProgramWriter } from './writer.js'
import { kernelVars } from '../uop/sint.js'

const STORAGE: Record<string, string> = {
  bool: 'unsigned char',
  float16: '_Float16',
  bfloat16: 'unsigned short',
  float32: 'float',
  float64: 'double',
  int8: 'signed char',
  int16: 'short',
  int32: 'int',
  int64: 'long long',
  uint8: 'unsigned char',
  uint16: 'unsigned short',
  uint32: 'unsigned int',
}

/** C type of a value inside the kernel. */
export function valueType(dt: DType): string {
  if (dt.isBool) return '_Bool'
  if (dt.name === 'bfloat16') return 'float'
  return STORAGE[dt.name] ?? 'void'
}

export function storageType(dt: DType): string {
  const t = STORAGE[dt.name]
  if (!t) throw new Error(`C renderer: no storage type for ${dt.name}`)
  return t
}

/** The math-library type a float op computes in (float for 16-bit floats). */
const mathIsDouble = (dt: DType): boolean => dt.name === 'float64'

export function cLiteral(v: number, dt: DType): string {
  if (dt.isBool) return v ? '1' : '0'
  if (dt.isFloat) {
    const d = mathIsDouble(dt)
    if (Number.isNaN(v)) return d ? '__builtin_nan("")' : '__builtin_nanf("")'
    if (v === Number.POSITIVE_INFINITY) return d ? '__builtin_inf()' : '__builtin_inff()'
    if (v === Number.NEGATIVE_INFINITY) return d ? '(-__builtin_inf())' : '(-__builtin_inff())'
    let s = Object.is(v, -0) ? '-0.0' : String(v)
    if (!/[.eE]/.test(s)) s += '.0'
    return d ? s : `${s}f`
  }
  if (dt.name === 'int64') return v === Number.MIN_SAFE_INTEGER ? '(-9007199254740991LL)' : `${v}LL`
  if (dt.name === 'uint32') return `${v}u`
  if (dt.name === 'int32' && v === -2147483648) return '(-2147483647-1)'
  return String(v)
}

/** Binary ops that are one C operator, scalar or GCC vector alike. */
export const INFIX: Partial<Record<Op, string>> = {
  [Ops.ADD]: '+',
  [Ops.SUB]: '-',
  [Ops.MUL]: '*',
  [Ops.FDIV]: '/',
  [Ops.CMPLT]: '<',
  [Ops.CMPNE]: '!=',
  [Ops.CMPEQ]: '==',
  [Ops.AND]: '&',
  [Ops.OR]: '|',
  [Ops.XOR]: '^',
}

const MATH1: Partial<Record<Op, string>> = {
  [Ops.EXP]: 'exp',
  [Ops.EXP2]: 'exp2',
  [Ops.LOG]: 'log',
  [Ops.LOG2]: 'log2',
  [Ops.SIN]: 'sin',
  [Ops.COS]: 'cos',
  [Ops.TANH]: 'tanh',
  [Ops.ERF]: 'erf',
  [Ops.SQRT]: 'sqrt',
  [Ops.TRUNC]: 'trunc',
}

/** Suffix of the integer helpers in the prelude (i32, u8, ...). */
const intSuffix = (dt: DType): string => (dt.isUnsigned ? 'u' : 'i') + dt.bits

function castExpr(a: string, from: DType, to: DType): string {
  if (from === to) return a
  if (to.isBool) return `(${a} != 0)`
  if (to.isInt && from.isFloat) return `f2${intSuffix(to)}(${a})`
  if (to.name === 'bfloat16') return `rbf(${a})`
  return `((${valueType(to)})(${a}))`
}

export abstract class CStyleRenderer implements Renderer {
  abstract readonly name: string
  abstract readonly target: OptTarget
  abstract readonly layout: LayoutTarget
  readonly supports: ReadonlySet<Op> = new Set<Op>(ALU)

  /** Helpers and declarations placed before a kernel (`code`: the kernel's own text, to pick what it needs). */
  protected abstract prelude(code: string): string
  /** `void name(params)` with the qualifiers this target needs. */
  protected abstract signature(name: string, params: string[], prog: LinearProgram): string
  /** Lines emitted before a loop (e.g. an OpenMP pragma); `body` is the loop's instructions. */
  protected loopPrefix(
    _range: UOp,
    _body: readonly UOp[],
    _names: ReadonlyMap<UOp, string>,
    _lanes: ReadonlyMap<UOp, number>,
  ): string[] {
    return []
  }
  /**
   * Accumulators kept as one partial value per iteration of their (innermost, fixed-length) update
   * loop, accumulator -> that length: the loop updates `acc_l[r]` (vertical vector adds, no
   * reduction across lanes per loop) and the lanes are added into the accumulator once, when the
   * REDUCE is read. None by default.
   */
  protected laneAccs(_prog: LinearProgram): ReadonlyMap<UOp, number> {
    return new Map()
  }

  /**
   * The C expression of ALU op `u` over operand expressions `a`. `inner`: it runs in an innermost
   * loop (the one the C compiler vectorizes); false for code run once per outer iteration.
   */
  protected aluExpr(u: UOp, a: string[], _inner = true): string {
    const dt = u.dtype
    const sdt = u.src[0]!.dtype
    const [x = '', y = '', z = ''] = a
    const fsuf = sdt.isFloat && !mathIsDouble(sdt) ? 'f' : ''
    const m = MATH1[u.op]
    if (m) return `${m}${fsuf}(${x})`
    if (dt.isBool && u.op !== Ops.CAST && u.op !== Ops.WHERE && u.op !== Ops.BITCAST) {
      const b = BOOL_OPS[u.op]
      if (b) return b(x, y)
    }
    if (mayOverflow(u)) {
      // signed overflow is undefined in C: wrap through unsigned (JS semantics). Index math, whose
      // value range is known to fit, stays plain so the compiler can vectorize contiguous accesses.
      const ut = `unsigned ${dt.bits === 64 ? 'long long' : 'int'}`
      const op = u.op === Ops.ADD ? '+' : u.op === Ops.SUB ? '-' : '*'
      return u.op === Ops.NEG
        ? `((${valueType(dt)})(0u - (${ut})${x}))`
        : `((${valueType(dt)})((${ut})${x} ${op} (${ut})${y}))`
    }
    const infix = INFIX[u.op]
    if (infix) return `(${x} ${infix} ${y})`
    switch (u.op) {
      case Ops.NEG:
        return `(-${x})`
      case Ops.RECIP:
        return `(${cLiteral(1, sdt)} / ${x})`
      case Ops.CAST:
        return castExpr(x, sdt, dt)
      case Ops.BITCAST:
        if (dt.name === 'bfloat16' || sdt.name === 'bfloat16')
          throw new Error('C renderer: bitcast of bfloat16')
        // between integers of one size a conversion is the same bits (gcc wraps modulo 2^n) and,
        // unlike the memcpy, never keeps the loop vectorizer from the loop
        if (dt.isInt && sdt.isInt && dt.itemsize === sdt.itemsize) return `((${valueType(dt)})(${x}))`
        return `BITCAST(${valueType(dt)}, ${x})`
      case Ops.IDIV:
        return dt.isInt ? `idiv_${intSuffix(dt)}(${x}, ${y})` : `trunc${fsuf}(${x} / ${y})`
      case Ops.MOD:
        return dt.isInt ? `imod_${intSuffix(dt)}(${x}, ${y})` : `fmod${fsuf}(${x}, ${y})`
      case Ops.MAX:
        return dt.isInt ? `(${x} > ${y} ? ${x} : ${y})` : `fmax_nan${fsuf}(${x}, ${y})`
      case Ops.POW:
        return dt.isInt ? `f2${intSuffix(dt)}(pow((double)${x}, (double)${y}))` : `pow${fsuf}(${x}, ${y})`
      case Ops.SHL:
        return `((${valueType(dt)})((${wideUnsigned(dt)})${x} << (${y} & ${dt.bits >= 64 ? 63 : 31})))`
      case Ops.SHR:
        return `((${valueType(dt)})(${x} >> (${y} & ${dt.bits >= 64 ? 63 : 31})))`
      case Ops.WHERE:
        return `(${x} ? ${y} : ${z})`
    }
    throw new Error(`C renderer: no rendering for ${u.op}`)
  }

  /**
   * Render the loop over `range` in another form (e.g. explicit vectors) and return true, or
   * return false for the plain loop. `statement` renders one body instruction the plain way.
   */
  protected renderLoop(_loop: LoopToRender): boolean {
    return false
  }

  /** Lines emitted before a LOAD's own (C: a register tile's vector of float16 halves, c_half_runs.ts). */
  protected beforeLoad(_u: UOp, _ref: (u: UOp) => string): string[] {
    return []
  }

  /** A sum accumulator `acc` plus `val` (C writes a register tile's multiply-adds as one fused step). */
  protected accAdd(acc: string, val: UOp, ref: (u: UOp) => string): string {
    return `${acc} + ${ref(val)}`
  }

  render(name: string, prog: LinearProgram): string {
    const w = new ProgramWriter('C', cLiteral)
    const ref = (u: UOp): string => w.ref(u)
    const lanes = this.laneAccs(prog)
    /** the range of the innermost loop open at each instruction (for lane accumulators) */
    const openLoops: UOp[] = []
    /** for each open loop: whether it has no loop inside */
    const openInnermost: boolean[] = []
    const params: string[] = []
    const define = (u: UOp, e: string): void => {
      w.line(`${valueType(u.dtype)} ${w.name(u)} = ${e};`)
    }
    const statement = (u: UOp): void => {
      switch (u.op) {
        case Ops.DEFINE_GLOBAL:
          w.name(u)
          params[u.arg as number] = storageType(u.dtype)
          break
        case Ops.DEFINE_VAR:
          w.name(u)
          break
        case Ops.DEFINE_ACC: {
          const init = cLiteral((u.arg as { init: number }).init, u.dtype)
          w.line(`${valueType(u.dtype)} ${w.name(u)} = ${init};`)
          const n = lanes.get(u)
          if (n !== undefined) w.line(`${valueType(u.dtype)} ${w.name(u)}_l[${n}] = {${init}};`)
          break
        }
        case Ops.ACC_UPDATE: {
          const lane = lanes.has(u.src[0]!) ? `_l[${w.ref(openLoops.at(-1)!)}]` : ''
          const acc = `${ref(u.src[0]!)}${lane}`
          const dt = u.src[0]!.dtype
          const val = ref(u.src[1]!)
          const op = u.arg as string
          let e: string
          if (op === ACC_SET) e = val
          else if (dt.isBool) e = op === 'MUL' ? `${acc} && ${val}` : `${acc} || ${val}`
          else if (op === 'ADD') e = this.accAdd(acc, u.src[1]!, ref)
          else if (op === 'MUL') e = `${acc} * ${val}`
          else
            e = dt.isInt
              ? `(${acc} > ${val} ? ${acc} : ${val})`
              : `fmax_nan${mathIsDouble(dt) ? '' : 'f'}(${acc}, ${val})`
          w.line(`${acc} = ${dt.name === 'bfloat16' ? `rbf(${e})` : e};`)
          break
        }
        case Ops.REDUCE: {
          const acc = prog.accOf.get(u)!
          const n = lanes.get(acc)
          if (n !== undefined) {
            const a = ref(acc)
            w.line(`for (int l_ = 0; l_ < ${n}; l_++) ${a} = ${a} + ${a}_l[l_];`)
          }
          w.alias(u, acc)
          break
        }
        case Ops.AFTER:
          w.alias(u, u.src[0]!)
          break
        case Ops.ACC:
          // a snapshot: the accumulators of one loop are set after all their reads
          define(u, ref(prog.accOf.get(u)!))
          break
        case Ops.LOAD: {
          for (const l of this.beforeLoad(u, ref)) w.line(l)
          const raw = `${ref(u.src[0]!)}[${ref(u.src[1]!)}]`
          const ld = u.dtype.isBool ? `(${raw} != 0)` : u.dtype.name === 'bfloat16' ? `bf2f(${raw})` : raw
          define(u, u.src[2] ? `${ref(u.src[2])} ? ${ld} : ${cLiteral(0, u.dtype)}` : ld)
          break
        }
        case Ops.STORE: {
          const val = ref(u.src[2]!)
          const dt = u.src[2]!.dtype
          const sv = dt.name === 'bfloat16' ? `f2bf(${val})` : dt.isBool ? `(unsigned char)${val}` : val
          w.line(`${ref(u.src[0]!)}[${ref(u.src[1]!)}] = ${sv};`)
          break
        }
        default: {
          const e = this.aluExpr(u, u.src.map(ref), openInnermost.at(-1) ?? false)
          define(u, u.dtype.name === 'bfloat16' && u.op !== Ops.CAST && u.op !== Ops.WHERE ? `rbf(${e})` : e)
        }
      }
    }
    const uops = prog.uops
    for (let pc = 0; pc < uops.length; pc++) {
      const u = uops[pc]!
      if (u.op === Ops.ENDRANGE) {
        w.close()
        openLoops.pop()
        openInnermost.pop()
        continue
      }
      if (u.op !== Ops.RANGE) {
        statement(u)
        continue
      }
      const end = uops.findIndex((e, j) => j > pc && e.op === Ops.ENDRANGE && e.src[0] === u)
      const body = uops.slice(pc + 1, end)
      const prefix = this.loopPrefix(u, body, w.names, lanes)
      if (this.renderLoop({ range: u, body, prefix, writer: w, statement, lanes, accOf: prog.accOf })) {
        pc = end
        continue
      }
      openLoops.push(u)
      openInnermost.push(!body.some((b) => b.op === Ops.RANGE))
      const r = w.name(u)
      for (const p of prefix) w.line(p)
      w.open(`for (${valueType(u.dtype)} ${r} = 0; ${r} < ${ref(u.src[0]!)}; ${r}++) {`)
    }
    // a buffer only read gets const; restrict is safe because distinct params are distinct memory
    const loaded = new Set(uops.filter((u) => u.op === Ops.LOAD).map((u) => u.src[0]!.arg as number))
    const stored = new Set(uops.filter((u) => u.op === Ops.STORE).map((u) => u.src[0]!.arg as number))
    // variables (symbolic sizes) come first, by name, as plain ints (kernelVars)
    const varDecls = kernelVars(uops).map((v) => `${valueType(v.dtype)} ${w.name(v)}`)
    const decls = Array.from(params, (t, i) => {
      if (t === undefined) return `void* restrict b${i}`
      const cq = loaded.has(i) && !stored.has(i) ? 'const ' : ''
      return `${cq}${t}* restrict b${i}`
    })
    decls.unshift(...varDecls)
    const code = `${this.signature(name, decls, prog)} {\n${w.body}\n}\n${this.entryPoints(name, varDecls.length, params.length)}`
    return `${this.prelude(code)}\n${code}`
  }

  /** Extra functions after the kernel (the C renderer's packed-argument entry for many buffers). */
  protected entryPoints(_name: string, _vars: number, _bufs: number): string {
    return ''
  }
}

/** A loop the renderer is about to emit, for `renderLoop`. */
export interface LoopToRender {
  range: UOp
  /** the instructions between the RANGE and its ENDRANGE */
  body: readonly UOp[]
  /** lines to emit before the loop header (OpenMP pragmas) */
  prefix: readonly string[]
  writer: ProgramWriter
  /** render one instruction the plain (scalar) way */
  statement: (u: UOp) => void
  /** lane accumulators (see `laneAccs`): accumulator -> lanes, updated as `name_l[r]` */
  lanes: ReadonlyMap<UOp, number>
  /** each REDUCE's accumulator */
  accOf: ReadonlyMap<UOp, UOp>
}

/** A signed 32/64-bit ADD/SUB/MUL/NEG whose value range is not known to fit its type. */
function mayOverflow(u: UOp): boolean {
  const dt = u.dtype
  if (!dt.isInt || dt.isUnsigned || dt.bits < 32) return false
  if (u.op !== Ops.ADD && u.op !== Ops.SUB && u.op !== Ops.MUL && u.op !== Ops.NEG) return false
  const lim = 2 ** (dt.bits - 1)
  return !(u.vmin > -lim && u.vmax < lim - 1)
}

function wideUnsigned(dt: DType): string {
  return dt.bits >= 64 ? 'unsigned long long' : 'unsigned int'
}

const BOOL_OPS: Partial<Record<Op, (x: string, y: string) => string>> = {
  [Ops.NEG]: (x) => `(!${x})`,
  [Ops.ADD]: (x, y) => `(${x} || ${y})`,
  [Ops.MUL]: (x, y) => `(${x} && ${y})`,
  [Ops.MAX]: (x, y) => `(${x} || ${y})`,
  [Ops.AND]: (x, y) => `(${x} && ${y})`,
  [Ops.OR]: (x, y) => `(${x} || ${y})`,
  [Ops.XOR]: (x, y) => `(${x} != ${y})`,
}
