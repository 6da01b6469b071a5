// The MNIST training run: load the data, train with Adam on host-built batches, evaluate on the
// test set, save the weights as safetensors. Uses the public API only.
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Device, jit, nn, optim, Tensor } from '../../index.js'
import type { TrainOptions } from './cli.js'
import { MnistCnn, MnistMlp, type MnistModel } from './model.js'
import { Progress, type ProgressStream } from './progress.js'

export interface TrainIO {
  /** where the progress bar / log lines go */
  progress: ProgressStream
  /** one-line messages (what is being done, results) */
  log: (line: string) => void
}

export interface TrainResult {
  losses: number[]
  /** batch accuracy of each step, 0..1 */
  accs: number[]
  testAccuracy: number
  testCount: number
  /** seconds: the first step (compiles included), the mean of the others, the whole loop */
  firstStepSeconds: number
  stepSeconds: number
  trainSeconds: number
  outPath: string
  device: string
}

type StepFn = (x: Tensor, y: Tensor) => Tensor[]

/** mulberry32: a small seeded PRNG for the batch order (host side, reproducible). */
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** Batches of indices drawn without replacement, reshuffled every epoch. */
function batchSampler(n: number, batch: number, seed: number): () => Int32Array {
  const rnd = prng(seed)
  const perm = Int32Array.from({ length: n }, (_, i) => i)
  let pos = n
  return () => {
    const out = new Int32Array(batch)
    for (let b = 0; b < batch; b++) {
      if (pos === n) {
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1))
          const t = perm[i]!
          perm[i] = perm[j]!
          perm[j] = t
        }
        pos = 0
      }
      out[b] = perm[pos++]!
    }
    return out
  }
}

/** The output path, checked before training so a long run never ends in a refused save. */
export function checkOutPath(o: TrainOptions): string {
  const p = resolve(o.out)
  if (o.outGiven && !o.overwrite && existsSync(p)) {
    throw new Error(`--out: ${p} already exists (pass --overwrite to replace it)`)
  }
  return p
}

function selectDevice(name: string | undefined): string {
  if (name === undefined) return Device.DEFAULT
  const why = Device.unavailableReason(name)
  if (why !== undefined) {
    throw new Error(`--device: ${name} cannot run here: ${why} (available: ${Device.available.join(', ')})`)
  }
  Device.DEFAULT = name
  return Device.DEFAULT
}

/**
 * The train step: forward, backward, Adam update, all realized in one call. Run with
 * `Tensor.training` set (BatchNorm uses batch statistics); jit captures its kernels on the second
 * call and replays them from the third on, with only x and y swapped.
 */
function makeStep(model: MnistModel, opt: optim.Optimizer): StepFn {
  return (x, y) => {
    opt.zeroGrad()
    const logits = model.call(x)
    const loss = logits.sparseCategoricalCrossentropy(y)
    loss.backward()
    const acc = logits.argmax(1).eq(y).float().mean()
    // loss and accuracy read the weights before the update: realize them with it, not after
    Tensor.realize(loss, acc, ...opt.scheduleStep())
    return [loss, acc]
  }
}

/**
 * Fraction of the first `count` images of `split` the model classifies correctly, in batches of
 * `batch` images. Every batch has that size (the last is padded with copies of the first image,
 * labelled -1 so that they never count), so evaluating at the training batch size runs the training
 * step's forward kernels (all but BatchNorm's running-statistics scale and the count): no batch
 * of another size compiles a set of kernels of its own.
 */
export async function evaluate(
  model: MnistModel,
  split: nn.datasets.MnistSplit,
  count: number,
  layout: 'image' | 'flat',
  batch = 1000,
): Promise<number> {
  const wasTraining = Tensor.training
  Tensor.training = false
  let correct = 0
  try {
    for (let start = 0; start < count; start += batch) {
      const real = Math.min(batch, count - start)
      const idx = Int32Array.from({ length: batch }, (_, i) => start + (i < real ? i : 0))
      const { x } = nn.datasets.mnistBatch(split, idx, { layout })
      const labels = Int32Array.from(idx, (j, i) => (i < real ? split.labels[j]! : -1))
      const hits = Tensor.noGrad(() => model.call(x).argmax(1).eq(new Tensor(labels)).sum())
      correct += Number(await hits.item())
    }
  } finally {
    Tensor.training = wasTraining
  }
  return correct / count
}

/** Save through nn.safeSave (temp file + rename: a crash never leaves half a file). */
async function saveAtomic(dict: Record<string, Tensor>, path: string, meta: Record<string, string>) {
  mkdirSync(dirname(path), { recursive: true })
  await nn.safeSave(dict, path, meta)
}

export async function trainMnist(o: TrainOptions, io: TrainIO): Promise<TrainResult> {
  const outPath = checkOutPath(o)
  const device = selectDevice(o.device)
  const data = nn.datasets.mnist(o.data !== undefined ? { dir: o.data } : {})
  io.log(
    `MNIST from ${data.dir}: ${data.train.count} train / ${data.test.count} test images; ` +
      `${o.model.toUpperCase()} on ${device}, ${o.steps} steps of ${o.batchSize}, Adam lr ${o.lr}`,
  )
  Tensor.manualSeed(o.seed)
  const model: MnistModel = o.model === 'cnn' ? new MnistCnn() : new MnistMlp()
  const layout = o.model === 'cnn' ? 'image' : 'flat'
  const opt = new optim.Adam(nn.getParameters(model), { lr: o.lr })
  const eager = makeStep(model, opt)
  const step = o.jit ? jit(eager) : eager
  const sample = batchSampler(data.train.count, o.batchSize, o.seed)

  const progress = new Progress({
    total: o.steps,
    batchSize: o.batchSize,
    stream: io.progress,
    ...(o.logEvery > 0 ? { logEvery: o.logEvery } : {}),
  })
  const losses: number[] = []
  const accs: number[] = []
  const t0 = performance.now()
  let tFirst = t0
  Tensor.training = true
  try {
    for (let i = 1; i <= o.steps; i++) {
      const { x, y } = nn.datasets.mnistBatch(data.train, sample(), { layout })
      // jitted outputs are overwritten by the next call: read them now
      const [loss, acc] = step(x, y) as [Tensor, Tensor]
      losses.push(Number(await loss.item()))
      accs.push(Number(await acc.item()))
      if (i === 1) tFirst = performance.now()
      progress.update(i, { loss: losses[i - 1]!, acc: accs[i - 1]! })
    }
  } finally {
    progress.done()
    Tensor.training = false
  }
  const tEnd = performance.now()

  io.log(`evaluating on ${o.testSize} test images...`)
  // at the training batch size: the forward kernels are the training step's (see evaluate)
  const testAccuracy = await evaluate(model, data.test, o.testSize, layout, o.batchSize)
  const trainSeconds = (tEnd - t0) / 1000
  const meta = {
    model: o.model === 'cnn' ? 'tsgrad mnist cnn (beautiful_mnist)' : 'tsgrad mnist mlp 784-512-10',
    steps: String(o.steps),
    batch_size: String(o.batchSize),
    lr: String(o.lr),
    seed: String(o.seed),
    test_accuracy: testAccuracy.toFixed(4),
  }
  await saveAtomic(nn.getStateDict(model), outPath, meta)
  return {
    losses,
    accs,
    testAccuracy,
    testCount: o.testSize,
    firstStepSeconds: (tFirst - t0) / 1000,
    stepSeconds: o.steps > 1 ? (tEnd - tFirst) / 1000 / (o.steps - 1) : (tFirst - t0) / 1000,
    trainSeconds,
    outPath,
    device,
  }
}
