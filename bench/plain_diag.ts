// Where a plain call's time goes (issue 20, output buffers): per call of `f().realize()` (nothing
// disposed, synchronous loop, as bench/run.ts's plain measure) or `await f().data()`, the wall and
// process CPU time (user/sys), minor page faults, GC pauses inside the call, which storage the
// output got (native mapping reused/fresh/over the limit, pooled or fresh ArrayBuffer), and how far
// the heap's break moved (malloc extends it in 64 MiB steps, malloc_tuning.ts's top pad: a move marks
// growth into address space the process never used; memory it never had costs ~5 ms of system time
// per 2 MiB huge page on the reference VM, unless heap_buffers.ts faulted it in ahead).
//   node --import tsx bench/plain_diag.ts [mm256 mm512 mm1024 mm2048 copy16m] [--data] [--calls=N]
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'
import { Tensor } from '../src/index.ts'
import { cpuStorage } from '../src/runtime/cpu.ts'
import { hostMemory } from '../src/runtime/host_memory.ts'

const args = process.argv.slice(2)
const cases = args.filter((a) => !a.startsWith('--'))
const useData = args.includes('--data')
const calls = Number(args.find((a) => a.startsWith('--calls='))?.slice(8) ?? 9)
const koffi = createRequire(import.meta.url)('koffi')
const native = hostMemory(() => koffi)
const sbrk = koffi.load('libc.so.6').func('intptr_t sbrk(intptr_t increment)') as (
  n: number,
) => number | bigint
const heapTop = () => Number(sbrk(0))

const gcs: { start: number; end: number; kind: number }[] = []
new PerformanceObserver((l) => {
  for (const e of l.getEntries())
    gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind: (e.detail as { kind: number }).kind })
}).observe({ entryTypes: ['gc'] })

const anonHuge = () =>
  Number(/AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0) >> 10

interface Row {
  wall: number
  user: number
  sys: number
  flt: number
  t0: number
  t1: number
  nat: string
  sto: string
  /** KiB the heap top moved */
  brk: number
}
async function run(name: string, f: () => Tensor) {
  const rows: Row[] = []
  const once = async () => {
    const n0 = { ...(native?.counts ?? { reused: 0, mapped: 0, overLimit: 0 }) }
    const s0 = { ...cpuStorage.counts }
    const b0 = heapTop()
    const r0 = process.resourceUsage()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    if (useData) await f().data()
    else f().realize()
    const t1 = performance.now()
    const c1 = process.cpuUsage(c0)
    const r1 = process.resourceUsage()
    const n1 = native?.counts ?? { reused: 0, mapped: 0, overLimit: 0 }
    const s1 = cpuStorage.counts
    const d = (k: 'reused' | 'mapped' | 'overLimit') => n1[k] - n0[k]
    rows.push({
      wall: t1 - t0,
      user: c1.user / 1e3,
      sys: c1.system / 1e3,
      flt: r1.minorPageFault - r0.minorPageFault,
      t0,
      t1,
      nat: `r${d('reused')} m${d('mapped')} o${d('overLimit')}`,
      sto: `p${s1.pooled - s0.pooled} f${s1.fresh - s0.fresh}`,
      brk: (heapTop() - b0) / 1024,
    })
  }
  for (let i = 0; i < calls + 2; i++) await once()
  // best-of with dispose: the kernel plus the engine's per-call work
  let best = Infinity
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now()
    f().realize().dispose()
    best = Math.min(best, performance.now() - t0)
  }
  await new Promise((r) => setTimeout(r, 50))
  console.log(
    `== ${name} (${useData ? 'await data()' : 'realize()'}), best-of disposed ${best.toFixed(2)} ms, AnonHugePages ${anonHuge()} MiB, mapped ${((native?.mapped ?? 0) / 2 ** 20).toFixed(0)} MiB`,
  )
  for (const r of rows.slice(2)) {
    const inGc = gcs.filter((g) => g.start >= r.t0 && g.end <= r.t1)
    const gcMs = inGc.reduce((s, g) => s + g.end - g.start, 0)
    console.log(
      `  wall ${r.wall.toFixed(2)} user ${r.user.toFixed(2)} sys ${r.sys.toFixed(2)} minflt ${r.flt} gc ${gcMs.toFixed(2)} ms (${inGc.map((g) => g.kind).join(',')}) native ${r.nat} storage ${r.sto} heap top +${r.brk} KiB`,
    )
  }
}

const want = (c: string) => !cases.length || cases.includes(c)
for (const n of [256, 512, 1024, 2048]) {
  if (!want(`mm${n}`)) continue
  const a = Tensor.randn([n, n]).realize()
  const b = Tensor.randn([n, n]).realize()
  // reach the full-tier kernel before measuring
  for (let i = 0; i < 3; i++) a.matmul(b).realize()
  await new Promise((r) => setTimeout(r, 2000))
  for (let i = 0; i < 2; i++) a.matmul(b).realize()
  await run(`matmul ${n}`, () => a.matmul(b))
}
if (want('copy16m')) {
  const x = Tensor.randn([1 << 24]).realize()
  x.neg().realize()
  await run('copy 16M', () => x.neg())
}
