// Captured kernel graphs (the engine half of `jit`): record every launch of the realizes run during
// one call, plan the temporaries of all of them together, and replay the launches as a plain loop
// of `program(raws)` with only the input buffers swapped.
import { DEBUG, now, TsgradError } from '../helpers.js'
import { Buffer, markWritten } from '../runtime/buffer.js'
import { Device } from '../runtime/device.js'
import type { SchedBuf, ScheduleItem } from '../schedule/schedule.js'
import { varValues } from '../schedule/unbind.js'
import type { UOp } from '../uop/ops.js'
import { viz } from '../trace.js'
import { getKernel, setRealizeObserver, stats } from './realize.js'

/** One recorded launch: a kernel (name set) or a copy between devices (bufs = [dst, src]). */
interface Launch {
  readonly name: string | undefined
  readonly run: (raws: unknown[], vals?: readonly number[]) => void
  /** the kernel's variables (DEFINE_VARs, in parameter order) and their values at capture */
  readonly vars?: readonly UOp[]
  readonly capturedVals?: readonly number[]
  bufs: Buffer[]
  /** the schedule item it came from (VIZ profiles replays with it) */
  readonly item: ScheduleItem
}

function copyRun(dst: Buffer, src: Buffer): (raws: unknown[]) => void {
  const to = Device.get(dst.device).allocator
  const from = Device.get(src.device).allocator
  return (raws) => {
    const data = from.copyout(raws[1], src.size, src.dtype)
    if (data instanceof Promise)
      throw new TsgradError('jit: COPY from an asynchronous device cannot be replayed')
    to.copyin(raws[0], data)
  }
}

function copyOf(b: Buffer): Buffer {
  const data = b.copyout()
  if (data instanceof Promise) throw new TsgradError('jit: cannot copy an input on an asynchronous device')
  return new Buffer(b.device, b.size, b.dtype).copyin(data)
}

/** Collects the launches of every realize while it is active (one recorder at a time). */
export class Recorder {
  readonly launches: Launch[] = []
  /** buffers that were schedule temporaries: nothing outside the recorded launches sees them */
  readonly temps = new Set<Buffer>()
  /** fresh buffers a realize kept (the values of the tensors it realized) */
  readonly kept = new Set<Buffer>()
  private active = false

  start(): void {
    const prev = setRealizeObserver((items, bufFor, keep, vals) => this.record(items, bufFor, keep, vals))
    if (prev) {
      setRealizeObserver(prev)
      throw new TsgradError('jit: another capture is already running')
    }
    this.active = true
  }

  stop(): void {
    if (!this.active) return
    this.active = false
    setRealizeObserver(undefined)
  }

  private record(
    items: readonly ScheduleItem[],
    bufFor: (s: SchedBuf) => Buffer,
    keep: ReadonlySet<SchedBuf>,
    vals: ReadonlyMap<UOp, number>,
  ): void {
    for (const it of items) {
      for (const s of it.bufs) if (!s.existing) (keep.has(s) ? this.kept : this.temps).add(bufFor(s))
      const bufs = it.bufs.map(bufFor)
      if (it.kind === 'copy')
        this.launches.push({ name: undefined, run: copyRun(bufs[0]!, bufs[1]!), bufs, item: it })
      else {
        const k = getKernel(it.device, it.ast)
        const run = k.program as Launch['run']
        if (k.vars.length)
          this.launches.push({
            name: k.name,
            run,
            bufs,
            item: it,
            vars: k.vars,
            capturedVals: varValues(k.vars, vals, k.name, it.consts),
          })
        else this.launches.push({ name: k.name, run, bufs, item: it })
      }
    }
  }
}

/**
 * Share one buffer between temporaries whose lifetimes (first to last launch using them) do not
 * overlap, across all the realizes of the capture (each realize already planned its own).
 * A launch's outputs are placed before its last-use inputs are released, so a launch never
 * writes a slot it reads. Returns the number of temporaries freed.
 */
function planTemps(launches: Launch[], temps: ReadonlySet<Buffer>): number {
  const last = new Map<Buffer, number>()
  launches.forEach((l, i) => {
    for (const b of l.bufs) if (temps.has(b)) last.set(b, i)
  })
  const slot = new Map<Buffer, Buffer>()
  const free = new Map<string, Buffer[]>()
  const key = (b: Buffer): string => `${b.device}|${b.dtype.name}|${b.size}`
  launches.forEach((l, i) => {
    for (const b of l.bufs) if (temps.has(b) && !slot.has(b)) slot.set(b, free.get(key(b))?.pop() ?? b)
    for (const b of new Set(l.bufs))
      if (last.get(b) === i) {
        const s = slot.get(b)!
        const pool = free.get(key(s)) ?? []
        pool.push(s)
        free.set(key(s), pool)
      }
    l.bufs = l.bufs.map((b) => slot.get(b) ?? b)
  })
  let freed = 0
  for (const [b, s] of slot)
    if (b !== s) {
      b.dispose()
      freed++
    }
  return freed
}

export interface GraphStats {
  kernels: number
  copies: number
  /** temporaries recorded, and how many remain after planning across the call's realizes */
  temps: number
  tempsPlanned: number
  /** bytes of the buffers the graph allocated and owns (temporaries after planning) */
  tempBytes: number
}

/** A dropped capture releases its pins (a disposed buffer it kept is freed then). */
const unpinOnCollect = new FinalizationRegistry<Buffer[]>((bufs) => {
  for (const b of bufs) b.unpin()
})

/** A recorded launch list, replayable with new input buffers. */
export class CapturedGraph {
  readonly stats: GraphStats
  private readonly runs: Launch['run'][]
  /** launches that take variables: index, variables, values at capture (used when a replay does not bind one) */
  private readonly varLaunches: { index: number; vars: readonly UOp[]; captured: readonly number[] }[]
  private readonly names: string[]
  private readonly items: ScheduleItem[]
  private readonly raws: unknown[][]
  /** keeps every buffer the launches use alive (the raws alone would not stop the finalizer) */
  private readonly held: Buffer[][]
  /** where each input goes: launch index, argument index, input index */
  private readonly slots: Int32Array
  /** buffers the launches write (inputs excluded): an input that is one of them is copied first */
  private readonly written: Set<Buffer>
  /** buffers that outlive a replay and are overwritten by it (parameters, optimizer state) */
  readonly stateWrites: ReadonlySet<Buffer>
  /** buffers pinned by this capture (unpinned by release or when the capture is collected) */
  private pinned: Buffer[] | undefined
  /** output buffers, allocated anew for every replay (a returned tensor keeps its value) */
  private readonly fresh: readonly Buffer[]

  constructor(rec: Recorder, inputs: readonly Buffer[], fresh: readonly Buffer[] = []) {
    const launches = rec.launches
    const freed = planTemps(launches, rec.temps)
    const where = new Map<Buffer, number>()
    ;[...inputs, ...fresh].forEach((b, i) => {
      if (!where.has(b)) where.set(b, i)
    })
    this.fresh = fresh
    const slots: number[] = []
    this.runs = launches.map((l) => l.run)
    this.varLaunches = launches.flatMap((l, index) =>
      l.vars ? [{ index, vars: l.vars, captured: l.capturedVals! }] : [],
    )
    this.names = launches.map((l) => l.name ?? 'copy')
    this.items = launches.map((l) => l.item)
    this.held = launches.map((l) => l.bufs.map((b) => (where.has(b) ? undefined : b)).filter((b) => !!b))
    this.raws = launches.map((l, li) =>
      l.bufs.map((b, ai) => {
        const inp = where.get(b)
        if (inp === undefined) return b.raw
        slots.push(li, ai, inp)
        return undefined // filled per replay; the capture's own inputs are not kept alive
      }),
    )
    this.slots = Int32Array.from(slots)
    this.written = new Set(launches.map((l) => l.bufs[0]!).filter((b) => !where.has(b)))
    this.stateWrites = new Set([...this.written].filter((b) => !rec.temps.has(b) && !rec.kept.has(b)))
    // a buffer the launches use must keep its storage while the capture can replay, even when its
    // tensor is disposed: the pool would hand it to another tensor and a replay would write there
    this.pinned = [...new Set(this.held.flat())]
    for (const b of this.pinned) b.pin()
    unpinOnCollect.register(this, this.pinned, this)
    const kept = [...rec.temps].filter((b) => b.isAllocated)
    this.stats = {
      kernels: launches.filter((l) => l.name !== undefined).length,
      copies: launches.filter((l) => l.name === undefined).length,
      temps: rec.temps.size,
      tempsPlanned: rec.temps.size - freed,
      tempBytes: kept.reduce((n, b) => n + b.nbytes, 0),
    }
  }

  /**
   * Run every launch with `inputs` (same sizes, dtypes and devices as at capture) swapped in.
   * An input the graph also writes (say the previous call's output fed back in) would be
   * overwritten while being read, so it is copied first. Returns the input buffers used.
   */
  replay(
    inputs: readonly Buffer[],
    vals?: ReadonlyMap<UOp, number>,
  ): { inputs: readonly Buffer[]; outputs: readonly Buffer[] } {
    const { slots, raws, runs, written } = this
    if (!this.pinned) throw new TsgradError('jit: this capture was released (jit.reset()) and cannot replay')
    let ins = inputs
    if (inputs.some((b) => written.has(b))) ins = inputs.map((b) => (written.has(b) ? copyOf(b) : b))
    const outs = this.fresh.map((b) => new Buffer(b.device, b.size, b.dtype))
    const all = outs.length ? [...ins, ...outs] : ins
    for (let i = 0; i < slots.length; i += 3) raws[slots[i]!]![slots[i + 1]!] = all[slots[i + 2]!]!.raw
    // variables bound by the call's arguments take this call's values; others keep the captured ones
    const vv: (readonly number[] | undefined)[] = []
    for (const l of this.varLaunches)
      vv[l.index] = vals?.size ? l.vars.map((v, i) => vals.get(v) ?? l.captured[i]!) : l.captured
    const debug = DEBUG()
    if (debug >= 1 || viz) this.replayTimed(debug, vv)
    else for (let i = 0; i < runs.length; i++) runs[i]!(raws[i]!, vv[i])
    stats.kernelsRun += this.stats.kernels
    markWritten(this.stateWrites)
    return { inputs: ins, outputs: outs }
  }

  /** Drop the pins (the capture will not replay again): disposed buffers it kept are freed. */
  release(): void {
    if (!this.pinned) return
    unpinOnCollect.unregister(this)
    for (const b of this.pinned) b.unpin()
    this.pinned = undefined
  }

  /** DEBUG=1: one line per replay; DEBUG=2: a line per launch too; VIZ: each launch on the timeline. */
  private replayTimed(debug: number, vv: readonly (readonly number[] | undefined)[]): void {
    const t0 = now()
    for (let i = 0; i < this.runs.length; i++) {
      const t = now()
      this.runs[i]!(this.raws[i]!, vv[i])
      const ms = now() - t
      const it = this.items[i]!
      if (viz && it.kind === 'kernel') viz.launch(this.names[i]!, it, t, ms)
      else if (viz) {
        const [dst, src] = it.bufs
        viz.copy(src!.device, dst!.device, dst!.size * dst!.dtype.itemsize, t, ms)
      }
      if (debug >= 2) console.log(`  ${this.names[i]!.padEnd(24)} ${ms.toFixed(3).padStart(8)} ms (jit)`)
    }
    if (debug >= 1) console.log(`jit replay: ${this.runs.length} launches, ${(now() - t0).toFixed(2)} ms`)
  }

  /** Buffers the graph holds (for tests and memory accounting). */
  get buffers(): ReadonlySet<Buffer> {
    return new Set(this.held.flat())
  }
}
