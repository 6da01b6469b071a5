// The page's training thread: tsgrad runs here, in a module Web Worker, so the page stays
// responsive (and, in a cross-origin-isolated page, the WASM device may block on its own worker
// threads). Messages in: { cmd: 'train', device, steps, batch, lr } and { cmd: 'predict', pixels }.
// Messages out: 'started' (device, threads), 'loss' per step, 'trained' (test accuracy),
// 'prediction' (digit, probabilities), 'error' (message).
import { Device, jit, nn, optim, ready, Tensor } from '/tsgrad.js'

/** 784 -> 128 relu -> 10 */
class MLP {
  fc1 = new nn.Linear(784, 128)
  fc2 = new nn.Linear(128, 10)
  call(x) {
    return this.fc2.call(this.fc1.call(x).relu())
  }
}

let model
let mnist

async function idx(name, magic) {
  const res = await fetch(`/mnist/${name}`)
  if (!res.ok) throw new Error(`fetching /mnist/${name}: HTTP ${res.status}`)
  return nn.datasets.parseIdx(new Uint8Array(await res.arrayBuffer()), { name, magic })
}

async function split(prefix) {
  const [img, lbl] = await Promise.all([
    idx(`${prefix}-images-idx3-ubyte`, 0x803),
    idx(`${prefix}-labels-idx1-ubyte`, 0x801),
  ])
  return { images: img.data, labels: lbl.data, count: img.dims[0], rows: img.dims[1], cols: img.dims[2] }
}

async function loadMnist() {
  mnist ??= { train: await split('train'), test: await split('t10k') }
  return mnist
}

async function train({ device, steps, batch, lr, seed }) {
  const name = await ready(device === 'auto' ? {} : { prefer: [device] })
  const threads = name === 'WASM' ? Device.get('WASM').threads : 1
  postMessage({ type: 'started', device: name, threads })
  const { train, test } = await loadMnist()
  Tensor.manualSeed(seed)
  model = new MLP()
  const opt = new optim.Adam(nn.getParameters(model), { lr })
  const step = jit((x, y) => {
    opt.zeroGrad()
    const loss = model.call(x).sparseCategoricalCrossentropy(y)
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    return loss
  })
  // a seeded batch order, so runs on different devices see the same images
  let s = seed >>> 0
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
  Tensor.training = true
  const t0 = performance.now()
  let prev = t0
  for (let i = 1; i <= steps; i++) {
    const rows = Array.from({ length: batch }, () => Math.floor(rand() * train.count))
    const { x, y } = nn.datasets.mnistBatch(train, rows, { layout: 'flat' })
    const loss = await step(x, y).item()
    const now = performance.now()
    postMessage({ type: 'loss', step: i, loss, stepMs: now - prev, ms: (now - t0) / i })
    prev = now
  }
  Tensor.training = false
  const rows = Array.from({ length: 1000 }, (_, i) => i)
  const { x, y } = nn.datasets.mnistBatch(test, rows, { layout: 'flat' })
  const accuracy = await Tensor.noGrad(() => model.call(x).argmax(1).eq(y).float().mean()).item()
  // how many kernel launches the WASM device split across its worker threads
  const threadedLaunches = name === 'WASM' ? Device.get('WASM').threadedLaunches() : 0
  postMessage({ type: 'trained', device: name, accuracy, ms: performance.now() - t0, threadedLaunches })
}

async function predict({ pixels }) {
  if (!model) throw new Error('train the model first')
  // pixels: 784 floats in [0, 1], standardized like mnistBatch does
  const x = new Tensor(
    Float32Array.from(pixels, (p) => (p - nn.datasets.MNIST_MEAN) / nn.datasets.MNIST_STD),
  ).reshape([1, 784])
  const probs = Array.from(await Tensor.noGrad(() => model.call(x).softmax(-1)).data())
  postMessage({ type: 'prediction', digit: probs.indexOf(Math.max(...probs)), probs })
}

addEventListener('message', async (e) => {
  try {
    if (e.data.cmd === 'train') await train(e.data)
    else if (e.data.cmd === 'predict') await predict(e.data)
  } catch (err) {
    postMessage({ type: 'error', message: String(err?.stack ?? err) })
  }
})
