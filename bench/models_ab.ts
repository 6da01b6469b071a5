// The bench's model cases (bench/models.ts: transformer block forward / train step, MNIST step) and
// an MLP step of two checkouts loaded in one process, alternated round by round so both see the
// same load: `node --import tsx bench/models_ab.ts <treeA> <treeB> [case ...]` (R=5 rounds; cases:
// tf-train tf-fwd mnist mlp). Each round runs 1 warm-up and 3 plain calls (`f()` then realize,
// nothing disposed) per tree; prints the medians over all calls of wall and process CPU time and
// the ratios A/B (> 1: B cheaper).
import { resolve } from 'node:path'

const [ra, rb, ...only] = process.argv.slice(2)
if (!ra || !rb) throw new Error('usage: models_ab.ts <treeA> <treeB> [case ...]')
const roots = [resolve(ra), resolve(rb)]
type Lib = typeof import('../src/index.ts')
type Models = typeof import('./models.ts')
const trees = await Promise.all(
  roots.map(async (r) => ({
    lib: (await import(`${r}/src/index.ts`)) as Lib,
    models: (await import(`${r}/bench/models.ts`)) as Models,
  })),
)

/** MLP 784-512-512-10 Adam step at batch 512 (relu after each hidden product). */
function mlpStep({ nn, optim, Tensor }: Lib) {
  Tensor.manualSeed(0)
  const layers = [new nn.Linear(784, 512), new nn.Linear(512, 512), new nn.Linear(512, 10)]
  const opt = new optim.Adam(nn.getParameters(layers), { lr: 1e-3 })
  const x = Tensor.rand([512, 784]).realize()
  const y = Tensor.randint(0, 10, [512]).realize()
  return () => {
    opt.zeroGrad()
    const h = layers[2]!.call(layers[1]!.call(layers[0]!.call(x).relu()).relu())
    const loss = h.sparseCategoricalCrossentropy(y)
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    return loss
  }
}

const cases: Record<string, (t: (typeof trees)[number]) => () => { realize(): unknown }> = {
  'tf-train': (t) => t.models.transformerCase().trainStep,
  'tf-fwd': (t) => t.models.transformerCase().forward,
  mnist: (t) => t.models.mnistStepCase(64),
  mlp: (t) => mlpStep(t.lib),
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!
for (const name of Object.keys(cases)) {
  if (only.length && !only.includes(name)) continue
  const fs = trees.map((t) => cases[name]!(t))
  const wall: number[][] = [[], []]
  const cpu: number[][] = [[], []]
  for (let round = 0; round < Number(process.env.R ?? 5); round++)
    fs.forEach((f, j) => {
      f().realize()
      for (let i = 0; i < 3; i++) {
        const [t0, c0] = [performance.now(), process.cpuUsage()]
        f().realize()
        const c = process.cpuUsage(c0)
        wall[j]!.push(performance.now() - t0)
        cpu[j]!.push((c.user + c.system) / 1e3)
      }
    })
  const [wa, wb, ca, cb] = [med(wall[0]!), med(wall[1]!), med(cpu[0]!), med(cpu[1]!)]
  console.log(
    `${name}: A wall ${wa.toFixed(1)} ms cpu ${ca.toFixed(1)} ms | B wall ${wb.toFixed(1)} ms cpu ${cb.toFixed(1)} ms | A/B wall ${(wa / wb).toFixed(2)} cpu ${(ca / cb).toFixed(2)}`,
  )
}
