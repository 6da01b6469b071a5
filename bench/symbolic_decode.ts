// A decode loop's attention over a KV cache read up to a bound Variable, eager and jitted:
// kernels compiled over the whole loop, and the median time per position.
//   node --import tsx bench/symbolic_decode.ts [positions=256]
import { jit, Tensor, type UOp, Variable } from '../src/index.ts'
import { stats } from '../src/engine/realize.ts'

const N = Number(process.argv[2] ?? 256)
const [B, H, MAX, D] = [1, 8, 1024, 64]
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const sp = Variable('start_pos', 0, MAX - 1)
const K = Tensor.rand([B, H, MAX, D]).realize()
const V = Tensor.rand([B, H, MAX, D]).realize()
const q = Tensor.rand([B, H, 1, D]).realize()
const attention = (x: Tensor, p: UOp): Tensor => {
  const k = K.shrink([null, null, [0, p.add(1)], null])
  const v = V.shrink([null, null, [0, p.add(1)], null])
  return x.matmul(k.transpose(2, 3)).div(Math.sqrt(D)).softmax(-1).matmul(v)
}
const step = jit(attention)
// the same attention with concrete sizes compiles new kernels at every position (a few positions)
{
  const c0 = stats.kernelsCompiled
  const t0 = performance.now()
  const n = 8
  for (let p = 0; p < n; p++) {
    const k = K.shrink([null, null, [0, p + 1], null])
    const v = V.shrink([null, null, [0, p + 1], null])
    q.matmul(k.transpose(2, 3)).div(Math.sqrt(D)).softmax(-1).matmul(v).dataSync()
  }
  console.log(
    `concrete sizes, ${n} positions: ${stats.kernelsCompiled - c0} kernels compiled, ${((performance.now() - t0) / n).toFixed(1)} ms/position`,
  )
}
for (const [name, f] of [
  ['eager', attention],
  ['jit', step],
] as const) {
  const c0 = stats.kernelsCompiled
  const times: number[] = []
  for (let p = 0; p < N; p++) {
    const t0 = performance.now()
    f(q, sp.bind(p)).dataSync()
    times.push(performance.now() - t0)
  }
  console.log(
    `${name.padEnd(5)} ${N} positions: ${stats.kernelsCompiled - c0} kernels compiled, median ${median(times.slice(4)).toFixed(3)} ms/position`,
  )
}
