// Models the bench times as a user would run them, shared with the PyTorch peer's definitions in
// bench/torch_peer.py (the same shapes, layers and losses).
import { nn, optim, Tensor } from '../src/index.ts'
import { MnistCnn } from '../src/apps/mnist/model.ts'

const randn = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1)

/** Pre-norm transformer block: x + attn(ln1(x)), then + mlp(ln2(x)); causal attention, gelu MLP (4x). */
export class TransformerBlock {
  ln1: nn.LayerNorm
  qkv: nn.Linear
  proj: nn.Linear
  ln2: nn.LayerNorm
  fc1: nn.Linear
  fc2: nn.Linear
  constructor(
    readonly width: number,
    readonly heads: number,
  ) {
    this.ln1 = new nn.LayerNorm(width)
    this.qkv = new nn.Linear(width, 3 * width)
    this.proj = new nn.Linear(width, width)
    this.ln2 = new nn.LayerNorm(width)
    this.fc1 = new nn.Linear(width, 4 * width)
    this.fc2 = new nn.Linear(4 * width, width)
  }

  call(x: Tensor): Tensor {
    const [B, T, C] = x.shape as [number, number, number]
    const H = this.heads
    const D = C / H
    const qkv = this.qkv.call(this.ln1.call(x)).reshape([B, T, 3, H, D]).permute([2, 0, 3, 1, 4])
    const [q, k, v] = [0, 1, 2].map((i) => qkv.get(i)) as [Tensor, Tensor, Tensor]
    const a = q.scaledDotProductAttention(k, v, { isCausal: true }).permute([0, 2, 1, 3]).reshape([B, T, C])
    const h = x.add(this.proj.call(a))
    return h.add(this.fc2.call(this.fc1.call(this.ln2.call(h)).gelu()))
  }
}

/** The transformer-block case: batch 8, sequence 128, width 256, 4 heads. */
export function transformerCase() {
  Tensor.manualSeed(0)
  const block = new TransformerBlock(256, 4)
  const x = new Tensor(randn(8 * 128 * 256), { shape: [8, 128, 256] }).realize()
  const opt = new optim.Adam(nn.getParameters(block), { lr: 1e-4 })
  const forward = () => Tensor.noGrad(() => block.call(x))
  const trainStep = () => {
    opt.zeroGrad()
    const loss = block.call(x).square().mean()
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    return loss
  }
  return { forward, trainStep }
}

/** The MNIST CNN (src/apps/mnist) train step on a batch of 64 random images. */
export function mnistStepCase(batch = 64) {
  Tensor.manualSeed(0)
  const model = new MnistCnn()
  const opt = new optim.Adam(nn.getParameters(model), { lr: 1e-3 })
  const x = new Tensor(randn(batch * 784), { shape: [batch, 1, 28, 28] }).realize()
  const y = new Tensor(Int32Array.from({ length: batch }, (_, i) => i % 10)).realize()
  return () => {
    const prev = Tensor.training
    Tensor.training = true
    opt.zeroGrad()
    const loss = model.call(x).sparseCategoricalCrossentropy(y)
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    Tensor.training = prev
    return loss
  }
}

/**
 * 100 small ops, each realized (the eager loop of a user's script): 1,000 elements. With `fresh`,
 * every op's scalar is a new JS number (a decaying learning rate, a loop counter): before scalars
 * became kernel arguments each one compiled a kernel.
 */
export function smallOpsCase(ops = 100, fresh = false) {
  const x = Tensor.rand([1000]).realize()
  let calls = 0
  return () => {
    let y = x
    const k = fresh ? ++calls * ops : 0
    for (let i = 0; i < ops; i++) {
      const c = fresh ? 1e-3 + (k + i) * 1e-7 : 0.001
      y = (i % 2 ? y.mul(1 - c) : y.add(c)).realize()
    }
    return y
  }
}
