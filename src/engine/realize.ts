// Running schedules: allocate buffers, compile kernels (cached by AST key), launch, and report.
import { DEBUG, getEnvNum, now, TsgradError } from '../helpers.js'
import { fmtSShape } from '../uop/sint.js'
import { handOpts, type OptTarget } from '../codegen/heuristics.js'
import { fmtOpts, type Opt } from '../codegen/opts.js'
import { firstTierOpts } from '../codegen/first_tier.js'
import { tieredProgram, tiersEnabled, tierStats } from './tiers.js'
import { fillOf, fillProgram } from './fill.js'
import { beamSearch } from './beam.js'
import { estimateCost } from '../codegen/cost.js'
import { type RenderedKernel, renderKernel } from '../codegen/kernel.js'
import { Buffer, markWritten } from '../runtime/buffer.js'
import { type CompiledDevice, Device, type Program, type StartedBuilds } from '../runtime/device.js'
import { cachedSchedule, type PlannedSchedule } from '../schedule/cache.js'
import { liftConsts } from '../codegen/lift_consts.js'
import { planMemory } from '../schedule/memory.js'
import { applyLayouts } from '../schedule/layouts.js'
import { createSchedule, type SchedBuf, type Schedule, type ScheduleItem } from '../schedule/schedule.js'
import { unbindGraph, varValues } from '../schedule/unbind.js'
import type { UOp } from '../uop/ops.js'
import { viz } from '../trace.js'

export interface CompiledKernel {
  name: string
  src: string
  program: Program
  /** the variables it takes (DEFINE_VARs, in parameter order) */
  vars: UOp[]
}

const programCache = new Map<string, CompiledKernel>()
/** the compiled kernel of an AST node (and its device), found without building its cache key: the
 * ASTs of a cached schedule are the same nodes at every launch */
let kernelOfAst = new WeakMap<UOp, { device: string; kernel: CompiledKernel }>()

/** kernels launched, compiled, schedules run, and fill kernels set up without a compile (engine/fill.ts) */
export const stats = { kernelsRun: 0, kernelsCompiled: 0, schedules: 0, fills: 0 }

/** NOOPT=1: no opts; BEAM=n: search (cached on disk); else the target's heuristics. */
function chooseOpts(device: string, target: OptTarget, ast: UOp): Opt[] {
  if (getEnvNum('NOOPT') > 0) return []
  const beam = getEnvNum('BEAM')
  // an asynchronous device searches in the background: its winner replaces the compiled kernel
  if (beam > 0)
    return beamSearch(device, ast, beam, () => {
      programCache.delete(`${device}|${ast.key}`)
      kernelOfAst.delete(ast)
    })
  return handOpts(ast, target)
}

/**
 * Kernels of at most this many FLOPs take the device's quick build first (CPU: tcc, while gcc
 * builds the full one in the background). tcc's code is plain scalar C: 4x slower than gcc's on
 * an elementwise kernel, 14-27x on a matmul or conv register tile, so those wait for gcc.
 */
const QUICK_MAX_FLOPS = 1 << 24

/** Whether `ast`'s first build on `dev` is a quick one (never under BEAM, which times builds). */
function quickFirst(dev: { quickRenderer?: unknown }, ast: UOp): boolean {
  return (
    dev.quickRenderer !== undefined &&
    getEnvNum('BEAM') <= 0 &&
    estimateCost(ast, []).flops <= QUICK_MAX_FLOPS
  )
}

/** The opts of a kernel's first build, and its full list when that build is a first tier (engine/tiers.ts). */
interface BuildPlan {
  opts: Opt[]
  full?: Opt[]
}

/**
 * The first build of `ast` on `device`: its first-tier list (codegen/first_tier.ts) when the device
 * builds the full one in the background and the full one is large, else the full list. Not for a
 * quick build (already cheap), nor under BEAM (which times builds) or NOOPT.
 */
function planBuild(device: string, dev: CompiledDevice, ast: UOp, quick: boolean): BuildPlan {
  const opts = chooseOpts(device, dev.renderer.target, ast)
  if (quick || !dev.compiler.compileInBackground || !tiersEnabled() || getEnvNum('BEAM') > 0) return { opts }
  const first = firstTierOpts(ast, opts, dev.renderer.target)
  return first === undefined ? { opts } : { opts: first, full: opts }
}

/** What a first-tier build must share with its full build for the swap. */
interface FirstTier {
  vars: readonly UOp[]
  sums: string | undefined
}

/**
 * Render `ast` with its full list and start its background build: a poll for the full program, or
 * undefined when the full kernel takes other variables or sums in another order than the first
 * tier (then the first tier stays, so results never depend on when the swap came).
 */
function startFullBuild(device: string, ast: UOp, opts: readonly Opt[], first: FirstTier) {
  const dev = Device.get(device)
  const r = renderKernel(ast, dev.renderer, opts)
  if (DEBUG() >= 3) console.log(`opts ${r.name} ${device} (full tier): ${fmtOpts(opts)}`)
  if (r.vars.length !== first.vars.length || r.vars.some((v, i) => v !== first.vars[i])) return undefined
  // sums in another order (codegen/first_tier.ts summationShape): the swap would change results
  if (r.sums !== first.sums) {
    if (DEBUG() >= 1)
      console.log(
        `${r.name}: the full tier sums as ${r.sums}, the first tier as ${first.sums}: first tier kept`,
      )
    return undefined
  }
  const poll = dev.compiler.compileInBackground!(r.src, r.name)
  return (): Program | undefined => {
    const a = poll()
    return a === undefined ? undefined : dev.runtime(a, r.name)
  }
}

/** kernels rendered ahead of their first launch by `precompile`, waiting for getKernel */
const prerendered = new Map<string, BuildPlan & RenderedKernel>()

/**
 * Kernels a device that starts builds (Compiler.startMany) gets early, while the next ones render:
 * the first BUILD_CHUNK, then the ones rendered since, each time the previous early chunk has
 * finished building. The renderer holds a core meanwhile, so each early chunk is one process fewer
 * than the cores (CPU on 2 cores: one gcc), and at most one runs: every compiler process has a fixed
 * cost (~0.2 s of gcc CPU), and the renderer (~0.8 s for a cold MNIST step's 93 kernels) outpaces
 * gcc (~5 s for them) by far, so more early chunks only queue up (a chunk of 24 every 24 kernels, 2
 * processes each: 8 processes and ~1.5 s more gcc CPU than one early chunk and the rest at the end).
 */
const BUILD_CHUNK = 24

/**
 * Render a schedule's new kernels and hand them to the device compiler together, so a compiler
 * that can (CPU: one process per core) builds them in parallel before the first launch, and
 * starts on the first ones while the rest render. Skipped while VIZ records (it follows each
 * kernel's codegen from begin to end).
 */
function precompile(items: readonly ScheduleItem[]): void {
  if (viz || items.every(hasKernel)) return
  const jobs = new Map<string, { src: string; name: string }[]>()
  /** per device, the early chunk started last */
  const early = new Map<string, StartedBuilds>()
  const waits: (() => void)[] = []
  try {
    for (const it of items) {
      if (it.kind !== 'kernel' || hasKernel(it)) continue
      const key = `${it.device}|${it.ast.key}`
      if (programCache.has(key) || prerendered.has(key)) continue
      const dev = Device.get(it.device)
      // a kernel built quickly at its first launch is not waited for here; a fill is no build
      if (!dev.compiler.compileMany || quickFirst(dev, it.ast) || fillOf(it.ast)) continue
      const plan = planBuild(it.device, dev, it.ast, false)
      const r = renderKernel(it.ast, dev.renderer, plan.opts)
      prerendered.set(key, { ...plan, ...r })
      const list = jobs.get(it.device) ?? []
      list.push({ src: r.src, name: r.name })
      jobs.set(it.device, list)
      // the compiler builds these while the next ones render
      const start = dev.compiler.startMany
      const previous = early.get(it.device)
      if (start !== undefined && list.length >= BUILD_CHUNK && (previous === undefined || previous.done())) {
        const started = start(list, true)
        early.set(it.device, started)
        waits.push(started.wait)
        jobs.delete(it.device)
      }
    }
    for (const [device, list] of jobs) {
      const c = Device.get(device).compiler
      if (list.length > 1 || (list.length && waits.length))
        waits.push(c.startMany?.(list).wait ?? (() => c.compileMany?.(list)))
    }
  } finally {
    for (const w of waits) w()
  }
}

/** Whether an item needs no build: a copy, or a kernel whose program its AST already has. */
const hasKernel = (it: ScheduleItem): boolean =>
  it.kind !== 'kernel' || kernelOfAst.get(it.ast)?.device === it.device

/** Forget the compiled kernels, so the next launches choose their opts again (benchmarks: BEAM against the heuristics in one process). */
export function clearKernelCache(): void {
  programCache.clear()
  prerendered.clear()
  kernelOfAst = new WeakMap()
}

/** A fill kernel (engine/fill.ts) as a host program, or undefined for any other kernel. */
function fillKernel(device: string, ast: UOp): CompiledKernel | undefined {
  const fill = fillOf(ast)
  if (fill === undefined) return undefined
  stats.fills++
  const program = fillProgram(fill, Device.get(device).allocator)
  return { name: `fill_${fill.size}`, src: '', program, vars: fill.constVar ? [fill.constVar] : [] }
}

export function getKernel(device: string, ast: UOp): CompiledKernel {
  const known = kernelOfAst.get(ast)
  if (known?.device === device) return known.kernel
  const key = `${device}|${ast.key}`
  let k = programCache.get(key)
  if (!k && (k = fillKernel(device, ast)) !== undefined) programCache.set(key, k)
  if (!k) {
    const dev = Device.get(device)
    const pre = prerendered.get(key)
    prerendered.delete(key)
    const quick = pre === undefined && quickFirst(dev, ast)
    const plan = pre ?? planBuild(device, dev, ast, quick)
    viz?.kernelBegin(device, ast, plan.opts)
    const r = pre ?? renderKernel(ast, dev.renderer, plan.opts, quick ? dev.quickRenderer : undefined)
    if (DEBUG() >= 3)
      console.log(`opts ${r.name} ${device}${plan.full ? ' (first tier)' : ''}: ${fmtOpts(plan.opts)}`)
    if (DEBUG() >= 4) console.log(`// ${device} ${r.name}\n${r.src}`)
    const artifact =
      'quickSrc' in r && r.quickSrc !== undefined && dev.compiler.compileQuick
        ? dev.compiler.compileQuick(r.src, r.quickSrc, r.name)
        : dev.compiler.compile(r.src, r.name)
    let program = dev.runtime(artifact, r.name)
    const full = plan.full
    if (full !== undefined) {
      tierStats.firstTier++
      const first = { vars: r.vars, sums: r.sums }
      program = tieredProgram(program, () => startFullBuild(device, ast, full, first))
    }
    viz?.kernelEnd(r.name, r.src)
    k = { name: r.name, src: r.src, program, vars: r.vars }
    programCache.set(key, k)
    stats.kernelsCompiled++
  }
  kernelOfAst.set(ast, { device, kernel: k })
  return k
}

export interface RealizeResult {
  /** buffer view (BUFFER, reshaped to the node's shape) for each root */
  views: UOp[]
  items: ScheduleItem[]
}

/**
 * The schedule of `roots` with the layouts each device's renderer asks for (pass `layouts`), its
 * items and buffers named by the nodes of the graph as given (the schedule cache keys by them).
 */
function scheduleLaidOut(roots: readonly UOp[], topo: readonly UOp[]): Schedule {
  const laid = applyLayouts(roots, topo, (d) => Device.get(d).renderer.layout)
  const limitsOf = (d: string) => Device.get(d).renderer.limits
  if (laid.roots === roots) return createSchedule(roots, topo, limitsOf)
  const sched = createSchedule(laid.roots, undefined, limitsOf)
  const asGiven = (u: UOp): UOp => laid.origin.get(u) ?? laid.servedBy.get(u) ?? u
  const realized = new Map<UOp, SchedBuf>()
  // (the pass's own copies have no node in the graph as given: they are temporaries)
  for (const [u, b] of sched.realized) if (!laid.servedBy.has(u)) realized.set(laid.origin.get(u) ?? u, b)
  return { items: sched.items.map((it) => ({ ...it, node: asGiven(it.node) })), realized }
}

/** The schedule that realizing `roots` would run (no buffers allocated, nothing launched). */
// There is no global cache of realized lazy nodes: buffers change under ASSIGN, so an equal graph
// built later may stand for different values. Tensors swap their own node instead.
// Schedules are cached by graph structure (schedule/cache.ts); not while VIZ records, which follows
// the scheduling rewrites of every realize.
export function scheduleFor(roots: readonly UOp[]): PlannedSchedule {
  return cachedSchedule(
    roots,
    (topo, fwdRoots) => {
      const sched = scheduleLaidOut(fwdRoots, topo)
      const keep = new Set(
        fwdRoots.map((r) => sched.realized.get(r)).filter((b): b is SchedBuf => b !== undefined),
      )
      const items = planMemory(sched.items, keep).map((it) =>
        it.kind === 'kernel' ? { ...it, ...liftConsts(it.ast) } : it,
      )
      return { items, realized: sched.realized }
    },
    viz !== null,
  )
}

/** Sees every realize after it ran (the jit records launches through it): items, their buffers, and
 * the SchedBufs the caller keeps (the rest of the fresh ones are schedule temporaries). */
export type RealizeObserver = (
  items: readonly ScheduleItem[],
  bufFor: (s: SchedBuf) => Buffer,
  keep: ReadonlySet<SchedBuf>,
  /** each variable's value in this realize (schedule/unbind.ts) */
  vals: ReadonlyMap<UOp, number>,
) => void
let observer: RealizeObserver | undefined
/** Install (or clear) the observer; returns the previous one. */
export function setRealizeObserver(o: RealizeObserver | undefined): RealizeObserver | undefined {
  const prev = observer
  observer = o
  return prev
}

/**
 * Every buffer a schedule creates must fit its device (a host device keeps a buffer in one
 * TypedArray: 2^32 elements on Node 20): checked before anything compiles or runs, naming the
 * tensor, not a RangeError from deep inside the allocator.
 */
function checkAllocatable(items: readonly ScheduleItem[]): void {
  for (const it of items) {
    const out = it.bufs[0]
    if (out.existing) continue
    const max = Device.get(out.device).allocator.maxElements
    if (max === undefined || out.size <= max) continue
    const n = it.node
    const bytes = out.size * out.dtype.itemsize
    throw new TsgradError(
      `realize: the ${out.dtype.name} tensor of shape ${fmtSShape(n.shape ?? [out.size])} (${n.op}) needs a buffer of ` +
        `${out.size} elements (${fmtBytes(bytes)}); the ${out.device} device allocates at most ${max} elements per buffer`,
    )
  }
}

const fmtBytes = (b: number): string =>
  b >= 2 ** 30
    ? `${(b / 2 ** 30).toFixed(1)} GiB`
    : b >= 2 ** 20
      ? `${(b / 2 ** 20).toFixed(1)} MiB`
      : `${b} bytes`

/**
 * Called with the nodes of a planned schedule that overwrites existing buffers (ASSIGN targets:
 * `written`, never empty) before anything runs. May throw (a graph that must not run), and may
 * return more nodes to realize in the same schedule: lazy readers of the old values, which the
 * scheduler then orders before the writes.
 */
export type BeforeRun = (
  nodes: { has(u: UOp): boolean },
  written: ReadonlySet<Buffer>,
) => readonly UOp[] | undefined

const NONE_WRITTEN: ReadonlySet<Buffer> = new Set()

/** Existing buffers the schedule overwrites; a disposed input is an error naming the kernel. */
function checkInputs(items: readonly ScheduleItem[]): ReadonlySet<Buffer> {
  // (made only for a schedule that writes in place: most write fresh buffers only)
  let written: Set<Buffer> | undefined
  for (const it of items)
    for (let i = 0; i < it.bufs.length; i++) {
      const b = it.bufs[i]!.existing as Buffer | undefined
      if (b === undefined) continue
      if (b.disposed) {
        const n = it.node
        throw new TsgradError(
          `realize: ${n.op} ${fmtSShape(n.shape ?? [])} ${n.dtype.name} on ${n.device} reads a buffer (${b.describe()}) that was disposed; dispose() a tensor only after everything computed from it has been realized`,
        )
      }
      if (i === 0) (written ??= new Set()).add(b)
    }
  return written ?? NONE_WRITTEN
}

/**
 * Run the schedule of `roots` (plus the extra roots `beforeRun` asks for); returns a buffer view
 * per root, the extra ones after the requested ones.
 */
export function realize(
  roots: readonly UOp[],
  viewOf: (buf: Buffer, like: UOp) => UOp,
  beforeRun?: BeforeRun,
): RealizeResult {
  const t0 = now()
  // bound variables leave the graph here: the schedule and kernels see only DEFINE_VARs; the
  // scheduler sees each CUSTOM_GRAD as its forward value (plan.roots are the nodes it knows the
  // roots by, plan.covered the graph's nodes as the unbound graph has them)
  let unbound = unbindGraph(roots)
  let plan = scheduleFor(unbound.roots)
  let written = checkInputs(plan.items)
  // the caller asks about its own (bound) nodes: seen through the replacements of unbind_vars
  const extra =
    written.size && beforeRun
      ? beforeRun({ has: (u: UOp): boolean => plan.covered.has(unbound.replaced.get(u) ?? u) }, written)
      : undefined
  if (extra?.length) {
    roots = [...roots, ...extra]
    unbound = unbindGraph(roots)
    plan = scheduleFor(unbound.roots)
    written = checkInputs(plan.items)
  }
  const { vals } = unbound
  const sroots = plan.roots
  const { items, realized } = plan
  viz?.schedule(items)
  const bufs = new Map<SchedBuf, Buffer>()
  const bufFor = (s: SchedBuf): Buffer => {
    if (s.existing) return s.existing as Buffer
    let b = bufs.get(s)
    if (!b) bufs.set(s, (b = new Buffer(s.device, s.size, s.dtype)))
    return b
  }
  checkAllocatable(items)
  const debug = DEBUG()
  precompile(items)
  for (const it of items) runItem(it, bufFor, debug, vals)
  stats.schedules++
  markWritten(written)
  const keep = new Set<SchedBuf>()
  for (const r of sroots) {
    const b = realized.get(r)
    if (b) keep.add(b)
  }
  if (observer) observer(items, bufFor, keep, vals)
  // temporaries go back to the device's pool now rather than at the next GC: a fresh buffer costs
  // a page fault per 4 KiB on first write (a 16 MB packed matmul operand: ~3 ms). A jit capture
  // (the observer) keeps them for its replays.
  else for (const [s, b] of bufs) if (!keep.has(s)) b.dispose()
  const views = roots.map((r, i) => {
    const sb = realized.get(sroots[i]!)
    if (!sb) return r // already a buffer view
    return viewOf(bufFor(sb), r)
  })
  if (debug >= 1 && items.length)
    console.log(
      `realize: ${items.filter((i) => i.kind === 'kernel').length} kernels, ${(now() - t0).toFixed(2)} ms`,
    )
  return { views, items }
}

function runItem(
  it: ScheduleItem,
  bufFor: (s: SchedBuf) => Buffer,
  debug: number,
  vals: ReadonlyMap<UOp, number>,
): void {
  if (it.kind === 'copy') {
    const [dst, src] = it.bufs.map(bufFor) as [Buffer, Buffer]
    const c0 = viz ? now() : 0
    const data = src.copyout()
    if (data instanceof Promise) throw new Error('COPY from an async device needs an async realize')
    dst.copyin(data)
    viz?.copy(src.device, dst.device, dst.nbytes, c0, now() - c0)
    if (debug >= 2) console.log(`  copy ${src.device} -> ${dst.device} ${dst.nbytes} bytes`)
    return
  }
  const k = getKernel(it.device, it.ast)
  const raws = it.bufs.map((b) => bufFor(b).raw)
  const t0 = debug >= 2 || viz ? now() : 0
  if (k.vars.length) k.program(raws, varValues(k.vars, vals, k.name, it.consts))
  else k.program(raws)
  stats.kernelsRun++
  viz?.launch(k.name, it, t0, now() - t0)
  if (debug >= 2) {
    const ms = now() - t0
    const cost = estimateCost(
      it.ast,
      it.bufs.map((b) => b.size * b.dtype.itemsize),
    )
    const s = ms / 1e3
    console.log(
      `  ${k.name.padEnd(24)} ${it.device.padEnd(5)} global ${`[${cost.globalSize.join(',')}]`.padEnd(14)} ${ms.toFixed(3).padStart(8)} ms ${(cost.flops / s / 1e9).toFixed(2).padStart(8)} GFLOP/s ${(cost.bytes / s / 1e9).toFixed(2).padStart(7)} GB/s`,
    )
  }
}
