// Main-thread CPU of each plain call (`a.matmul(b)` built, then `.realize()`, nothing disposed) in a
// fresh process, for the first 40 calls of matmul 64, 256 and 512 in the order bench/run.ts runs
// them: shows V8's warm-up and the calls that fault memory the process never had (on the reference
// VM ~5 ms of system time per 2 MiB huge page: every 8th call at 256, every 2nd at 512 before the
// heap was faulted in ahead). `OMP_NUM_THREADS=1 node --import tsx bench/plain_calls.ts [tree]`.
import { createRequire } from 'node:module'
import { resolve } from 'node:path'

const root = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..'))
const { Tensor } = (await import(`${root}/src/index.ts`)) as typeof import('../src/index.ts')
const koffi = createRequire(import.meta.url)('koffi')
koffi.struct('timespec_plain_calls', { tv_sec: 'int64', tv_nsec: 'int64' })
const clockGettime = koffi.load('libc.so.6').func('int clock_gettime(int, _Out_ timespec_plain_calls *)')
const CLOCK_THREAD_CPUTIME_ID = 3
const ts = { tv_sec: 0, tv_nsec: 0 }
/** CPU time of this thread in microseconds */
const threadUs = (): number => {
  clockGettime(CLOCK_THREAD_CPUTIME_ID, ts)
  return Number(ts.tv_sec) * 1e6 + Number(ts.tv_nsec) / 1e3
}
for (const n of [64, 256, 512]) {
  const a = Tensor.randn([n, n]).realize()
  const b = Tensor.randn([n, n]).realize()
  for (let i = 0; i < 3; i++) a.matmul(b).realize()
  await new Promise((r) => setTimeout(r, 2500)) // the full-tier build lands
  const build: number[] = []
  const realize: number[] = []
  for (let i = 0; i < 40; i++) {
    const t0 = threadUs()
    const t = a.matmul(b)
    const t1 = threadUs()
    t.realize()
    build.push(t1 - t0)
    realize.push(threadUs() - t1)
  }
  const us = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ')
  console.log(
    `matmul ${n}, main-thread CPU per call (us)\n  build:   ${us(build)}\n  realize: ${us(realize)}`,
  )
}
