// Display strings for what VIZ records: UOp args, patterns of rules, linear-program lines.
import { DType } from '../dtype.js'
import type { UOp } from '../uop/ops.js'
import type { UPat } from '../uop/rewrite.js'
import type { NodeRec } from './schema.js'

const SIZE_OPS: Record<string, string> = { ADD: '+', SUB: '-', MUL: '*', IDIV: '//', MOD: '%' }
/** A symbolic size as text: `(sp+1)`, a bound variable as `sp=5`. */
function sizeText(u: UOp): string {
  if (u.op === 'CONST') return String(u.arg)
  const a = u.arg as { name?: string } | undefined
  if (u.op === 'DEFINE_VAR') return String(a?.name)
  if (u.op === 'BIND') return `${String((u.src[0]!.arg as { name?: string }).name)}=${String(u.src[1]!.arg)}`
  const o = SIZE_OPS[u.op]
  if (o && u.src.length === 2) return `(${sizeText(u.src[0]!)}${o}${sizeText(u.src[1]!)})`
  return `${u.op.toLowerCase()}(${u.src.map(sizeText).join(', ')})`
}

/** A node's arg as text; distinct args give distinct text (the UI keys nodes by it). */
export function argText(arg: unknown): string {
  if (arg === null) return 'null'
  if (typeof arg === 'number') return Object.is(arg, -0) ? '-0' : String(arg)
  if (typeof arg === 'string' || typeof arg === 'boolean' || typeof arg === 'bigint') return String(arg)
  if (Array.isArray(arg)) return `[${arg.map(argText).join(', ')}]`
  if (arg instanceof DType) return arg.name
  // (a CUSTOM_GRAD's backward: its identity is the arg's tag)
  if (typeof arg === 'function') return 'fn'
  if (typeof arg === 'object') {
    const o = arg as Record<string, unknown>
    // a symbolic size (a UOp expression of variables) inside a movement op's arg
    if (typeof o.op === 'string' && Array.isArray(o.src) && typeof o.key === 'string')
      return sizeText(arg as UOp)
    // a BufferRef: identity is its id
    if (typeof o.id === 'number' && 'device' in o && 'size' in o) {
      const dt = o.dtype instanceof DType ? o.dtype.name : ''
      return `buf${o.id} ${String(o.device)} ${dt}[${String(o.size)}]`
    }
    // RangeArg reads best as "r3 global"
    if (typeof o.id === 'number' && typeof o.kind === 'string' && Object.keys(o).length === 2)
      return `r${o.id} ${o.kind}`
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${k}: ${argText(o[k])}`)
      .join(', ')}}`
  }
  return String(arg)
}

export function nodeRec(u: UOp): NodeRec {
  const r: NodeRec = { id: u.id, op: u.op, dtype: u.dtype.name, src: u.src.map((s) => s.id) }
  if (u.arg !== undefined) r.arg = argText(u.arg)
  return r
}

/** What a rule matches, e.g. `ADD(x, CONST=0)`. */
export function patText(p: UPat): string {
  let s = p.ops ? (p.ops.length > 3 ? `{${p.ops.length} ops}` : p.ops.join('|')) : (p.name ?? 'x')
  if (p.ops && p.name) s = `${p.name}:${s}`
  if (p.arg !== undefined) s += `=${argText(p.arg)}`
  if (p.dtypes) s += `.${p.dtypes.map((d) => d.name).join('|')}`
  if (p.src) s += `(${p.src.map(patText).join(', ')})`
  return s
}

/** One line of a linear program: `%id OP dtype arg <- %src...` */
export function linearLine(u: UOp): string {
  const arg = u.arg === undefined ? '' : ` ${argText(u.arg)}`
  const src = u.src.length ? ` <- ${u.src.map((s) => `%${s.id}`).join(' ')}` : ''
  return `%${u.id} ${u.op} ${u.dtype.name}${arg}${src}`
}
