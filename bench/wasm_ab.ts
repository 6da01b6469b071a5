// WASM kernels of two checkouts loaded in one process, alternated call by call so both see the same
// load: `WASM_THREADS=1 node --import tsx bench/wasm_ab.ts <treeA> <treeB> <case> [rounds]`
// (cases: elementwise = relu(2x+1) * sigmoid(x) on 16M, softmax 4096x4096, gelu on 16M, matmul512,
// matmul1024, conv2d = 8x64x56x56 with 64 3x3 filters, padding 1; mlp: the browser bench's SGD step,
// which ends with `await loss.data()`). Each other call
// realizes then disposes (the output's memory reused: the kernel alone); prints the median process
// CPU ms per call of each tree over `rounds` (8) rounds after 2 warm-ups, and every call's time.
import { resolve } from 'node:path'

const [ra, rb, which = 'elementwise', rounds = '8'] = process.argv.slice(2)
if (!ra || !rb)
  throw new Error('usage: wasm_ab.ts <treeA> <treeB> <case> [rounds] (cases: see the comment above)')
type Lib = typeof import('../src/index.ts')
type T = InstanceType<Lib['Tensor']>
/** the op on its input(s) of `shapes` */
const OPS: Record<string, { shapes: number[][]; f: (t: T, u: T) => T }> = {
  elementwise: { shapes: [[1 << 24]], f: (t) => t.mul(2).add(1).relu().mul(t.sigmoid()) },
  softmax: { shapes: [[4096, 4096]], f: (t) => t.softmax(-1) },
  gelu: { shapes: [[1 << 24]], f: (t) => t.gelu() },
  matmul512: {
    shapes: [
      [512, 512],
      [512, 512],
    ],
    f: (a, b) => a.matmul(b),
  },
  matmul1024: {
    shapes: [
      [1024, 1024],
      [1024, 1024],
    ],
    f: (a, b) => a.matmul(b),
  },
  conv2d: {
    shapes: [
      [8, 64, 56, 56],
      [64, 64, 3, 3],
    ],
    f: (x, w) => x.conv2d(w, { padding: 1 }),
  },
}
const calls: (() => unknown)[] = []
for (const root of [resolve(ra), resolve(rb)]) {
  const lib = (await import(`${root}/src/index.ts`)) as Lib
  const { Tensor } = lib
  const put = (s: number[]) => Tensor.rand(s, { device: 'WASM' }).realize()
  if (which === 'mlp') {
    // the browser bench's MLP training step (784-512-512-10, batch 512), ending with `await loss.data()`
    const { mlpTrainStep } = (await import(
      `${root}/bench/browser/mlp_case.ts`
    )) as typeof import('./browser/mlp_case.ts')
    const labels = Int32Array.from({ length: 512 }, (_, i) => i % 10)
    const ys = new Tensor(labels, { shape: [512], device: 'WASM' }).realize()
    calls.push(mlpTrainStep(lib, 'WASM', put([512, 784]), ys))
    continue
  }
  const op = OPS[which]
  if (!op) throw new Error(`unknown case ${which} (${[...Object.keys(OPS), 'mlp'].join(', ')})`)
  const [t, u] = op.shapes.map(put)
  calls.push(() =>
    op
      .f(t!, u ?? t!)
      .realize()
      .dispose(),
  )
}
for (const f of calls) for (let i = 0; i < 2; i++) await f()
const cpu: number[][] = [[], []]
for (let r = 0; r < Number(rounds); r++)
  for (const [j, f] of calls.entries()) {
    const c0 = process.cpuUsage()
    await f()
    const c = process.cpuUsage(c0)
    cpu[j]!.push((c.user + c.system) / 1e3)
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1)
const all = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ')
console.log(`${which}: A ${median(cpu[0]!)} ms, B ${median(cpu[1]!)} ms CPU per call (median)`)
console.log(`  A ${all(cpu[0]!)}\n  B ${all(cpu[1]!)}`)
