// The Tensor class with every op family attached.
import './create.js'
import './elementwise.js'
import './reduce.js'
import './indexing.js'
import './nn_ops.js'

export { Tensor } from './tensor.js'
export type { IndexItem } from './indexing.js'
export type { TensorData, TensorOptions, NestedArray, Operand } from './tensor.js'
