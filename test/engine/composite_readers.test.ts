// The intermediate tensors a composite op builds (attention's scores and softmax) are internal: a
// later in-place write to a buffer they read must not realize them. Before, the first KV-cache write
// after a prefill recomputed the prefill's attention scores (its dead intermediates were still
// registered as lazy readers until the garbage collector ran).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { heldBuffer } from '../../src/tensor/lazy_readers.ts'

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

// The views a composite makes of a buffer are internal too: held until the GC ran, they kept
// dispose() of the buffer from freeing it (a prefill layer's norm, viewed by its projections, stayed
// allocated: ~130 MB of garbage at the end of a 512-token LLaMA-1B prompt).
test("a composite's internal views do not keep dispose() of their buffer from freeing it", () => {
  const a = Tensor.randn([64, 64]).realize()
  const b = heldBuffer(a.uop)!
  const y = Tensor.composite(() => a.reshape([4096]).add(1).reshape([64, 64]).T.add(a.T)).realize()
  a.dispose()
  assert.equal(b.disposed, true, 'the buffer was freed by dispose()')
  assert.equal((y.dataSync() as Float32Array).length, 4096)
})

test("a view made outside a composite still holds its buffer; a composite's result keeps its handle", () => {
  const a = Tensor.randn([8, 8]).realize()
  const b = heldBuffer(a.uop)!
  const v = a.reshape([64])
  const r = Tensor.composite(() => a.reshape([64]))
  a.dispose()
  assert.equal(b.disposed, false, 'views v and r still hold it')
  v.dispose()
  assert.equal(b.disposed, false, 'r (the composite result) still holds it')
  assert.equal((r.dataSync() as Float32Array).length, 64)
  r.dispose()
  assert.equal(b.disposed, true)
})
