// Integer matmuls over Q8_0 / Q4_0 weights for many rows (nn/quant_matmul.ts, a prompt's prefill):
// values against a float64 sum over the dequantized weights within the bound the int8 rounding of x
// allows (padded rows, the matvec fallback for N not a multiple of 16, an epilogue), the block sums
// of the quantizer, bad input; and on the C device the kernel's shape: per row and quad one 512-bit
// vpdpbusd whose lanes are 16 columns, the float update a vector FMA (renderer/c_dot_cols.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor, TsgradError } from '../../src/index.ts'
import { ggmlTypeByName } from '../../src/nn/gguf_quant.ts'
import { quantizeForLinear, quantMatmul, quantPanels, quantRowsLinear } from '../../src/nn/quant_matmul.ts'
import { quantizeRows } from '../../src/nn/quant_matvec.ts'
import { hasCPU } from '../helpers.ts'
import { quantReference, quantWeights, soleKernelBody } from './quant_reference.ts'

/** x (R, K) with one block of zeros (scale 0) and one large value, as plain numbers */
async function rows(R: number, K: number): Promise<number[]> {
  Tensor.manualSeed(3)
  const x = Array.from(await Tensor.randn([R, K]).data())
  for (let j = 0; j < 32; j++) x[32 + j] = 0
  x[64 + 5] = 40
  return x
}

function within(y: ArrayLike<number>, ref: { y: number[]; tol: number[] }, what: string): void {
  assert.equal(y.length, ref.y.length, what)
  for (let i = 0; i < ref.y.length; i++)
    assert.ok(
      Math.abs(y[i]! - ref.y[i]!) <= ref.tol[i]!,
      `${what}: y[${i}] = ${y[i]}, want ${ref.y[i]} +- ${ref.tol[i]}`,
    )
}

describe('integer matmul over quantized blocks', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const)
    for (const [R, N] of [
      [8, 48],
      [5, 32],
      [3, 40],
    ] as const)
      test(`${type}, ${R} rows, N ${N}: within the rounding bound of the float64 product`, async () => {
        const K = 256
        const { raw, w } = await quantWeights(type, N, K)
        const x = await rows(R, K)
        const xq = quantizeForLinear(new Tensor(x, { shape: [R, K] }), type, N)
        const y = await quantRowsLinear(xq, R, raw, ggmlTypeByName(type)!, N).data()
        within(y, quantReference(8, x, R, w, N, K), `${type} ${R}x${N}`)
      })

  test('an epilogue: bias (1, N) and a residual (R, N) added in the kernel', async () => {
    const [R, N, K] = [6, 32, 128]
    const { raw, w } = await quantWeights('Q4_0', N, K)
    const x = await rows(R, K)
    Tensor.manualSeed(5)
    const bias = Tensor.randn([1, N])
    const res = Tensor.randn([R, N])
    const [bv, rv] = [Array.from(await bias.data()), Array.from(await res.data())]
    const xq = quantizeForLinear(new Tensor(x, { shape: [R, K] }), 'Q4_0', N)
    const y = await quantRowsLinear(xq, R, raw, ggmlTypeByName('Q4_0')!, N, {
      inputs: [bias, res],
      fn: (v, [b, r]) => v.add(b!).add(r!),
    }).data()
    const ref = quantReference(8, x, R, w, N, K)
    within(
      y,
      { y: ref.y.map((v, i) => v + bv[i % N]! + rv[i]!), tol: ref.tol.map((t) => t + 1e-6) },
      'epilogue',
    )
  })

  test("the quantizer's block sums are the sums of its int8 values", async () => {
    const [R, K] = [3, 128]
    const x = await rows(R, K)
    const xq = quantizeRows(new Tensor(x, { shape: [R, K] }), 'Q8_0', 8, true)
    const q = Array.from(await xq.q.data())
    const sum = Array.from(await xq.sum!.data())
    const want = Array.from({ length: R * (K / 32) }, (_, i) =>
      q.slice(i * 32, (i + 1) * 32).reduce((a, v) => a + v, 0),
    )
    assert.deepEqual(sum, want)
  })

  test('bad input: N not a multiple of 16, x not in the matmul layout, rows not padded', async () => {
    const { raw } = await quantWeights('Q8_0', 40, 64)
    const q8 = ggmlTypeByName('Q8_0')!
    assert.throws(() => quantPanels(raw, q8, 40, 64), /N a multiple of 16 and K of 32, got Q8_0 \(40, 64\)/)
    const { raw: raw32 } = await quantWeights('Q8_0', 32, 64)
    const p = quantPanels(raw32, q8, 32, 64)
    assert.throws(
      () => quantMatmul(quantizeRows(Tensor.zeros([4, 64]), 'Q4_0', 8), p),
      /quantMatmul: expected x quantized to int8 in natural order with block sums/,
    )
    assert.throws(() => quantMatmul(quantizeRows(Tensor.zeros([3, 64]), 'Q8_0', 8, true), p), /multiple of 4/)
    assert.throws(() => quantPanels(raw32, q8, 32, 96), TsgradError)
  })

  for (const type of ['Q8_0', 'Q4_0'] as const)
    test(`C: the ${type} kernel is one 512-bit vpdpbusd per row and quad, 16 columns as lanes`, {
      skip: !hasCPU && 'no C compiler',
    }, async () => {
      const [R, N, K] = [8, 32, 256]
      const { raw } = await quantWeights(type, N, K)
      const xq = quantizeForLinear(Tensor.randn([R, K]), type, N)
      const p = quantPanels(raw, ggmlTypeByName(type)!, N, K)
      Tensor.realize(xq.q, xq.scale, xq.sum!, p.bytes, p.scale)
      const y = quantMatmul(xq, p)
      const body = soleKernelBody(y, 'qmm_')
      // 4 rows per tile: 4 dot products per quad, one weight vector, 4 vector FMAs per block
      assert.equal(body.match(/= tg_cdp\(/g)?.length, 4)
      assert.equal(body.match(/= tg_cld\(/g)?.length, 1)
      assert.equal(body.match(/= tg_cfma\(/g)?.length, 4)
      // before: 64 int32 accumulators updated by scalar byte products, 64 scalar FMAs per block
      assert.doesNotMatch(body, /TG_FMAF/)
      assert.doesNotMatch(body, /int acc\d+ = 0;/)
    })
})
