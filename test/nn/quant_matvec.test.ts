// Integer matvecs over Q8_0 / Q4_0 blocks (nn/quant_matvec.ts): values against a float64 sum over
// the dequantized weights within the bound the int8 / int16 rounding of x allows, on every device;
// and on the C device the kernel's shape: int16, a vector loop whose lanes each take one 16-bit pair
// multiply-add; int8, one 256-bit step of byte-quad dot products per block (c_dot_quads.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor, TsgradError } from '../../src/index.ts'
import { ggmlTypeByName } from '../../src/nn/gguf_quant.ts'
import { quantizeRows, quantMatvec } from '../../src/nn/quant_matvec.ts'
import { hasCPU } from '../helpers.ts'
import { quantReference as reference, soleKernelBody, quantWeights as weights } from './quant_reference.ts'

describe('integer matvec over quantized blocks', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const)
    for (const [R, bits] of [
      [1, 16],
      [3, 16],
      [1, 8],
      [3, 8],
    ] as const)
      test(`${type}, ${R} row(s), int${bits} x: within the rounding bound of the float64 product`, async () => {
        const [N, K] = [48, 256]
        const { raw, w } = await weights(type, N, K)
        Tensor.manualSeed(3)
        const xt = Tensor.randn([R, K])
        // one block of zeros (scale 0) and one with a single large value
        const x = Array.from(await xt.data())
        for (let j = 0; j < 32; j++) x[32 + j] = 0
        x[64 + 5] = 40
        const y = Array.from(
          await quantMatvec(
            quantizeRows(new Tensor(x, { shape: [R, K] }), type, bits),
            raw,
            ggmlTypeByName(type)!,
            N,
          ).data(),
        )
        const ref = reference(bits, x, R, w, N, K)
        assert.equal(y.length, R * N)
        for (let i = 0; i < R * N; i++)
          assert.ok(
            Math.abs(y[i]! - ref.y[i]!) <= ref.tol[i]!,
            `y[${i}] = ${y[i]}, want ${ref.y[i]} +- ${ref.tol[i]}`,
          )
      })

  for (const type of ['Q8_0', 'Q4_0'] as const)
    for (const [R, K] of [
      [1, 256],
      [3, 224],
    ] as const)
      test(`${type}, int8 x with its lanes' offsets (${R} row(s), K ${K}): the same bits as the second dot product`, async () => {
        // the offsets replace the C kernel's second dot product per block (8 or 128 x each lane's sum
        // of x) by a read: the same integers summed in the same order, so the same floats on every
        // device (K 224: an odd number of blocks, one block per step; 256: two, c_dot_quad_pairs.ts)
        const N = 48
        const { raw, w } = await weights(type, N, K)
        Tensor.manualSeed(5)
        const x = Array.from(await Tensor.randn([R, K]).data())
        for (let j = 0; j < 32; j++) x[32 + j] = 0
        const xt = new Tensor(x, { shape: [R, K] })
        const plain = quantizeRows(xt, type, 8)
        const lanes = quantizeRows(xt, type, 8, false, true)
        const q = Array.from(await lanes.q.data())
        const offs = Array.from(await lanes.laneOffset!.data())
        assert.deepEqual(q, Array.from(await plain.q.data()))
        assert.equal(offs.length, (R * K) / 4)
        for (let i = 0; i < offs.length; i++)
          assert.equal(
            offs[i],
            (type === 'Q4_0' ? -8 : -128) * (q[4 * i]! + q[4 * i + 1]! + q[4 * i + 2]! + q[4 * i + 3]!) + 0,
            `offset ${i}`,
          )
        const t = ggmlTypeByName(type)!
        const y = Array.from(await quantMatvec(lanes, raw, t, N).data())
        assert.deepEqual(y, Array.from(await quantMatvec(plain, raw, t, N).data()))
        const ref = reference(8, x, R, w, N, K)
        for (let i = 0; i < R * N; i++)
          assert.ok(
            Math.abs(y[i]! - ref.y[i]!) <= ref.tol[i]!,
            `y[${i}] = ${y[i]}, want ${ref.y[i]} +- ${ref.tol[i]}`,
          )
      })

  for (const type of ['Q8_0', 'Q4_0'] as const)
    test(`${type}, int8 x through an RMS norm in the quantizer: as rmsnorm then quantize, within half a step of float64`, async () => {
      // a decode step quantizes the residual row through the layer's norm in one kernel
      const [R, K] = [3, 256]
      const eps = 1e-5
      Tensor.manualSeed(7)
      const x = Array.from(await Tensor.randn([R, K]).mul(3).data())
      for (let j = 0; j < K; j++) x[2 * K + j] = 0 // a zero row: normalized to zeros
      const wv = Array.from(await Tensor.randn([K]).data())
      const xt = new Tensor(x, { shape: [R, K] })
      const wt = new Tensor(wv, { shape: [K] })
      const fused = quantizeRows(xt, type, 8, false, true, { weight: wt, eps })
      const apart = quantizeRows(xt.rmsnorm(-1, eps).mul(wt), type, 8, false, true)
      const q = Array.from(await fused.q.data())
      const scale = Array.from(await fused.scale.data())
      // as the norm's kernel then the quantizer (the sum of squares may add in another order on
      // another device: a scale's last bits, a value at a rounding tie)
      const [q2, scale2] = [Array.from(await apart.q.data()), Array.from(await apart.scale.data())]
      for (let i = 0; i < q.length; i++)
        assert.ok(Math.abs(q[i]! - q2[i]!) <= 1, `q[${i}] ${q[i]} against ${q2[i]}`)
      for (let i = 0; i < scale.length; i++)
        assert.ok(
          Math.abs(scale[i]! - scale2[i]!) <= 1e-6 * Math.abs(scale[i]!),
          `scale[${i}] against ${scale2[i]}`,
        )
      // each lane's offset is -8 (Q4_0) or -128 (Q8_0) x the sum of its four values
      const offs = Array.from(await fused.laneOffset!.data())
      const c = type === 'Q4_0' ? -8 : -128
      for (let i = 0; i < offs.length; i++)
        assert.equal(offs[i], c * (q[4 * i]! + q[4 * i + 1]! + q[4 * i + 2]! + q[4 * i + 3]!) + 0)
      // float64: each block's values at q * scale (in the kernel's lane order, a permutation of the block)
      for (let r = 0; r < R; r++) {
        let ss = 0
        for (let k = 0; k < K; k++) ss += x[r * K + k]! ** 2
        const inv = 1 / Math.sqrt(ss / K + eps)
        for (let b = 0; b < K / 32; b++) {
          const want = Array.from({ length: 32 }, (_, j) => x[r * K + b * 32 + j]! * inv * wv[b * 32 + j]!)
          const s = scale[r * (K / 32) + b]!
          const got = q.slice(r * K + b * 32, r * K + b * 32 + 32).map((v) => v * s)
          const sorted = (a: number[]) => [...a].sort((u, v) => u - v)
          const [g, w] = [sorted(got), sorted(want)]
          for (let j = 0; j < 32; j++)
            assert.ok(
              Math.abs(g[j]! - w[j]!) <= s / 2 + 1e-5 * Math.abs(w[j]!) + 1e-7,
              `row ${r} block ${b}: ${g[j]} against ${w[j]} (scale ${s})`,
            )
        }
      }
    })

  test('bad input: K not a multiple of 32, activations for another type, wrong block bytes', async () => {
    assert.throws(() => quantizeRows(Tensor.zeros([1, 40]), 'Q8_0'), TsgradError)
    assert.throws(() => quantizeRows(Tensor.zeros([1, 64]), 'Q8_0', 4 as never), /bits must be 8 or 16/)
    assert.throws(
      () => quantizeRows(Tensor.zeros([1, 64]), 'Q8_0', 16, false, true),
      /lane offsets are for 8-bit activations, got Q8_0 with 16/,
    )
    assert.throws(
      () =>
        quantizeRows(Tensor.zeros([1, 64]), 'Q8_0', 8, false, false, {
          weight: Tensor.ones([32]),
          eps: 1e-5,
        }),
      /the norm's weight must be \(64\) for x \[1,64\], got \[32\]/,
    )
    const { raw } = await weights('Q8_0', 4, 64)
    const x4 = quantizeRows(Tensor.zeros([1, 64]), 'Q4_0')
    assert.throws(
      () => quantMatvec(x4, raw, ggmlTypeByName('Q8_0')!, 4),
      /quantized for Q4_0, weights are Q8_0/,
    )
    const x8 = quantizeRows(Tensor.zeros([1, 64]), 'Q8_0')
    assert.throws(
      () => quantMatvec(x8, raw, ggmlTypeByName('Q8_0')!, 5),
      /expected Q8_0 blocks uint8 \(340\)/,
    )
  })

  for (const type of ['Q8_0', 'Q4_0'] as const)
    test(`C: the ${type} kernel's lanes are 16-bit pair multiply-adds in a vector loop`, {
      skip: !hasCPU && 'no C compiler',
    }, async () => {
      const [N, K] = [64, 512]
      const { raw } = await weights(type, N, K)
      const xq = quantizeRows(Tensor.randn([1, K]).realize(), type)
      Tensor.realize(xq.q, xq.scale)
      const y = quantMatvec(xq, raw, ggmlTypeByName(type)!, N)
      // before: Q8_0's pairs (stride 2 along the lanes) read as no contiguous reduce, and its
      // outputs were upcast by 16 instead (16 scalar sums per row)
      const body = soleKernelBody(y, 'qmv_')
      assert.match(body, /r\d+ \+= TG_VLEN\) \{/)
      assert.match(body, /tg_madd16\(/)
      assert.match(body, type === 'Q8_0' ? /tg_pld_i8\(/ : /tg_psub16\(tg_pnib\(/)
      assert.match(body, /acc\d+_l\[16\]/)
    })

  for (const type of ['Q8_0', 'Q4_0'] as const)
    test(`C: the ${type} kernel over int8 x is one 512-bit step of byte-quad dot products per two blocks`, {
      skip: !hasCPU && 'no C compiler',
    }, async () => {
      const [N, K] = [64, 512]
      const { raw } = await weights(type, N, K)
      const xq = quantizeRows(Tensor.randn([1, K]).realize(), type, 8)
      // one kernel quantizes x: a block's max once, its 32 values (and the scale) stored by it
      const qk = scheduleFor([xq.q.uop, xq.scale.uop]).items.filter((i) => i.kind === 'kernel')
      assert.equal(qk.length, 1)
      Tensor.realize(xq.q, xq.scale)
      const y = quantMatvec(xq, raw, ggmlTypeByName(type)!, N)
      // before: Q8_0's quads (stride 4 along the lanes) read as no contiguous reduce: its outputs
      // were upcast by 16 and the quads rendered as scalar code
      const body = soleKernelBody(y, 'qmv_')
      assert.match(body, /acc\d+_l\[8\]/)
      // two blocks per step of the block loop (c_dot_quad_pairs.ts), the blocks' float16 scales as
      // 16-bit loads, x's 64 bytes in one load (Q8_0: x, not the weights, though its int8 quads match either way round)
      assert.match(body, /for \(int r\d+_2 = 0; r\d+_2 < 16; r\d+_2 \+= 2\)/)
      assert.match(body, /tgq16i xq_ = tg_q2ld\(qx0_\);/)
      assert.match(body, /_Float16 v\d+ = tg_ldh\(/)
      // Q4_0: nibbles minus 8 (8 x the lanes' sums of x); Q8_0: int8 as (w ^ 0x80) - 128
      assert.match(
        body,
        type === 'Q8_0'
          ? /\^ tg_q2splat\(\(int\)0x80808080u\)\), xq_\) - tg_q2dp/
          : /tg_q2dp\(tg_q2nib\(qw0_, qw1_\), xq_\) - tg_q2dp\(tg_q2splat\(\(int\)0x8080808u\)/,
      )
      assert.doesNotMatch(body, /for \(int r\d+ = 0; r\d+ < 8; r\d+\+\+\)/)
    })

  for (const type of ['Q8_0', 'Q4_0'] as const)
    test(`C: ${type} over int8 x with its lanes' offsets starts the dot products from them, no second one`, {
      skip: !hasCPU && 'no C compiler',
    }, async () => {
      const [N, K] = [64, 512]
      const { raw } = await weights(type, N, K)
      const xq = quantizeRows(Tensor.randn([1, K]).realize(), type, 8, false, true)
      // one kernel quantizes x and writes the offsets
      const qk = scheduleFor([xq.q.uop, xq.scale.uop, xq.laneOffset!.uop]).items.filter(
        (i) => i.kind === 'kernel',
      )
      assert.equal(qk.length, 1)
      Tensor.realize(xq.q, xq.scale, xq.laneOffset!)
      const body = soleKernelBody(quantMatvec(xq, raw, ggmlTypeByName(type)!, N), 'qmv_')
      // before: tg_q2dp(unsigned w, x) - tg_q2dp(8s or 128s, x), the second product the same in every row
      const u8 =
        type === 'Q4_0'
          ? 'tg_q2nib\\(qw0_, qw1_\\)'
          : '\\(tg_q2cat\\(tg_qld\\(qw0_\\), tg_qld\\(qw1_\\)\\) \\^ tg_q2splat\\(\\(int\\)0x80808080u\\)\\)'
      assert.match(body, new RegExp(`tgq16i dq_ = tg_q2dpa\\(tg_q2ld\\(qa0_\\), ${u8}, xq_\\);`))
      assert.doesNotMatch(body, /\) - tg_q2dp/)
    })
})
