// `npm run soak`: long training loops must keep memory flat. Each workload runs SOAK_STEPS steps
// (default 10,000), reading the loss every 100 steps; heap (+ ArrayBuffers) and RSS are sampled
// after a full GC every 250 steps past the warm-up. Fails when memory grows over the run: the
// heap by more than 2 MB between the first and last sample or 64 bytes per step, RSS by more than
// 32 MB. Run: node --expose-gc --import tsx test/soak/soak.ts [workload...]
import { type Sample, slope, soak, workloads } from './workloads.ts'

const steps = Number(process.env.SOAK_STEPS ?? 10000)
const warmup = Math.min(1000, Math.floor(steps / 5))
const MB = 1 << 20
const limits = { heapGrowth: 2 * MB, heapSlope: 64, rssGrowth: 32 * MB }

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(workloads)
let failed = false
for (const name of names) {
  const make = workloads[name]
  if (!make) throw new Error(`unknown workload ${name} (known: ${Object.keys(workloads).join(', ')})`)
  const t0 = performance.now()
  const samples = await soak(make(), { steps, warmup, sampleEvery: 250, readEvery: 100 })
  const first = samples[0]!
  const last = samples[samples.length - 1]!
  const growth = (v: (s: Sample) => number) => v(last) - v(first)
  const r = {
    heapGrowth: growth((s) => s.heap),
    heapSlope: slope(samples, (s) => s.heap),
    rssGrowth: growth((s) => s.rss),
  }
  const bad = (Object.keys(limits) as (keyof typeof limits)[]).filter((k) => r[k] > limits[k])
  failed ||= bad.length > 0
  console.log(
    `${bad.length ? 'FAIL' : 'ok  '} ${name}: ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
      `steps ${first.step}..${last.step}: heap ${(first.heap / MB).toFixed(1)} -> ${(last.heap / MB).toFixed(1)} MB ` +
      `(${r.heapSlope.toFixed(1)} B/step), rss ${(first.rss / MB).toFixed(1)} -> ${(last.rss / MB).toFixed(1)} MB` +
      (bad.length ? `; over the limit: ${bad.join(', ')}` : ''),
  )
}
process.exit(failed ? 1 : 0)
