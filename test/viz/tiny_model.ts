// A tiny training step for the VIZ tests: run as a child process with VIZ set (see e2e.test.ts);
// the tests pick the device with DEVICE (JS: no C compiler start-up).
import { nn, optim, Tensor } from '../../src/index.ts'

Tensor.manualSeed(3)
const l1 = new nn.Linear(6, 8)
const l2 = new nn.Linear(8, 3)
const opt = new optim.SGD(nn.getParameters([l1, l2]), { lr: 0.1 })
const x = Tensor.randn([4, 6])
const y = new Tensor([0, 1, 2, 1], { dtype: 'int32' })
Tensor.training = true
for (let i = 0; i < 2; i++) {
  opt.zeroGrad()
  const loss = l2.call(l1.call(x).relu()).sparseCategoricalCrossentropy(y)
  loss.backward()
  opt.step()
  console.log(`loss ${loss.dataSync()[0]!.toFixed(4)}`)
}
