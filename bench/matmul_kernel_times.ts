// Kernel times of matmul n on the CPU device (the DEBUG=2 line of each launch): `[OMP_NUM_THREADS=1]
// [OMP_WAIT_POLICY=active] node --import tsx bench/matmul_kernel_times.ts` (N=256, 200 launches after
// 10 warm-ups); prints the 10th percentile, median, 90th percentile and max of the matmul kernel.
// The full build is timed (TIERS=0 unless set): with tiers on and a cold kernel cache the launches
// run the first tier (a 2x32 tile, ~0.35 ms against ~0.19 ms at 256) until the full build lands.
import { Tensor } from '../src/index.ts'

process.env.TIERS ??= '0'

const n = Number(process.env.N ?? 256)
const a = Tensor.rand([n, n]).realize()
const b = Tensor.rand([n, n]).realize()
for (let i = 0; i < 10; i++) a.matmul(b).realize()
const lines: string[] = []
const log = console.log
console.log = (s: string) => lines.push(s)
process.env.DEBUG = '2'
try {
  for (let i = 0; i < 200; i++) a.matmul(b).realize()
} finally {
  delete process.env.DEBUG
  console.log = log
}
const ts: number[] = []
for (const l of lines) {
  const m = / (r_\S+)\s.*?(\d+\.\d+) ms/.exec(l)
  if (m) ts.push(Number(m[2]))
}
ts.sort((x, y) => x - y)
const q = (p: number) => ts[Math.floor(p * (ts.length - 1))]!.toFixed(3)
console.log(
  `matmul ${n} kernel, OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS ?? 'default'} TIERS=${process.env.TIERS}: p10 ${q(0.1)} median ${q(0.5)} p90 ${q(0.9)} max ${q(1)} ms`,
)
