// JavaScript renderer: a linear program -> the body of a JS function over TypedArrays.
//
// Value representation inside a kernel: floats are JS numbers (float32/16 math runs in double and
// rounds when stored or cast), ints are JS numbers kept wrapped to their width after each op
// (int32 via |0 and Math.imul, uint32 via >>>0, ...), int64 is exact within 2^53, bools are JS
// booleans. float16/bfloat16 live as raw 16-bit patterns in Uint16Array; int64 in BigInt64Array.
import type { DType } from '../dtype.js'
import { type LinearProgram, PANELS_32 } from './target.js'
import { ACC_SET, ALU, type Op, Ops, type UOp } from '../uop/ops.js'
import type { Renderer } from './renderer.js'
import { ProgramWriter } from './writer.js'
import { kernelVars } from '../uop/sint.js'

/** JavaScript has every ALU op but erf (decomposed to a polynomial before rendering). */
const NATIVE: ReadonlySet<Op> = new Set<Op>([...ALU].filter((op) => op !== Ops.ERF))

function literal(v: number, dt: DType): string {
  if (dt.isBool) return v ? 'true' : 'false'
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return 'Infinity'
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity'
  if (Object.is(v, -0)) return '-0'
  return String(v)
}

/** Keep an integer expression wrapped to the width of `dt`. */
function wrapInt(e: string, dt: DType): string {
  switch (dt.name) {
    case 'int32':
      return `((${e}) | 0)`
    case 'uint32':
      return `((${e}) >>> 0)`
    case 'int16':
      return `((${e}) << 16 >> 16)`
    case 'int8':
      return `((${e}) << 24 >> 24)`
    case 'uint16':
      return `((${e}) & 65535)`
    case 'uint8':
      return `((${e}) & 255)`
  }
  return e // int64: exact in double within 2^53
}

/** Round a float expression to its dtype, so values recomputed in a kernel equal stored ones. */
function roundFloat(e: string, dt: DType): string {
  if (dt.name === 'float32') return `Math.fround(${e})`
  if (dt.name === 'float16') return `H.r16(${e})`
  if (dt.name === 'bfloat16') return `H.rbf16(${e})`
  return e
}

function castExpr(a: string, from: DType, to: DType): string {
  if (from === to) return a
  if (to.isBool) return from.isBool ? a : `(${a} !== 0)`
  const num = from.isBool ? `(${a} ? 1 : 0)` : a
  if (to.isFloat) {
    if (to.name === 'float32') return `Math.fround(${num})`
    if (to.name === 'float16') return `H.r16(${num})`
    if (to.name === 'bfloat16') return `H.rbf16(${num})`
    return num
  }
  if (to.name === 'int64') return from.isFloat ? `H.i64(${num})` : num
  return wrapInt(num, to)
}

function loadExpr(buf: string, idx: string, dt: DType): string {
  const raw = `${buf}[${idx}]`
  switch (dt.name) {
    case 'bool':
      return `(${raw} !== 0)`
    case 'float16':
      return `H.h2f(${raw})`
    case 'bfloat16':
      return `H.b2f(${raw})`
    case 'int64':
      return `Number(${raw})`
  }
  return raw
}

function storeValue(v: string, dt: DType): string {
  switch (dt.name) {
    case 'bool':
      return `(${v} ? 1 : 0)`
    case 'float16':
      return `H.f2h(${v})`
    case 'bfloat16':
      return `H.f2b(${v})`
    case 'int64':
      return `BigInt(${v})`
  }
  return v
}

function aluExpr(u: UOp, a: string[]): string {
  const dt = u.dtype
  const sdt = u.src[0]!.dtype
  const [x = '', y = '', z = ''] = a
  const int = dt.isInt
  switch (u.op) {
    case Ops.NEG:
      return dt.isBool ? `!${x}` : int ? wrapInt(`-${x}`, dt) : `-${x}`
    case Ops.EXP:
      return `Math.exp(${x})`
    case Ops.EXP2:
      return `2 ** ${x}`
    case Ops.LOG:
      return `Math.log(${x})`
    case Ops.LOG2:
      return `Math.log2(${x})`
    case Ops.SIN:
      return `Math.sin(${x})`
    case Ops.COS:
      return `Math.cos(${x})`
    case Ops.TANH:
      return `Math.tanh(${x})`
    case Ops.SQRT:
      return `Math.sqrt(${x})`
    case Ops.RECIP:
      return `1 / ${x}`
    case Ops.TRUNC:
      return `Math.trunc(${x})`
    case Ops.CAST:
      return castExpr(x, sdt, dt)
    case Ops.BITCAST:
      return `H.bitcast(${x}, '${sdt.name}', '${dt.name}')`
    case Ops.ADD:
      return dt.isBool ? `(${x} || ${y})` : int ? wrapInt(`${x} + ${y}`, dt) : `${x} + ${y}`
    case Ops.SUB:
      return int ? wrapInt(`${x} - ${y}`, dt) : `${x} - ${y}`
    case Ops.MUL:
      if (dt.isBool) return `(${x} && ${y})`
      if (dt.name === 'int32') return `Math.imul(${x}, ${y})`
      if (dt.name === 'uint32') return `(Math.imul(${x}, ${y}) >>> 0)`
      return int ? wrapInt(`${x} * ${y}`, dt) : `${x} * ${y}`
    case Ops.FDIV:
      return `${x} / ${y}`
    case Ops.IDIV:
      if (dt.name === 'int64') return `(${y} ? Math.trunc(${x} / ${y}) : 0)`
      return int ? wrapInt(`${x} / ${y}`, dt) : `Math.trunc(${x} / ${y})`
    case Ops.MOD:
      if (dt.name === 'int64') return `(${y} ? ${x} % ${y} : 0)`
      return int ? wrapInt(`${x} % ${y}`, dt) : `${x} % ${y}`
    case Ops.MAX:
      return dt.isBool ? `(${x} || ${y})` : `Math.max(${x}, ${y})`
    case Ops.POW:
      return int ? wrapInt(`${x} ** ${y}`, dt) : `${x} ** ${y}`
    case Ops.CMPLT:
      return `(${x} < ${y})`
    case Ops.CMPNE:
      return `(${x} !== ${y})`
    case Ops.CMPEQ:
      return `(${x} === ${y})`
    case Ops.AND:
      return dt.isBool
        ? `(${x} && ${y})`
        : dt.name === 'int64'
          ? `H.and64(${x}, ${y})`
          : wrapInt(`${x} & ${y}`, dt)
    case Ops.OR:
      return dt.isBool
        ? `(${x} || ${y})`
        : dt.name === 'int64'
          ? `H.or64(${x}, ${y})`
          : wrapInt(`${x} | ${y}`, dt)
    case Ops.XOR:
      return dt.isBool
        ? `(${x} !== ${y})`
        : dt.name === 'int64'
          ? `H.xor64(${x}, ${y})`
          : wrapInt(`${x} ^ ${y}`, dt)
    case Ops.SHL:
      return dt.name === 'int64' ? `(${x} * 2 ** ${y})` : wrapInt(`${x} << ${y}`, dt)
    case Ops.SHR:
      if (dt.name === 'int64') return `Math.floor(${x} / 2 ** ${y})`
      return dt.isUnsigned && dt.bits === 32 ? `(${x} >>> ${y})` : wrapInt(`${x} >> ${y}`, dt)
    case Ops.WHERE:
      return `(${x} ? ${y} : ${z})`
  }
  throw new Error(`JS renderer: no rendering for ${u.op}`)
}

function accUpdate(op: string, acc: string, v: string, dt: DType): string {
  if (op === ACC_SET) return `${acc} = ${v}`
  if (op === 'ADD')
    return dt.isBool
      ? `${acc} = ${acc} || ${v}`
      : `${acc} = ${dt.isInt ? wrapInt(`${acc} + ${v}`, dt) : roundFloat(`${acc} + ${v}`, dt)}`
  if (op === 'MUL')
    return dt.isBool
      ? `${acc} = ${acc} && ${v}`
      : `${acc} = ${dt.isInt ? wrapInt(`${acc} * ${v}`, dt) : roundFloat(`${acc} * ${v}`, dt)}`
  return dt.isBool ? `${acc} = ${acc} || ${v}` : `${acc} = Math.max(${acc}, ${v})`
}

export class JSRenderer implements Renderer {
  readonly name = 'js'
  readonly supports = NATIVE
  readonly target = { threads: false, vectorWidth: 1, registers: 16 }
  readonly layout = PANELS_32

  render(name: string, prog: LinearProgram): string {
    const w = new ProgramWriter('JS', literal)
    const ref = (u: UOp): string => w.ref(u)
    const params: string[] = []
    for (const u of prog.uops) {
      switch (u.op) {
        case Ops.DEFINE_GLOBAL:
          params[u.arg as number] = w.name(u)
          break
        case Ops.DEFINE_VAR:
          w.name(u)
          break
        case Ops.RANGE: {
          const r = w.name(u)
          w.open(`for (let ${r} = 0; ${r} < ${ref(u.src[0]!)}; ${r}++) {`)
          break
        }
        case Ops.ENDRANGE:
          w.close()
          break
        case Ops.DEFINE_ACC:
          w.line(`let ${w.name(u)} = ${literal((u.arg as { init: number }).init, u.dtype)};`)
          break
        case Ops.ACC_UPDATE:
          w.line(`${accUpdate(u.arg as string, ref(u.src[0]!), ref(u.src[1]!), u.src[0]!.dtype)};`)
          break
        case Ops.REDUCE:
          w.alias(u, prog.accOf.get(u)!)
          break
        case Ops.AFTER:
          w.alias(u, u.src[0]!)
          break
        case Ops.ACC:
          // a snapshot: the accumulators of one loop are set after all their reads
          w.line(`const ${w.name(u)} = ${ref(prog.accOf.get(u)!)};`)
          break
        case Ops.LOAD: {
          const ld = loadExpr(ref(u.src[0]!), ref(u.src[1]!), u.dtype)
          const n = w.name(u)
          w.line(
            u.src[2]
              ? `const ${n} = ${ref(u.src[2])} ? ${ld} : ${literal(0, u.dtype)};`
              : `const ${n} = ${ld};`,
          )
          break
        }
        case Ops.STORE:
          w.line(`${ref(u.src[0]!)}[${ref(u.src[1]!)}] = ${storeValue(ref(u.src[2]!), u.src[2]!.dtype)};`)
          break
        default: {
          const e = aluExpr(u, u.src.map(ref))
          const exact =
            u.op === Ops.CAST ||
            u.op === Ops.WHERE ||
            u.op === Ops.MAX ||
            u.op === Ops.NEG ||
            u.op === Ops.TRUNC
          w.line(`const ${w.name(u)} = ${u.dtype.isFloat && !exact ? roundFloat(e, u.dtype) : e};`)
        }
      }
    }
    // variables (symbolic sizes) come first, by name (kernelVars)
    const vars = kernelVars(prog.uops).map((v) => w.ref(v))
    return `function ${name}(${[...vars, ...Array.from(params, (p, i) => p ?? `_b${i}`)].join(', ')}) {\n${w.body}\n}`
  }
}
