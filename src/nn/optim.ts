// Optimizers with PyTorch semantics, written on the public Tensor API only.
//
// The update is lazy: `scheduleStep()` builds each new value with tensor ops and writes it with
// `param.assign(newValue)` (also the optimizer state: momentum buffers, Adam moments, the
// bias-correction powers b1^t and b2^t), and `step()` realizes every updated tensor in ONE
// `Tensor.realize(...)` so the whole update fuses into few kernels. All state lives in tensors
// (the learning rate and the step counters too), so the update graph is the same every step and
// its compiled kernels are reused; changing `lr` writes into the lr tensor.
// Pending lazy buffer updates (BatchNorm running statistics) and the gradients are realized in the
// same call. Live lazy tensors that read the parameters (typically the loss) are realized with the
// step by Tensor.realize, so they keep their pre-step values; naming them saves a registry lookup:
//   Tensor.realize(loss, ...opt.scheduleStep())
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'
import { takePending } from './state.js'

// State tensors are made with clone() (a fresh buffer each): two identical lazy graphs such as
// Tensor.zeros([n]).contiguous() would otherwise realize into one shared buffer.
function scalarState(v: number, like: Tensor): Tensor {
  const t = Tensor.full([], v, { dtype: 'float32', device: like.device }).clone()
  t.realize()
  return t
}

function zerosState(p: Tensor): Tensor {
  const t = Tensor.zeros(p.shape, { dtype: p.dtype, device: p.device }).clone()
  t.realize()
  return t
}

export abstract class Optimizer {
  readonly params: Tensor[]
  private readonly lrTensor: Tensor

  constructor(params: Tensor[], lr: number) {
    if (!Array.isArray(params) || params.length === 0) {
      throw new Error('Optimizer: got an empty parameter list')
    }
    const seen = new Set<Tensor>()
    this.params = []
    for (const p of params) {
      if (!(p instanceof Tensor)) throw new Error(`Optimizer: parameters must be Tensors, got ${typeof p}`)
      if (seen.has(p)) continue
      seen.add(p)
      if (!p.requiresGrad) p.requiresGrad = true
      this.params.push(p)
    }
    if (typeof lr !== 'number' || !(lr >= 0)) throw new Error(`Optimizer: invalid learning rate ${lr}`)
    this.lrTensor = scalarState(lr, this.params[0]!)
    this.lrValue = lr
  }

  private lrValue: number

  /** The learning rate; setting it uploads into the lr tensor (the same kernel every time). */
  get lr(): number {
    return this.lrValue
  }

  set lr(v: number) {
    if (typeof v !== 'number' || !(v >= 0)) throw new Error(`Optimizer: invalid learning rate ${v}`)
    this.lrValue = v
    // uploaded, not a constant of the graph: a constant would make a new kernel for every value (a
    // learning-rate schedule compiled one per step and kept it)
    this.lrTensor.assign(new Tensor([v], { dtype: 'float32', device: this.lrTensor.device }).reshape([]))
    this.lrTensor.realize()
  }

  /** The learning rate as a scalar tensor (for use inside update graphs). */
  protected get lrT(): Tensor {
    return this.lrTensor
  }

  /** Drop every parameter's gradient (PyTorch's set_to_none behaviour). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = undefined
  }

  /**
   * Build the lazy update (assigns into params and state) and return every tensor that must be
   * realized for it to take effect; `step()` realizes them. Use this to realize the update
   * together with other tensors (e.g. the loss) in one call.
   */
  scheduleStep(): Tensor[] {
    const out = Tensor.noGrad(() => this.update())
    // the gradients are realized too: they read the pre-update parameters, so `p.grad` keeps the
    // value the step used (as in PyTorch) instead of being recomputed from the new weights later
    const grads = this.params.map((p) => p.grad).filter((g): g is Tensor => g instanceof Tensor)
    return [...out, ...grads, ...takePending()]
  }

  /** One optimization step, realized in a single `Tensor.realize`. */
  step(): void {
    const ts = this.scheduleStep()
    if (ts.length > 0) Tensor.realize(...ts)
  }

  /** Assign the new values; return the tensors written. */
  protected abstract update(): Tensor[]

  protected gradOf(p: Tensor): Tensor | undefined {
    const g = p.grad
    if (g === undefined || g === null) return undefined
    const gd = g.detach()
    return gd.dtype === p.dtype ? gd : gd.cast(p.dtype)
  }
}

// ---------------------------------------------------------------------------------------------

export interface SGDOptions {
  lr?: number
  momentum?: number
  nesterov?: boolean
  weightDecay?: number
}
const SGD_OPTS: KeySet<SGDOptions> = { lr: true, momentum: true, nesterov: true, weightDecay: true }

/**
 * torch.optim.SGD (dampening 0):
 *   g = grad + weightDecay * p
 *   buf = momentum * buf + g          (buf starts at 0, so the first step gives buf = g as torch)
 *   g = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g
 */
export class SGD extends Optimizer {
  readonly momentum: number
  readonly nesterov: boolean
  readonly weightDecay: number
  readonly buffers: (Tensor | undefined)[]

  constructor(params: Tensor[], opts: SGDOptions = {}) {
    checkOptions('SGD', opts, SGD_OPTS)
    const { lr = 1e-3, momentum = 0, nesterov = false, weightDecay = 0 } = opts
    super(params, lr)
    if (!(momentum >= 0)) throw new Error(`SGD: invalid momentum ${momentum}`)
    if (!(weightDecay >= 0)) throw new Error(`SGD: invalid weightDecay ${weightDecay}`)
    if (nesterov && momentum <= 0) throw new Error('SGD: nesterov momentum requires momentum > 0')
    this.momentum = momentum
    this.nesterov = nesterov
    this.weightDecay = weightDecay
    this.buffers = this.params.map((p) => (momentum !== 0 ? zerosState(p) : undefined))
  }

  protected update(): Tensor[] {
    const written: Tensor[] = []
    this.params.forEach((p, i) => {
      let g = this.gradOf(p)
      if (g === undefined) return
      if (this.weightDecay !== 0) g = g.add(p.mul(this.weightDecay))
      if (this.momentum !== 0) {
        // read the new momentum through the assigned tensor, so the parameter update is ordered
        // after the buffer write
        const buf = this.buffers[i]!
        buf.assign(buf.mul(this.momentum).add(g))
        written.push(buf)
        g = this.nesterov ? g.add(buf.mul(this.momentum)) : buf
      }
      p.assign(p.sub(g.mul(this.lrT)).cast(p.dtype))
      written.push(p)
    })
    return written
  }
}

// ---------------------------------------------------------------------------------------------

export interface AdamOptions {
  lr?: number
  b1?: number
  b2?: number
  eps?: number
  weightDecay?: number
}
const ADAM_OPTS: KeySet<AdamOptions> = { lr: true, b1: true, b2: true, eps: true, weightDecay: true }

/**
 * torch.optim.Adam (decoupled = false) and AdamW (decoupled = true), amsgrad off:
 *   t += 1;  g = grad (+ weightDecay * p for Adam);  p *= 1 - lr * weightDecay (AdamW)
 *   m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2
 *   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * b1^t and b2^t are kept as scalar tensors multiplied by b1, b2 each step.
 */
class AdamBase extends Optimizer {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly weightDecay: number
  readonly m: Tensor[]
  readonly v: Tensor[]
  /** b1^t and b2^t for the steps taken so far (start at 1: t = 0) */
  readonly b1t: Tensor
  readonly b2t: Tensor
  private readonly decoupled: boolean

  constructor(
    params: Tensor[],
    opts: AdamOptions,
    defaultWeightDecay: number,
    decoupled: boolean,
    name: string,
  ) {
    checkOptions(name, opts, ADAM_OPTS)
    const { lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, weightDecay = defaultWeightDecay } = opts
    super(params, lr)
    if (!(b1 >= 0 && b1 < 1)) throw new Error(`${name}: invalid b1 ${b1}`)
    if (!(b2 >= 0 && b2 < 1)) throw new Error(`${name}: invalid b2 ${b2}`)
    if (!(eps >= 0)) throw new Error(`${name}: invalid eps ${eps}`)
    if (!(weightDecay >= 0)) throw new Error(`${name}: invalid weightDecay ${weightDecay}`)
    this.b1 = b1
    this.b2 = b2
    this.eps = eps
    this.weightDecay = weightDecay
    this.decoupled = decoupled
    this.m = this.params.map(zerosState)
    this.v = this.params.map(zerosState)
    this.b1t = scalarState(1, this.params[0]!)
    this.b2t = scalarState(1, this.params[0]!)
  }

  protected update(): Tensor[] {
    const b1t = this.b1t.assign(this.b1t.mul(this.b1))
    const b2t = this.b2t.assign(this.b2t.mul(this.b2))
    const written: Tensor[] = [this.b1t, this.b2t]
    const lr = this.lrT
    // step size and denominator scale, shared by every parameter
    const stepSize = lr.div(b1t.neg().add(1))
    const bc2Sqrt = b2t.neg().add(1).sqrt()
    this.params.forEach((p, i) => {
      let g = this.gradOf(p)
      if (g === undefined) return
      let base = p
      if (this.weightDecay !== 0) {
        if (this.decoupled) base = p.mul(lr.mul(this.weightDecay).neg().add(1))
        else g = g.add(p.mul(this.weightDecay))
      }
      const m = this.m[i]!
      const v = this.v[i]!
      // new moments read back through the assigned tensors (ordered after their writes)
      const mNew = m.assign(m.mul(this.b1).add(g.mul(1 - this.b1)))
      const vNew = v.assign(v.mul(this.b2).add(g.square().mul(1 - this.b2)))
      const denom = vNew.sqrt().div(bc2Sqrt).add(this.eps)
      p.assign(base.sub(mNew.div(denom).mul(stepSize)).cast(p.dtype))
      written.push(m, v, p)
    })
    return written
  }
}

/** torch.optim.Adam: L2 weight decay added to the gradient (default weightDecay 0). */
export class Adam extends AdamBase {
  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super(params, opts, 0, false, 'Adam')
  }
}

/** torch.optim.AdamW: decoupled weight decay p *= 1 - lr * weightDecay (default 0.01). */
export class AdamW extends AdamBase {
  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super(params, opts, 0.01, true, 'AdamW')
  }
}
