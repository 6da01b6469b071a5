// x @ W.T with float16/bfloat16 weights in a float32 product (an LLM's prefill over F16 weights):
// B is packed in the product's dtype by one copy, and the product reads the float32 panels.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { deviceLacks } from '../helpers.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'

const kernels = (t: Tensor): KernelItem[] =>
  scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')

describe('matmul with half-float weights packed for a float32 product', () => {
  for (const dtype of ['float16', 'bfloat16'] as const)
    for (const n of [512, 100]) {
      test(`(64, 256) @ ${dtype} (${n}, 256).T: one packing copy in float32, then the product; values as with float32 weights`, {
        skip: deviceLacks(dtype),
      }, async () => {
        Tensor.manualSeed(3)
        const x = Tensor.randn([64, 256]).realize()
        const W = Tensor.randn([n, 256]).cast(dtype).realize()
        const y = x.matmul(W.T)
        const ks = kernels(y)
        // before: the float16 panels, then their cast realized as another copy (k innermost)
        assert.equal(ks.length, 2, `${ks.length} kernels`)
        const packedBuf = ks[0]!.bufs[0]!
        assert.equal(packedBuf.dtype.name, 'float32', 'B packed as float32')
        assert.equal(packedBuf.size, n * 256)
        const want = Array.from(await x.matmul(W.cast('float32').realize().T).data())
        const got = Array.from(await y.data())
        for (let i = 0; i < want.length; i++)
          assert.ok(Object.is(got[i], want[i]), `y[${i}]: ${got[i]} vs ${want[i]}`)
      })
    }
  test('a matrix-vector product over float16 weights stays one kernel reading float16 (nothing packed)', () => {
    const W = Tensor.randn([512, 256]).cast('float16').realize()
    const ks = kernels(Tensor.randn([1, 256]).realize().matmul(W.T))
    assert.equal(ks.length, 1)
    assert.ok(ks[0]!.bufs.some((b) => b.dtype.name === 'float16'))
  })
})
