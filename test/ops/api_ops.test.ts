// PyTorch-style ops and options (pooling ceilMode/adaptive, cumulative ops, activations, losses
// with weight/ignoreIndex/labelSmoothing/posWeight, norms and distances) against PyTorch
// reference fixtures (test/fixtures/ops/api_ops.json, made by scripts/gen_api_fixtures.py):
// forward values and the gradients of sum(out * upstream).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import {
  type F64Input,
  gradcheck,
  groupByOp,
  loadFixtures,
  makeRng,
  randInput,
  readData,
  caseSkip,
  deviceLacks,
  runCase,
} from '../helpers.ts'

for (const [op, cases] of groupByOp(loadFixtures('api_ops'))) {
  describe(op, () => {
    for (const c of cases) test(c.name, { skip: caseSkip(c) }, () => runCase(c))
  })
}

// float64 finite differences through tsgrad itself (test/helpers.ts gradcheck): the ops with a
// custom or composite backward, at shapes the fixtures do not cover
describe('gradcheck (float64 finite differences)', { skip: deviceLacks('float64') }, () => {
  const rng = makeRng(915)
  const U = (shape: number[], lo = -1, hi = 1) => randInput(rng, shape, lo, hi, { margin: 0.05 })
  const cases: [string, (...xs: Tensor[]) => Tensor, F64Input[]][] = [
    ['expm1', (x) => x.expm1(), [U([7], -3, 3)]],
    ['log1p', (x) => x.log1p(), [U([7], -0.9, 3)]],
    ['sinh', (x) => x.sinh(), [U([5], -2, 2)]],
    ['adaptiveAvgPool2d 5x7 -> 3x4', (x) => x.adaptiveAvgPool2d([3, 4]), [U([1, 2, 5, 7])]],
    [
      'avgPool2d ceil, padding, countIncludePad false',
      (x) => x.avgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
      [U([1, 1, 6, 7])],
    ],
    ['cumprod', (x) => x.cumprod(1), [U([2, 5], 0.3, 1.5)]],
    ['logcumsumexp', (x) => x.logcumsumexp(0), [U([4, 3], -2, 2)]],
    [
      'crossEntropy weight + ignoreIndex + smoothing',
      (x, w) =>
        x.crossEntropy(new Tensor(Int32Array.from([1, -100, 2, 0])), { weight: w, labelSmoothing: 0.2 }),
      [U([4, 3]), U([3], 0.5, 2)],
    ],
    [
      'binaryCrossentropyLogits posWeight',
      (x, p) => x.binaryCrossentropyLogits(new Tensor(Float64Array.from([1, 0, 0.5])), { posWeight: p }),
      [U([3], -2, 2), U([3], 0.5, 2)],
    ],
    ['gaussianNllLoss', (x, t, v) => x.gaussianNllLoss(t, v), [U([2, 3]), U([2, 3]), U([2, 3], 0.2, 2)]],
    ['normalize', (x) => x.normalize(), [U([3, 4])]],
  ]
  for (const [name, fn, inputs] of cases)
    test(name, () => gradcheck(fn, inputs, { label: name, rtol: 1e-5, atol: 1e-7 }))
})

test('norm(Infinity) and norm(-Infinity) are the largest and smallest |x| (JSON cannot hold the order)', async () => {
  const vals = [0.5, -3, 2, -0.25, 1.5, -1]
  const x = new Tensor(Float32Array.from(vals), { shape: [2, 3] })
  const abs = vals.map(Math.abs)
  assert.deepEqual(await readData(x.norm(Number.POSITIVE_INFINITY)), [Math.max(...abs)])
  assert.deepEqual(await readData(x.norm(Number.NEGATIVE_INFINITY, 1)), [
    Math.min(...abs.slice(0, 3)),
    Math.min(...abs.slice(3)),
  ])
})
