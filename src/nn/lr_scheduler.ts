// Learning-rate schedulers with torch.optim.lr_scheduler's semantics: the constructor sets each
// group's lr to its value at step 0, `step()` advances one step. The values are computed on the
// host and written into the groups' lr tensors (optimizer.ts), so a schedule compiles nothing and
// a `jit`-captured training step reads the new lr on every replay (call `step()` outside it).
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import type { Optimizer } from './optimizer.js'

/** A scheduler's state for a checkpoint (plain JSON). */
export interface LRSchedulerState {
  lastEpoch: number
  baseLrs: number[]
  lastLr: number[]
}

/** The learning rate of a group at a step, as a function of its base lr. */
export abstract class LRScheduler {
  readonly optimizer: Optimizer<object>
  /** each group's lr when the scheduler was made (torch's base_lrs) */
  baseLrs: number[]
  /** the number of `step()` calls so far (torch's last_epoch; 0 after construction) */
  lastEpoch = 0
  private last: number[] = []

  constructor(optimizer: Optimizer<object>) {
    if (typeof optimizer !== 'object' || optimizer === null || !Array.isArray(optimizer.paramGroups))
      throw new TsgradError(`${this.constructor.name}: expected an optimizer, got ${String(optimizer)}`)
    this.optimizer = optimizer
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr)
  }

  /** The lr of group `i` (base lr `base`) at step `epoch`. */
  protected abstract lrAt(epoch: number, base: number, i: number): number

  /** Set every group's lr for `lastEpoch`; subclasses call it at the end of their constructor. */
  protected apply(): void {
    this.last = this.baseLrs.map((b, i) => {
      const lr = this.lrAt(this.lastEpoch, b, i)
      if (!Number.isFinite(lr) || lr < 0)
        throw new TsgradError(
          `${this.constructor.name}: the schedule gave lr ${lr} at step ${this.lastEpoch} for group ${i}`,
        )
      return lr
    })
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.last[i]!
    })
  }

  /** Advance one step and set the groups' learning rates. */
  step(): void {
    this.lastEpoch++
    this.apply()
  }

  /** The learning rates set by the last step (or the constructor), one per group. */
  lastLr(): number[] {
    return this.last.slice()
  }

  stateDict(): LRSchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: this.baseLrs.slice(), lastLr: this.last.slice() }
  }

  /** Restore a `stateDict()`; the optimizer's groups get the saved learning rates. */
  loadStateDict(sd: LRSchedulerState): void {
    const name = `${this.constructor.name}.loadStateDict`
    const n = this.optimizer.paramGroups.length
    const isList = (v: unknown): v is number[] =>
      Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && x >= 0)
    if (typeof sd !== 'object' || sd === null || !Number.isInteger(sd.lastEpoch) || sd.lastEpoch < 0)
      throw new TsgradError(`${name}: expected { lastEpoch, baseLrs, lastLr } with an integer lastEpoch >= 0`)
    if (!isList(sd.baseLrs) || !isList(sd.lastLr))
      throw new TsgradError(
        `${name}: baseLrs and lastLr must be lists of ${n} learning rates (one per group)`,
      )
    this.lastEpoch = sd.lastEpoch
    this.baseLrs = sd.baseLrs.slice()
    this.last = sd.lastLr.slice()
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.last[i]!
    })
  }
}

/** torch's LambdaLR: lr = base lr * factor(step); one function for every group or one per group. */
export class LambdaLR extends LRScheduler {
  private readonly fns: ((step: number) => number)[]

  constructor(
    optimizer: Optimizer<object>,
    lrLambda: ((step: number) => number) | ((step: number) => number)[],
  ) {
    super(optimizer)
    const n = optimizer.paramGroups.length
    const fns = Array.isArray(lrLambda) ? lrLambda : Array.from({ length: n }, () => lrLambda)
    if (fns.length !== n || !fns.every((f) => typeof f === 'function'))
      throw new TsgradError(
        `LambdaLR: expected a function or a list of ${n} functions (one per parameter group)`,
      )
    this.fns = fns
    this.apply()
  }

  protected lrAt(epoch: number, base: number, i: number): number {
    return base * this.fns[i]!(epoch)
  }
}

export interface CosineAnnealingLROptions {
  /** steps of the half cosine period (after it the lr rises again, as torch's) */
  tMax: number
  /** the lowest lr (default 0) */
  etaMin?: number
}
const COSINE_OPTS: KeySet<CosineAnnealingLROptions> = { tMax: true, etaMin: true }

/** torch's CosineAnnealingLR: etaMin + (base - etaMin) * (1 + cos(pi * step / tMax)) / 2. */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number
  readonly etaMin: number

  constructor(optimizer: Optimizer<object>, opts: CosineAnnealingLROptions) {
    super(optimizer)
    checkOptions('CosineAnnealingLR', opts, COSINE_OPTS)
    const { tMax, etaMin = 0 } = opts ?? ({} as CosineAnnealingLROptions)
    if (!Number.isInteger(tMax) || tMax < 1)
      throw new TsgradError(`CosineAnnealingLR: tMax must be an integer >= 1, got ${String(tMax)}`)
    if (typeof etaMin !== 'number' || !(etaMin >= 0))
      throw new TsgradError(`CosineAnnealingLR: etaMin must be a number >= 0, got ${String(etaMin)}`)
    this.tMax = tMax
    this.etaMin = etaMin
    this.apply()
  }

  protected lrAt(epoch: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2
  }
}

export interface LinearLROptions {
  /** factor at step 0 (default 1/3; 0 < startFactor <= 1 as torch) */
  startFactor?: number
  /** factor from step totalIters on (default 1) */
  endFactor?: number
  /** steps of the ramp (default 5) */
  totalIters?: number
}
const LINEAR_OPTS: KeySet<LinearLROptions> = { startFactor: true, endFactor: true, totalIters: true }

/** torch's LinearLR: the factor goes linearly from startFactor to endFactor over totalIters steps. */
export class LinearLR extends LRScheduler {
  readonly startFactor: number
  readonly endFactor: number
  readonly totalIters: number

  constructor(optimizer: Optimizer<object>, opts: LinearLROptions = {}) {
    super(optimizer)
    checkOptions('LinearLR', opts, LINEAR_OPTS)
    const { startFactor = 1 / 3, endFactor = 1, totalIters = 5 } = opts ?? {}
    if (typeof startFactor !== 'number' || !(startFactor > 0 && startFactor <= 1))
      throw new TsgradError(`LinearLR: startFactor must be in (0, 1], got ${String(startFactor)}`)
    if (typeof endFactor !== 'number' || !(endFactor >= 0 && endFactor <= 1))
      throw new TsgradError(`LinearLR: endFactor must be in [0, 1], got ${String(endFactor)}`)
    if (!Number.isInteger(totalIters) || totalIters < 0)
      throw new TsgradError(`LinearLR: totalIters must be an integer >= 0, got ${String(totalIters)}`)
    this.startFactor = startFactor
    this.endFactor = endFactor
    this.totalIters = totalIters
    this.apply()
  }

  protected lrAt(epoch: number, base: number): number {
    if (this.totalIters === 0) return base * this.endFactor
    const t = Math.min(epoch, this.totalIters)
    return base * (this.startFactor + ((this.endFactor - this.startFactor) * t) / this.totalIters)
  }
}

export interface WarmupCosineOptions {
  /** steps of the linear warmup from 0 to the base lr */
  warmupSteps: number
  /** the step at which the cosine reaches the minimum (warmup included) */
  totalSteps: number
  /** the minimum lr as a fraction of the base lr (default 0) */
  minLrRatio?: number
}
const WARMUP_COSINE_OPTS: KeySet<WarmupCosineOptions> = {
  warmupSteps: true,
  totalSteps: true,
  minLrRatio: true,
}

/**
 * The usual LLM schedule as a LambdaLR: factor step / warmupSteps during the warmup (0 at step 0,
 * as Hugging Face's get_cosine_schedule_with_warmup), then a half cosine from 1 down to minLrRatio
 * at totalSteps, and minLrRatio after it.
 */
export function warmupCosine(optimizer: Optimizer<object>, opts: WarmupCosineOptions): LambdaLR {
  checkOptions('warmupCosine', opts, WARMUP_COSINE_OPTS)
  const { warmupSteps, totalSteps, minLrRatio = 0 } = opts ?? ({} as WarmupCosineOptions)
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0)
    throw new TsgradError(`warmupCosine: warmupSteps must be an integer >= 0, got ${String(warmupSteps)}`)
  if (!Number.isInteger(totalSteps) || totalSteps <= warmupSteps)
    throw new TsgradError(
      `warmupCosine: totalSteps must be an integer > warmupSteps (${warmupSteps}), got ${String(totalSteps)}`,
    )
  if (typeof minLrRatio !== 'number' || !(minLrRatio >= 0 && minLrRatio <= 1))
    throw new TsgradError(`warmupCosine: minLrRatio must be in [0, 1], got ${String(minLrRatio)}`)
  return new LambdaLR(optimizer, (step) => {
    if (step < warmupSteps) return step / warmupSteps
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps))
    return minLrRatio + ((1 - minLrRatio) * (1 + Math.cos(Math.PI * progress))) / 2
  })
}
