// A two-layer MLP on MNIST: the quickest way to see real training (~97% test accuracy after
// 600 steps, a minute or two on a 2-core CPU). Run after `npm run build`:
//   node examples/mnist_mlp.js            (STEPS=600 BS=256 by default)
import { jit, nn, optim, Tensor } from 'tsgrad'

const steps = Number(process.env.STEPS ?? 600)
const batchSize = Number(process.env.BS ?? 256)
Tensor.manualSeed(42)

const { train, test } = nn.datasets.mnist()

class MLP {
  fc1 = new nn.Linear(784, 512)
  fc2 = new nn.Linear(512, 10)
  call(x) {
    return this.fc2.call(this.fc1.call(x).relu())
  }
}

const model = new MLP()
const opt = new optim.Adam(nn.getParameters(model), { lr: 2e-3 })
const trainStep = jit((x, y) => {
  opt.zeroGrad()
  const loss = model.call(x).sparseCategoricalCrossentropy(y)
  loss.backward()
  Tensor.realize(loss, ...opt.scheduleStep())
  return loss
})

const randomBatch = () => Array.from({ length: batchSize }, () => Math.floor(Math.random() * train.count))
const t0 = performance.now()
Tensor.training = true
for (let step = 1; step <= steps; step++) {
  const { x, y } = nn.datasets.mnistBatch(train, randomBatch(), { layout: 'flat' }) // x: [B, 784]
  const loss = await trainStep(x, y).item()
  if (step % 100 === 0 || step === 1) {
    console.log(`step ${step}  loss ${loss.toFixed(3)}  ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
}
Tensor.training = false

const all = Array.from({ length: test.count }, (_, i) => i)
const { x, y } = nn.datasets.mnistBatch(test, all, { layout: 'flat' })
const acc = await Tensor.noGrad(() => model.call(x).argmax(1).eq(y).float().mean()).item()
console.log(`test accuracy ${(acc * 100).toFixed(2)}%`)
