// What a decode step reads: the embedding row of a K-quant table is picked from its block bytes
// and dequantized alone (picking rows of the lazy dequantization graph made the scheduler
// dequantize the whole table into a float32 buffer every step).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor, Variable } from '../../src/index.ts'
import type { Transformer } from '../../src/llm/model.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { loadTiny } from './fixtures.ts'

const kernels = (t: Tensor): KernelItem[] =>
  scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')

describe('llm model: bytes a decode step touches', () => {
  test('Q6_K embedding: no buffer of the table size besides its blocks and the Q6_K output', async () => {
    const m = (await loadTiny('llama_kquant')) as Transformer
    const { vocabSize: V, dim: D } = m.config
    const pos = Variable('start_pos', 0, m.maxContext - 1)
    const ks = kernels(m.forward(new Tensor(Int32Array.from([5]), { shape: [1, 1] }), pos.bind(3), false))
    const tableSized = ks.flatMap((k) => k.bufs.filter((b) => b.size === V * D).map((b) => b.dtype.name))
    assert.deepEqual(tableSized, [], 'no kernel writes or reads a dequantized copy of the embedding table')
  })
})
