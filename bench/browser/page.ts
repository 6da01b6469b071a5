// The in-page half of `npm run bench -- browser` (bundled by bench/browser/host.ts): tsgrad on
// WASM and WEBGPU and the peers (bench/browser/peers.ts) run the same cases in one page, each timed
// the plain way: the call, then `await` of its data, median of several runs after warm-ups, outputs
// freed after the clock stops (tsgrad's disposed, as the peers free theirs). The host calls
// `benchInit`, then `benchOne` per case and implementation, with a time limit (a page that
// overruns it is replaced).
import { Device, nn, optim, ready, Tensor } from '../../src/browser.ts'
import { mlpTrainStep } from './mlp_case.ts'
import { loadPeers } from './peers.ts'
import { CASES, type CaseName, type Impl, type Inputs, makeInputs, type Result, type Timed } from './cases.ts'

const SLOW_MS = 3000
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** CPU ms the browser's processes have used (the host reads it from /proc), or NaN */
const hostCpuMs = async (): Promise<number> =>
  ((globalThis as { hostCpuMs?: () => Promise<number> }).hostCpuMs?.() ?? NaN) as number

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

/**
 * median ms of `runs` calls after `warm` warm-ups; `after` (freeing) runs outside the clock. A call
 * slower than SLOW_MS (the software WebGPU adapter) gets one warm-up and three runs. Beside the
 * wall time, the median CPU time per call of the whole browser (every thread of every process: on a
 * loaded machine the steadier measure, and it counts threads that spin).
 */
async function time(f: Timed, runs: number, warm: number): Promise<{ ms: number; cpuMs: number }> {
  const cleanup = (after: unknown) => typeof after === 'function' && after()
  const t0 = performance.now()
  cleanup(await f())
  if (performance.now() - t0 > SLOW_MS) [warm, runs] = [1, 3]
  for (let i = 1; i < warm; i++) cleanup(await f())
  const ts: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < runs; i++) {
    const c0 = await hostCpuMs()
    const t0 = performance.now()
    const after = await f()
    ts.push(performance.now() - t0)
    cpu.push((await hostCpuMs()) - c0)
    cleanup(after)
  }
  return { ms: median(ts), cpuMs: median(cpu) - (await cpuReadCost()) }
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

/** One case on one implementation (the host bounds its time); undefined where it has no such op. */
async function benchOne(c: CaseName, name: string): Promise<Result | undefined> {
  const impl = impls.find((i) => i.name === name)!
  if (current?.c !== c) current = { c, inputs: makeInputs(c) }
  const spec = CASES[c]
  try {
    const f = await impl.setup(c, current.inputs)
    if (!f) return undefined
    try {
      const { ms, cpuMs } = await time(f, spec.runs, spec.warm)
      log(`${c} ${impl.name} ${ms.toFixed(2)} ms (cpu ${cpuMs.toFixed(1)} ms)`)
      return { case: c, impl: impl.name, kind: impl.kind, ms, cpuMs }
    } finally {
      impl.free?.()
    }
  } catch (e) {
    const error = (e as Error).message?.split('\n')[0] ?? String(e)
    log(`${c} ${impl.name} failed: ${error}`)
    return { case: c, impl: impl.name, kind: impl.kind, error }
  }
}

Object.assign(globalThis, { benchInit, benchOne })
