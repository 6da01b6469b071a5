import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { nn, Tensor } from '../../src/index.ts'
import { expectClose, randArray, values, withTraining } from './helpers.ts'

// ---- independent JS references ---------------------------------------------------------------

type P2 = [number, number]
function conv2dRef(
  x: number[],
  [N, C, H, W]: number[],
  w: number[],
  [O, Cg, KH, KW]: number[],
  b: number[] | undefined,
  [sh, sw]: P2,
  [ph, pw]: P2,
  [dh, dw]: P2,
  groups: number,
): { out: number[]; shape: number[] } {
  const OH = Math.floor((H! + 2 * ph - dh * (KH! - 1) - 1) / sh) + 1
  const OW = Math.floor((W! + 2 * pw - dw * (KW! - 1) - 1) / sw) + 1
  const og = O! / groups
  const out: number[] = []
  for (let n = 0; n < N!; n++)
    for (let o = 0; o < O!; o++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let acc = b ? b[o]! : 0
          const g = Math.floor(o / og)
          for (let c = 0; c < Cg!; c++)
            for (let kh = 0; kh < KH!; kh++)
              for (let kw = 0; kw < KW!; kw++) {
                const ih = oh * sh - ph + kh * dh
                const iw = ow * sw - pw + kw * dw
                if (ih < 0 || iw < 0 || ih >= H! || iw >= W!) continue
                const ci = g * Cg! + c
                acc += x[((n * C! + ci) * H! + ih) * W! + iw]! * w[((o * Cg! + c) * KH! + kh) * KW! + kw]!
              }
          out.push(acc)
        }
  return { out, shape: [N!, O!, OH, OW] }
}

function convTranspose2dRef(
  x: number[],
  [N, Cin, H, W]: number[],
  w: number[],
  [, Cog, KH, KW]: number[],
  b: number[] | undefined,
  [sh, sw]: P2,
  [ph, pw]: P2,
  [oph, opw]: P2,
  [dh, dw]: P2,
  groups: number,
): { out: number[]; shape: number[] } {
  const OH = (H! - 1) * sh - 2 * ph + dh * (KH! - 1) + oph + 1
  const OW = (W! - 1) * sw - 2 * pw + dw * (KW! - 1) + opw + 1
  const Cout = Cog! * groups
  const cig = Cin! / groups
  const out = new Array<number>(N! * Cout * OH * OW).fill(0)
  for (let n = 0; n < N!; n++)
    for (let co = 0; co < Cout; co++)
      for (let i = 0; i < OH * OW; i++) out[(n * Cout + co) * OH * OW + i] = b ? b[co]! : 0
  for (let n = 0; n < N!; n++)
    for (let ci = 0; ci < Cin!; ci++)
      for (let ih = 0; ih < H!; ih++)
        for (let iw = 0; iw < W!; iw++) {
          const g = Math.floor(ci / cig)
          const xv = x[((n * Cin! + ci) * H! + ih) * W! + iw]!
          for (let cl = 0; cl < Cog!; cl++)
            for (let kh = 0; kh < KH!; kh++)
              for (let kw = 0; kw < KW!; kw++) {
                const oh = ih * sh - ph + kh * dh
                const ow = iw * sw - pw + kw * dw
                if (oh < 0 || ow < 0 || oh >= OH || ow >= OW) continue
                const co = g * Cog! + cl
                out[((n * Cout + co) * OH + oh) * OW + ow]! +=
                  xv * w[((ci * Cog! + cl) * KH! + kh) * KW! + kw]!
              }
        }
  return { out, shape: [N!, Cout, OH, OW] }
}

/** Normalize groups of `size` consecutive values (biased variance). */
function normRef(x: number[], size: number, eps: number): number[] {
  const out: number[] = []
  for (let s = 0; s < x.length; s += size) {
    const g = x.slice(s, s + size)
    const mean = g.reduce((a, v) => a + v, 0) / size
    const v = g.reduce((a, u) => a + (u - mean) ** 2, 0) / size
    for (const u of g) out.push((u - mean) / Math.sqrt(v + eps))
  }
  return out
}

// ---- Linear ----------------------------------------------------------------------------------

describe('nn.Linear', () => {
  test('weight [out, in], bias [out], torch init bounds, trainable', async () => {
    Tensor.manualSeed(1)
    const l = new nn.Linear(16, 5)
    assert.deepEqual(l.weight.shape, [5, 16])
    assert.deepEqual(l.bias!.shape, [5])
    assert.equal(l.weight.requiresGrad, true)
    assert.equal(l.bias!.requiresGrad, true)
    const bound = 1 / Math.sqrt(16)
    const w = await values(l.weight)
    const b = await values(l.bias!)
    assert.ok(
      w.every((v) => Math.abs(v) <= bound),
      'weights within U(-1/sqrt(in), 1/sqrt(in))',
    )
    assert.ok(
      b.every((v) => Math.abs(v) <= bound),
      'bias within U(-1/sqrt(in), 1/sqrt(in))',
    )
    assert.ok(new Set(w).size > 70, 'weights are random, not constant')
    assert.ok(Math.max(...w) > bound / 2 && Math.min(...w) < -bound / 2, 'weights spread over the range')
    const nb = new nn.Linear(3, 2, { bias: false })
    assert.equal(nb.bias, undefined)
  })

  test('forward with known weights: x @ W.T + b', async () => {
    const l = new nn.Linear(2, 3)
    l.weight = new Tensor([
      [1, 2],
      [3, 4],
      [5, 6],
    ])
    l.bias = new Tensor([0.5, -1, 2])
    const y = l.call(
      new Tensor([
        [1, 1],
        [2, -1],
      ]),
    )
    assert.deepEqual(y.shape, [2, 3])
    await expectClose(y, [3.5, 6, 13, 0.5, 1, 6])
    // batched 3-d input, no bias
    const nb = new nn.Linear(2, 3, { bias: false })
    nb.weight = l.weight
    const x3 = new Tensor([1, 1, 2, -1, 0, 1, 1, 0], { shape: [2, 2, 2] })
    const y3 = nb.call(x3)
    assert.deepEqual(y3.shape, [2, 2, 3])
    await expectClose(y3, [3, 7, 11, 0, 2, 4, 2, 4, 6, 1, 3, 5])
  })

  test('wrong input size throws naming the layer', () => {
    const l = new nn.Linear(4, 2)
    assert.throws(() => l.call(Tensor.zeros([3, 5])), /Linear.*4.*\[3,5\]/)
  })

  test('gradients reach weight and bias', async () => {
    const l = new nn.Linear(2, 1)
    const x = new Tensor([
      [1, 2],
      [3, 4],
    ])
    l.call(x).sum().backward()
    await expectClose(l.weight.grad!, [4, 6])
    await expectClose(l.bias!.grad!, [2])
  })
})

// ---- Conv2d / ConvTranspose2d ----------------------------------------------------------------

describe('nn.Conv2d', () => {
  test('weight shape and init bound 1/sqrt(fanIn)', async () => {
    const c = new nn.Conv2d(4, 6, 3, { groups: 2 })
    assert.deepEqual(c.weight.shape, [6, 2, 3, 3])
    assert.deepEqual(c.bias!.shape, [6])
    const bound = 1 / Math.sqrt(2 * 9)
    assert.ok((await values(c.weight)).every((v) => Math.abs(v) <= bound))
    assert.ok((await values(c.bias!)).every((v) => Math.abs(v) <= bound))
    assert.equal(new nn.Conv2d(1, 1, [2, 3], { bias: false }).bias, undefined)
    assert.deepEqual(new nn.Conv2d(1, 2, [2, 3]).weight.shape, [2, 1, 2, 3])
    assert.throws(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /divisible by groups/)
  })

  const cases: { name: string; cin: number; cout: number; k: P2; s: P2; p: P2; d: P2; g: number; hw: P2 }[] =
    [
      { name: 'plain 3x3', cin: 2, cout: 3, k: [3, 3], s: [1, 1], p: [0, 0], d: [1, 1], g: 1, hw: [5, 6] },
      {
        name: 'stride 2, padding 1',
        cin: 2,
        cout: 4,
        k: [3, 3],
        s: [2, 2],
        p: [1, 1],
        d: [1, 1],
        g: 1,
        hw: [7, 7],
      },
      {
        name: 'dilation 2, 2x3 kernel',
        cin: 1,
        cout: 2,
        k: [2, 3],
        s: [1, 2],
        p: [1, 0],
        d: [2, 1],
        g: 1,
        hw: [6, 7],
      },
      { name: 'groups 2', cin: 4, cout: 6, k: [3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 2, hw: [4, 5] },
      // output width 16 and 8 channels: the direct NCHW path (padded copy, CHAINed window)
      {
        name: 'direct path',
        cin: 8,
        cout: 20,
        k: [3, 3],
        s: [1, 1],
        p: [1, 1],
        d: [1, 1],
        g: 1,
        hw: [5, 16],
      },
      {
        name: 'direct path, unpadded',
        cin: 9,
        cout: 3,
        k: [2, 3],
        s: [1, 1],
        p: [0, 0],
        d: [1, 1],
        g: 1,
        hw: [4, 26],
      },
    ]
  for (const c of cases) {
    test(`forward vs reference: ${c.name}`, async () => {
      const conv = new nn.Conv2d(c.cin, c.cout, c.k, {
        stride: c.s,
        padding: c.p,
        dilation: c.d,
        groups: c.g,
      })
      const xs = [2, c.cin, c.hw[0], c.hw[1]]
      const x = randArray(
        xs.reduce((a, b) => a * b),
        7,
      )
      const w = await values(conv.weight)
      const b = await values(conv.bias!)
      const ref = conv2dRef(x, xs, w, conv.weight.shape, b, c.s, c.p, c.d, c.g)
      const y = conv.call(new Tensor(x, { shape: xs }))
      assert.deepEqual(y.shape, ref.shape)
      await expectClose(y, ref.out, 1e-4)
    })
  }

  test('wrong channel count throws', () => {
    const conv = new nn.Conv2d(3, 2, 3)
    assert.throws(() => conv.call(Tensor.zeros([1, 2, 5, 5])), /Conv2d/)
  })
})

describe('nn.ConvTranspose2d', () => {
  test('weight [in, out/groups, kh, kw] and output shape', () => {
    const c = new nn.ConvTranspose2d(4, 6, 3, { groups: 2, stride: 2, padding: 1, outputPadding: 1 })
    assert.deepEqual(c.weight.shape, [4, 3, 3, 3])
    assert.deepEqual(c.call(Tensor.zeros([1, 4, 4, 4])).shape, [1, 6, 8, 8])
  })

  const cases: { name: string; cin: number; cout: number; k: P2; s: P2; p: P2; op: P2; d: P2; g: number }[] =
    [
      { name: 'stride 1', cin: 2, cout: 3, k: [3, 3], s: [1, 1], p: [0, 0], op: [0, 0], d: [1, 1], g: 1 },
      {
        name: 'stride 2, padding 1, outputPadding 1',
        cin: 2,
        cout: 2,
        k: [3, 3],
        s: [2, 2],
        p: [1, 1],
        op: [1, 1],
        d: [1, 1],
        g: 1,
      },
      {
        name: 'groups 2, 2x3 kernel, dilation',
        cin: 4,
        cout: 2,
        k: [2, 3],
        s: [2, 1],
        p: [0, 1],
        op: [1, 0],
        d: [1, 2],
        g: 2,
      },
    ]
  for (const c of cases) {
    test(`forward vs reference: ${c.name}`, async () => {
      const conv = new nn.ConvTranspose2d(c.cin, c.cout, c.k, {
        stride: c.s,
        padding: c.p,
        outputPadding: c.op,
        dilation: c.d,
        groups: c.g,
      })
      const xs = [2, c.cin, 3, 4]
      const x = randArray(
        xs.reduce((a, b) => a * b),
        11,
      )
      const w = await values(conv.weight)
      const b = await values(conv.bias!)
      const ref = convTranspose2dRef(x, xs, w, conv.weight.shape, b, c.s, c.p, c.op, c.d, c.g)
      const y = conv.call(new Tensor(x, { shape: xs }))
      assert.deepEqual(y.shape, ref.shape)
      await expectClose(y, ref.out, 1e-4)
    })
  }
})

// ---- BatchNorm -------------------------------------------------------------------------------

describe('nn.BatchNorm', () => {
  const x2 = [1, 2, 2, 4, 3, 6, 4, 8] // [4, 2]: channel 0 = 1,2,3,4; channel 1 = 2,4,6,8
  const eps = 1e-5

  test('parameters, buffers and torch state-dict names', () => {
    const bn = new nn.BatchNorm(3)
    assert.deepEqual(Object.keys(nn.getStateDict(bn)), [
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ])
    const ps = nn.getParameters(bn)
    assert.equal(ps.length, 2)
    assert.equal(ps[0], bn.weight)
    assert.equal(ps[1], bn.bias)
    assert.deepEqual(bn.numBatchesTracked!.shape, [])
    const plain = new nn.BatchNorm(3, { affine: false, trackRunningStats: false })
    assert.deepEqual(Object.keys(nn.getStateDict(plain)), [])
  })

  test('training: batch statistics, running stats updated (unbiased var), then eval uses them', async () => {
    const bn = new nn.BatchNorm(2)
    const x = new Tensor(x2, { shape: [4, 2] })
    const y = await withTraining(Tensor, true, () => bn.call(x))
    // channel 0: mean 2.5, biased var 1.25; channel 1: mean 5, biased var 5
    const expTrain = [1, 2, 3, 4].flatMap((_, i) => [
      ([1, 2, 3, 4][i]! - 2.5) / Math.sqrt(1.25 + eps),
      ([2, 4, 6, 8][i]! - 5) / Math.sqrt(5 + eps),
    ])
    await expectClose(y, expTrain, 1e-5, 'train output')
    // running_mean = 0.9 * 0 + 0.1 * mean; running_var = 0.9 * 1 + 0.1 * unbiased var (5/3, 20/3)
    await expectClose(bn.runningMean!, [0.25, 0.5], 1e-6, 'running_mean')
    await expectClose(bn.runningVar!, [0.9 + 0.1 * (5 / 3), 0.9 + 0.1 * (20 / 3)], 1e-6, 'running_var')
    assert.deepEqual(Array.from(await bn.numBatchesTracked!.data(), Number), [1])

    // a second training step without any optimizer: the update chains correctly
    await withTraining(Tensor, true, () => bn.call(x).realize())
    const rm = [0.9 * 0.25 + 0.25, 0.9 * 0.5 + 0.5]
    const rv = [0.9 * (0.9 + 0.1 * (5 / 3)) + 0.1 * (5 / 3), 0.9 * (0.9 + 0.1 * (20 / 3)) + 0.1 * (20 / 3)]
    await expectClose(bn.runningMean!, rm, 1e-6, 'running_mean after 2 steps')
    await expectClose(bn.runningVar!, rv, 1e-6, 'running_var after 2 steps')
    assert.deepEqual(Array.from(await bn.numBatchesTracked!.data(), Number), [2])

    // eval: running statistics, affine weight/bias
    bn.weight = new Tensor([2, -1])
    bn.bias = new Tensor([0.5, 1])
    const ye = bn.call(x)
    const exp = x2.map((v, i) => {
      const c = i % 2
      return ((v - rm[c]!) / Math.sqrt(rv[c]! + eps)) * [2, -1][c]! + [0.5, 1][c]!
    })
    await expectClose(ye, exp, 1e-5, 'eval output')
    // eval does not touch running stats
    await expectClose(bn.runningMean!, rm, 1e-6)
  })

  test('NCHW training vs reference, momentum and eps options', async () => {
    const shape = [3, 2, 2, 3]
    const xs = randArray(36, 5, 3)
    const bn = new nn.BatchNorm(2, { eps: 1e-3, momentum: 0.3 })
    const y = await withTraining(Tensor, true, () => bn.call(new Tensor(xs, { shape })))
    assert.deepEqual(y.shape, shape)
    // reference: gather each channel, normalize
    const exp = new Array<number>(36)
    const means: number[] = []
    const uvars: number[] = []
    for (let c = 0; c < 2; c++) {
      const idx: number[] = []
      for (let n = 0; n < 3; n++) for (let i = 0; i < 6; i++) idx.push(n * 12 + c * 6 + i)
      const vals = idx.map((i) => xs[i]!)
      const normed = normRef(vals, vals.length, 1e-3)
      idx.forEach((i, k) => {
        exp[i] = normed[k]!
      })
      const m = vals.reduce((a, b) => a + b, 0) / vals.length
      means.push(m)
      uvars.push(vals.reduce((a, b) => a + (b - m) ** 2, 0) / (vals.length - 1))
    }
    await expectClose(y, exp, 1e-4)
    await expectClose(
      bn.runningMean!,
      means.map((m) => 0.3 * m),
      1e-5,
    )
    await expectClose(
      bn.runningVar!,
      uvars.map((v) => 0.7 + 0.3 * v),
      1e-5,
    )
  })

  test('momentum null: cumulative moving average', async () => {
    const bn = new nn.BatchNorm(1, { momentum: null })
    await withTraining(Tensor, true, async () => {
      bn.call(new Tensor([[1], [3]])).realize() // mean 2, unbiased var 2
      bn.call(new Tensor([[4], [8]])).realize() // mean 6, unbiased var 8
    })
    await expectClose(bn.runningMean!, [4])
    await expectClose(bn.runningVar!, [5])
  })

  test('trackRunningStats false uses batch statistics in eval too', async () => {
    const bn = new nn.BatchNorm(2, { trackRunningStats: false })
    assert.equal(bn.runningMean, undefined)
    const y = bn.call(new Tensor(x2, { shape: [4, 2] }))
    const c0 = normRef([1, 2, 3, 4], 4, eps)
    const c1 = normRef([2, 4, 6, 8], 4, eps)
    await expectClose(
      y,
      c0.flatMap((v, i) => [v, c1[i]!]),
      1e-5,
    )
  })

  test('gradients of weight and bias in training', async () => {
    const bn = new nn.BatchNorm(2)
    const x = new Tensor(x2, { shape: [4, 2] })
    await withTraining(Tensor, true, () => {
      bn.call(x)
        .mul(new Tensor([[1, 2]]))
        .sum()
        .backward()
    })
    // d/dbias = sum over batch of upstream grad; d/dweight = sum(xhat * upstream) = 0 (sum xhat = 0)
    await expectClose(bn.bias!.grad!, [4, 8])
    await expectClose(bn.weight!.grad!, [0, 0], 1e-5)
  })
})

// ---- LayerNorm / RMSNorm / GroupNorm ---------------------------------------------------------

describe('nn.LayerNorm', () => {
  test('normalizes the last axis, hand-computed values', async () => {
    const ln = new nn.LayerNorm(3)
    assert.deepEqual(Object.keys(nn.getStateDict(ln)), ['weight', 'bias'])
    const y = ln.call(
      new Tensor([
        [1, 2, 3],
        [4, 4, 4],
      ]),
    )
    const s = Math.sqrt(2 / 3 + 1e-5)
    await expectClose(y, [-1 / s, 0, 1 / s, 0, 0, 0])
  })

  test('multi-axis normalizedShape with affine vs reference', async () => {
    const ln = new nn.LayerNorm([2, 3], { eps: 1e-3 })
    ln.weight = new Tensor([
      [1, 2, 3],
      [4, 5, 6],
    ])
    ln.bias = new Tensor([
      [0, 0, 0],
      [1, 1, 1],
    ])
    const xs = randArray(24, 3)
    const y = ln.call(new Tensor(xs, { shape: [4, 2, 3] }))
    const n = normRef(xs, 6, 1e-3)
    await expectClose(
      y,
      n.map((v, i) => v * (1 + (i % 6)) + (i % 6 >= 3 ? 1 : 0)),
      1e-4,
    )
    const noAffine = new nn.LayerNorm(3, { elementwiseAffine: false })
    assert.deepEqual(nn.getParameters(noAffine), [])
  })
})

describe('nn.RMSNorm', () => {
  test('x / sqrt(mean(x^2) + eps) * weight', async () => {
    const r = new nn.RMSNorm(3)
    r.weight = new Tensor([1, 2, 0.5])
    const y = r.call(
      new Tensor([
        [1, 2, 3],
        [0, 0, 4],
      ]),
    )
    const a = Math.sqrt(14 / 3 + 1e-6)
    const b = Math.sqrt(16 / 3 + 1e-6)
    await expectClose(y, [1 / a, 4 / a, 1.5 / a, 0, 0, 2 / b])
  })
})

describe('nn.GroupNorm', () => {
  test('groups over (C/G, H, W) vs reference, per-channel affine', async () => {
    const gn = new nn.GroupNorm(2, 4)
    gn.weight = new Tensor([1, 2, 3, 4])
    gn.bias = new Tensor([0, 1, 0, -1])
    const shape = [2, 4, 3, 3]
    const xs = randArray(72, 9, 2)
    const y = gn.call(new Tensor(xs, { shape }))
    assert.deepEqual(y.shape, shape)
    const n = normRef(xs, 18, 1e-5)
    const exp = n.map((v, i) => {
      const c = Math.floor(i / 9) % 4
      return v * [1, 2, 3, 4][c]! + [0, 1, 0, -1][c]!
    })
    await expectClose(y, exp, 1e-4)
    assert.throws(() => new nn.GroupNorm(3, 4), /divisible/)
  })
})

// ---- Embedding -------------------------------------------------------------------------------

describe('nn.Embedding', () => {
  test('looks up rows; gradient counts occurrences', async () => {
    const e = new nn.Embedding(4, 2)
    assert.deepEqual(e.weight.shape, [4, 2])
    const w = [0, 1, 10, 11, 20, 21, 30, 31]
    e.weight = new Tensor(w, { shape: [4, 2], dtype: 'float32', requiresGrad: true })
    const idx = new Tensor(
      [
        [0, 2],
        [3, 3],
      ],
      { dtype: 'int32' },
    )
    const y = e.call(idx)
    assert.deepEqual(y.shape, [2, 2, 2])
    await expectClose(y, [0, 1, 20, 21, 30, 31, 30, 31])
    y.sum().backward()
    await expectClose(e.weight.grad!, [1, 1, 0, 0, 1, 1, 2, 2])
  })

  test('default init is N(0, 1)', async () => {
    Tensor.manualSeed(3)
    const v = await values(new nn.Embedding(100, 20).weight)
    const mean = v.reduce((a, b) => a + b, 0) / v.length
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length)
    assert.ok(Math.abs(mean) < 0.1, `mean ${mean}`)
    assert.ok(Math.abs(sd - 1) < 0.1, `std ${sd}`)
  })
})
