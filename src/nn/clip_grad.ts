// Gradient clipping (torch.nn.utils.clip_grad_norm_), lazy: the total norm is a scalar tensor and
// each gradient is replaced by its scaled value without reading anything back, so a clipped step
// is one graph with the optimizer update and works inside `jit`.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'
import { markPending } from './state.js'

export interface ClipGradNormOptions {
  /** the p of the norm over all gradients together (default 2; Infinity: max |g|) */
  normType?: number
}
const CLIP_OPTS: KeySet<ClipGradNormOptions> = { normType: true }

/**
 * Scale the gradients of `params` so that their total `normType`-norm (over all of them, as one
 * vector) is at most `maxNorm`: every `p.grad` becomes `p.grad * min(1, maxNorm / (total + 1e-6))`
 * (PyTorch's coefficient). Returns the total norm before clipping as a lazy float32 scalar.
 * Parameters without a gradient are skipped; with none at all the norm is 0. The norm is realized
 * with the next optimizer step (`step()` / `scheduleStep()`), so it can be read after it.
 */
export function clipGradNorm(
  params: Tensor[] | Tensor,
  maxNorm: number,
  opts: ClipGradNormOptions = {},
): Tensor {
  checkOptions('clipGradNorm', opts, CLIP_OPTS)
  const { normType = 2 } = opts ?? {}
  const list = params instanceof Tensor ? [params] : params
  if (!Array.isArray(list) || !list.every((p) => p instanceof Tensor))
    throw new TsgradError('clipGradNorm: params must be a Tensor or a list of Tensors')
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0) || !Number.isFinite(maxNorm))
    throw new TsgradError(`clipGradNorm: maxNorm must be a finite number >= 0, got ${String(maxNorm)}`)
  if (typeof normType !== 'number' || !(normType > 0))
    throw new TsgradError(`clipGradNorm: normType must be a number > 0 or Infinity, got ${String(normType)}`)
  const withGrad = list.filter((p) => p.grad instanceof Tensor)
  if (withGrad.length === 0) return Tensor.zeros([], { device: list[0]?.device })
  return Tensor.noGrad(() => {
    const grads = withGrad.map((p) => p.grad!.detach().cast('float32'))
    let total: Tensor
    if (normType === Number.POSITIVE_INFINITY) {
      total = grads.map((g) => g.abs().max()).reduce((a, b) => a.maximum(b))
    } else {
      // sum over every gradient of |g|^p, then one root (the norm of the per-tensor norms)
      const power = (g: Tensor): Tensor =>
        normType === 2 ? g.square().sum() : normType === 1 ? g.abs().sum() : g.abs().pow(normType).sum()
      const s = grads.map(power).reduce((a, b) => a.add(b))
      total = normType === 1 ? s : normType === 2 ? s.sqrt() : s.pow(1 / normType)
    }
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).minimum(1)
    for (const p of withGrad) {
      const g = p.grad!
      p.grad = g.mul(coef).cast(g.dtype)
    }
    // realized with the next optimizer step: inside the step's graph it would be an intermediate,
    // and reading it after the step (to log it) would find the gradients' inputs overwritten
    markPending(total)
    return total
  })
}
