// A decode run over time (issue 17: why was decode @128 slower than @1024?). The sequence of
// bench/llm_child.mjs's tsgrad side (prefill 512 twice, prefill 128, decode, prefill 1024, decode),
// then @128 once more, each decode step printed with its wall and process CPU time, and what
// changed during it: kernels swapped to their full tier (engine/tiers.ts), and the per-kernel
// thread choice's launches on one thread / all threads, its tries and changes (runtime/thread_choice.ts).
//   node --import tsx bench/decode_timeline.ts [Q4_0|Q8_0] [steps@128] [steps@1024]
import { readdirSync, readFileSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'
import { benchModel, LLAMA_1B_SHAPE } from './llm.ts'
import { promptTokens } from './llm_child.mjs'

const type = (process.argv[2] ?? 'Q4_0') as 'Q4_0' | 'Q8_0'
const n128 = Number(process.argv[3] ?? 26)
const n1024 = Number(process.argv[4] ?? 14)
const { llm: lib } = await import('../src/index.ts')
const { tierStats } = await import('../src/engine/tiers.ts')
const { threadChoiceStats } = await import('../src/runtime/thread_choice.ts')
// PROFILE=1: every launch's process CPU time (the jit's DEBUG replay, its timer swapped), summed
// per kernel name per step; at the end each phase's steps 3-10 against the last phase's
const { CapturedGraph } = await import('../src/engine/jit.ts')
let perKernel = new Map<string, number>()
if (process.env.PROFILE) {
  ;(CapturedGraph.prototype as unknown as { replayTimed: unknown }).replayTimed = function (
    this: { runs: ((r: unknown[], v?: readonly number[]) => void)[]; raws: unknown[][]; names: string[] },
    _debug: number,
    vv: readonly (readonly number[] | undefined)[],
  ) {
    for (let i = 0; i < this.runs.length; i++) {
      const c0 = process.cpuUsage()
      this.runs[i]!(this.raws[i]!, vv[i])
      const c = process.cpuUsage(c0)
      const k = this.names[i]!
      perKernel.set(k, (perKernel.get(k) ?? 0) + (c.user + c.system) / 1e3)
    }
  }
}
const phases: Map<string, number>[] = []
const path = await benchModel(type)
const llm = await lib.load(path, { maxContext: 2048 })
const V = LLAMA_1B_SHAPE.vocab
const argmax = (x: Float32Array) => {
  let b = 0
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i
  return b
}
// garbage collection (ms, main thread's pauses as V8 reports them), page faults, child processes
// (background compiler builds) alive at the step's end
let gcMs = 0
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) gcMs += e.duration
}).observe({ entryTypes: ['gc'] })
const children = () => {
  const names: string[] = []
  for (const t of readdirSync('/proc/self/task'))
    for (const pid of readFileSync(`/proc/self/task/${t}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean))
      names.push(readFileSync(`/proc/${pid}/comm`, 'utf8').trim())
  return names.join(',') || 'none'
}
const snap = () => ({
  ...tierStats,
  ...threadChoiceStats,
  gc: gcMs,
  faults: process.resourceUsage().minorPageFault,
})
let pos = 0
const prompt = async (tokens: number[]) => {
  const t0 = performance.now()
  let logits = new Float32Array()
  for (let i = 0; i < tokens.length; i += 512) logits = await llm.runner.step(tokens.slice(i, i + 512), i)
  pos = tokens.length
  console.log(`prefill ${tokens.length}: ${(performance.now() - t0).toFixed(0)} ms wall`)
  return argmax(logits)
}
const decode = async (ctx: number, steps: number) => {
  let tok = await prompt(promptTokens(ctx, ctx, V))
  const walls: number[] = []
  const phase = new Map<string, number>()
  phases.push(phase)
  for (let i = 0; i < steps; i++) {
    perKernel = new Map()
    if (process.env.PROFILE && i >= 2) process.env.DEBUG = '1'
    const s0 = snap()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    tok = argmax(await llm.runner.step([tok], pos++))
    const wall = performance.now() - t0
    const c = process.cpuUsage(c0)
    process.env.DEBUG = '0'
    if (i >= 3 && i <= 10) for (const [k, ms] of perKernel) phase.set(k, (phase.get(k) ?? 0) + ms / 8)
    const kernelMs = [...perKernel.values()].reduce((a, b) => a + b, 0)
    const s1 = snap()
    const d = (k: keyof typeof s0) => s1[k] - s0[k]
    walls.push(wall)
    console.log(
      `@${ctx} step ${String(i).padStart(2)}: ${wall.toFixed(1).padStart(6)} ms wall ${((c.user + c.system) / 1e3).toFixed(1).padStart(6)} ms CPU | swaps ${d('swaps')} full builds started ${d('started')} | launches 1 thread ${d('one')}, all ${d('all')}, tries ${d('tries')}, changes ${d('changes')} | gc ${d('gc').toFixed(1)} ms, faults ${d('faults')}, children ${children()}${process.env.PROFILE ? ` | kernels ${kernelMs.toFixed(1)} ms CPU` : ''}`,
    )
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  console.log(`@${ctx}: median of steps 2.. ${med(walls.slice(2)).toFixed(1)} ms (the bench's measure)`)
}
await prompt(promptTokens(512, 1, V))
await prompt(promptTokens(512, 1, V))
await decode(128, n128)
await decode(1024, n1024)
await decode(128, n128)
if (process.env.PROFILE) {
  const last = phases.at(-1)!
  for (const [p, phase] of phases.entries()) {
    const rows = [...phase].map(([k, ms]) => [k, ms, ms - (last.get(k) ?? 0)] as const)
    rows.sort((a, b) => Math.abs(b[2]) - Math.abs(a[2]))
    const tot = rows.reduce((a, r) => a + r[1], 0)
    console.log(
      `phase ${p}: kernels ${tot.toFixed(1)} ms CPU per step (steps 3-10); largest differences to the last phase:`,
    )
    for (const [k, ms, d] of rows.slice(0, 8))
      console.log(`  ${k.padEnd(40)} ${ms.toFixed(2).padStart(7)} ms (${d >= 0 ? '+' : ''}${d.toFixed(2)})`)
  }
}
