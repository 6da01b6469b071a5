// The VIZ recorder: observes rewrites (RewriteTracer), schedules, codegen, launches and memory
// (VizHooks) and keeps them as plain records in the trace format (schema.ts). It holds no UOps.
//
// Rewrite passes are stored as the input graph once plus one delta per rule that fired (the
// replaced node and its replacement's new nodes): storing the whole graph after each step would
// be quadratic. A pass that runs again on the same input (same name, same structural key) is
// recorded once with a count, so training loops do not repeat every schedule's passes.
import { estimateCost } from '../codegen/cost.js'
import type { Opt } from '../codegen/opts.js'
import { now } from '../helpers.js'
import { Device } from '../runtime/device.js'
import type { ScheduleItem } from '../schedule/schedule.js'
import type { VizHooks } from '../trace.js'
import type { UOp } from '../uop/ops.js'
import { type RewriteTracer, type Rule, toposort } from '../uop/rewrite.js'
import { linearLine, nodeRec, patText } from './format.js'
import {
  type KernelSummary,
  type KernelTrace,
  type NodeRec,
  type PassSummary,
  type PassTrace,
  type Profile,
  type ScheduleRec,
  TRACE_FORMAT,
  TRACE_VERSION,
  type Trace,
} from './schema.js'

/** Nodes of `root`'s graph not yet in `seen`, sources first; marks them seen. */
function addGraph(root: UOp, seen: Set<number>, out: NodeRec[]): number {
  if (seen.has(root.id)) return 0
  let n = 0
  for (const u of toposort([root], (x) => seen.has(x.id))) {
    if (seen.has(u.id)) continue
    seen.add(u.id)
    out.push(nodeRec(u))
    n++
  }
  return n
}

interface ActivePass {
  trace: PassTrace
  summary: PassSummary
  seen: Set<number>
  rules: Map<Rule<unknown>, number>
  t0: number
}

interface ActiveKernel {
  trace: KernelTrace
  seen: Set<number>
  t0: number
}

export class Recorder implements RewriteTracer, VizHooks {
  readonly origin = now()
  private readonly passSummaries: PassSummary[] = []
  private readonly passTraces: PassTrace[] = []
  private readonly kernelSummaries: KernelSummary[] = []
  private readonly kernelTraces: KernelTrace[] = []
  private readonly schedules: ScheduleRec[] = []
  private readonly profile: Profile = { launches: [], copies: [], memory: [] }
  /** open passes, innermost last; null for a repeat that is not recorded again */
  private stack: (ActivePass | null)[] = []
  private readonly passByKey = new Map<string, PassSummary>()
  /** top-level passes since the last schedule (they built it) */
  private pending: number[] = []
  private kernel: ActiveKernel | null = null
  private readonly kernelByKey = new Map<string, number>()
  private readonly flopsByAst = new Map<string, number>()
  private readonly inUse = new Map<string, number>()

  private t(at: number): number {
    return Math.round((at - this.origin) * 1000) / 1000
  }

  // ---- rewrites ----
  begin(pass: string, root: UOp): void {
    const parent = this.stack.length ? this.stack[this.stack.length - 1]! : null
    const key = `${pass}|${root.key}`
    const dup = this.passByKey.get(key)
    if (dup) {
      dup.count++
      this.attach(dup.id, pass, parent)
      this.stack.push(null)
      return
    }
    const id = this.passSummaries.length
    const trace: PassTrace = { id, name: pass, nodes: [], root: root.id, out: root.id, rules: [], steps: [] }
    const seen = new Set<number>()
    const nodesIn = addGraph(root, seen, trace.nodes)
    const summary: PassSummary = {
      id,
      name: pass,
      group: null,
      steps: 0,
      nodesIn,
      nodesOut: nodesIn,
      count: 1,
      parent: parent ? parent.summary.id : null,
      ms: 0,
      file: `passes/${id}.json`,
    }
    this.passSummaries.push(summary)
    this.passTraces.push(trace)
    this.passByKey.set(key, summary)
    this.attach(id, pass, parent)
    this.stack.push({ trace, summary, seen, rules: new Map(), t0: now() })
  }

  /** Put a pass in its group: the kernel being compiled, the enclosing pass's group, or the next schedule. */
  private attach(id: number, name: string, parent: ActivePass | null): void {
    const s = this.passSummaries[id]!
    if (this.kernel) {
      s.group ??= { kind: 'kernel', id: this.kernel.trace.id }
      if (!parent) this.kernel.trace.steps.push({ kind: 'pass', name, pass: id })
    } else if (parent) s.group ??= parent.summary.group
    else this.pending.push(id)
  }

  fired(rule: Rule<any>, before: UOp, after: UOp): void {
    const p = this.stack[this.stack.length - 1]
    if (!p) return
    let ri = p.rules.get(rule)
    if (ri === undefined) {
      ri = p.trace.rules.length
      p.trace.rules.push({ location: rule.location, pattern: patText(rule.pat) })
      p.rules.set(rule, ri)
    }
    addGraph(before, p.seen, p.trace.nodes)
    addGraph(after, p.seen, p.trace.nodes)
    p.trace.steps.push({ rule: ri, before: before.id, after: after.id })
  }

  end(_pass: string, out: UOp): void {
    const p = this.stack.pop()
    if (!p) return
    addGraph(out, p.seen, p.trace.nodes)
    p.trace.out = out.id
    p.summary.steps = p.trace.steps.length
    p.summary.nodesOut = toposort([out]).length
    p.summary.ms = Math.round((now() - p.t0) * 1000) / 1000
  }

  // ---- schedule ----
  schedule(items: readonly ScheduleItem[]): void {
    this.stack = []
    const id = this.schedules.length
    const bufs = new Map<number, ScheduleRec['bufs'][number]>()
    for (const it of items)
      for (const b of it.bufs)
        if (!bufs.has(b.id))
          bufs.set(b.id, {
            id: b.id,
            size: b.size,
            dtype: b.dtype.name,
            device: b.device,
            existing: b.existing !== undefined,
          })
    const rec: ScheduleRec = {
      id,
      t: this.t(now()),
      bufs: [...bufs.values()],
      items: items.map((it) => ({
        kind: it.kind,
        device: it.device,
        astKey: it.kind === 'kernel' ? it.ast.key : null,
        kernel: null,
        writes: [it.bufs[0]!.id],
        reads: it.bufs.slice(1).map((b) => b.id),
      })),
      passes: this.pending,
    }
    for (const p of this.pending) this.passSummaries[p]!.group ??= { kind: 'schedule', id }
    this.pending = []
    this.schedules.push(rec)
  }

  // ---- codegen ----
  kernelBegin(device: string, ast: UOp, opts: readonly Opt[]): void {
    this.stack = []
    const id = this.kernelTraces.length
    const trace: KernelTrace = {
      id,
      name: '',
      device,
      astKey: ast.key,
      opts: opts.map((o) => ({ op: o.op, axis: o.axis, arg: o.arg })),
      lang: '',
      src: '',
      nodes: [],
      ast: ast.id,
      steps: [{ kind: 'graph', name: 'ast', root: ast.id }],
    }
    const seen = new Set<number>()
    addGraph(ast, seen, trace.nodes)
    this.kernel = { trace, seen, t0: now() }
  }

  codegenStep(name: string, graph: UOp): void {
    const k = this.kernel
    if (!k) return // a BEAM candidate, not the kernel being compiled
    addGraph(graph, k.seen, k.trace.nodes)
    k.trace.steps.push({ kind: 'graph', name, root: graph.id })
  }

  linearized(uops: readonly UOp[]): void {
    this.kernel?.trace.steps.push({ kind: 'linear', name: 'linearize', lines: uops.map(linearLine) })
  }

  kernelEnd(name: string, src: string): void {
    const k = this.kernel
    if (!k) return
    this.kernel = null
    const t = k.trace
    t.name = name
    t.src = src
    t.lang = Device.get(t.device).renderer.name
    this.kernelTraces.push(t)
    this.kernelSummaries.push({
      id: t.id,
      name,
      device: t.device,
      astKey: t.astKey,
      opts: t.opts,
      compileMs: Math.round((now() - k.t0) * 1000) / 1000,
      file: `kernels/${t.id}.json`,
    })
    this.kernelByKey.set(`${t.device}|${t.astKey}`, t.id)
  }

  // ---- profile ----
  launch(name: string, item: ScheduleItem, start: number, ms: number): void {
    if (item.kind !== 'kernel') return
    const bytes = item.bufs.reduce((a, b) => a + b.size * b.dtype.itemsize, 0)
    let flops = this.flopsByAst.get(item.ast.key)
    if (flops === undefined) this.flopsByAst.set(item.ast.key, (flops = estimateCost(item.ast, []).flops))
    const dur = Math.round(ms * 1e4) / 1e4
    const s = Math.max(ms, 1e-6) / 1e3
    this.profile.launches.push({
      kernel: this.kernelByKey.get(`${item.device}|${item.ast.key}`) ?? -1,
      name,
      device: item.device,
      start: this.t(start),
      dur,
      flops,
      bytes,
      gflops: Math.round((flops / s / 1e9) * 1000) / 1000,
      gbs: Math.round((bytes / s / 1e9) * 1000) / 1000,
    })
  }

  copy(src: string, dst: string, bytes: number, start: number, ms: number): void {
    this.profile.copies.push({ src, dst, bytes, start: this.t(start), dur: Math.round(ms * 1e4) / 1e4 })
  }

  mem(device: string, delta: number): void {
    const v = (this.inUse.get(device) ?? 0) + delta
    this.inUse.set(device, v)
    this.profile.memory.push({ t: this.t(now()), device, inUse: v })
  }

  // ---- output ----
  /** The trace so far, in the on-disk format (records are shared, not copied). */
  snapshot(argv: readonly string[] = []): Trace {
    for (const s of this.schedules)
      for (const it of s.items)
        if (it.kind === 'kernel' && it.kernel === null)
          it.kernel = this.kernelByKey.get(`${it.device}|${it.astKey}`) ?? null
    return {
      index: {
        format: TRACE_FORMAT,
        version: TRACE_VERSION,
        created: new Date().toISOString(),
        argv: [...argv],
        passes: this.passSummaries,
        kernels: this.kernelSummaries,
        schedules: this.schedules,
      },
      profile: this.profile,
      passes: this.passTraces,
      kernels: this.kernelTraces,
    }
  }
}
