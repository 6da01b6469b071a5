// Checks that trace files follow the schema (schema.ts, docs/viz-schema.md), with errors that say
// which file and field is wrong. Used by `tsgrad viz` on load and by the tests on written traces.
import {
  type KernelTrace,
  type PassTrace,
  type Profile,
  TRACE_FORMAT,
  TRACE_VERSION,
  type TraceIndex,
} from './schema.js'

export class TraceFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TraceFormatError'
  }
}

type Obj = Record<string, unknown>

class Checker {
  constructor(readonly file: string) {}
  fail(path: string, msg: string): never {
    throw new TraceFormatError(`${this.file}: ${path}: ${msg}`)
  }
  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'expected an object')
    return v as Obj
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'expected an array')
    return v
  }
  num(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v))
      this.fail(path, `expected a finite number, got ${show(v)}`)
    return v
  }
  int(v: unknown, path: string): number {
    if (!Number.isInteger(v)) this.fail(path, `expected an integer, got ${show(v)}`)
    return v as number
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, `expected a string, got ${show(v)}`)
    return v
  }
  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, `expected a boolean, got ${show(v)}`)
    return v
  }
  intOrNull(v: unknown, path: string): number | null {
    return v === null ? null : this.int(v, path)
  }
  oneOf<T extends string>(v: unknown, options: readonly T[], path: string): T {
    if (!options.includes(v as T)) this.fail(path, `expected one of ${options.join(', ')}, got ${show(v)}`)
    return v as T
  }
  ints(v: unknown, path: string): number[] {
    return this.arr(v, path).map((x, i) => this.int(x, `${path}[${i}]`))
  }
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s
}

/** Checks a node table; returns the set of ids. Sources must come before their users. */
function checkNodes(c: Checker, v: unknown, path: string): Set<number> {
  const ids = new Set<number>()
  c.arr(v, path).forEach((x, i) => {
    const p = `${path}[${i}]`
    const n = c.obj(x, p)
    const id = c.int(n.id, `${p}.id`)
    if (ids.has(id)) c.fail(`${p}.id`, `duplicate node id ${id}`)
    c.str(n.op, `${p}.op`)
    c.str(n.dtype, `${p}.dtype`)
    if (n.arg !== undefined) c.str(n.arg, `${p}.arg`)
    for (const s of c.ints(n.src, `${p}.src`))
      if (!ids.has(s)) c.fail(`${p}.src`, `source ${s} is not an earlier node`)
    ids.add(id)
  })
  return ids
}

function has(c: Checker, ids: Set<number>, id: unknown, path: string): void {
  if (!ids.has(c.int(id, path))) c.fail(path, `node ${show(id)} is not in the node table`)
}

export function validateIndex(v: unknown, file = 'index.json'): TraceIndex {
  const c = new Checker(file)
  const o = c.obj(v, '$')
  if (o.format !== TRACE_FORMAT) c.fail('format', `expected "${TRACE_FORMAT}", got ${show(o.format)}`)
  if (o.version !== TRACE_VERSION) c.fail('version', `unsupported version ${show(o.version)}`)
  c.str(o.created, 'created')
  for (const [i, a] of c.arr(o.argv, 'argv').entries()) c.str(a, `argv[${i}]`)
  const passes = c.arr(o.passes, 'passes')
  const kernels = c.arr(o.kernels, 'kernels')
  const schedules = c.arr(o.schedules, 'schedules')
  const groupOk = (g: unknown, p: string): void => {
    if (g === null) return
    const go = c.obj(g, p)
    const kind = c.oneOf(go.kind, ['schedule', 'kernel'] as const, `${p}.kind`)
    const id = c.int(go.id, `${p}.id`)
    const n = kind === 'schedule' ? schedules.length : kernels.length
    if (id < 0 || id >= n) c.fail(`${p}.id`, `no ${kind} ${id}`)
  }
  passes.forEach((x, i) => {
    const p = `passes[${i}]`
    const s = c.obj(x, p)
    if (c.int(s.id, `${p}.id`) !== i) c.fail(`${p}.id`, `expected ${i} (ids are positions)`)
    c.str(s.name, `${p}.name`)
    groupOk(s.group, `${p}.group`)
    for (const k of ['steps', 'nodesIn', 'nodesOut', 'count'] as const) c.int(s[k], `${p}.${k}`)
    const parent = c.intOrNull(s.parent, `${p}.parent`)
    if (parent !== null && (parent < 0 || parent >= i)) c.fail(`${p}.parent`, `no earlier pass ${parent}`)
    c.num(s.ms, `${p}.ms`)
    if (s.file !== `passes/${i}.json`) c.fail(`${p}.file`, `expected "passes/${i}.json"`)
  })
  kernels.forEach((x, i) => {
    const p = `kernels[${i}]`
    const k = c.obj(x, p)
    if (c.int(k.id, `${p}.id`) !== i) c.fail(`${p}.id`, `expected ${i} (ids are positions)`)
    c.str(k.name, `${p}.name`)
    c.str(k.device, `${p}.device`)
    c.str(k.astKey, `${p}.astKey`)
    checkOpts(c, k.opts, `${p}.opts`)
    c.num(k.compileMs, `${p}.compileMs`)
    if (k.file !== `kernels/${i}.json`) c.fail(`${p}.file`, `expected "kernels/${i}.json"`)
  })
  schedules.forEach((x, i) => {
    const p = `schedules[${i}]`
    const s = c.obj(x, p)
    if (c.int(s.id, `${p}.id`) !== i) c.fail(`${p}.id`, `expected ${i} (ids are positions)`)
    c.num(s.t, `${p}.t`)
    const bufIds = new Set<number>()
    c.arr(s.bufs, `${p}.bufs`).forEach((b, j) => {
      const bp = `${p}.bufs[${j}]`
      const bo = c.obj(b, bp)
      bufIds.add(c.int(bo.id, `${bp}.id`))
      c.int(bo.size, `${bp}.size`)
      c.str(bo.dtype, `${bp}.dtype`)
      c.str(bo.device, `${bp}.device`)
      c.bool(bo.existing, `${bp}.existing`)
    })
    c.arr(s.items, `${p}.items`).forEach((it, j) => {
      const ip = `${p}.items[${j}]`
      const io = c.obj(it, ip)
      const kind = c.oneOf(io.kind, ['kernel', 'copy'] as const, `${ip}.kind`)
      c.str(io.device, `${ip}.device`)
      if (kind === 'kernel') c.str(io.astKey, `${ip}.astKey`)
      else if (io.astKey !== null) c.fail(`${ip}.astKey`, 'expected null for a copy')
      const kid = c.intOrNull(io.kernel, `${ip}.kernel`)
      if (kid !== null && (kid < 0 || kid >= kernels.length)) c.fail(`${ip}.kernel`, `no kernel ${kid}`)
      for (const f of ['writes', 'reads'] as const)
        for (const b of c.ints(io[f], `${ip}.${f}`))
          if (!bufIds.has(b)) c.fail(`${ip}.${f}`, `buffer ${b} is not in ${p}.bufs`)
    })
    for (const pid of c.ints(s.passes, `${p}.passes`))
      if (pid < 0 || pid >= passes.length) c.fail(`${p}.passes`, `no pass ${pid}`)
  })
  return v as TraceIndex
}

function checkOpts(c: Checker, v: unknown, path: string): void {
  c.arr(v, path).forEach((x, i) => {
    const o = c.obj(x, `${path}[${i}]`)
    c.str(o.op, `${path}[${i}].op`)
    c.int(o.axis, `${path}[${i}].axis`)
    c.int(o.arg, `${path}[${i}].arg`)
  })
}

export function validatePass(v: unknown, file: string): PassTrace {
  const c = new Checker(file)
  const o = c.obj(v, '$')
  c.int(o.id, 'id')
  c.str(o.name, 'name')
  const ids = checkNodes(c, o.nodes, 'nodes')
  has(c, ids, o.root, 'root')
  has(c, ids, o.out, 'out')
  const rules = c.arr(o.rules, 'rules')
  rules.forEach((r, i) => {
    const ro = c.obj(r, `rules[${i}]`)
    c.str(ro.location, `rules[${i}].location`)
    c.str(ro.pattern, `rules[${i}].pattern`)
  })
  c.arr(o.steps, 'steps').forEach((s, i) => {
    const so = c.obj(s, `steps[${i}]`)
    const r = c.int(so.rule, `steps[${i}].rule`)
    if (r < 0 || r >= rules.length) c.fail(`steps[${i}].rule`, `no rule ${r}`)
    has(c, ids, so.before, `steps[${i}].before`)
    has(c, ids, so.after, `steps[${i}].after`)
  })
  return v as PassTrace
}

export function validateKernel(v: unknown, file: string, numPasses: number): KernelTrace {
  const c = new Checker(file)
  const o = c.obj(v, '$')
  c.int(o.id, 'id')
  for (const k of ['name', 'device', 'astKey', 'lang', 'src'] as const) c.str(o[k], k)
  checkOpts(c, o.opts, 'opts')
  const ids = checkNodes(c, o.nodes, 'nodes')
  has(c, ids, o.ast, 'ast')
  c.arr(o.steps, 'steps').forEach((s, i) => {
    const p = `steps[${i}]`
    const so = c.obj(s, p)
    c.str(so.name, `${p}.name`)
    const kind = c.oneOf(so.kind, ['graph', 'pass', 'linear'] as const, `${p}.kind`)
    if (kind === 'graph') has(c, ids, so.root, `${p}.root`)
    else if (kind === 'pass') {
      const pid = c.int(so.pass, `${p}.pass`)
      if (pid < 0 || pid >= numPasses) c.fail(`${p}.pass`, `no pass ${pid}`)
    } else for (const [j, l] of c.arr(so.lines, `${p}.lines`).entries()) c.str(l, `${p}.lines[${j}]`)
  })
  return v as KernelTrace
}

export function validateProfile(v: unknown, file = 'profile.json', numKernels = Infinity): Profile {
  const c = new Checker(file)
  const o = c.obj(v, '$')
  c.arr(o.launches, 'launches').forEach((x, i) => {
    const p = `launches[${i}]`
    const l = c.obj(x, p)
    const k = c.int(l.kernel, `${p}.kernel`)
    if (k < -1 || k >= numKernels) c.fail(`${p}.kernel`, `no kernel ${k}`)
    c.str(l.name, `${p}.name`)
    c.str(l.device, `${p}.device`)
    for (const f of ['start', 'dur', 'flops', 'bytes', 'gflops', 'gbs'] as const) c.num(l[f], `${p}.${f}`)
  })
  c.arr(o.copies, 'copies').forEach((x, i) => {
    const p = `copies[${i}]`
    const l = c.obj(x, p)
    c.str(l.src, `${p}.src`)
    c.str(l.dst, `${p}.dst`)
    for (const f of ['bytes', 'start', 'dur'] as const) c.num(l[f], `${p}.${f}`)
  })
  c.arr(o.memory, 'memory').forEach((x, i) => {
    const p = `memory[${i}]`
    const m = c.obj(x, p)
    c.num(m.t, `${p}.t`)
    c.str(m.device, `${p}.device`)
    c.num(m.inUse, `${p}.inUse`)
  })
  return v as Profile
}
