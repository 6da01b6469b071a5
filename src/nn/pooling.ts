// Pooling layers (torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d): no state,
// the options are kept and checked once, and `call(x)` applies the Tensor op. Public API only.
import type { AdaptiveSize, AvgPoolOptions, MaxPoolOptions, Tensor } from '../tensor/index.js'
import { checkOptions, type KeySet } from '../options.js'

type Pair = number | readonly [number, number]
/** the options of Tensor.maxPool2d / avgPool2d (torch.nn.MaxPool2d / AvgPool2d) */
export type MaxPool2dOptions = MaxPoolOptions
export type AvgPool2dOptions = AvgPoolOptions

const MAX_OPTS: KeySet<MaxPool2dOptions> = { stride: true, padding: true, dilation: true, ceilMode: true }
const AVG_OPTS: KeySet<AvgPool2dOptions> = {
  stride: true,
  padding: true,
  ceilMode: true,
  countIncludePad: true,
  divisorOverride: true,
}

/** A window pool layer: the options checked once, then the Tensor op on every call. */
class WindowPool2d<O extends object> {
  readonly opts: O
  constructor(
    readonly kernelSize: Pair,
    opts: O,
    name: string,
    keys: KeySet<O>,
    private readonly op: (x: Tensor, k: Pair, o: O) => Tensor,
  ) {
    checkOptions(name, opts, keys)
    this.opts = { ...opts }
  }
  call(x: Tensor): Tensor {
    return this.op(x, this.kernelSize, this.opts)
  }
}

export class MaxPool2d extends WindowPool2d<MaxPool2dOptions> {
  constructor(kernelSize: Pair, opts: MaxPool2dOptions = {}) {
    super(kernelSize, opts, 'MaxPool2d', MAX_OPTS, (x, k, o) => x.maxPool2d(k, o))
  }
}

export class AvgPool2d extends WindowPool2d<AvgPool2dOptions> {
  constructor(kernelSize: Pair, opts: AvgPool2dOptions = {}) {
    super(kernelSize, opts, 'AvgPool2d', AVG_OPTS, (x, k, o) => x.avgPool2d(k, o))
  }
}

/** Output (..., outputSize): window i covers [floor(i*H/OH), ceil((i+1)*H/OH)); null keeps H. */
export class AdaptiveAvgPool2d {
  constructor(readonly outputSize: AdaptiveSize) {}
  call(x: Tensor): Tensor {
    return x.adaptiveAvgPool2d(this.outputSize)
  }
}

export class AdaptiveMaxPool2d {
  constructor(readonly outputSize: AdaptiveSize) {}
  call(x: Tensor): Tensor {
    return x.adaptiveMaxPool2d(this.outputSize)
  }
}
