// An F16 matvec whose vector does not stay in L1 computes its rows in fours on the C target
// (CRenderer.target.matvecRows, codegen/heuristics.ts): each load of x shared by four rows.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { hasCPU } from '../helpers.ts'

const target = new CRenderer().target

/** The heuristics' opts of the one kernel of x (1, K) @ W^T with W (N, K) of `dtype`. */
function matvecOpts(N: number, K: number, dtype: 'float16' | 'bfloat16' | 'float32') {
  const w = Tensor.rand([N, K], { device: 'JS' }).cast(dtype).realize()
  const x = Tensor.rand([1, K], { device: 'JS' }).realize()
  const ks = scheduleFor([x.matmul(w.T).uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  assert.equal(ks.length, 1)
  return handOpts(ks[0]!.ast, target)
}

describe('F16 matvec rows', () => {
  test('x of more than 16 KB: the rows upcast by 4; shorter x or float32 weights: one row at a time', () => {
    // LLaMA-1B's down projection (x: 8192 float32, 32 KB)
    assert.deepEqual(
      matvecOpts(64, 8192, 'float16').find((o) => o.op === 'UPCAST'),
      { op: 'UPCAST', axis: 0, arg: 4 },
    )
    assert.deepEqual(
      matvecOpts(64, 8192, 'bfloat16').find((o) => o.op === 'UPCAST'),
      { op: 'UPCAST', axis: 0, arg: 4 },
    )
    // gate/up (x: 8 KB) and a 16 KB x: faster as one stream of rows
    assert.equal(
      matvecOpts(256, 2048, 'float16').some((o) => o.op === 'UPCAST'),
      false,
    )
    assert.equal(
      matvecOpts(256, 4096, 'float16').some((o) => o.op === 'UPCAST'),
      false,
    )
    assert.equal(
      matvecOpts(64, 8192, 'float32').some((o) => o.op === 'UPCAST'),
      false,
    )
    // rows not a multiple of 4: one at a time (in twos it was no faster)
    assert.equal(
      matvecOpts(6, 8192, 'float16').some((o) => o.op === 'UPCAST'),
      false,
    )
  })

  test('rows in fours compute the product (CPU against float64)', {
    skip: !hasCPU && 'no CPU device',
  }, () => {
    for (const [N, K] of [
      [12, 8192],
      [6, 8192],
    ] as const) {
      Tensor.manualSeed(3)
      const w = Tensor.randn([N, K], { device: 'CPU' }).cast('float16').realize()
      const x = Tensor.randn([1, K], { device: 'CPU' }).realize()
      const y = x.matmul(w.T).dataSync() as Float32Array
      const wv = w.cast('float32').dataSync() as Float32Array
      const xv = x.dataSync() as Float32Array
      for (let n = 0; n < N; n++) {
        let ref = 0
        let mag = 0
        for (let k = 0; k < K; k++) {
          ref += wv[n * K + k]! * xv[k]!
          mag += Math.abs(wv[n * K + k]! * xv[k]!)
        }
        assert.ok(Math.abs(y[n]! - ref) <= 1e-6 * mag, `row ${n} of ${N}x${K}: ${y[n]} vs ${ref}`)
      }
    }
  })
})
