// Cold start of the MNIST CNN: the first train steps and the first evaluation batch with an empty
// kernel cache, wall time and CPU time (this process and its compilers) and the libraries built
// (one compiler process each), then the steady state.
//   node --import tsx bench/cold_start.ts [--batch 512] [--steps 12]
// Each run uses a fresh TSGRAD_CACHE_DIR (the variable, when set, is replaced). QUICK_COMPILE=1
// adds the quick first builds (runtime/cpu_quick.ts); TIERS=0 turns first-tier builds off
// (engine/tiers.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const batch = arg('batch', 512)
const steps = arg('steps', 12)
const dir = mkdtempSync(join(tmpdir(), 'tsgrad-cold-'))
process.env.TSGRAD_CACHE_DIR = dir
process.once('exit', () => {
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch {
    // a background build (QUICK_COMPILE=1) still writing: its own exit hook removes its files
  }
})

const { nn, optim, Tensor } = await import('../src/index.ts')
const { MnistCnn } = await import('../src/apps/mnist/model.ts')
const { tierStats } = await import('../src/engine/tiers.ts')

/** CPU seconds of this process and of its waited-for children (the compilers). */
function cpuSeconds(): { self: number; children: number } {
  const u = process.cpuUsage()
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  return { self: (u.user + u.system) / 1e6, children: (Number(f[13]) + Number(f[14])) / 100 }
}

Tensor.manualSeed(0)
const tInit = performance.now()
const cInit = cpuSeconds()
const model = new MnistCnn()
const opt = new optim.Adam(nn.getParameters(model), { lr: 1e-3 })
const initLine = `model and optimizer built (their initial values' kernels, the toolchain probe, the precompiled prelude)`
const images = (b: number) =>
  new Tensor(
    Float32Array.from({ length: b * 784 }, () => Math.random()),
    { shape: [b, 1, 28, 28] },
  )
const labels = (b: number) => new Tensor(Int32Array.from({ length: b }, (_, i) => i % 10))
const step = async () => {
  Tensor.training = true
  opt.zeroGrad()
  const loss = model.call(images(batch)).sparseCategoricalCrossentropy(labels(batch))
  loss.backward()
  Tensor.realize(loss, ...opt.scheduleStep())
  await loss.item()
  Tensor.training = false
}
/** Libraries in the cache so far: each is one compiler process (a group or a kernel alone). */
const libraries = (): number => {
  try {
    return readdirSync(join(dir, 'cpu')).filter((f) => f.endsWith('.so')).length
  } catch {
    return 0
  }
}
let built = 0
/** Wall time since t0, then (after a turn of the event loop, which reaps the compiler processes
 * started without waiting: their CPU time counts once reaped) the CPU times since c0. */
const fmt = async (t0: number, c0: ReturnType<typeof cpuSeconds>) => {
  const wall = (performance.now() - t0) / 1e3
  await new Promise((r) => setTimeout(r, 20))
  const c = cpuSeconds()
  const libs = libraries()
  const line = `${wall.toFixed(2)} s wall, CPU ${(c.self - c0.self).toFixed(1)} s + compilers ${(c.children - c0.children).toFixed(1)} s, ${libs - built} libraries built`
  built = libs
  return line
}

console.log(
  `MNIST CNN cold start, batch ${batch}, QUICK_COMPILE=${process.env.QUICK_COMPILE ?? '(unset: off)'}`,
)
console.log(`${initLine}: ${await fmt(tInit, cInit)}`)
let t0 = performance.now()
let c0 = cpuSeconds()
await step()
console.log(`step 1: ${await fmt(t0, c0)}`)
const times: number[] = []
for (let i = 2; i <= steps; i++) {
  t0 = performance.now()
  c0 = cpuSeconds()
  await step()
  times.push(performance.now() - t0)
  console.log(`step ${i}: ${await fmt(t0, c0)}`)
}
t0 = performance.now()
c0 = cpuSeconds()
// at the training batch size, as the app evaluates (apps/mnist/trainer.ts: it reuses the step's kernels)
await Tensor.noGrad(() => model.call(images(batch)).argmax(1).eq(labels(batch)).sum()).item()
console.log(`first evaluation batch (${batch} images, as the app evaluates): ${await fmt(t0, c0)}`)
const last = times.slice(-5).sort((a, b) => a - b)
console.log(`steady state (median of the last 5 steps): ${(last[last.length >> 1]! / 1e3).toFixed(3)} s/step`)
console.log(
  `first-tier builds: ${tierStats.firstTier} kernels, ${tierStats.started} full builds started, ${tierStats.swaps} swapped in`,
)
