// Phase times of an N-op elementwise chain (issue 15, item 12): build, backward, schedule, codegen
// of its kernels, and realize (compile + run) on the default device.
// Run: node --import tsx scripts/deep_chain.ts 5000 10000 20000
import { renderKernel } from '../src/codegen/kernel.ts'
import { handOpts } from '../src/codegen/heuristics.ts'
import { scheduleFor } from '../src/engine/realize.ts'
import { Device, Tensor } from '../src/index.ts'

for (const n of process.argv.slice(2).map(Number)) {
  const times: Record<string, string> = {}
  const time = <T>(name: string, f: () => T): T => {
    const t0 = performance.now()
    const r = f()
    times[name] = `${((performance.now() - t0) / 1000).toFixed(2)} s`
    return r
  }
  const x = Tensor.rand([16], { requiresGrad: true }).realize()
  const y = time('build', () => {
    let y = x
    for (let i = 0; i < n; i++) y = i % 2 ? y.mul(0.999) : y.add(0.001 + n * 1e-9)
    return y
  })
  const loss = y.sum()
  time('backward', () => loss.backward())
  const sched = time('schedule', () => scheduleFor([loss.uop, x.grad!.uop]))
  const { renderer } = Device.get(Device.DEFAULT)
  time('codegen', () => {
    for (const it of sched.items)
      if (it.kind === 'kernel') renderKernel(it.ast, renderer, handOpts(it.ast, renderer.target))
  })
  time('realize', () => Tensor.realize(loss, x.grad!))
  console.log(`${n} ops, ${sched.items.length} kernels:`, JSON.stringify(times))
}
