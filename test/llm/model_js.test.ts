// One quick case on the JS device: the MoE model (gathered expert weights in the decode step) and
// a Q4_0 model, whatever DEVICE says.
import { describe } from 'node:test'
import { modelTests } from './fixtures.ts'

describe('llm model on the JS device', () => {
  modelTests('mixtral_f16', { device: 'JS', label: 'JS mixtral_f16' })
  modelTests('llama_q4_0', { device: 'JS', label: 'JS llama_q4_0' })
})
