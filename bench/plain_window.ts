// The plain user path per call, in the window bench/run.ts measures and in a long loop's steady
// state, for one checkout (`node --import tsx bench/plain_window.ts [root] [case ...]`; cases mm256
// mm512 mm1024 mm2048 copy16m). Per case: 40 calls of `f().realize()` in one synchronous loop, then
// 40 of `await f().data()`; prints medians of process CPU (user+sys), wall and minor faults over calls
// 3-9 (after bench/run.ts's 2 warm-ups and a settling call: its 7 timed calls) and 20-39 (steady).
// Run several processes of the checkouts to compare alternately (process-wide malloc and GC state).
import { resolve } from 'node:path'

const args = process.argv.slice(2)
const root =
  args[0] && !args[0].startsWith('mm') && !args[0].startsWith('copy')
    ? resolve(args.shift()!)
    : resolve(import.meta.dirname, '..')
const { Tensor } = (await import(`${root}/src/index.ts`)) as typeof import('../src/index.ts')
type T = InstanceType<typeof Tensor>
const cases = args.length ? args : ['mm256', 'mm1024', 'mm2048', 'copy16m']
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

interface Call {
  cpu: number
  sys: number
  wall: number
  flt: number
}
async function calls(f: () => T, data: boolean, n = 40): Promise<Call[]> {
  const out: Call[] = []
  for (let i = 0; i < n; i++) {
    const r0 = process.resourceUsage().minorPageFault
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    if (data) await f().data()
    else f().realize()
    const wall = performance.now() - t0
    const c = process.cpuUsage(c0)
    out.push({
      cpu: (c.user + c.system) / 1e3,
      sys: c.system / 1e3,
      wall,
      flt: process.resourceUsage().minorPageFault - r0,
    })
  }
  return out
}
const fmt = (cs: Call[]) =>
  `cpu ${med(cs.map((c) => c.cpu)).toFixed(2)} (sys ${med(cs.map((c) => c.sys)).toFixed(2)}) wall ${med(cs.map((c) => c.wall)).toFixed(2)} ms flt ${med(cs.map((c) => c.flt))}`

async function run(name: string, f: () => T): Promise<void> {
  for (let i = 0; i < 3; i++) f().realize().dispose()
  await new Promise((r) => setTimeout(r, 1500)) // background (full-tier) builds land
  f().realize().dispose()
  await new Promise((r) => setTimeout(r, 100))
  // one synchronous loop: `calls` never awaits when it does not read data
  const sync = await calls(f, false)
  await new Promise((r) => setTimeout(r, 100))
  const data = await calls(f, true)
  console.log(
    `${name.padEnd(8)} sync  window ${fmt(sync.slice(3, 10))} | steady ${fmt(sync.slice(20))}\n${''.padEnd(8)} await window ${fmt(data.slice(3, 10))} | steady ${fmt(data.slice(20))}`,
  )
}

for (const c of cases) {
  if (c.startsWith('mm')) {
    const n = Number(c.slice(2))
    const a = Tensor.randn([n, n]).realize()
    const b = Tensor.randn([n, n]).realize()
    await run(c, () => a.matmul(b))
  } else if (c === 'copy16m') {
    const x = Tensor.randn([1 << 24]).realize()
    await run(c, () => x.neg())
  }
}
