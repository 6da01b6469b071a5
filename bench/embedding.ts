// Embedding lookups from a large table on the default device: kernels per call and time per call
// (median of plain calls after warm-up: embed, realize, read the rows; outputs not disposed) for
// 1 and 64 tokens. Compares checkouts in one run:
//   node --import tsx bench/embedding.ts [--vocab 128256] [--dim 4096] [path/to/other/checkout ...]
// (each path is imported as <path>/src/index.ts; default: this checkout). The table is realized
// once; each call embeds fresh random token ids (a realized int32 buffer) and realizes the rows.
import { resolve } from 'node:path'

const args = process.argv.slice(2)
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name)
  if (i < 0) return dflt
  const v = Number(args.splice(i, 2)[1])
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer`)
  return v
}
const V = flag('--vocab', 128256)
const D = flag('--dim', 4096)
const roots = args.length ? args : [resolve(import.meta.dirname, '..')]
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

for (const root of roots) {
  const { Tensor } = await import(`${resolve(root)}/src/index.ts`)
  const { stats } = await import(`${resolve(root)}/src/engine/realize.ts`)
  const table = Tensor.rand([V, D]).realize()
  console.log(`${root}: table (${V}, ${D}) float32`)
  for (const tokens of [1, 64]) {
    const call = () => {
      const ids = new Tensor(Int32Array.from({ length: tokens }, () => Math.floor(Math.random() * V)))
      return ids.embedding(table).dataSync()
    }
    for (let i = 0; i < 2; i++) call()
    const n = tokens === 1 ? 20 : 10
    const before = stats.kernelsRun
    const ts: number[] = []
    let spent = 0
    let calls = 0
    while (calls < n && (calls < 2 || spent < 60_000)) {
      const t0 = performance.now()
      call()
      const dt = performance.now() - t0
      ts.push(dt)
      spent += dt
      calls++
    }
    const kernels = (stats.kernelsRun - before) / calls
    console.log(
      `  embedding of ${tokens} token(s): ${kernels} kernel(s) per call, ${median(ts).toFixed(3)} ms per call (median of ${calls})`,
    )
  }
}
