// What a prompt (a multi-token step) leaves allocated: its activations are temporaries of one
// schedule per layer, back in the pool when the layer is done. Realized one by one, they were
// tensors only the GC frees, and a prefill never yields: a 512-token prompt of a LLaMA-1B shape
// held ~0.7 GB of them at its end (BENCHMARKS.md, issue 17).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { memory } from '../../src/runtime/buffer.ts'
import { loadTiny } from './fixtures.ts'

describe('llm model: memory of a prompt', () => {
  test('a prompt step leaves less than one layer of activations allocated, and runs each layer once', async () => {
    const m = await loadTiny('llama2_q8_0')
    const { dim, hidden, layers } = m.config
    const T = 24
    const tokens = Array.from({ length: T }, (_, i) => 1 + i)
    await m.step(tokens, 0)
    const before = memory.inUse
    const ran = stats.kernelsRun
    await m.step(tokens, 0)
    const grew = memory.inUse - before
    // per layer: 2 norms, 7 weight panels and integer products (residual adds and the MLP's gate
    // in their kernels), 4 quantized inputs, rope and the k/v cache writes, attention (4) and its
    // output's transpose; then the head (norm, quantized row, matvec). The attention output left
    // a lazy reader of the cache once, and each prompt recomputed the last prompt's attention in
    // its first cache write (92); reshaped integer products were copied before being read (81)
    // attention runs one key/value head at a time (scores, softmax, product with v per head, and
    // the heads' concatenation), so its share grows with the heads
    const kernels = stats.kernelsRun - ran
    const { kvHeads: H } = m.config
    const perLayer = 28 + 3 * H + 1
    assert.ok(
      kernels <= perLayer * layers + 5,
      `${kernels} kernels for a ${T}-token step of ${layers} layers (${H} key/value heads)`,
    )
    // one layer's activations: x, its norm, q, k, v, attention, output (dim each), gate, up (hidden)
    const layer = T * (4 * dim + 2 * hidden) * 4
    assert.ok(layers >= 2)
    assert.ok(
      grew < layer,
      `a ${T}-token step left ${grew} bytes allocated (one layer's activations: ${layer})`,
    )
    // and not one activation per layer: only the last layer's keys and values and the logits row
    // wait for the GC. Each layer's input norm (held by its projections' views of it) and the last
    // residual stream waited too: 32016 bytes here
    const { headDim, vocabSize } = m.config
    const left = 2 * T * H * headDim * 4 + vocabSize * 4 + 1024
    assert.ok(grew <= left, `a ${T}-token step left ${grew} bytes allocated, expected at most ${left}`)
  })
})
