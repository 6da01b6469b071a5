// BEAM search over Opt lists: compile and time candidates on the device, keep the best `width`
// each round, stop when a round does not improve or the time budget (BEAM_TIMEOUT s) runs out.
// The winner is cached on disk per (kernel, device toolchain, width).
//
// The search itself (`searchSteps`) is a generator that yields the Opt lists it wants timed, so one
// search serves both kinds of device: a synchronous one (CPU, JS, WASM) is timed around the launch
// right here; an asynchronous one (WEBGPU: a launch only records work) is timed on the device
// (`timeKernel`: GPU timestamps) by a search that runs in the background. Until that search ends
// the kernel runs with the heuristics' opts; the caller is told when the winner is known
// (`onWinner`), and `beamIdle()` waits for the searches under way.
import type { GPULimits } from '../codegen/gpu_opts.js'
import { stagedElements } from '../codegen/stage.js'
import { handOpts, type OptTarget } from '../codegen/heuristics.js'
import { float32Bits, isConstVar } from '../codegen/lift_consts.js'
import { renderKernel } from '../codegen/kernel.js'
import { applyOpts, fmtOpts, type Opt, OptState } from '../codegen/opts.js'
import type { DType } from '../dtype.js'
import { DEBUG, getEnvNum, now } from '../helpers.js'
import { type CompiledDevice, Device } from '../runtime/device.js'
import { cacheEnabled, cacheKey, readCachedText, writeCachedText } from '../runtime/diskcache.js'
import { Ops, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'

const UPCAST_AMOUNTS = [2, 3, 4, 6, 8, 16, 32]
const UNROLL_AMOUNTS = [2, 4, 8, 16]
/** straight-line copies of the loop body a candidate may have */
const MAX_EXPANSION = 512
/**
 * On a GPU: per invocation (an 8 x 8 register tile). Larger tiles spill there, and lavapipe's LLVM
 * took 30 s to build one 16 x 16 candidate.
 */
const MAX_EXPANSION_GPU = 64
/** Longest CHAIN tried: one accumulator updated this many times per loop iteration. */
const CHAIN_MAX_STEPS = 16

/** Counters for tests and DEBUG: searches run, results served from a cache (this process's or the disk's), candidates timed. */
export const beamStats = { searches: 0, cacheHits: 0, timed: 0 }

/** Every Opt that can extend `opts` on this kernel. */
export function candidateActions(ast: UOp, opts: readonly Opt[], threads: boolean, gpu?: GPULimits): Opt[] {
  const s = new OptState(ast)
  for (const o of opts) s.apply(o)
  const out: Opt[] = []
  const sizes = s.sizes()
  const maxExpansion = gpu ? MAX_EXPANSION_GPU : MAX_EXPANSION
  for (let a = 0; a < sizes.length; a++) {
    const output = a < s.outputAxes
    for (const k of output ? UPCAST_AMOUNTS : UNROLL_AMOUNTS) {
      const o: Opt = { op: output ? 'UPCAST' : 'UNROLL', axis: a, arg: k }
      if (s.check(o) === undefined && s.expansion * k <= maxExpansion) out.push(o)
    }
    // a short reduce axis as straight-line steps of one accumulator (whole, or halves)
    if (!output)
      for (const k of new Set([sizes[a]!, sizes[a]! / 2]))
        if (k <= CHAIN_MAX_STEPS) {
          const o: Opt = { op: 'CHAIN', axis: a, arg: k }
          if (s.check(o) === undefined && s.expansion * k <= maxExpansion) out.push(o)
        }
    if (output && a > 0) {
      const o: Opt = { op: 'SWAP', axis: 0, arg: a }
      if (s.check(o) === undefined) out.push(o)
    }
  }
  const t: Opt = { op: 'THREAD', axis: 0, arg: 0 }
  if (threads && s.check(t) === undefined) out.push(t)
  if (gpu) out.push(...gpuActions(s, gpu))
  return out
}

/** Smallest workgroup a GROUP reduce is tried with (fewer invocations do not pay for the barriers). */
const GROUP_MIN = 16

/**
 * The GPU opts: GROUP of a reduce axis by each power of two the workgroup and its memory allow
 * (after a first GROUP, of the kernel's other reduce axes by its size), and after a GROUP, LOCAL
 * of an output axis by the same size (OptState.check refuses an axis a reduce depends on); the
 * workgroup-memory tiling (tileActions).
 */
function gpuActions(s: OptState, gpu: GPULimits): Opt[] {
  const out: Opt[] = [...tileActions(s, gpu)]
  const sizes = s.sizes()
  const reduces = toposort([s.ast]).filter((u) => u.op === Ops.REDUCE).length
  for (let a = 0; a < sizes.length; a++) {
    const output = a < s.outputAxes
    if (output && s.groups.length) {
      const o: Opt = { op: 'LOCAL', axis: a, arg: sizeOfRange(s.groups[0]!) }
      if (s.check(o) === undefined) out.push(o)
    }
    if (output) continue
    // after a first GROUP, the kernel's other reduces by the same workgroup size
    const ks = s.groups.length ? [sizeOfRange(s.groups[0]!)] : []
    if (!s.groups.length)
      for (let k = GROUP_MIN; k <= gpu.maxWorkgroup && k * 4 * reduces <= gpu.localMemory; k *= 2) ks.push(k)
    for (const k of ks) {
      const o: Opt = { op: 'GROUP', axis: a, arg: k }
      if (s.check(o) === undefined) out.push(o)
    }
  }
  return out
}

/** Invocations along one axis of a 2-D workgroup tried by BEAM. */
const WORKGROUP_SIZES = [2, 4, 8, 16]
/** Depths of the operand tiles STAGE copies per step. */
const STAGE_DEPTHS = [4, 8, 16, 32]

/**
 * The workgroup-memory tiling of a kernel that reduces (a matmul): WORKGROUP of up to two output
 * axes (the workgroup at most the device's), then STAGE of a reduce axis by a depth whose tiles
 * fit the workgroup memory (4-byte elements counted).
 */
function tileActions(s: OptState, gpu: GPULimits): Opt[] {
  const out: Opt[] = []
  const sizes = s.sizes()
  if (s.groups.length || sizes.length === s.outputAxes || s.staged) return out
  const invocations = s.locals.reduce((a, l) => a * sizeOfRange(l), 1)
  if (s.locals.length < 2)
    for (let a = 0; a < s.outputAxes; a++)
      for (const k of WORKGROUP_SIZES) {
        const o: Opt = { op: 'WORKGROUP', axis: a, arg: k }
        if (invocations * k <= gpu.maxWorkgroup && s.check(o) === undefined) out.push(o)
      }
  if (s.locals.length)
    for (let a = s.outputAxes; a < sizes.length; a++)
      for (const k of STAGE_DEPTHS) {
        const o: Opt = { op: 'STAGE', axis: a, arg: k }
        if (s.check(o) === undefined && 4 * stagedElements(s.ast, s.axes[a]!, s.locals, k) <= gpu.localMemory)
          out.push(o)
      }
  return out
}

const sizeOfRange = (r: UOp): number => r.src[0]!.constValue

/** Buffers sized from the largest index each DEFINE_GLOBAL is accessed at. */
function scratchBuffers(dev: CompiledDevice, ast: UOp): unknown[] {
  const need = new Map<number, { size: number; dtype: DType }>()
  for (const u of toposort([ast])) {
    if (u.op !== Ops.LOAD && u.op !== Ops.STORE) continue
    const g = u.src[0]!
    const i = g.arg as number
    const size = Math.max(need.get(i)?.size ?? 1, u.src[1]!.vmax + 1)
    need.set(i, { size, dtype: g.dtype })
  }
  const bufs: unknown[] = []
  for (const [i, { size, dtype }] of need) bufs[i] = dev.allocator.alloc(size, dtype)
  return bufs
}

/** A cached Opt list if it parses and applies to this kernel (a corrupt entry is searched again). */
function validCached(ast: UOp, text: string): Opt[] | undefined {
  try {
    const opts = JSON.parse(text) as Opt[]
    applyOpts(ast, opts)
    return opts
  } catch {
    return undefined
  }
}

/** The kernel's toolchain-specific cache key of a BEAM result. */
function beamKey(device: string, ast: UOp, width: number): string {
  return cacheKey('beam-v1', device, Device.get(device).compiler.key, ast.key, String(width))
}

/** A result found in this process or on disk (a corrupt or stale entry counts as none). */
function knownWinner(device: string, ast: UOp, width: number): Opt[] | undefined {
  const key = beamKey(device, ast, width)
  const found = winners.get(key)
  if (found) {
    beamStats.cacheHits++
    return found
  }
  const cached = readCachedText('beam', key)
  const hit = cached === undefined ? undefined : validCached(ast, cached)
  if (hit) {
    beamStats.cacheHits++
    winners.set(key, hit)
    if (DEBUG() >= 3) console.log(`beam: cached ${fmtOpts(hit)}`)
  }
  return hit
}

function remember(device: string, ast: UOp, width: number, win: Opt[]): void {
  const key = beamKey(device, ast, width)
  winners.set(key, win)
  if (cacheEnabled()) writeCachedText('beam', key, JSON.stringify(win))
}

/** winners found in this process, by beamKey (the disk cache may be off) */
const winners = new Map<string, Opt[]>()

/** One candidate rendered and compiled for timing: what a timer runs. */
interface Candidate {
  artifact: unknown
  name: string
  /** variable values: symbolic sizes are timed at their largest (the scratch buffers fit them), lifted constants at 1.0 */
  vals: number[] | undefined
}

function compileCandidate(device: string, ast: UOp, opts: readonly Opt[]): Candidate {
  const dev = Device.get(device)
  const r = renderKernel(ast, dev.renderer, opts)
  // (a lifted constant at 1.0: the top of its range is a NaN)
  const vals = r.vars.map((v) => (isConstVar(v) ? float32Bits(1) : v.vmax))
  return { artifact: dev.compiler.compile(r.src, r.name), name: r.name, vals: vals.length ? vals : undefined }
}

/** BEAM_TIMEOUT in ms (read when a search is asked for: a background one starts later). */
const budgetMs = (): number => getEnvNum('BEAM_TIMEOUT', 60) * 1e3

/**
 * The search: yields each Opt list to time and takes back its time in ms (Infinity: failed);
 * returns the winner once `budgetMs` have passed from its start, or a round did not improve.
 */
function* searchSteps(
  ast: UOp,
  width: number,
  target: OptTarget,
  budgetMs: number,
): Generator<Opt[], Opt[], number> {
  const t0 = now()
  const timed = new Map<string, number>()
  function* time(opts: Opt[]): Generator<Opt[], number, number> {
    const k = fmtOpts(opts)
    let t = timed.get(k)
    if (t === undefined) {
      beamStats.timed++
      t = yield opts
      timed.set(k, t)
    }
    return t
  }
  let beams: { opts: Opt[]; ms: number }[] = []
  for (const opts of [[], handOpts(ast, target)]) beams.push({ opts, ms: yield* time(opts) })
  beams.sort((a, b) => a.ms - b.ms)
  beams = beams.slice(0, width)
  for (let round = 0; now() - t0 < budgetMs; round++) {
    const best = beams[0]!.ms
    const next = [...beams]
    for (const b of beams) {
      for (const a of candidateActions(ast, b.opts, target.threads, target.gpu)) {
        if (now() - t0 >= budgetMs) break
        const opts = [...b.opts, a]
        next.push({ opts, ms: yield* time(opts) })
      }
    }
    const seen = new Set<string>()
    beams = next
      .sort((a, b) => a.ms - b.ms)
      .filter((b) => {
        const k = fmtOpts(b.opts)
        if (seen.has(k)) return false
        seen.add(k)
        return true
      })
      .slice(0, width)
    if (DEBUG() >= 3)
      console.log(
        `beam round ${round}: ${beams[0]!.ms.toFixed(3)} ms ${fmtOpts(beams[0]!.opts)} (${timed.size} timed, ${((now() - t0) / 1e3).toFixed(1)} s)`,
      )
    if (!(beams[0]!.ms < best * 0.99)) break
  }
  return beams[0]!.opts
}

const failed = (opts: readonly Opt[], e: unknown): number => {
  if (DEBUG() >= 3) console.log(`beam: ${fmtOpts(opts)} failed: ${(e as Error).message.split('\n')[0]}`)
  return Number.POSITIVE_INFINITY
}

/** Launches timed per candidate (the fastest counts). */
const RUNS = 3

/** The search on a synchronous device: each candidate timed around its launches. */
function searchHere(device: string, ast: UOp, width: number): Opt[] {
  const dev = Device.get(device)
  const bufs = scratchBuffers(dev, ast)
  const steps = searchSteps(ast, width, dev.renderer.target, budgetMs())
  let step = steps.next()
  while (!step.done) {
    const opts = step.value
    let t: number
    try {
      const c = compileCandidate(device, ast, opts)
      const prog = dev.runtime(c.artifact, c.name)
      t = Number.POSITIVE_INFINITY
      for (let i = 0; i < RUNS; i++) {
        const s = now()
        void (c.vals ? prog(bufs, c.vals) : prog(bufs))
        t = Math.min(t, now() - s)
      }
    } catch (e) {
      t = failed(opts, e)
    }
    step = steps.next(t)
  }
  return step.value
}

/** The search on an asynchronous device: each candidate timed by the device (timeKernel). */
async function searchOnDevice(device: string, ast: UOp, width: number, budget: number): Promise<Opt[]> {
  const dev = Device.get(device)
  const timeKernel = dev.timeKernel!
  const bufs = scratchBuffers(dev, ast)
  try {
    const steps = searchSteps(ast, width, dev.renderer.target, budget)
    let step = steps.next()
    while (!step.done) {
      const opts = step.value
      let t: number
      try {
        const c = compileCandidate(device, ast, opts)
        t = await timeKernel(c.artifact, c.name, bufs, c.vals, RUNS)
      } catch (e) {
        t = failed(opts, e)
      }
      step = steps.next(t)
    }
    return step.value
  } finally {
    for (const b of bufs) if (b !== undefined) dev.allocator.free(b)
  }
}

/** the background searches, one at a time (their timings would disturb each other) */
let searching: Promise<void> = Promise.resolve()
const underWay = new Set<string>()

/** Resolves when the BEAM searches started so far (on asynchronous devices) have ended. */
export async function beamIdle(): Promise<void> {
  let p: Promise<void>
  do {
    p = searching
    await p
  } while (p !== searching)
}

/**
 * The BEAM opts of `ast` on `device`: a known winner (this process, or the disk cache), else a
 * search. On a device that times kernels asynchronously the search starts in the background and
 * the heuristics' opts serve until `onWinner` is called with its result.
 */
export function beamSearch(device: string, ast: UOp, width: number, onWinner?: (opts: Opt[]) => void): Opt[] {
  const dev = Device.get(device)
  const hit = knownWinner(device, ast, width)
  if (hit) return hit
  if (!dev.asyncReads) {
    beamStats.searches++
    const win = searchHere(device, ast, width)
    remember(device, ast, width, win)
    return win
  }
  const fallback = handOpts(ast, dev.renderer.target)
  // a device without a timer: the heuristics choose
  if (!dev.timeKernel) return fallback
  const key = beamKey(device, ast, width)
  if (!underWay.has(key)) {
    underWay.add(key)
    beamStats.searches++
    const budget = budgetMs()
    searching = searching
      .then(() => searchOnDevice(device, ast, width, budget))
      .then(
        (win) => {
          remember(device, ast, width, win)
          if (DEBUG() >= 2) console.log(`beam: ${device} winner ${fmtOpts(win)}`)
          onWinner?.(win)
        },
        (e: Error) => {
          // the device failed (it reports that at the next read): the heuristics stay
          if (DEBUG() >= 1) console.log(`beam: search on ${device} failed: ${e.message}`)
        },
      )
      .finally(() => underWay.delete(key))
  }
  return fallback
}
