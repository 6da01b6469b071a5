// Process CPU time of a 512-token prompt and of decode steps (dist/), for A/B runs of memory settings
// in separate processes (a setting that is per process cannot alternate within one):
//   OMP_NUM_THREADS=2 node bench/llm_memory_speed.mjs <model.gguf> [rounds]
// prints `SPEED {json}`: per round the prompt's CPU ms and the median CPU ms per decode step.
import { promptTokens } from './llm_child.mjs'

const [path, r = '2'] = process.argv.slice(2)
const { llm: lib } = await import('../dist/index.js')
const model = await lib.load(path, { maxContext: 2048 })
const runner = model.runner
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e3
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const p = promptTokens(512, 1, 128256)
await runner.step(p, 0) // kernels built
const out = { prompt: [], decode: [] }
for (let k = 0; k < Number(r); k++) {
  let t = cpu()
  await runner.step(p, 0)
  out.prompt.push(Math.round(cpu() - t))
  const steps = []
  for (let i = 0; i < 18; i++) {
    t = cpu()
    await runner.step([1000 + i], 512 + i)
    if (i >= 2) steps.push(cpu() - t)
  }
  out.decode.push(Number(median(steps).toFixed(1)))
}
console.log(`SPEED ${JSON.stringify({ ...out, peakMB: Math.round(process.resourceUsage().maxRSS / 1024) })}`)
process.exit(0)
