// Optimizers with PyTorch semantics, written on the public Tensor API only. The base class
// (parameter groups, lr tensors, the lazy one-realize step, state dicts) is in optimizer.ts; this
// module holds the update rules and is the `optim` namespace (with the schedulers).
import { TsgradError } from '../helpers.js'
import type { Tensor } from '../tensor/index.js'
import { Optimizer, type ParamGroup, scalarState, zerosState } from './optimizer.js'

export {
  type HyperValue,
  Optimizer,
  type OptimizerGroupsJSON,
  type OptimizerStateDict,
  type ParamGroup,
  ParamGroupState,
} from './optimizer.js'
export {
  CosineAnnealingLR,
  type CosineAnnealingLROptions,
  LambdaLR,
  LinearLR,
  type LinearLROptions,
  LRScheduler,
  type LRSchedulerState,
  type WarmupCosineOptions,
  warmupCosine,
} from './lr_scheduler.js'

function checkNonNegative(where: string, what: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0))
    throw new TsgradError(`${where}: invalid ${what} ${String(v)} (expected a number >= 0)`)
}

function checkBeta(where: string, what: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0 && v < 1))
    throw new TsgradError(`${where}: invalid ${what} ${String(v)} (expected 0 <= ${what} < 1)`)
}

// ---------------------------------------------------------------------------------------------

export interface SGDOptions {
  lr?: number
  momentum?: number
  nesterov?: boolean
  weightDecay?: number
}

/**
 * torch.optim.SGD (dampening 0):
 *   g = grad + weightDecay * p
 *   buf = momentum * buf + g          (buf starts at 0, so the first step gives buf = g as torch)
 *   g = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g
 * `params` is a list of tensors or of parameter groups (`{ params, lr?, momentum?, ... }`).
 */
export class SGD extends Optimizer<SGDOptions> {
  /** the constructor's values (each group's own are in `paramGroups[i].options`) */
  readonly momentum: number
  readonly nesterov: boolean
  readonly weightDecay: number
  /** the momentum buffer of each parameter (undefined where its group has momentum 0) */
  readonly buffers: (Tensor | undefined)[]

  constructor(params: Tensor[] | ParamGroup[], opts: SGDOptions = {}) {
    const { lr = 1e-3, momentum = 0, nesterov = false, weightDecay = 0 } = opts ?? {}
    super(params, {
      name: 'SGD',
      defaults: { lr, momentum, nesterov, weightDecay },
      check: (v, where) => {
        checkNonNegative(where, 'momentum', v.momentum)
        checkNonNegative(where, 'weightDecay', v.weightDecay)
        if (typeof v.nesterov !== 'boolean')
          throw new TsgradError(`${where}: nesterov must be a boolean, got ${String(v.nesterov)}`)
        if (v.nesterov && v.momentum <= 0)
          throw new TsgradError(`${where}: nesterov momentum requires momentum > 0`)
      },
      opts,
    })
    this.momentum = momentum
    this.nesterov = nesterov
    this.weightDecay = weightDecay
    this.buffers = this.paramGroups.flatMap((g) =>
      g.params.map((p) => (g.options.momentum !== 0 ? zerosState(p) : undefined)),
    )
  }

  protected update(): Tensor[] {
    const written: Tensor[] = []
    let i = 0
    for (const group of this.paramGroups) {
      const { momentum, nesterov, weightDecay } = group.options
      for (const p of group.params) {
        const buf = this.buffers[i++]
        let g = this.gradOf(p)
        if (g === undefined) continue
        if (weightDecay !== 0) g = g.add(p.mul(weightDecay))
        if (buf !== undefined) {
          // read the new momentum through the assigned tensor, so the parameter update is ordered
          // after the buffer write
          const bufNew = this.write(buf, buf.mul(momentum).add(g))
          written.push(buf)
          g = nesterov ? g.add(bufNew.mul(momentum)) : bufNew
        }
        this.write(p, p.sub(g.mul(group.lrTensor)))
        written.push(p)
      }
    }
    return written
  }

  protected stateTensors(): Record<string, Tensor> {
    const s: Record<string, Tensor> = {}
    this.buffers.forEach((b, i) => {
      if (b) s[`${i}.momentum_buffer`] = b
    })
    return s
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

/**
 * torch.optim.Adam (decoupled = false) and AdamW (decoupled = true), amsgrad off:
 *   t += 1;  g = grad (+ weightDecay * p for Adam);  p *= 1 - lr * weightDecay (AdamW)
 *   m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2
 *   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * b1^t and b2^t are kept per group as scalar tensors multiplied by b1, b2 each step.
 */
class AdamBase extends Optimizer<AdamOptions> {
  /** the constructor's values (each group's own are in `paramGroups[i].options`) */
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly weightDecay: number
  /** first and second moments, one per parameter */
  readonly m: Tensor[]
  readonly v: Tensor[]
  /** b1^t and b2^t of each group for the steps taken so far (start at 1: t = 0) */
  readonly b1Pow: Tensor[]
  readonly b2Pow: Tensor[]
  private readonly decoupled: boolean

  constructor(
    params: Tensor[] | ParamGroup[],
    opts: AdamOptions,
    defaultWeightDecay: number,
    decoupled: boolean,
    name: string,
  ) {
    const { lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, weightDecay = defaultWeightDecay } = opts ?? {}
    super(params, {
      name,
      defaults: { lr, b1, b2, eps, weightDecay },
      check: (v, where) => {
        checkBeta(where, 'b1', v.b1)
        checkBeta(where, 'b2', v.b2)
        checkNonNegative(where, 'eps', v.eps)
        checkNonNegative(where, 'weightDecay', v.weightDecay)
      },
      opts,
    })
    this.b1 = b1
    this.b2 = b2
    this.eps = eps
    this.weightDecay = weightDecay
    this.decoupled = decoupled
    this.m = this.params.map(zerosState)
    this.v = this.params.map(zerosState)
    this.b1Pow = this.paramGroups.map(() => scalarState(1, this.params[0]!))
    this.b2Pow = this.paramGroups.map(() => scalarState(1, this.params[0]!))
  }

  /** b1^t of the first group */
  get b1t(): Tensor {
    return this.b1Pow[0]!
  }

  /** b2^t of the first group */
  get b2t(): Tensor {
    return this.b2Pow[0]!
  }

  protected update(): Tensor[] {
    const written: Tensor[] = []
    let i = 0
    this.paramGroups.forEach((group, gi) => {
      const { b1, b2, eps, weightDecay } = group.options
      const params = group.params
      const first = i
      i += params.length
      if (!params.some((p) => this.hasGrad(p))) return // torch: no grads, no step
      const b1t = this.write(this.b1Pow[gi]!, this.b1Pow[gi]!.mul(b1))
      const b2t = this.write(this.b2Pow[gi]!, this.b2Pow[gi]!.mul(b2))
      written.push(this.b1Pow[gi]!, this.b2Pow[gi]!)
      const lr = group.lrTensor
      // step size and denominator scale, shared by the group's parameters
      const stepSize = lr.div(b1t.neg().add(1))
      const bc2Sqrt = b2t.neg().add(1).sqrt()
      params.forEach((p, k) => {
        let g = this.gradOf(p)
        if (g === undefined) return
        let base = p
        if (weightDecay !== 0) {
          if (this.decoupled) base = p.mul(lr.mul(weightDecay).neg().add(1))
          else g = g.add(p.mul(weightDecay))
        }
        const m = this.m[first + k]!
        const v = this.v[first + k]!
        // new moments read back through the assigned tensors (ordered after their writes)
        const mNew = this.write(m, m.mul(b1).add(g.mul(1 - b1)))
        const vNew = this.write(v, v.mul(b2).add(g.square().mul(1 - b2)))
        const denom = vNew.sqrt().div(bc2Sqrt).add(eps)
        this.write(p, base.sub(mNew.div(denom).mul(stepSize)))
        written.push(m, v, p)
      })
    })
    return written
  }

  protected stateTensors(): Record<string, Tensor> {
    const s: Record<string, Tensor> = {}
    this.m.forEach((t, i) => {
      s[`${i}.exp_avg`] = t
      s[`${i}.exp_avg_sq`] = this.v[i]!
    })
    this.b1Pow.forEach((t, g) => {
      s[`group${g}.b1_pow`] = t
      s[`group${g}.b2_pow`] = this.b2Pow[g]!
    })
    return s
  }
}

/** torch.optim.Adam: L2 weight decay added to the gradient (default weightDecay 0). */
export class Adam extends AdamBase {
  constructor(params: Tensor[] | ParamGroup[], opts: AdamOptions = {}) {
    super(params, opts, 0, false, 'Adam')
  }
}

/** torch.optim.AdamW: decoupled weight decay p *= 1 - lr * weightDecay (default 0.01). */
export class AdamW extends AdamBase {
  constructor(params: Tensor[] | ParamGroup[], opts: AdamOptions = {}) {
    super(params, opts, 0.01, true, 'AdamW')
  }
}
