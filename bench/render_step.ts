// Rendering cost of a cold MNIST CNN step (batch 512): every kernel of the step rendered as a cold
// start renders it (first-tier list where it has one) and the full tiers rendered at step 2, in
// process CPU time (main thread; a render starts nothing else). Steady on a loaded machine where
// a cold step's wall time is not.
//   node --import tsx bench/render_step.ts [--rounds 5]
import { firstTierOpts } from '../src/codegen/first_tier.ts'
import { handOpts } from '../src/codegen/heuristics.ts'
import { renderKernel } from '../src/codegen/kernel.ts'
import { scheduleFor } from '../src/engine/realize.ts'
import { MnistCnn } from '../src/apps/mnist/model.ts'
import { Device, nn, optim, Tensor } from '../src/index.ts'
import { unbindGraph } from '../src/schedule/unbind.ts'

const i = process.argv.indexOf('--rounds')
const rounds = i >= 0 ? Number(process.argv[i + 1]) : 5

// the step's schedule, planned as realize plans it (nothing compiled or launched)
Tensor.manualSeed(1)
const model = new MnistCnn()
const opt = new optim.Adam(nn.getParameters(model), { lr: 1e-3 })
Tensor.training = true
const loss = model
  .call(Tensor.rand([512, 1, 28, 28]))
  .sparseCategoricalCrossentropy(new Tensor(Int32Array.from({ length: 512 }, (_, k) => k % 10)))
loss.backward()
const roots = [loss, ...opt.scheduleStep()].map((t) => t.uop)
const items = scheduleFor(unbindGraph(roots).roots).items.filter((it) => it.kind === 'kernel')

const dev = Device.get('CPU')
const target = dev.renderer.target
const asts = [...new Map(items.map((it) => [it.ast.key, it.ast])).values()]
const plans = asts.map((ast) => {
  const full = handOpts(ast, target)
  return { ast, full, first: firstTierOpts(ast, full, target) }
})
const cpu = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e3
}
console.log(`${asts.length} kernels, ${plans.filter((p) => p.first).length} with a first tier`)
for (let r = 1; r <= rounds; r++) {
  let c0 = cpu()
  let chars = 0
  for (const p of plans) chars += renderKernel(p.ast, dev.renderer, p.first ?? p.full).src.length
  const step1 = cpu() - c0
  c0 = cpu()
  let fullChars = 0
  for (const p of plans) if (p.first) fullChars += renderKernel(p.ast, dev.renderer, p.full).src.length
  const full = cpu() - c0
  console.log(
    `round ${r}: step 1's kernels ${step1.toFixed(0)} ms CPU (${(chars / 1e6).toFixed(2)} MB of C), full tiers ${full.toFixed(0)} ms (${(fullChars / 1e6).toFixed(2)} MB)`,
  )
}
