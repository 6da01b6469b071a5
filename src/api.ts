// The public API both package entries export (index.ts for Node, browser.ts for browsers); each
// entry first registers the devices its platform has.

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
