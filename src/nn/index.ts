// The `nn` package: layers, state (state dicts, safetensors) and optimizers, on the public
// Tensor API only. `src/index.ts` re-exports this module as the `nn` namespace and its `optim`
// member as `optim`, so both `nn.Linear` / `nn.getParameters` and `optim.SGD` (also reachable as
// `nn.optim.SGD`, like tinygrad) work:
//   import { nn, optim } from 'tsgrad'
export {
  BatchNorm,
  BatchNorm2d,
  type BatchNormOptions,
  Conv2d,
  type Conv2dOptions,
  ConvTranspose2d,
  type ConvTranspose2dOptions,
  Embedding,
  GatedMLP,
  type GatedMLPOptions,
  GroupNorm,
  type GroupNormOptions,
  LayerNorm,
  type LayerNormOptions,
  Linear,
  type LinearOptions,
  RMSNorm,
  type RMSNormOptions,
} from './layers.js'
export { type ClipGradNormOptions, clipGradNorm } from './clip_grad.js'
export { checkpoint } from '../tensor/index.js'
export * as datasets from './datasets.js'
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad_scaler.js'
export { KVCache, type KVCacheOptions } from './kv_cache.js'
export * as optim from './optim.js'
export {
  AdaptiveAvgPool2d,
  AdaptiveMaxPool2d,
  AvgPool2d,
  type AvgPool2dOptions,
  MaxPool2d,
  type MaxPool2dOptions,
} from './pooling.js'
export {
  bf16ToF32,
  f16ToF32,
  f32ToBF16,
  f32ToF16,
  getParameters,
  getStateDict,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  loadStateDict,
} from './state.js'
export {
  type SafeDeserializeOptions,
  type SafetensorsEntry,
  type SafetensorsHeader,
  type StateDictLike,
  safeDeserialize,
  safeLoad,
  safeParseHeader,
  safeSave,
  safeSerialize,
} from './safetensors.js'
export {
  GGUF_VALUE_TYPES,
  type GGUFFile,
  type GGUFHeader,
  type GGUFLoadOptions,
  type GGUFTensorInfo,
  type GGUFValue,
  type GGUFValueType,
  ggufLoad,
  ggufParse,
  ggufParseHeader,
} from './gguf.js'
export { type GGUFWriteInput, type GGUFWriteType, ggufSave, ggufSerialize } from './gguf_write.js'
