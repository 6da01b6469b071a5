// Integer tensors wrap at their width (two's complement, as C, numpy and PyTorch): folding
// constants in the symbolic pass must keep that (x*3*3*...*3 was folded to x*3^700 = x*Infinity,
// which rendered as garbage on CPU and 0 on JS).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes, Tensor } from '../../src/index.ts'

const int32 = async (t: Tensor): Promise<number[]> => Array.from((await t.data()) as Int32Array)
const repeat = (v: number, n: number, f: (v: number) => number): number => {
  for (let i = 0; i < n; i++) v = f(v)
  return v
}

describe('int32 math wraps through constant folding', () => {
  test('a chain of constant multiplies past 2^31 and past double range', async () => {
    for (const n of [25, 700]) {
      let t = Tensor.arange(4)
      for (let i = 0; i < n; i++) t = t.mul(3)
      const want = [0, 1, 2, 3].map((k) => repeat(k, n, (v) => Math.imul(v, 3)))
      assert.deepEqual(await int32(t), want, `${n} multiplies`)
    }
  })
  test('multiply-add chains and constant sums that leave int32', async () => {
    let m = Tensor.arange(4).add(1)
    for (let i = 0; i < 40; i++) m = m.mul(3).add(1)
    assert.deepEqual(
      await int32(m),
      [1, 2, 3, 4].map((k) => repeat(k, 40, (v) => (Math.imul(v, 3) + 1) | 0)),
    )
    let s = Tensor.full([3], 5, { dtype: dtypes.int32 })
    for (let i = 0; i < 10; i++) s = s.add(2 ** 30)
    assert.deepEqual(
      await int32(s),
      [0, 0, 0].map(() => repeat(5, 10, (v) => (v + 2 ** 30) | 0)),
    )
  })
  test('comparisons of a wrapped product are not decided by the unwrapped one', async () => {
    // 3 * 2^30 wraps to -2^30 in int32: (x * 3 < 0) is true for x = 2^30
    const x = new Tensor([1, 2 ** 30], { dtype: dtypes.int32 })
    assert.deepEqual(Array.from((await x.mul(3).lt(0).data()) as Uint8Array), [0, 1])
    assert.deepEqual(
      Array.from(
        (await x
          .add(2 ** 30)
          .lt(0)
          .data()) as Uint8Array,
      ),
      [0, 1],
    )
  })
})
