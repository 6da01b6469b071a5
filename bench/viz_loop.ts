// The realize-heavy loop for the VIZ overhead bench: `node --import tsx bench/viz_loop.ts <src dir> <n>`
// prints the best time per realize (µs) of small fused kernels, after a warm-up.
const [srcDir, nArg] = process.argv.slice(2)
const { Tensor } = (await import(`${srcDir}/index.ts`)) as typeof import('../src/index.ts')
const n = Number(nArg ?? 2000)
const x = Tensor.ones([64, 64]).realize()
const step = () => {
  const y = x.mul(1.5).add(2).relu().sum(1).realize()
  y.dispose()
}
for (let i = 0; i < 200; i++) step()
let best = Number.POSITIVE_INFINITY
for (let round = 0; round < 5; round++) {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) step()
  best = Math.min(best, ((performance.now() - t0) / n) * 1000)
}
console.log(best.toFixed(2))
