// The intermediate tensors a composite op builds (attention's scores and softmax) are internal: a
// later in-place write to a buffer they read must not realize them. Before, the first KV-cache write
// after a prefill recomputed the prefill's attention scores (its dead intermediates were still
// registered as lazy readers until the garbage collector ran).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'

test('a write after attention realizes no dead intermediate of the attention', () => {
  Tensor.manualSeed(3)
  const cache = Tensor.randn([1, 2, 16, 8]).contiguous().realize()
  const q = Tensor.randn([1, 2, 16, 8]).realize()
  const a = q.scaledDotProductAttention(cache, cache, { isCausal: true })
  const before = Array.from(a.realize().dataSync() as Float32Array)
  const k0 = stats.kernelsRun
  cache.assign(Tensor.ones([1, 2, 16, 8])).realize()
  assert.equal(stats.kernelsRun - k0, 1, 'only the write runs')
  assert.deepEqual(Array.from(a.dataSync() as Float32Array), before)
})

test('the result of attention is still a lazy reader: a write realizes it first, with the old values', () => {
  Tensor.manualSeed(4)
  const cache = Tensor.randn([1, 2, 16, 8]).contiguous().realize()
  const q = Tensor.randn([1, 2, 16, 8]).realize()
  const a = q.scaledDotProductAttention(cache, cache)
  const ref = q.scaledDotProductAttention(cache, cache).realize()
  cache.assign(Tensor.zeros([1, 2, 16, 8])).realize()
  assert.deepEqual(Array.from(a.dataSync() as Float32Array), Array.from(ref.dataSync() as Float32Array))
})
