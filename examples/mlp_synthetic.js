// Train a small MLP on a synthetic 3-class spiral problem and print the loss going down (no data
// files needed; the quick start, `npm start`, trains on MNIST: src/apps/mnist). Everything below is the public API (`import ... from 'tsgrad'`).
import { nn, optim, Tensor } from 'tsgrad'

const steps = Number(process.env.STEPS ?? 300)
const batch = 256
Tensor.manualSeed(42)

// three interleaved spirals in 2-d: not linearly separable, so the hidden layers must learn
function spiral(n) {
  const xs = new Float32Array(n * 2)
  const ys = new Int32Array(n)
  let s = 1234567
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32
  for (let i = 0; i < n; i++) {
    const c = i % 3
    const r = rnd()
    const t = c * ((2 * Math.PI) / 3) + r * 3 + (rnd() - 0.5) * 0.3
    xs[2 * i] = r * Math.cos(t)
    xs[2 * i + 1] = r * Math.sin(t)
    ys[i] = c
  }
  return { x: new Tensor(xs, { shape: [n, 2] }), y: new Tensor(ys) }
}

class MLP {
  constructor() {
    this.l1 = new nn.Linear(2, 64)
    this.l2 = new nn.Linear(64, 64)
    this.l3 = new nn.Linear(64, 3)
  }
  call(x) {
    return this.l3.call(this.l2.call(this.l1.call(x).relu()).relu())
  }
}

const model = new MLP()
const opt = new optim.Adam(nn.getParameters(model), { lr: 0.01 })
const data = spiral(3 * 1024)
const test = spiral(3 * 300)
const t0 = performance.now()
Tensor.training = true
for (let step = 0; step <= steps; step++) {
  const idx = Tensor.randint(0, data.y.shape[0], [batch])
  const loss = model.call(data.x.get(idx)).sparseCategoricalCrossentropy(data.y.get(idx))
  opt.zeroGrad()
  loss.backward()
  opt.step()
  if (step % 50 === 0) console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(4)}`)
}
Tensor.training = false
const pred = model.call(test.x).argmax(1)
const acc = await pred.eq(test.y).float().mean().item()
console.log(`test accuracy ${(acc * 100).toFixed(1)}%  (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
