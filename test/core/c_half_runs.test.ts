// Register tiles over float16 operands in the C renderer (renderer/c_half_runs.ts): 16 adjacent
// halves become one vector load and conversion, each lane read from it. The tile's values must be
// the same bits as the same tile over the operand already in float32 (f16 -> f32 is exact, and
// the tile's sums run in the same order), special values included; and the tile that decode
// attention over an f16 KV cache runs (softmax(q k) @ v, v in float16) takes that form.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { Device } from '../../src/runtime/device.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { hasCPU, makeRng } from '../helpers.ts'

/** The C source of the last kernel that realizing `t` runs, with the default heuristics. */
function lastSource(t: Tensor): string {
  const items = scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  const r = Device.get('CPU').renderer
  const last = items.at(-1)!
  const src = renderKernel(last.ast, r, handOpts(last.ast, r.target)).src
  return src.slice(src.lastIndexOf('void '))
}

describe('C register tiles over float16', { skip: !hasCPU && 'no C compiler' }, () => {
  const rng = makeRng(11)
  // halves: normal, subnormal (2^-24 .. 2^-14), zero, -0, the largest, inf
  const specials = [6.0e-8, -3.0e-6, 6.1e-5, 0, -0, 65504, -65504, Number.POSITIVE_INFINITY]
  const halves = (n: number): number[] =>
    Array.from({ length: n }, (_, i) => (i < specials.length ? specials[i]! : (rng() - 0.5) * 8))

  test('a product with a float16 operand reads it as runs of 16 and matches the float32 operand bit for bit', async () => {
    const [M, K, N] = [8, 48, 64]
    const a = new Tensor(
      Array.from({ length: M * K }, () => rng() - 0.5),
      { shape: [M, K] },
    ).realize()
    const b = new Tensor(halves(K * N), { shape: [K, N], dtype: 'float16' }).realize()
    const b32 = b.cast('float32').realize()
    const src = lastSource(a.matmul(b.cast('float32')))
    assert.ok(src.includes('TG_FMAF'), 'a register tile')
    assert.match(src, /tgh16f hv\d+ = tg_ldh16\(b\d+ \+ /)
    assert.doesNotMatch(src, /tg_h2f\(/, 'every half of the tile is a lane of a run')
    const got = Array.from(await a.matmul(b.cast('float32')).data())
    const want = Array.from(await a.matmul(b32).data())
    assert.equal(got.length, M * N)
    for (let i = 0; i < want.length; i++)
      assert.ok(Object.is(got[i], want[i]), `[${i}]: f16 operand ${got[i]}, f32 operand ${want[i]}`)
  })

  test("decode attention's values tile over an f16 cache takes runs, and a NaN half stays NaN", async () => {
    // (1, kvHeads 2, positions 40, head 64) values, 8 query heads: the PV product of one new token
    const S = 40
    const p = Tensor.rand([1, 2, 4, S]).realize()
    const vals = halves(2 * S * 64)
    vals[5 * 64 + 3] = Number.NaN
    const v = new Tensor(vals, { shape: [1, 2, S, 64], dtype: 'float16' }).realize()
    const out = p.matmul(v.cast('float32'))
    assert.match(lastSource(out), /tg_ldh16\(/)
    const got = Array.from(await out.data())
    const want = Array.from(await p.matmul(v.cast('float32').realize()).data())
    for (let i = 0; i < want.length; i++)
      assert.ok(Object.is(got[i], want[i]), `[${i}]: f16 operand ${got[i]}, f32 operand ${want[i]}`)
    // column 3 of kv head 0 sums the NaN; the other columns do not
    assert.ok(Number.isNaN(got[3]!) && !Number.isNaN(got[4]!))
  })

  test('halves that do not fill a run of 16 stay single conversions', () => {
    const a = Tensor.rand([8, 32]).realize()
    const b = new Tensor(halves(32 * 8), { shape: [32, 8], dtype: 'float16' }).realize()
    const src = lastSource(a.matmul(b.cast('float32')))
    assert.doesNotMatch(src, /tg_ldh16\(/)
  })
})
