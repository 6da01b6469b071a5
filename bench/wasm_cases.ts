// The browser bench's cases on the WASM device in Node, one at a time, timed by process CPU time
// (on a shared machine the steadier number; with WASM_THREADS=1 it is the kernel's time):
//   WASM_THREADS=1 node --import tsx bench/wasm_cases.ts softmax [runs] [--dispose]
// cases: elementwise, softmax, matmul512, matmul1024, conv2d, mlp. Plain path: the op on inputs
// realized once, then `await data()`; `--dispose` realizes and disposes instead (the output's
// memory is reused: the kernel alone, no copy out, no fresh pages). Median of `runs` (7) after 2
// warm-ups.
import { Device, nn, optim, Tensor } from '../src/index.ts'
import { mlpTrainStep } from './browser/mlp_case.ts'

const args = process.argv.slice(2)
const dispose = args.includes('--dispose')
const [which = 'softmax', runsArg = '7'] = args.filter((a) => !a.startsWith('--'))
const device = 'WASM'
const put = (shape: number[]) => Tensor.rand(shape, { device }).realize()
const finish = async (t: Tensor): Promise<void> => {
  if (dispose) t.realize().dispose()
  else await t.data()
}

function makeCase(): () => Promise<void> {
  switch (which) {
    case 'elementwise': {
      const t = put([1 << 24])
      return () => finish(t.mul(2).add(1).relu().mul(t.sigmoid()))
    }
    case 'softmax': {
      const t = put([4096, 4096])
      return () => finish(t.softmax(-1))
    }
    case 'matmul512':
    case 'matmul1024': {
      const n = which === 'matmul512' ? 512 : 1024
      const [a, b] = [put([n, n]), put([n, n])]
      return () => finish(a.matmul(b))
    }
    case 'conv2d': {
      const [x, w] = [put([8, 64, 56, 56]), put([64, 64, 3, 3])]
      return () => finish(x.conv2d(w, { padding: 1 }))
    }
    case 'mlp': {
      const labels = Int32Array.from({ length: 512 }, (_, i) => i % 10)
      const ys = new Tensor(labels, { shape: [512], device }).realize()
      return mlpTrainStep({ Device, nn, optim, Tensor }, device, put([512, 784]), ys)
    }
  }
  throw new Error(`unknown case ${which} (elementwise, softmax, matmul512, matmul1024, conv2d, mlp)`)
}

const f = makeCase()
await f()
await f()
const wall: number[] = []
const cpu: number[] = []
for (let i = 0; i < Number(runsArg); i++) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await f()
  wall.push(performance.now() - t0)
  const c = process.cpuUsage(c0)
  cpu.push((c.user + c.system) / 1e3)
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1)
console.log(`${which}${dispose ? ' (disposed)' : ''}: cpu ${median(cpu)} ms, wall ${median(wall)} ms`)
