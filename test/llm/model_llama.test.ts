// LLaMA-family tiny models from GGUF (F32 with LLaMA-3 rope scaling as a rope_freqs tensor and
// untied output; Q8_0 with tied embeddings and no GQA; Q4_0; Q4_K/Q6_K) against the PyTorch
// reference of scripts/gen_llm_fixtures.py.
import { describe } from 'node:test'
import { modelTests } from './fixtures.ts'

describe('llm model: LLaMA from GGUF', () => {
  for (const name of ['llama3_f32', 'llama2_q8_0', 'llama_q4_0', 'llama_kquant']) modelTests(name)
})
