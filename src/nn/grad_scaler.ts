// Loss scaling for float16 training (torch.cuda.amp.GradScaler's semantics), without host sync:
// the scale, the growth counter and the found-inf flag are device tensors, the optimizer step is
// gated on the device (Optimizer.scheduleStepUnless: every write keeps its old value when a
// gradient is inf/NaN), and update() assigns the new scale lazily. Nothing is read back, so a whole
// scaled step (scale, backward, unscale, clip, step, update) works inside `jit`.
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'
import type { Optimizer } from './optimizer.js'
import { markPending } from './state.js'

export interface GradScalerOptions {
  /** the first scale (default 2^16) */
  initScale?: number
  /** scale *= growthFactor after growthInterval steps without inf/NaN (default 2) */
  growthFactor?: number
  /** scale *= backoffFactor after a step with inf/NaN gradients, which is skipped (default 0.5) */
  backoffFactor?: number
  /** clean steps before the scale grows (default 2000) */
  growthInterval?: number
  /** false: every method passes through (scale(loss) is loss, step is opt.step()) */
  enabled?: boolean
}
const SCALER_OPTS: KeySet<GradScalerOptions> = {
  initScale: true,
  growthFactor: true,
  backoffFactor: true,
  growthInterval: true,
  enabled: true,
}

/** The JSON state of a GradScaler (for checkpoints). */
export interface GradScalerState {
  scale: number
  growthTracker: number
  growthFactor: number
  backoffFactor: number
  growthInterval: number
}

function scalar(v: number, device: string): Tensor {
  const t = Tensor.full([], v, { dtype: 'float32', device }).clone()
  t.realize()
  return t
}

/**
 * Usage, per step: `scaler.scale(loss).backward()`; optionally `scaler.unscale(opt)` then
 * `nn.clipGradNorm(...)`; `scaler.step(opt)`; `scaler.update()`.
 */
export class GradScaler {
  readonly growthFactor: number
  readonly backoffFactor: number
  readonly growthInterval: number
  readonly enabled: boolean
  /** the values the state tensors start from when first used */
  private initScale: number
  private initTracker = 0
  private scaleT: Tensor | undefined
  private trackerT: Tensor | undefined
  /** per optimizer: its found-inf flag (bool scalar) once unscaled this step, and whether it stepped */
  private readonly perOpt = new Map<Optimizer<object>, { found: Tensor; stepped: boolean }>()

  constructor(opts: GradScalerOptions = {}) {
    checkOptions('GradScaler', opts, SCALER_OPTS)
    const {
      initScale = 2 ** 16,
      growthFactor = 2,
      backoffFactor = 0.5,
      growthInterval = 2000,
      enabled = true,
    } = opts ?? {}
    const bad = (what: string, v: unknown, want: string): never => {
      throw new TsgradError(`GradScaler: ${what} must be ${want}, got ${String(v)}`)
    }
    if (typeof initScale !== 'number' || !(initScale > 0) || !Number.isFinite(initScale))
      bad('initScale', initScale, 'a finite number > 0')
    if (typeof growthFactor !== 'number' || !(growthFactor > 1))
      bad('growthFactor', growthFactor, 'a number > 1')
    if (typeof backoffFactor !== 'number' || !(backoffFactor > 0 && backoffFactor < 1))
      bad('backoffFactor', backoffFactor, 'a number in (0, 1)')
    if (!Number.isInteger(growthInterval) || growthInterval < 1)
      bad('growthInterval', growthInterval, 'an integer >= 1')
    if (typeof enabled !== 'boolean') bad('enabled', enabled, 'a boolean')
    this.initScale = initScale
    this.growthFactor = growthFactor
    this.backoffFactor = backoffFactor
    this.growthInterval = growthInterval
    this.enabled = enabled
  }

  /** The scale as a float32 scalar tensor on `device` (made on first use, like torch's lazy init). */
  private state(device: string): { scale: Tensor; tracker: Tensor } {
    if (!this.scaleT || !this.trackerT) {
      this.scaleT = scalar(this.initScale, device)
      this.trackerT = scalar(this.initTracker, device)
    }
    return { scale: this.scaleT, tracker: this.trackerT }
  }

  /** `loss * scale` (the gradients of backward() on it are scaled by the same factor). */
  scale(loss: Tensor): Tensor {
    if (!(loss instanceof Tensor)) throw new TsgradError('GradScaler.scale: expected a Tensor (the loss)')
    if (!this.enabled) return loss
    const { scale } = this.state(loss.device)
    // the loss itself is realized with the next step: inside the scaled loss's graph it would be
    // an intermediate, and reading it after the step (to log it) would find the weights overwritten
    markPending(loss)
    return loss.mul(scale.cast(loss.dtype.isFloat ? loss.dtype : 'float32'))
  }

  /**
   * Divide `opt`'s gradients by the scale (lazily, in place of `p.grad`) and record whether any is
   * inf/NaN. Call it before clipping; `step` calls it if you did not. Once per optimizer per step.
   */
  unscale(opt: Optimizer<object>): void {
    if (!this.enabled) return
    if (this.perOpt.has(opt))
      throw new TsgradError('GradScaler.unscale: already called for this optimizer since the last update()')
    const params = opt.params.filter((p) => p.grad instanceof Tensor)
    const { scale } = this.state(opt.params[0]!.device)
    const found = Tensor.noGrad(() => {
      const inv = scale.reciprocal()
      let bad: Tensor | undefined
      for (const p of params) {
        const g = p.grad!
        const u = g.detach().cast('float32').mul(inv)
        p.grad = u.cast(g.dtype)
        const b = u.isfinite().all().logicalNot()
        bad = bad ? bad.logicalOr(b) : b
      }
      return bad ?? Tensor.full([], false, { dtype: 'bool', device: scale.device })
    })
    this.perOpt.set(opt, { found, stepped: false })
  }

  /**
   * `opt.step()` unless a gradient is inf/NaN (decided on the device: parameters and optimizer
   * state keep their values then). Returns the found-inf flag (a realized bool scalar).
   */
  step(opt: Optimizer<object>): Tensor {
    if (!this.enabled) {
      opt.step()
      return Tensor.full([], false, { dtype: 'bool', device: opt.params[0]!.device })
    }
    if (!this.perOpt.has(opt)) this.unscale(opt)
    const entry = this.perOpt.get(opt)!
    if (entry.stepped)
      throw new TsgradError('GradScaler.step: already called for this optimizer since the last update()')
    // the flag is realized with the update (it reads the gradients, which read the old weights)
    Tensor.realize(entry.found, ...opt.scheduleStepUnless(entry.found))
    entry.stepped = true
    return entry.found
  }

  /**
   * The scale for the next step: * backoffFactor if any optimizer stepped over inf/NaN gradients
   * (its step was skipped), * growthFactor after growthInterval clean steps in a row. Assigned on
   * the device (no host read).
   */
  update(): void {
    if (!this.enabled) return
    const flags = [...this.perOpt.values()].map((e) => e.found)
    this.perOpt.clear()
    if (flags.length === 0)
      throw new TsgradError('GradScaler.update: no step() or unscale() was recorded since the last update()')
    const { scale, tracker } = this.state(flags[0]!.device)
    Tensor.noGrad(() => {
      const found = flags.reduce((a, b) => a.logicalOr(b))
      const counted = found.where(0, tracker.add(1))
      const grow = counted.ge(this.growthInterval)
      const newScale = found.where(
        scale.mul(this.backoffFactor),
        grow.where(scale.mul(this.growthFactor), scale),
      )
      scale.assign(newScale)
      tracker.assign(grow.where(0, counted))
    })
    Tensor.realize(scale, tracker)
  }

  /** The current scale as a float32 scalar tensor (lazy use); `getScale()` reads it. */
  get scaleTensor(): Tensor | undefined {
    return this.scaleT
  }

  /** The current scale (a host read; the initial scale before first use). */
  getScale(): number {
    return this.scaleT ? Number(this.scaleT.itemSync()) : this.initScale
  }

  stateDict(): GradScalerState {
    return {
      scale: this.getScale(),
      growthTracker: this.trackerT ? Number(this.trackerT.itemSync()) : this.initTracker,
      growthFactor: this.growthFactor,
      backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval,
    }
  }

  /** Restore the scale and the growth counter of a `stateDict()`. */
  loadStateDict(sd: GradScalerState): void {
    if (
      typeof sd !== 'object' ||
      sd === null ||
      typeof sd.scale !== 'number' ||
      !(sd.scale > 0) ||
      !Number.isFinite(sd.scale) ||
      !Number.isInteger(sd.growthTracker) ||
      sd.growthTracker < 0
    )
      throw new TsgradError(
        'GradScaler.loadStateDict: expected { scale: a finite number > 0, growthTracker: an integer >= 0 } as stateDict() returns',
      )
    if (this.scaleT && this.trackerT) {
      this.scaleT.assign(scalar(sd.scale, this.scaleT.device))
      this.trackerT.assign(scalar(sd.growthTracker, this.trackerT.device))
      Tensor.realize(this.scaleT, this.trackerT)
    } else {
      this.initScale = sd.scale
      this.initTracker = sd.growthTracker
    }
  }
}
