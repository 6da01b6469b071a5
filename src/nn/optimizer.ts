// The optimizer base: parameter groups (PyTorch semantics), the learning rate as a tensor per
// group, the lazy step, and the state dict for checkpoints. SGD, Adam and AdamW (optim.ts) only
// write their update rule.
//
// The update is lazy: `scheduleStep()` builds each new value with tensor ops and writes it with
// `assign` (parameters and optimizer state), and `step()` realizes every updated tensor in ONE
// `Tensor.realize(...)` so the whole update fuses into few kernels. All state lives in tensors
// (each group's learning rate and step counters too), so the update graph is the same every step
// and its compiled kernels are reused; changing `lr` writes into the lr tensor. Other per-group
// hyperparameters are constants of the update graph: changing one compiles new kernels, and a
// `jit` capture keeps the value it was captured with.
// Pending lazy buffer updates (BatchNorm running statistics) and the gradients are realized in the
// same call. Live lazy tensors that read the parameters (typically the loss) are realized with the
// step by Tensor.realize, so they keep their pre-step values; naming them saves a registry lookup:
//   Tensor.realize(loss, ...opt.scheduleStep())
import { fmtShape, TsgradError } from '../helpers.js'
import { checkOptions } from '../options.js'
import { Tensor } from '../tensor/index.js'
import { takePending } from './state.js'

// State tensors are made with clone() (a fresh buffer each): two identical lazy graphs such as
// Tensor.zeros([n]).contiguous() would otherwise realize into one shared buffer.
export function scalarState(v: number, like: Tensor): Tensor {
  const t = Tensor.full([], v, { dtype: 'float32', device: like.device }).clone()
  t.realize()
  return t
}

export function zerosState(p: Tensor): Tensor {
  const t = Tensor.zeros(p.shape, { dtype: p.dtype, device: p.device }).clone()
  t.realize()
  return t
}

/** A hyperparameter value of a group (numbers and flags; lr is a number too). */
export type HyperValue = number | boolean

/**
 * A parameter group as given to an optimizer's constructor: its parameters and any of that
 * optimizer's options, which override the constructor's for this group (PyTorch's param_groups).
 */
export interface ParamGroup {
  params: Tensor[]
  lr?: number
  weightDecay?: number
  momentum?: number
  nesterov?: boolean
  b1?: number
  b2?: number
  eps?: number
}

/**
 * A resolved parameter group (`opt.paramGroups[i]`): its parameters and every hyperparameter. `lr`
 * is backed by a scalar tensor: setting it uploads the value (no new kernels, and a `jit` capture
 * reads the new value). The other hyperparameters are plain fields.
 */
export class ParamGroupState<O extends object = Record<string, HyperValue>> {
  readonly params: Tensor[]
  /** the learning rate as a scalar float32 tensor (read by the update graph) */
  readonly lrTensor: Tensor
  /** the hyperparameters other than lr */
  readonly options: Required<Omit<O, 'lr'>>
  private lrValue: number

  constructor(params: Tensor[], lr: number, options: Required<Omit<O, 'lr'>>, name: string, device: Tensor) {
    this.params = params
    checkLr(name, lr)
    this.lrValue = lr
    this.lrTensor = scalarState(lr, device)
    this.options = options
    this.name = name
  }

  private readonly name: string

  get lr(): number {
    return this.lrValue
  }

  set lr(v: number) {
    checkLr(this.name, v)
    this.lrValue = v
    // uploaded, not a constant of the graph: a constant would make a new kernel for every value (a
    // learning-rate schedule compiled one per step and kept it)
    this.lrTensor.assign(new Tensor([v], { dtype: 'float32', device: this.lrTensor.device }).reshape([]))
    this.lrTensor.realize()
  }
}

function checkLr(name: string, lr: unknown): asserts lr is number {
  if (typeof lr !== 'number' || !(lr >= 0))
    throw new TsgradError(`${name}: invalid learning rate ${String(lr)} (expected a number >= 0)`)
}

/** How an optimizer declares its hyperparameters: defaults (from the constructor) and a check. */
export interface HyperSpec<O extends object> {
  name: string
  /** every option of the optimizer with its resolved default (lr included) */
  defaults: Required<O>
  /** throws a TsgradError when a resolved group's values are invalid */
  check: (values: Required<O>, where: string) => void
  /** the constructor's options object, checked against the keys of `defaults` */
  opts: unknown
}

type GroupKeys = Readonly<Record<string, true>>

function firstParam(groups: ParamGroup[]): Tensor | undefined {
  for (const g of groups) for (const p of g.params) if (p instanceof Tensor) return p
  return undefined
}

function isGroupList(x: readonly unknown[]): boolean {
  return x.length > 0 && x.every((g) => typeof g === 'object' && g !== null && !(g instanceof Tensor))
}

/** The JSON part of an optimizer's state dict: each group's hyperparameters and parameter count. */
export interface OptimizerGroupsJSON {
  optimizer: string
  groups: { numParams: number; lr: number; options: Record<string, HyperValue> }[]
}

/** `opt.stateDict()`: state tensors by name (realized snapshots) and the groups' hyperparameters. */
export interface OptimizerStateDict {
  state: Record<string, Tensor>
  groups: OptimizerGroupsJSON
}

export abstract class Optimizer<O extends object = Record<string, HyperValue>> {
  /** every parameter, in group order (each once) */
  readonly params: Tensor[]
  /** the resolved groups */
  readonly paramGroups: ParamGroupState<O>[]
  /** the optimizer's name in messages and state dicts */
  readonly name: string
  /** a bool scalar: when true, `scheduleStep` leaves parameters and state as they are (GradScaler) */
  protected skipIf: Tensor | undefined

  constructor(paramsOrGroups: Tensor[] | ParamGroup[], spec: HyperSpec<O>) {
    const { name, defaults, check } = spec
    this.name = name
    checkOptions(name, spec.opts, Object.fromEntries(Object.keys(defaults).map((k) => [k, true])))
    if (!Array.isArray(paramsOrGroups))
      throw new TsgradError(
        `${name}: expected a list of Tensors or of parameter groups ({ params, ...options }), got ${(paramsOrGroups as unknown) instanceof Tensor ? 'a Tensor' : typeof paramsOrGroups}`,
      )
    if (paramsOrGroups.length === 0) throw new TsgradError(`${name}: got an empty parameter list`)
    const given: ParamGroup[] = isGroupList(paramsOrGroups)
      ? (paramsOrGroups as ParamGroup[])
      : [{ params: paramsOrGroups as Tensor[] }]
    const keys: GroupKeys = Object.fromEntries([
      ['params', true],
      ...Object.keys(defaults).map((k) => [k, true]),
    ])
    const seen = new Set<Tensor>()
    this.params = []
    this.paramGroups = []
    given.forEach((g, gi) => {
      const where = given.length > 1 ? `${name} param group ${gi}` : name
      checkOptions(where, g, keys)
      if (!Array.isArray(g.params))
        throw new TsgradError(`${where}: 'params' must be an array of Tensors, got ${typeof g.params}`)
      const ps: Tensor[] = []
      const inGroup = new Set<Tensor>()
      for (const p of g.params) {
        if (!(p instanceof Tensor))
          throw new TsgradError(`${where}: parameters must be Tensors, got ${typeof p}`)
        if (inGroup.has(p)) continue // a repeated tensor in one list counts once (as before groups)
        if (seen.has(p))
          throw new TsgradError(
            `${where}: parameter ${p.toString()} appears in more than one parameter group`,
          )
        inGroup.add(p)
        seen.add(p)
        if (!p.requiresGrad) p.requiresGrad = true
        ps.push(p)
        this.params.push(p)
      }
      const values = { ...defaults } as Required<O>
      for (const k of Object.keys(defaults)) {
        const v = (g as unknown as Record<string, unknown>)[k]
        if (v !== undefined) (values as Record<string, unknown>)[k] = v
      }
      check(values, where)
      const { lr, ...options } = values as Required<O> & { lr: number }
      // an empty group (allowed, as in PyTorch) has its lr tensor on the first parameter's device
      const like = ps[0] ?? firstParam(given)
      if (like === undefined) return
      this.paramGroups.push(new ParamGroupState<O>(ps, lr, options as Required<Omit<O, 'lr'>>, where, like))
    })
    if (this.params.length === 0) throw new TsgradError(`${name}: got an empty parameter list`)
  }

  /** The first group's learning rate; setting it sets every group's (no recompilation). */
  get lr(): number {
    return this.paramGroups[0]!.lr
  }

  set lr(v: number) {
    checkLr(this.name, v)
    for (const g of this.paramGroups) g.lr = v
  }

  /**
   * Drop every parameter's gradient (PyTorch's set_to_none behaviour). A gradient nothing but this
   * optimizer has read (through `p.grad`) is disposed, its storage free for the next step's; one
   * that was read keeps its value, as in PyTorch.
   */
  zeroGrad(): void {
    for (const p of this.params) Tensor.releaseGrad(p)
  }

  /**
   * Build the lazy update (assigns into params and state) and return every tensor that must be
   * realized for it to take effect; `step()` realizes them. Use this to realize the update
   * together with other tensors (e.g. the loss) in one call.
   */
  scheduleStep(): Tensor[] {
    // Last parameters first: the scheduler emits kernels depth first from the roots in order, and
    // parameters are listed in forward order. From the first layer's update it would emit the whole
    // input-gradient chain before any weight gradient, keeping every layer's activations and
    // gradients alive to the end; from the last layer's, each layer's weight gradient follows its
    // part of the chain (8 MLP blocks, fwd + bwd + step peak memory 6.05 -> 5.07 MB; with
    // nn.checkpoint 5.81 -> 1.40 MB: test/nn/checkpoint_activations.test.ts).
    const out = Tensor.noGrad(() => this.update()).reverse()
    // the gradients are realized too: they read the pre-update parameters, so `p.grad` keeps the
    // value the step used (as in PyTorch) instead of being recomputed from the new weights later
    const grads = this.params.map((p) => Tensor.gradUnread(p)).filter((g): g is Tensor => g instanceof Tensor)
    return [...out, ...grads.reverse(), ...takePending()]
  }

  /** One optimization step, realized in a single `Tensor.realize`. */
  step(): void {
    const ts = this.scheduleStep()
    if (ts.length > 0) Tensor.realize(...ts)
  }

  /**
   * The update with a skip condition: where the bool scalar `skip` is true, every write keeps the
   * old value (a GradScaler step over gradients with inf/NaN, decided on the device).
   */
  scheduleStepUnless(skip: Tensor): Tensor[] {
    this.skipIf = skip
    try {
      return this.scheduleStep()
    } finally {
      this.skipIf = undefined
    }
  }

  /** Assign the new values; return the tensors written. */
  protected abstract update(): Tensor[]

  /** `target.assign(value)`, or keep the old value where the step is skipped. */
  protected write(target: Tensor, value: Tensor): Tensor {
    const v = value.dtype === target.dtype ? value : value.cast(target.dtype)
    return target.assign(this.skipIf ? this.skipIf.where(target.detach(), v) : v)
  }

  /** `p` has a gradient (read for the optimizer: not marked as read by the user) */
  protected hasGrad(p: Tensor): boolean {
    const g = Tensor.gradUnread(p)
    return g !== undefined && g !== null
  }

  protected gradOf(p: Tensor): Tensor | undefined {
    const g = Tensor.gradUnread(p)
    if (g === undefined || g === null) return undefined
    const gd = g.detach()
    return gd.dtype === p.dtype ? gd : gd.cast(p.dtype)
  }

  /** The state tensors by name, live (the optimizer's own); `stateDict` snapshots them. */
  protected abstract stateTensors(): Record<string, Tensor>

  /**
   * A snapshot of the optimizer for a checkpoint: `state` holds realized copies of every state
   * tensor (moments, momentum buffers, bias-correction powers) keyed `"<param index>.<name>"`
   * or `"group<g>.<name>"`; `groups` is JSON (hyperparameters and parameter counts per group).
   */
  stateDict(): OptimizerStateDict {
    const live = this.stateTensors()
    const state: Record<string, Tensor> = Object.create(null)
    for (const [k, t] of Object.entries(live)) state[k] = t.detach().clone()
    Tensor.realize(...Object.values(state))
    return {
      state,
      groups: {
        optimizer: this.name,
        groups: this.paramGroups.map((g) => ({
          numParams: g.params.length,
          lr: g.lr,
          options: { ...(g.options as Record<string, HyperValue>) },
        })),
      },
    }
  }

  /**
   * Restore a `stateDict()` taken from an optimizer of the same kind over parameters of the same
   * shapes and grouping: everything is checked before anything is written, then the state is
   * assigned in one realize and each group's hyperparameters are set.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`
    if (typeof sd !== 'object' || sd === null || typeof sd.state !== 'object' || sd.state === null)
      throw new TsgradError(`${where}: expected { state, groups } as returned by stateDict()`)
    const gj = sd.groups
    if (typeof gj !== 'object' || gj === null || !Array.isArray(gj.groups))
      throw new TsgradError(`${where}: 'groups' is missing or not a list of groups`)
    if (gj.optimizer !== this.name)
      throw new TsgradError(`${where}: the state dict is of ${String(gj.optimizer)}, not ${this.name}`)
    if (gj.groups.length !== this.paramGroups.length)
      throw new TsgradError(
        `${where}: the state dict has ${gj.groups.length} parameter groups, this optimizer ${this.paramGroups.length}`,
      )
    gj.groups.forEach((g, i) => {
      const mine = this.paramGroups[i]!
      if (g?.numParams !== mine.params.length)
        throw new TsgradError(
          `${where}: group ${i} has ${String(g?.numParams)} parameters in the state dict, ${mine.params.length} here`,
        )
      checkLr(`${where} group ${i}`, g.lr)
      for (const k of Object.keys(mine.options as object)) {
        const v = g.options?.[k]
        if (typeof v !== typeof (mine.options as Record<string, unknown>)[k])
          throw new TsgradError(`${where}: group ${i} option '${k}' is ${String(v)} in the state dict`)
      }
    })
    const live = this.stateTensors()
    const want = Object.keys(live).sort()
    const got = Object.keys(sd.state).sort()
    const missing = want.filter((k) => !(k in sd.state))
    const extra = got.filter((k) => !(k in live))
    if (missing.length > 0 || extra.length > 0)
      throw new TsgradError(
        `${where}: state keys differ (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'})`,
      )
    for (const k of want) {
      const src = sd.state[k]!
      const dst = live[k]!
      if (!(src instanceof Tensor)) throw new TsgradError(`${where}: state '${k}' is not a Tensor`)
      if (fmtShape(src.shape) !== fmtShape(dst.shape) || src.dtype !== dst.dtype)
        throw new TsgradError(
          `${where}: state '${k}' is ${fmtShape(src.shape)} ${src.dtype.name}, expected ${fmtShape(dst.shape)} ${dst.dtype.name}`,
        )
    }
    for (const k of want) {
      const src = sd.state[k]!
      live[k]!.assign(src.device === live[k]!.device ? src.detach() : src.to(live[k]!.device))
    }
    Tensor.realize(...want.map((k) => live[k]!))
    gj.groups.forEach((g, i) => {
      const mine = this.paramGroups[i]!
      Object.assign(mine.options as object, g.options)
      mine.lr = g.lr
    })
  }
}
