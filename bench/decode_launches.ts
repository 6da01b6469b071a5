// What a decode token's launches cost beyond their kernels (issue 17): the LLaMA-1B-shaped bench
// model (bench/llm.ts), a prompt of `ctx` tokens, then greedy decode steps, each split into
//   step: the whole `runner.step` (token in, replay, logits read back) and the argmax,
//   replay: the jit replay's loop, launches: the sum of its launches' wall times (each one the
//   kernel plus its JS wrapper, the koffi call and, when threaded, OpenMP's fork and join).
// Prints medians over the steps (wall, and process CPU for the step), the launches on one thread
// and on all (the thread choice's counters), and how many launches took > 40 us more than their
// kernel's median (a worker woken from sleep, a preemption). Run under `chrt -f 10` for wall times
// on a shared machine. With GOMP_SHIM (bench/gomp_shim.c, also LD_PRELOADed) each step's OpenMP
// loops are timed too: fork, join, the master's and the worker's work, per kernel.
//   node --import tsx bench/decode_launches.ts [Q4_0|Q8_0|F16] [ctx] [steps]
//   gcc -shared -fPIC -O2 -fopenmp -o /tmp/s.so bench/gomp_shim.c -ldl
//   GOMP_SHIM=/tmp/s.so LD_PRELOAD=/tmp/s.so node --import tsx bench/decode_launches.ts Q4_0 128 40
import { benchModel } from './llm.ts'

type WeightType = 'Q4_0' | 'Q8_0' | 'F16'

const type = (process.argv[2] ?? 'Q4_0') as WeightType
const ctx = Number(process.argv[3] ?? 128)
const steps = Number(process.argv[4] ?? 32)
const { llm: lib } = await import('../src/index.ts')
const { CapturedGraph } = await import('../src/engine/jit.ts')
const { threadChoiceStats } = await import('../src/runtime/thread_choice.ts')

let replayMs = 0
let launchMs = 0
let perLaunch: number[] = []
// GOMP_SHIM=<shim.so> (also LD_PRELOADed): each step's OpenMP regions timed (bench/gomp_shim.c)
const shimPath = process.env.GOMP_SHIM
const shimLib = shimPath ? (await import('koffi')).default.load(shimPath) : undefined
const shimRead = shimLib?.func('void tg_shim_read(_Out_ double *out)') as
  | ((o: Float64Array) => void)
  | undefined
const shimLast = shimLib?.func('void tg_shim_last_read(_Out_ double *out)') as
  | ((o: Float64Array) => void)
  | undefined
const last = new Float64Array(2)
/** per kernel name: master's and worker's body (us) summed over the launches that had a worker */
const bodies = new Map<string, [number, number, number]>()
;(CapturedGraph.prototype as unknown as { replayTimed: unknown }).replayTimed = function (
  this: { runs: ((r: unknown[], v?: readonly number[]) => void)[]; raws: unknown[][]; names: string[] },
  _debug: number,
  vv: readonly (readonly number[] | undefined)[],
) {
  const t0 = performance.now()
  let sum = 0
  const times = new Array<number>(this.runs.length)
  for (let i = 0; i < this.runs.length; i++) {
    const t = performance.now()
    this.runs[i]!(this.raws[i]!, vv[i])
    const ms = performance.now() - t
    if (shimLast) {
      shimLast(last)
      if (last[1]! > 0) {
        const b = bodies.get(this.names[i]!) ?? [0, 0, 0]
        b[0] += last[0]!
        b[1] += last[1]!
        b[2]++
        bodies.set(this.names[i]!, b)
      }
    }
    times[i] = ms
    sum += ms
  }
  replayMs = performance.now() - t0
  launchMs = sum
  perLaunch = times
}
const path = await benchModel(type)
const llm = await lib.load(path, { maxContext: 2048 })
const argmax = (x: Float32Array) => {
  let b = 0
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i
  return b
}
const prompt = Array.from({ length: ctx }, (_, i) => 259 + ((i * 7919) % 100000))
let tok = argmax(await llm.runner.step(prompt, 0))
let pos = ctx
const shim = new Float64Array(8)
const rows: {
  step: number
  cpu: number
  replay: number
  launches: number
  times: number[]
  omp: number[]
}[] = []
const s0 = { ...threadChoiceStats }
process.env.DEBUG = '1'
const log = console.log
console.log = () => {}
for (let i = 0; i < steps; i++) {
  shimRead?.(shim)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  tok = argmax(await llm.runner.step([tok], pos++))
  const step = performance.now() - t0
  const c = process.cpuUsage(c0)
  shimRead?.(shim)
  const omp = [...shim]
  rows.push({
    step,
    cpu: (c.user + c.system) / 1e3,
    replay: replayMs,
    launches: launchMs,
    times: perLaunch,
    omp,
  })
}
console.log = log
// launches per replay: the most common count (a step that captured anew is left out)
const counts = new Map<number, number>()
for (const r of rows) counts.set(r.times.length, (counts.get(r.times.length) ?? 0) + 1)
const n = [...counts].sort((a, b) => b[1] - a[1])[0]![0]
const one = (threadChoiceStats.one - s0.one) / steps
const all = (threadChoiceStats.all - s0.all) / steps
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const warm = rows.slice(3).filter((r) => r.times.length === n)
if (process.env.SHOW_COUNTS) console.log('launches per step:', rows.map((r) => r.times.length).join(' '))
// per launch index: its median over the steps; a launch > 40 us over it counts as a stall
const launchMed = Array.from({ length: n }, (_, i) => med(warm.map((r) => r.times[i]!)))
const stalls = warm.map((r) => r.times.filter((t, i) => t > launchMed[i]! + 0.04).length)
const f = (x: number) => x.toFixed(2)
console.log(
  `${type} @${ctx}: ${n} launches per step (${f(one)} on one thread, ${f(all)} on all, per step); medians of ${warm.length} steps:`,
)
console.log(
  `  step ${f(med(warm.map((r) => r.step)))} ms wall (${f(med(warm.map((r) => r.cpu)))} ms CPU) | replay ${f(med(warm.map((r) => r.replay)))} | launches ${f(med(warm.map((r) => r.launches)))} | sum of per-launch medians ${f(launchMed.reduce((a, b) => a + b, 0))} | outside the replay ${f(med(warm.map((r) => r.step - r.replay)))} | replay loop ${f(med(warm.map((r) => r.replay - r.launches)))} | stalls (> 40 us over the launch's median) ${med(stalls)}`,
)
if (shimRead) {
  const m = (k: number) => med(warm.map((r) => r.omp[k]!))
  console.log(
    `  OpenMP regions ${m(0)} (${m(7)} on one thread): in the regions ${f(m(1) / 1e3)} ms | master's body ${f(m(2) / 1e3)} | worker's body ${f(m(3) / 1e3)} | fork (call to the worker's start) ${f(m(4) / 1e3)} | join (master's end to return) ${f(m(5) / 1e3)}, of which the worker finishing later ${f(m(6) / 1e3)}`,
  )
}
if (shimLast) {
  console.log('  per kernel, launches with a worker: mean body of the master / of the worker (us)')
  for (const [k, [m, w, c]] of [...bodies].sort((a, b) => b[1][0] - b[1][1] - (a[1][0] - a[1][1])))
    console.log(
      `    ${k.padEnd(44)} ${(m / c).toFixed(1).padStart(8)} / ${(w / c).toFixed(1).padStart(8)}  (${c} launches)`,
    )
}
