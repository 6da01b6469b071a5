// The in-page half of `npm run bench -- browser` (bundled by bench/browser/host.ts): tsgrad on
// WASM and WEBGPU and the peers (bench/browser/peers.ts) run the same cases in one page, each timed
// the plain way: the call, then `await` of its data, median of several runs after warm-ups, outputs
// freed after the clock stops (tsgrad's disposed, as the peers free theirs). The host calls
// `benchInit`, then `benchCase` per case with the implementations to alternate (or one alone), with
// a time limit (a page that overruns it is replaced).
import { Device, nn, optim, ready, Tensor } from '../../src/browser.ts'
import { mlpTrainStep } from './mlp_case.ts'
import { loadPeers } from './peers.ts'
import { CASES, type CaseName, type Impl, type Inputs, makeInputs, type Result, type Timed } from './cases.ts'

const SLOW_MS = 3000
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** CPU ms the browser's processes have used (the host reads it from /proc), or NaN */
const hostCpuMs = async (): Promise<number> =>
  ((globalThis as { hostCpuMs?: () => Promise<number> }).hostCpuMs?.() ?? NaN) as number

/** waits until the browser's threads are quiet (the host polls their CPU time; host.ts browserSettle) */
const hostSettle = async (): Promise<void> => {
  await (globalThis as { hostSettle?: () => Promise<number> }).hostSettle?.()
}

let readCost: number | undefined
/**
 * CPU ms the reading itself adds to a call's measurement (the round trip through the browser
 * process to the host: ~2-4 ms, a third of a matmul 512), the median of a few empty measurements.
 */
async function cpuReadCost(): Promise<number> {
  if (readCost !== undefined) return readCost
  const xs: number[] = []
  for (let i = 0; i < 7; i++) {
    const c0 = await hostCpuMs()
    xs.push((await hostCpuMs()) - c0)
  }
  readCost = median(xs)
  return readCost
}

/** one implementation's timed call and what its timing has gathered */
interface Timing {
  /** the implementation's name (user-timing marks in a trace: bench/browser/trace.ts) */
  name: string
  f: Timed
  runs: number
  warm: number
  ts: number[]
  cpu: number[]
}

const cleanup = (after: unknown) => typeof after === 'function' && after()

/** the first call (a warm-up); a call slower than SLOW_MS (the software WebGPU adapter) gets one warm-up and three runs */
async function firstCall(t: Timing): Promise<void> {
  const t0 = performance.now()
  cleanup(await t.f())
  if (performance.now() - t0 > SLOW_MS) [t.warm, t.runs] = [1, 3]
}

/**
 * one timed call from a quiet browser (no thread of an implementation timed before still running):
 * wall ms, and the CPU ms of the whole browser (every thread of every process)
 */
async function timedCall(t: Timing): Promise<void> {
  await hostSettle()
  const c0 = await hostCpuMs()
  const t0 = performance.now()
  const after = await t.f()
  t.ts.push(performance.now() - t0)
  performance.measure(`call ${t.name}`, { start: t0 })
  t.cpu.push((await hostCpuMs()) - c0)
  cleanup(after)
}

/**
 * Times several implementations of one case alternated call by call (after every warm-up, round
 * r runs each implementation's r-th call), so a change of the machine's load during the case
 * falls on all of them alike: medians of wall and CPU time per call (CPU: every thread, the
 * steadier measure on a loaded machine, and it counts threads that spin).
 */
async function timeAlternated(ts: Timing[]): Promise<{ ms: number; cpuMs: number }[]> {
  for (const t of ts) await firstCall(t)
  for (let i = 1; i < Math.max(...ts.map((t) => t.warm)); i++)
    for (const t of ts) if (i < t.warm) cleanup(await t.f())
  for (let r = 0; r < Math.max(...ts.map((t) => t.runs)); r++)
    for (const t of ts) if (r < t.runs) await timedCall(t)
  const read = await cpuReadCost()
  return ts.map((t) => ({ ms: median(t.ts), cpuMs: median(t.cpu) - read }))
}

/** tsgrad on one device: each case returns the timed call; `await data()` ends it */
function tsgradImpl(device: string): Impl {
  const put = (d: Float32Array, shape: number[]) => new Tensor(d, { shape, device }).realize()
  // the output is disposed after the clock stops, as the peers free theirs (left to the garbage
  // collector, each call's output took fresh pages of a growing WASM memory: the collector runs
  // only every several calls, and a first touch of 64 MiB costs ~200 ms of CPU on this machine)
  const read =
    (f: () => Tensor): Timed =>
    async () => {
      const y = f()
      await y.data()
      return () => y.dispose()
    }
  return {
    name: `tsgrad ${device}`,
    kind: device === 'WEBGPU' ? 'webgpu' : 'wasm',
    setup: async (c: CaseName, x: Inputs) => {
      switch (c) {
        case 'matmul512':
        case 'matmul1024': {
          const n = x.n!
          const [a, b] = [put(x.a!, [n, n]), put(x.b!, [n, n])]
          return read(() => a.matmul(b))
        }
        case 'elementwise': {
          const t = put(x.a!, [x.a!.length])
          return read(() => t.mul(2).add(1).relu().mul(t.sigmoid()))
        }
        case 'softmax': {
          const t = put(x.a!, [4096, 4096])
          return read(() => t.softmax(-1))
        }
        case 'conv2d': {
          const [t, w] = [put(x.a!, [8, 64, 56, 56]), put(x.b!, [64, 64, 3, 3])]
          return read(() => t.conv2d(w, { padding: 1 }))
        }
        case 'mlp': {
          const ys = new Tensor(x.labels!, { shape: [512], device }).realize()
          return mlpTrainStep({ Device, nn, optim, Tensor }, device, put(x.a!, [512, 784]), ys)
        }
      }
    },
  }
}

let impls: Impl[] = []
const log = (s: string) => console.log(`[bench] ${s}`)

/** Loads tsgrad's devices and the peers; their names, and what the page is. */
async function benchInit(opts: {
  /** 1: peers single-threaded (tsgrad's WASM device has one thread in a page) */
  threads?: number
}): Promise<{ impls: string[]; env: string }> {
  // the WASM device with its worker threads started (one thread where the page reports one core)
  await ready({ prefer: ['WASM'] })
  impls = [tsgradImpl('WASM')]
  const why = Device.unavailableReason('WEBGPU')
  if (why) log(`tsgrad WEBGPU unavailable: ${why}`)
  else if (opts.threads !== 1) impls.push(tsgradImpl('WEBGPU'))
  impls.push(...(await loadPeers(log, opts.threads)))
  const env = `${navigator.userAgent}; crossOriginIsolated ${crossOriginIsolated}; hardwareConcurrency ${navigator.hardwareConcurrency}`
  return { impls: impls.map((i) => i.name), env }
}

let current: { c: CaseName; inputs: Inputs } | undefined

/**
 * One case on several implementations (the host bounds its time), alternated call by call
 * (timeAlternated); one name: that implementation alone. Implementations without the op are left out.
 * `runs`: timed calls per implementation (default: the case's).
 */
async function benchCase(c: CaseName, names: string[], runs?: number): Promise<Result[]> {
  if (current?.c !== c) current = { c, inputs: makeInputs(c) }
  const spec = CASES[c]
  const results: Result[] = []
  const set: { impl: Impl; timing: Timing }[] = []
  try {
    for (const name of names) {
      const impl = impls.find((i) => i.name === name)!
      try {
        const f = await impl.setup(c, current.inputs)
        if (f)
          set.push({ impl, timing: { name, f, runs: runs ?? spec.runs, warm: spec.warm, ts: [], cpu: [] } })
      } catch (e) {
        results.push(failed(c, impl, e))
      }
    }
    let times: { ms: number; cpuMs: number }[] = []
    try {
      times = await timeAlternated(set.map((s) => s.timing))
    } catch (e) {
      // which one threw is not known when they alternate: each alone, to name it
      if (set.length === 1) throw e
      const alone = set.splice(0).map(({ impl }) => impl)
      for (const impl of alone) impl.free?.()
      for (const impl of alone) results.push(...(await benchCase(c, [impl.name])))
    }
    set.forEach(({ impl }, i) => {
      const { ms, cpuMs } = times[i]!
      log(`${c} ${impl.name} ${ms.toFixed(2)} ms (cpu ${cpuMs.toFixed(1)} ms)`)
      results.push({ case: c, impl: impl.name, kind: impl.kind, ms, cpuMs })
    })
  } catch (e) {
    for (const { impl } of set) results.push(failed(c, impl, e))
  } finally {
    for (const { impl } of set) impl.free?.()
  }
  return results
}

function failed(c: CaseName, impl: Impl, e: unknown): Result {
  const error = (e as Error).message?.split('\n')[0] ?? String(e)
  log(`${c} ${impl.name} failed: ${error}`)
  return { case: c, impl: impl.name, kind: impl.kind, error }
}

Object.assign(globalThis, { benchInit, benchCase })
