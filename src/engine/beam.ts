// BEAM search over Opt lists: compile and time candidates on the device, keep the best `width`
// each round, stop when a round does not improve or the time budget (BEAM_TIMEOUT s) runs out.
// The winner is cached on disk per (kernel, device toolchain, width).
import { handOpts } from '../codegen/heuristics.js'
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
/** Longest CHAIN tried: one accumulator updated this many times per loop iteration. */
const CHAIN_MAX_STEPS = 16

/** Counters for tests and DEBUG: searches run, results served from the disk cache, candidates timed. */
export const beamStats = { searches: 0, cacheHits: 0, timed: 0 }

/** Every Opt that can extend `opts` on this kernel. */
export function candidateActions(ast: UOp, opts: readonly Opt[], threads: boolean): Opt[] {
  const s = new OptState(ast)
  for (const o of opts) s.apply(o)
  const out: Opt[] = []
  const sizes = s.sizes()
  for (let a = 0; a < sizes.length; a++) {
    const output = a < s.outputAxes
    for (const k of output ? UPCAST_AMOUNTS : UNROLL_AMOUNTS) {
      const o: Opt = { op: output ? 'UPCAST' : 'UNROLL', axis: a, arg: k }
      if (s.check(o) === undefined && s.expansion * k <= MAX_EXPANSION) out.push(o)
    }
    // a short reduce axis as straight-line steps of one accumulator (whole, or halves)
    if (!output)
      for (const k of new Set([sizes[a]!, sizes[a]! / 2]))
        if (k <= CHAIN_MAX_STEPS) {
          const o: Opt = { op: 'CHAIN', axis: a, arg: k }
          if (s.check(o) === undefined && s.expansion * k <= MAX_EXPANSION) out.push(o)
        }
    if (output && a > 0) {
      const o: Opt = { op: 'SWAP', axis: 0, arg: a }
      if (s.check(o) === undefined) out.push(o)
    }
  }
  const t: Opt = { op: 'THREAD', axis: 0, arg: 0 }
  if (threads && s.check(t) === undefined) out.push(t)
  return out
}

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

export function beamSearch(device: string, ast: UOp, width: number): Opt[] {
  const dev = Device.get(device)
  // a launch on an asynchronous device (WEBGPU) only records work: it cannot be timed here, so
  // the heuristics choose (timing through the device's queue would need an async search)
  if (dev.asyncReads) return handOpts(ast, dev.renderer.target)
  const key = cacheKey('beam-v1', device, dev.compiler.key, ast.key, String(width))
  const cached = readCachedText('beam', key)
  const hit = cached === undefined ? undefined : validCached(ast, cached)
  if (hit) {
    beamStats.cacheHits++
    if (DEBUG() >= 3) console.log(`beam: cached ${fmtOpts(hit)}`)
    return hit
  }
  beamStats.searches++
  const budgetMs = getEnvNum('BEAM_TIMEOUT', 60) * 1e3
  const t0 = now()
  const bufs = scratchBuffers(dev, ast)
  const timed = new Map<string, number>()
  const time = (opts: readonly Opt[]): number => {
    const k = fmtOpts(opts)
    let t = timed.get(k)
    if (t !== undefined) return t
    beamStats.timed++
    try {
      const r = renderKernel(ast, dev.renderer, opts)
      const prog = dev.runtime(dev.compiler.compile(r.src, r.name), r.name)
      // symbolic sizes are timed at their variables' largest values (the scratch buffers fit them)
      // (a lifted constant at 1.0: the top of its range is a NaN)
      const vals = r.vars.map((v) => (isConstVar(v) ? float32Bits(1) : v.vmax))
      t = Number.POSITIVE_INFINITY
      for (let i = 0; i < 3; i++) {
        const s = now()
        void (vals.length ? prog(bufs, vals) : prog(bufs))
        t = Math.min(t, now() - s)
      }
    } catch (e) {
      if (DEBUG() >= 3) console.log(`beam: ${k} failed: ${(e as Error).message.split('\n')[0]}`)
      t = Number.POSITIVE_INFINITY
    }
    timed.set(k, t)
    return t
  }
  const threads = dev.renderer.target.threads
  let beams: { opts: Opt[]; ms: number }[] = [[], handOpts(ast, dev.renderer.target)].map((opts) => ({
    opts,
    ms: time(opts),
  }))
  beams.sort((a, b) => a.ms - b.ms)
  beams = beams.slice(0, width)
  for (let round = 0; now() - t0 < budgetMs; round++) {
    const best = beams[0]!.ms
    const next = [...beams]
    for (const b of beams) {
      for (const a of candidateActions(ast, b.opts, threads)) {
        if (now() - t0 >= budgetMs) break
        const opts = [...b.opts, a]
        next.push({ opts, ms: time(opts) })
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
  const win = beams[0]!.opts
  if (cacheEnabled()) writeCachedText('beam', key, JSON.stringify(win))
  return win
}
