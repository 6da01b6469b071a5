// Training steps timed on the plain user path: `loss = step(x, y)` then `await loss.item()`, outputs
// never disposed, median of single calls after warm-up. Used to compare two checkouts in one run:
//   node --import tsx bench/plain_step.ts [path/to/other/checkout ...]
// (each path is imported as <path>/src/index.ts; default: this checkout).
import { resolve } from 'node:path'

const roots = process.argv.slice(2).length ? process.argv.slice(2) : [resolve(import.meta.dirname, '..')]
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

for (const root of roots) {
  const { jit, nn, optim, Tensor } = await import(`${resolve(root)}/src/index.ts`)
  const cases: [string, number[], number][] = [
    ['MLP 784-512-512-10, batch 512', [784, 512, 512, 10], 512],
    ['MLP 2-64-64-3, batch 256', [2, 64, 64, 3], 256],
  ]
  for (const [name, sizes, batch] of cases) {
    Tensor.manualSeed(0)
    const layers = sizes.slice(1).map((n, i) => new nn.Linear(sizes[i]!, n))
    const opt = new optim.Adam(nn.getParameters(layers), { lr: 1e-3 })
    const x = new Tensor(
      Float32Array.from({ length: batch * sizes[0]! }, () => Math.random()),
      {
        shape: [batch, sizes[0]!],
      },
    ).realize()
    const y = new Tensor(Int32Array.from({ length: batch }, (_, i) => i % sizes.at(-1)!)).realize()
    const step = (xs: typeof x, ys: typeof y) => {
      let h = xs
      for (const [i, l] of layers.entries()) h = i < layers.length - 1 ? l.call(h).relu() : l.call(h)
      const loss = h.sparseCategoricalCrossentropy(ys)
      opt.zeroGrad()
      loss.backward()
      Tensor.realize(loss, ...opt.scheduleStep())
      return loss
    }
    const jstep = jit(step)
    const time = async (f: () => { item(): Promise<unknown> }, n: number) => {
      for (let i = 0; i < 3; i++) await f().item()
      const ts: number[] = []
      for (let i = 0; i < n; i++) {
        const t0 = performance.now()
        await f().item()
        ts.push(performance.now() - t0)
      }
      return median(ts)
    }
    const eager = await time(() => step(x, y), 15)
    const replay = await time(() => jstep(x, y), 15)
    console.log(`${root} | ${name} | eager ${eager.toFixed(2)} ms | jit ${replay.toFixed(2)} ms`)
  }
}
