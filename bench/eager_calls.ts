// The smallops bench's eager loop (100 ops on 1,000 elements, each realized, nothing disposed) timed
// per call in main-thread CPU (clock_gettime of the thread, through koffi; Linux), from the start
// of a fresh process: the bench's plain row is calls 3-9, V8's warm-up.
//   node --import tsx bench/eager_calls.ts [calls]          per-call trajectory of this tree (ROOT=<tree>: another)
//   node --import tsx bench/eager_calls.ts ab <treeA> <treeB> [rounds]
//                                                           both trees in one process, blocks of 100 ops alternated
//                                                           after 20,000 ops each (the same load for both)
import { createRequire } from 'node:module'

type Koffi = {
  load(path: string): { func(decl: string): (...a: unknown[]) => unknown }
  struct(name: string, def: Record<string, string>): unknown
}
const koffi = createRequire(import.meta.url)('koffi') as Koffi
koffi.struct('timespec_eager_calls', { s: 'long', ns: 'long' })
const clockGettime = koffi.load('libc.so.6').func('int clock_gettime(int, _Out_ timespec_eager_calls *)')
const CLOCK_THREAD_CPUTIME_ID = 3
const ts = { s: 0, ns: 0 }
/** CPU time of this thread in microseconds */
const threadUs = (): number => {
  clockGettime(CLOCK_THREAD_CPUTIME_ID, ts)
  return ts.s * 1e6 + ts.ns / 1e3
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const here = new URL('..', import.meta.url).pathname.replace(/\/$/, '')

type Loop = (n: number) => void
async function loopOf(root: string): Promise<Loop> {
  const { Tensor } = (await import(`${root}/src/index.ts`)) as typeof import('../src/index.ts')
  const x = Tensor.rand([1000]).realize()
  return (n) => {
    let y = x
    for (let i = 0; i < n; i++) y = (i % 2 ? y.mul(0.999) : y.add(0.001)).realize()
  }
}
/** microseconds of thread CPU per op of `n` ops */
const timed = (loop: Loop, n: number): number => {
  const t0 = threadUs()
  loop(n)
  return (threadUs() - t0) / n
}

if (process.argv[2] === 'ab') {
  const roots = [process.argv[3]!, process.argv[4]!]
  const rounds = Number(process.argv[5] ?? 200)
  const loops = await Promise.all(roots.map(loopOf))
  for (let i = 0; i < 200; i++) for (const l of loops) l(100)
  const per = loops.map(() => [] as number[])
  for (let r = 0; r < rounds; r++)
    for (let j = 0; j < loops.length; j++) {
      const k = r % 2 ? loops.length - 1 - j : j
      per[k]!.push(timed(loops[k]!, 100))
    }
  console.log(
    roots.map((r, j) => `${r}: ${median(per[j]!).toFixed(2)} us/op`).join(' | ') +
      ` (main-thread CPU, median of ${rounds} blocks of 100 ops)`,
  )
} else {
  const root = process.env.ROOT ?? here
  const calls = Number(process.argv[2] ?? 100)
  const loop = await loopOf(root)
  const per = Array.from({ length: calls }, () => timed(loop, 100))
  const windows: string[] = []
  for (let c = 0; c < calls; c += 10)
    windows.push(`${c}-${c + 9}: ${median(per.slice(c, c + 10)).toFixed(1)}`)
  console.log(
    `${root}: calls 3-9 (the bench's plain row) ${median(per.slice(2, 9)).toFixed(1)} us/op main-thread CPU`,
  )
  console.log(`median per window of 10 calls: ${windows.join(', ')}`)
}
