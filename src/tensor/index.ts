// The Tensor class with every op family attached.
import './reading.js'
import './backward.js'
import './movement.js'
import './create.js'
import './elementwise.js'
import './reduce.js'
import './indexing.js'
import './nn_ops.js'
import './attention.js'
import './losses.js'
import './margin_losses.js'
import './pooling.js'
import './scan.js'
import './activations.js'
import './distance.js'
import './roll.js'
import './rope.js'
import './sampling.js'
import './custom_kernel.js'
// last: wraps ops of the families above
import './symbolic_guard.js'

export { Tensor } from './tensor.js'
export { checkpoint } from './checkpoint.js'
export { isSymbolic, Variable, type sint } from './variable.js'
export type { IndexItem } from './indexing.js'
export type { AttentionOptions } from './attention.js'
export type { AdaptiveSize, AvgPoolOptions, MaxPoolOptions } from './pooling.js'
export type { TensorData, TensorOptions, NestedArray, Operand } from './tensor.js'
export type {
  CustomKernelBackward,
  CustomKernelOptions,
  KernelBuffer,
  KernelContext,
  RangeKind,
} from './custom_kernel.js'
