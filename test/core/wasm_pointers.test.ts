// The WASM renderer's running pointers (renderer/wasm_pointers.ts): which accesses of an innermost
// loop read through a pointer advanced once per step, and results through them equal the JS
// reference for indices that step forward, backward (a flip), by a row (a transpose), under a gate
// (a pad) and in loops that run zero times.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Device, Tensor } from '../../src/index.ts'
import { WasmRenderer } from '../../src/renderer/wasm.ts'
import { MAX_FOLDED_OFFSET, valType } from '../../src/renderer/wasm_ops.ts'
import { I32 } from '../../src/renderer/wasm_encoder.ts'
import { loopPointers } from '../../src/renderer/wasm_pointers.ts'
import { makeRng } from '../helpers.ts'
import { wasmProgram } from './wasm_program.ts'

const skip = Device.unavailableReason('WASM') !== undefined
const isInt32 = (u: { dtype: Parameters<typeof valType>[0] }) => valType(u.dtype) === I32

describe('WASM running pointers', { skip }, () => {
  const r = new WasmRenderer({ simd: true, relaxed: false, shared: false, maxPages: 65536 })

  test("a matmul tile's reduce loop reads A and B through pointers: A steps by 1, B by a panel row", () => {
    const a = Tensor.rand([64, 128], { device: 'WASM' })
    const b = Tensor.rand([128, 256], { device: 'WASM' })
    const prog = wasmProgram(a.matmul(b), r)
    const loops = [...loopPointers(prog.uops, MAX_FOLDED_OFFSET, isInt32).values()]
    assert.equal(loops.length, 1, 'one innermost loop (the reduce)')
    const strides = loops[0]!.map((p) => p.stride).sort((x, y) => x - y)
    // the tile's 4 rows of A share one pointer (their constant offsets differ), as do B's 2 vectors
    assert.deepEqual(strides, [1, 32])
  })

  test('results through pointers equal the JS device (flip, transpose, pad, empty loops, matmul)', async () => {
    const rng = makeRng(5)
    const vals = (n: number) => Float32Array.from({ length: n }, () => rng() - 0.5)
    const [x, y, img, w] = [vals(37 * 23), vals(19 * 23), vals(2 * 3 * 9 * 9), vals(4 * 3 * 3 * 3)]
    const cases: [string, (t: (d: Float32Array, s: number[]) => Tensor) => Tensor][] = [
      ['sum of a flipped row', (t) => t(x, [37, 23]).flip(1).cumsum(1).sum(1)],
      ['sum down columns', (t) => t(x, [37, 23]).T.contiguous().sum(1)],
      [
        'sum over a padded view',
        (t) =>
          t(x, [37, 23])
            .pad([
              [0, 0],
              [3, 5],
            ])
            .exp()
            .sum(1),
      ],
      ['reduce of zero-length rows', (t) => t(new Float32Array(0), [4, 0]).sum(1)],
      ['matmul, odd sizes, transposed B', (t) => t(x, [37, 23]).matmul(t(y, [19, 23]).T)],
      ['conv2d with padding', (t) => t(img, [2, 3, 9, 9]).conv2d(t(w, [4, 3, 3, 3]), { padding: 1 })],
    ]
    for (const [name, f] of cases) {
      const run = (device: string) => f((d, shape) => new Tensor(d, { shape, device })).data()
      const [w, j] = [await run('WASM'), await run('JS')]
      assert.equal(w.length, j.length, name)
      for (let i = 0; i < w.length; i++)
        assert.ok(Math.abs(w[i]! - j[i]!) < 1e-4, `${name} [${i}]: ${w[i]} vs ${j[i]}`)
    }
  })
})
