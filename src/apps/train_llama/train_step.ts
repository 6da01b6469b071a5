// One optimizer step of the trainer as a function of its batch, written so that `jit` can capture
// it whole: `accum` micro-batches, each a forward and backward that adds into the gradients, then
// clipping by the global gradient norm and the AdamW update, realized together. A replay runs
// every micro-batch's kernels, the clip and the update with only the token buffers swapped.
//
// The micro-batches' gradients are realized after each backward, so only one micro-batch's
// activations are alive at a time (the point of accumulating); the step's loss is the mean of the
// micro-batch means, which equals the loss of the whole batch (equal sizes).
import { nn, type optim, Tensor } from '../../index.js'
import type { ForwardOptions, LlamaModel } from './model.js'

export interface StepConfig {
  /** micro-batches per step */
  accum: number
  /** sequences per micro-batch */
  microBatch: number
  forward: ForwardOptions
  /** clip the global gradient norm to this (0: no clipping) */
  clip: number
  /** fp16: the loss is scaled before the backward, gradients unscaled before clipping, and the
   * update skipped (on the device) when a gradient is inf/NaN */
  scaler?: nn.GradScaler
}

/** [loss, gradient norm before clipping (when clipping)] of one step on x, y (accum * microBatch, T). */
export type TrainStep = (x: Tensor, y: Tensor) => Tensor[]

export function makeTrainStep(model: LlamaModel, opt: optim.Optimizer, cfg: StepConfig): TrainStep {
  const params = [...model.params.values()]
  const { accum, microBatch: B } = cfg
  return (x, y) => {
    if (x.shape[0] !== accum * B)
      throw new Error(
        `train step: expected ${accum * B} sequences (grad-accum ${accum} x batch ${B}), got ${x.shape[0]}`,
      )
    opt.zeroGrad()
    let total: Tensor | undefined
    for (let i = 0; i < accum; i++) {
      const part = (t: Tensor) => (accum === 1 ? t : t.shrink([[i * B, (i + 1) * B], null]))
      const loss = model.loss(part(x), part(y), cfg.forward)
      const mean = accum === 1 ? loss : loss.div(accum)
      ;(cfg.scaler ? cfg.scaler.scale(mean) : mean).backward()
      if (accum > 1) Tensor.realize(loss, ...params.map((p) => p.grad!))
      total = total ? total.add(loss) : loss
    }
    const loss = accum === 1 ? total! : total!.div(accum)
    if (cfg.scaler) {
      cfg.scaler.unscale(opt)
      const norm = cfg.clip > 0 ? [nn.clipGradNorm(params, cfg.clip)] : []
      cfg.scaler.step(opt) // realizes the loss, the norm and the update (skipped on inf/NaN gradients)
      cfg.scaler.update()
      Tensor.realize(loss, ...norm)
      return [loss, ...norm]
    }
    const norm = cfg.clip > 0 ? [nn.clipGradNorm(params, cfg.clip)] : []
    Tensor.realize(loss, ...norm, ...opt.scheduleStep())
    return [loss, ...norm]
  }
}

/** Mean loss of the model on x, y (no gradients), for validation. */
export function makeEvalStep(model: LlamaModel, forward: ForwardOptions): (x: Tensor, y: Tensor) => Tensor {
  return (x, y) => Tensor.noGrad(() => model.loss(x, y, forward)).realize()
}
