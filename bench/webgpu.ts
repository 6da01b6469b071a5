// The WEBGPU device on this machine's adapter (in Node: Dawn on Mesa's lavapipe, a software
// Vulkan driver, so the numbers measure the CPU behind it): matmul 512 and 1024 in GFLOP/s and an
// elementwise op over 16M floats in GB/s. Each case: inputs realized once, then the op realized
// and the device synchronized (median of timed runs after a warm-up that compiles the kernel).
// Also the process's CPU time per run (lavapipe's threads run in this process): on a shared,
// loaded machine wall time mostly measures waiting for a core, CPU time the work.
// With --beam, the matmuls again under BEAM=1 (the search runs on the GPU in the background, then
// the winners are timed against the heuristics' kernels in the same process; BEAM_TIMEOUT applies).
//   node --import tsx bench/webgpu.ts [--runs 5] [--beam]
import { Device, Tensor } from '../src/index.ts'
import { beamIdle } from '../src/engine/beam.ts'
import { clearKernelCache } from '../src/engine/realize.ts'
import { startWebGPU } from '../src/runtime/webgpu.ts'

const args = process.argv.slice(2)
const ri = args.indexOf('--runs')
const RUNS = ri >= 0 ? Number(args[ri + 1]) : 5
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs needs a positive integer')
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

await startWebGPU()
const dev = Device.get('WEBGPU')
const device = 'WEBGPU'

/** median wall and CPU milliseconds of one realize + synchronize */
async function time(f: () => Tensor): Promise<[number, number]> {
  f().realize()
  await dev.synchronize() // warm-up: compiles the pipeline
  const ts: number[] = []
  const cs: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const out = f().realize()
    await dev.synchronize()
    ts.push(performance.now() - t0)
    const c = process.cpuUsage(c0)
    cs.push((c.user + c.system) / 1e3)
    out.dispose()
  }
  return [median(ts), median(cs)]
}
const fmt = (work: number, ms: number, unit: string) => `${(work / ms / 1e6).toFixed(2)} ${unit}`

const heuristicCPU = new Map<number, number>()
const inputs = new Map<number, [Tensor, Tensor]>()
for (const n of [512, 1024]) {
  const a = Tensor.rand([n, n], { device }).realize()
  const b = Tensor.rand([n, n], { device }).realize()
  inputs.set(n, [a, b])
  const [ms, cpu] = await time(() => a.matmul(b))
  heuristicCPU.set(n, cpu)
  const f = 2 * n ** 3
  console.log(
    `matmul ${n}x${n}x${n}: ${ms.toFixed(1)} ms wall (${fmt(f, ms, 'GFLOP/s')}), ${cpu.toFixed(1)} ms CPU (${fmt(f, cpu, 'GFLOP/CPU-s')})`,
  )
}
if (args.includes('--beam')) {
  process.env.BEAM = '1'
  clearKernelCache() // the matmuls above were compiled with the heuristics' opts
  for (const n of [512, 1024]) {
    const [a, b] = inputs.get(n)!
    await a.matmul(b).data() // starts the search (the heuristics' kernel runs meanwhile)
    await beamIdle()
    const [ms, cpu] = await time(() => a.matmul(b))
    const f = 2 * n ** 3
    console.log(
      `matmul ${n} BEAM=1 winner: ${ms.toFixed(1)} ms wall (${fmt(f, ms, 'GFLOP/s')}), ${cpu.toFixed(1)} ms CPU (${fmt(f, cpu, 'GFLOP/CPU-s')}), ${(heuristicCPU.get(n)! / cpu).toFixed(2)}x the heuristics' CPU time`,
    )
  }
  delete process.env.BEAM
}
{
  const n = 16 * 2 ** 20
  const x = Tensor.rand([n], { device }).realize()
  const y = Tensor.rand([n], { device }).realize()
  const [ms, cpu] = await time(() => x.mul(y).add(1))
  const bytes = 3 * 4 * n
  console.log(
    `elementwise 16M (x * y + 1): ${ms.toFixed(1)} ms wall (${fmt(bytes, ms, 'GB/s')}), ${cpu.toFixed(1)} ms CPU (${fmt(bytes, cpu, 'GB/CPU-s')})`,
  )
}
