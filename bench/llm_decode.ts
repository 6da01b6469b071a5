// Decode alone, one side of bench/llm.ts (tsgrad or llama.cpp on the same GGUF file), for A/B runs:
// a prompt of `ctx` tokens, then `steps` greedy tokens, each timed by wall clock and by process CPU
// time (all threads: spinning or sleeping workers show here). Prints the medians over all steps
// but the first two and over the last half (a kernel's thread count settles in the first steps).
//   [OMP_NUM_THREADS=n] node --import tsx bench/llm_decode.ts tsgrad|llama.cpp [Q4_0|Q8_0|F16] [ctx] [steps]
import { availableParallelism } from 'node:os'
import { benchModel, LLAMA_1B_SHAPE, PEER_PREFIX } from './llm.ts'
// the sides as bench/llm.ts's children run them (tsgrad from dist/: `npm run build` first)
import { llamaCppSide, promptTokens, tsgradSide } from './llm_child.mjs'

const which = process.argv[2] ?? 'tsgrad'
const type = (process.argv[3] ?? 'Q4_0') as 'Q4_0' | 'Q8_0' | 'F16'
const ctx = Number(process.argv[4] ?? 128)
const steps = Number(process.argv[5] ?? 32)
if (which !== 'tsgrad' && which !== 'llama.cpp')
  throw new Error(`side must be tsgrad or llama.cpp, got ${which}`)
const threads = Number(process.env.OMP_NUM_THREADS ?? availableParallelism())
const path = await benchModel(type)
const [side] = which === 'tsgrad' ? await tsgradSide(path) : await llamaCppSide(path, threads, PEER_PREFIX())
let tok = await side.prompt(promptTokens(ctx, ctx, LLAMA_1B_SHAPE.vocab))
const wall: number[] = []
const cpu: number[] = []
for (let i = 0; i < steps; i++) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  tok = await side.next(tok)
  wall.push(performance.now() - t0)
  const c = process.cpuUsage(c0)
  cpu.push((c.user + c.system) / 1e3)
}
await side.close()
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1)
const late = Math.floor(steps / 2)
console.log(
  `${which} ${type} @${ctx}, ${threads} threads: ms/token wall ${med(wall.slice(2))} (last ${late}: ${med(wall.slice(-late))}), CPU ${med(cpu.slice(2))} (last ${late}: ${med(cpu.slice(-late))}); all wall: ${wall.map((w) => w.toFixed(0)).join(' ')}`,
)
