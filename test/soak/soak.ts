// `npm run soak`: long training loops keep memory flat. Per workload (test/soak/workloads.ts):
// 1000 warm-up steps, then SOAK_STEPS steps (default 10,000) of a loop that awaits the loss every
// 100 steps, memory sampled after a full GC every 500 steps; then 1000 steps that never yield to
// the event loop. Fails when, over the measured run, the heap (+ ArrayBuffers) grows by more than
// 2 MB or 64 bytes per step (least squares), RSS by more than 32 MB, or the synchronous steps by
// more than 1 KB each (a finalization cell per dropped buffer is expected there, nothing else).
// Run: node --expose-gc --import tsx test/soak/soak.ts [workload...]
import { type Sample, settle, slope, soak, syncGrowthPerStep, workloads } from './workloads.ts'

const steps = Number(process.env.SOAK_STEPS ?? 10000)
const MB = 1 << 20
const limits = { heapGrowth: 2 * MB, heapSlope: 64, rssGrowth: 32 * MB, syncPerStep: 1024 }

const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(workloads)
let failed = false
for (const name of names) {
  const make = workloads[name]
  if (!make) throw new Error(`unknown workload ${name} (known: ${Object.keys(workloads).join(', ')})`)
  const t0 = performance.now()
  const step = make()
  for (let i = 0; i < 1000; i++) step()
  await settle()
  const samples = await soak(step, { steps, sampleEvery: 500, readEvery: 100 })
  const first = samples[0]!
  const last = samples[samples.length - 1]!
  const r = {
    heapGrowth: last.heap - first.heap,
    heapSlope: slope(samples, (s: Sample) => s.heap),
    rssGrowth: last.rss - first.rss,
    syncPerStep: syncGrowthPerStep(step, 1000),
  }
  const over = (Object.keys(limits) as (keyof typeof limits)[]).filter((k) => r[k] > limits[k])
  failed ||= over.length > 0
  const mb = (b: number) => (b / MB).toFixed(2)
  console.log(
    `${over.length ? 'FAIL' : 'ok  '} ${name}: ${steps + 2000} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
      `steps ${first.step}-${last.step}: heap ${mb(first.heap)} -> ${mb(last.heap)} MB (${r.heapSlope.toFixed(1)} B/step), ` +
      `rss ${mb(first.rss)} -> ${mb(last.rss)} MB; never yielding: ${r.syncPerStep.toFixed(0)} B/step` +
      (over.length ? `; over the limit: ${over.join(', ')}` : ''),
  )
}
process.exit(failed ? 1 : 0)
