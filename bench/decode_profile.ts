// Where a decode token's time goes (issue 17): the LLaMA-1B-shaped bench model (bench/llm.ts),
// a prompt of `ctx` tokens, then greedy decode steps. Prints the median step wall and CPU time,
// then three replays with every launch's process CPU time taken alone (the jit's DEBUG=2 replay,
// its timer swapped for process CPU time), summed per kernel name. Under OMP_NUM_THREADS=1 the CPU
// time is each kernel's work whatever the machine's load (wall times on a busy 2-core machine are
// not). NOPROF=1: the step times only; DUMP=file: every launch's line in order; WALL=1: each
// launch's wall time instead (threads > 1 on an otherwise idle machine: spinning workers count in
// CPU time, so only wall time shows what the second core gains).
//   OMP_NUM_THREADS=1 node --import tsx bench/decode_profile.ts [Q4_0|Q8_0] [ctx] [steps]
import { benchModel } from './llm.ts'

const type = (process.argv[2] ?? 'Q4_0') as 'Q4_0' | 'Q8_0'
const ctx = Number(process.argv[3] ?? 128)
const steps = Number(process.argv[4] ?? 16)
const { llm: lib } = await import('../src/index.ts')
const { CapturedGraph } = await import('../src/engine/jit.ts')
// each launch's process CPU time (with OMP_NUM_THREADS=1: the kernel's work, whatever the load)
;(CapturedGraph.prototype as unknown as { replayTimed: unknown }).replayTimed = function (
  this: { runs: ((r: unknown[], v?: readonly number[]) => void)[]; raws: unknown[][]; names: string[] },
  _debug: number,
  vv: readonly (readonly number[] | undefined)[],
) {
  const wall = process.env.WALL !== undefined
  for (let i = 0; i < this.runs.length; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    this.runs[i]!(this.raws[i]!, vv[i])
    const c = process.cpuUsage(c0)
    const ms = wall ? performance.now() - t0 : (c.user + c.system) / 1e3
    console.log(`  ${this.names[i]!.padEnd(24)} ${ms.toFixed(3).padStart(8)} ms (jit)`)
  }
  console.log(`jit replay: ${this.runs.length} launches`)
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
const wall: number[] = []
const cpu: number[] = []
for (let i = 0; i < steps; i++) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  tok = argmax(await llm.runner.step([tok], pos++))
  wall.push(performance.now() - t0)
  const c = process.cpuUsage(c0)
  cpu.push((c.user + c.system) / 1e3)
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(
  `${type} @${ctx}: median step ${med(wall.slice(2)).toFixed(1)} ms wall, ${med(cpu.slice(2)).toFixed(1)} ms CPU; all: ${wall.map((w) => w.toFixed(0)).join(' ')}`,
)

if (process.env.NOPROF) process.exit(0)
// one replay with each launch timed alone (jit's DEBUG=2 lines), summed per kernel name
const lines: string[] = []
const log = console.log
console.log = (...a: unknown[]) => lines.push(a.join(' '))
for (let r = 0; r < 3; r++) {
  process.env.DEBUG = '2'
  const t0 = performance.now()
  tok = argmax(await llm.runner.step([tok], pos++))
  const ms = performance.now() - t0
  process.env.DEBUG = '0'
  lines.push(`step wall ${ms.toFixed(1)}`)
}
console.log = log
if (process.env.DUMP) (await import('node:fs')).writeFileSync(process.env.DUMP, lines.join('\n'))
const per = new Map<string, number[]>()
let replays = 0
for (const l of lines) {
  const m = /^\s+(\S+)\s+([\d.]+) ms \(jit\)/.exec(l)
  if (m) per.set(m[1]!, [...(per.get(m[1]!) ?? []), Number(m[2])])
  else {
    if (l.startsWith('jit replay')) replays++
    log(l)
  }
}
// per kernel: launches per replay x the median launch (a launch's CPU time may include a GC or a
// background thread's work; the median leaves those out)
const rows = [...per].map(([k, ts]) => {
  const n = ts.length / replays
  return { k, n, ms: n * [...ts].sort((a, b) => a - b)[ts.length >> 1]! }
})
const sum = rows.reduce((t, r) => t + r.ms, 0)
log(
  `per replay: ${sum.toFixed(1)} ms (launches x median launch ${process.env.WALL !== undefined ? 'wall' : 'CPU'})`,
)
for (const r of rows.sort((a, b) => b.ms - a.ms))
  log(`  ${r.k.padEnd(40)} x${r.n.toFixed(0).padStart(3)}  ${r.ms.toFixed(2).padStart(8)} ms`)
