// Qwen2 (q/k/v biases, neox rope, F16) and Qwen3 (per-head q/k RMS norm, head size != dim/heads,
// tied embeddings, BF16) tiny models from GGUF against the PyTorch reference.
import { describe } from 'node:test'
import { modelTests } from './fixtures.ts'

describe('llm model: Qwen2 and Qwen3 from GGUF', () => {
  for (const name of ['qwen2_f16', 'qwen3_bf16']) modelTests(name)
})
