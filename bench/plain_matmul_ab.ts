// The plain matmul path of two checkouts loaded in one process, alternated (so both see the same
// load): `node --import tsx bench/plain_matmul_ab.ts <treeA> <treeB>` (N=256, R=15 rounds). Each round
// runs 2 warm-ups and 7 plain calls (`a.matmul(b).realize()`, nothing disposed) per tree; prints the
// median over rounds of each round's median, the best round, and the ratio A/B.
import { resolve } from 'node:path'

const roots = process.argv.slice(2).map((r) => resolve(r))
if (roots.length !== 2) throw new Error('usage: plain_matmul_ab.ts <treeA> <treeB>')
const n = Number(process.env.N ?? 256)
const libs = await Promise.all(
  roots.map(async (r) => (await import(`${r}/src/index.ts`)) as typeof import('../src/index.ts')),
)
const data = [0, 1].map(() => Float32Array.from({ length: n * n }, () => Math.random()))
const ops = libs.map(({ Tensor }) => {
  const a = new Tensor(data[0]!, { shape: [n, n] }).realize()
  const b = new Tensor(data[1]!, { shape: [n, n] }).realize()
  return () => a.matmul(b).realize()
})
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!
const per: number[][] = roots.map(() => [])
for (let round = 0; round < Number(process.env.R ?? 15); round++)
  ops.forEach((f, j) => {
    for (let i = 0; i < 2; i++) f()
    const ts: number[] = []
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now()
      f()
      ts.push(performance.now() - t0)
    }
    per[j]!.push(med(ts))
  })
for (const [j, r] of roots.entries())
  console.log(
    `${r}: matmul ${n} plain, median of rounds ${med(per[j]!).toFixed(3)} ms, best round ${Math.min(...per[j]!).toFixed(3)} ms`,
  )
console.log(`ratio A/B (medians): ${(med(per[0]!) / med(per[1]!)).toFixed(2)}`)
