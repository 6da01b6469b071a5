// Pooling layers (torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d): no state,
// the options are kept and checked once, and `call(x)` applies the Tensor op. Public API only.
import {
  type AdaptiveSize,
  type AvgPoolOptions,
  checkOptions,
  type KeySet,
  type MaxPoolOptions,
  type Tensor,
} from '../index.js'

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

export class MaxPool2d {
  readonly kernelSize: Pair
  readonly opts: MaxPool2dOptions
  constructor(kernelSize: Pair, opts: MaxPool2dOptions = {}) {
    checkOptions('MaxPool2d', opts, MAX_OPTS)
    this.kernelSize = kernelSize
    this.opts = { ...opts }
  }
  call(x: Tensor): Tensor {
    return x.maxPool2d(this.kernelSize, this.opts)
  }
}

export class AvgPool2d {
  readonly kernelSize: Pair
  readonly opts: AvgPool2dOptions
  constructor(kernelSize: Pair, opts: AvgPool2dOptions = {}) {
    checkOptions('AvgPool2d', opts, AVG_OPTS)
    this.kernelSize = kernelSize
    this.opts = { ...opts }
  }
  call(x: Tensor): Tensor {
    return x.avgPool2d(this.kernelSize, this.opts)
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
