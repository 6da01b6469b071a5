// The WASM device against the JS device (issue 19): matmul 512 and 1024 (GFLOP/s, single-threaded),
// elementwise on 16M floats, softmax over 4096 x 4096. Plain user path: build the op, `.realize()`,
// median wall time over the runs after one warm-up (which compiles). Process CPU time is printed
// beside it: on a shared machine it is the steadier number.
//   node --import tsx bench/wasm.ts              (both devices)
//   node --import tsx bench/wasm.ts WASM         (one device)
//   WASM_SIMD=0 node --import tsx bench/wasm.ts  (the scalar WASM code)
import { Tensor } from '../src/index.ts'
import { wasmFeatures } from '../src/runtime/wasm_features.ts'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

function time(f: () => Tensor, reps: number): { ms: number; cpu: number } {
  f().realize()
  const wall: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    f().realize()
    wall.push(performance.now() - t0)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1e3)
  }
  return { ms: median(wall), cpu: median(cpu) }
}

const devices = process.argv.slice(2).length ? process.argv.slice(2) : ['WASM', 'JS']
const f = wasmFeatures()
console.log(`WASM features: simd ${f.simd}, relaxed ${f.relaxed}, shared memory ${f.sharedMemory}`)
for (const device of devices) {
  const row: string[] = []
  const fmt = (name: string, t: { ms: number; cpu: number }, extra = '') =>
    row.push(`${name} ${t.ms.toFixed(1)} ms (cpu ${t.cpu.toFixed(1)})${extra}`)
  for (const n of [512, 1024]) {
    const a = Tensor.rand([n, n], { device }).realize()
    const b = Tensor.rand([n, n], { device }).realize()
    const t = time(() => a.matmul(b), device === 'JS' ? 3 : 7)
    fmt(`matmul ${n}`, t, ` ${((2 * n ** 3) / t.ms / 1e6).toFixed(1)} GFLOP/s`)
  }
  const x = Tensor.rand([1 << 24], { device }).realize()
  const y = Tensor.rand([1 << 24], { device }).realize()
  fmt(
    'add 16M',
    time(() => x.add(y), 7),
  )
  fmt(
    'relu(2x+1)*y 16M',
    time(() => x.mul(2).add(1).relu().mul(y), 7),
  )
  const s = Tensor.rand([4096, 4096], { device }).realize()
  fmt(
    'softmax 4096^2',
    time(() => s.softmax(-1), 5),
  )
  console.log(`${device}: ${row.join(' | ')}`)
}
