// CPU time of the plain matmul path (issue 20): `ROOT=<tree> node --import tsx
// bench/plain_matmul_cpu.ts [realize|data|graph]` (N=256, IT=1000 calls after 50 warm-ups, nothing
// disposed). Reports the main thread's CPU per call (/proc, Linux), the process's (OpenMP workers
// and V8's GC threads too), wall mean/median/min and the GCs. Set OMP_NUM_THREADS=1 for a number
// that a loaded machine leaves comparable.
import { readFileSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'

const root = process.env.ROOT ?? new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const { Tensor } = (await import(`${root}/src/index.ts`)) as typeof import('../src/index.ts')
const n = Number(process.env.N ?? 256)
const a = Tensor.rand([n, n]).realize()
const b = Tensor.rand([n, n]).realize()
const mainUs = (): number => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) * 1e4
}
const mode = process.argv[2] ?? 'realize'
const step = async (): Promise<void> => {
  if (mode === 'data') await a.matmul(b).data()
  else if (mode === 'graph') a.matmul(b)
  else a.matmul(b).realize()
}
for (let i = 0; i < 50; i++) await step()
let gcMs = 0
let gcs = 0
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    gcMs += e.duration
    gcs++
  }
}).observe({ entryTypes: ['gc'] })
const N = Number(process.env.IT ?? 1000)
const ts: number[] = []
const c0 = process.cpuUsage()
const m0 = mainUs()
const w0 = performance.now()
for (let i = 0; i < N; i++) {
  const t0 = performance.now()
  await step()
  ts.push(performance.now() - t0)
}
const c = process.cpuUsage(c0)
const m = mainUs() - m0
const w = performance.now() - w0
await new Promise((r) => setTimeout(r, 50))
ts.sort((x, y) => x - y)
console.log(
  `${root.split('/').pop()} ${mode} n=${n}: main cpu ${(m / N).toFixed(1)} us | process cpu ${((c.user + c.system) / N).toFixed(1)} us | ` +
    `wall mean ${((w * 1000) / N).toFixed(1)} median ${(ts[N >> 1]! * 1000).toFixed(1)} min ${(ts[0]! * 1000).toFixed(1)} us | gcs ${gcs} (${((gcMs * 1000) / N).toFixed(1)} us/call)`,
)
