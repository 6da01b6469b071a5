// Per-op CPU time of the plain eager path on 1,000 elements (issue 20): `node --import tsx
// bench/eager_overhead.ts [add|sync|loop]`, ROOT=<tree> to time another checkout the same way.
// add: `const y = x.add(z); await y.data()`; sync: `x.add(z).realize()`; loop: the smallops bench's
// eager loop of 100 ops (each realized, nothing disposed); scalar: `x.add(c).realize()` with a new c
// each time (a value the schedule cache has not seen). Reports the main thread's CPU time per op
// (/proc, Linux; what a loaded machine leaves comparable), the process's (GC helper threads too),
// the median and 10th percentile of wall time per op, and the GC count and time.
import { readFileSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'

const root = process.env.ROOT ?? new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const { Tensor } = (await import(`${root}/src/index.ts`)) as typeof import('../src/index.ts')
const x = Tensor.rand([1000]).realize()
const z = Tensor.rand([1000]).realize()
const mode = process.argv[2] ?? 'add'
/** utime + stime of the main thread in microseconds (clock ticks of 10 ms) */
const mainThreadUs = (): number => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) * 1e4
}
let calls = 0
async function step(): Promise<void> {
  if (mode === 'add') await x.add(z).data()
  else if (mode === 'sync') x.add(z).realize()
  else if (mode === 'scalar') x.add(0.001 + ++calls * 1e-4).realize()
  else {
    let y = x
    for (let i = 0; i < 100; i++) y = (i % 2 ? y.mul(0.999) : y.add(0.001)).realize()
  }
}
for (let i = 0; i < 500; i++) await step()
let gcMs = 0
let gcs = 0
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    gcMs += e.duration
    gcs++
  }
}).observe({ entryTypes: ['gc'] })
const N = Number(process.env.N ?? (mode === 'loop' ? 300 : 30000))
const w0 = performance.now()
const ts: number[] = []
const cpu0 = process.cpuUsage()
const main0 = mainThreadUs()
for (let i = 0; i < N; i++) {
  const t0 = performance.now()
  await step()
  ts.push(performance.now() - t0)
}
const cpu = process.cpuUsage(cpu0)
const main = mainThreadUs() - main0
const wall = performance.now() - w0
await new Promise((r) => setTimeout(r, 50))
ts.sort((a, b) => a - b)
const ops = mode === 'loop' ? N * 100 : N
const per = mode === 'loop' ? 10 : 1000 // ms per step -> us per op
console.log(
  `${root.split('/').pop()} ${mode}: main-thread cpu ${(main / ops).toFixed(1)} us/op | all threads ${((cpu.user + cpu.system) / ops).toFixed(1)} | ` +
    `wall mean ${((wall / N) * per).toFixed(1)} median ${(ts[ts.length >> 1]! * per).toFixed(1)} p10 ${(ts[Math.floor(ts.length * 0.1)]! * per).toFixed(1)} us/op | gcs ${gcs} (${((gcMs * 1000) / ops).toFixed(1)} us/op)`,
)
