// tsgrad public entry point.
import './runtime/js.js'
import './runtime/null.js'
import './runtime/cpu.js'
import './runtime/wasm.js'
import './runtime/webgpu.js'
import './viz/enable.js'

export { bf16BitsToF32, DType, dtypes, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './dtype.js'
export { TsgradError } from './helpers.js'
export { checkOptions, type KeySet } from './options.js'
export { Device } from './runtime/device.js'
export { startWebGPU } from './runtime/webgpu.js'
export { isSymbolic, type sint, Tensor, Variable } from './tensor/index.js'
export type { UOp } from './uop/ops.js'
export { Jit, type JittedFunction, jit } from './tensor/jit.js'
export { type FlashAttentionOptions, flashAttention } from './tensor/flash_attention.js'
export { type TensorBackward, withCustomGrad } from './tensor/custom_grad.js'
export type { GraphStats } from './engine/jit.js'
export type {
  AdaptiveSize,
  AttentionOptions,
  AvgPoolOptions,
  CustomKernelBackward,
  CustomKernelOptions,
  KernelBuffer,
  KernelContext,
  RangeKind,
  IndexItem,
  MaxPoolOptions,
  NestedArray,
  Operand,
  TensorData,
  TensorOptions,
} from './tensor/index.js'
export * as nn from './nn/index.js'
export * as optim from './nn/optim.js'
export * as llm from './llm/index.js'
