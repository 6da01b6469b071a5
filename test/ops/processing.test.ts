// Processing ops (matmul, conv, pools, norms, attention, losses) against numpy reference fixtures
// (test/fixtures/ops/processing.json), forward and gradients; plus dropout in training mode.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { groupByOp, loadFixtures, readData, caseSkip, runCase } from '../helpers.ts'

for (const [op, cases] of groupByOp(loadFixtures('processing'))) {
  describe(op, () => {
    for (const c of cases) test(c.name, { skip: caseSkip(c) }, () => runCase(c))
  })
}

describe('dropout (training)', () => {
  test('dropout/training zeroes about p and scales the rest by 1/(1-p)', async () => {
    const prev = Tensor.training
    Tensor.training = true
    try {
      Tensor.manualSeed(3)
      const x = Tensor.ones([4000], { requiresGrad: true })
      const y = x.dropout(0.25)
      const v = await readData(y)
      const zeros = v.filter((a) => a === 0).length
      assert.ok(
        v.every((a) => a === 0 || Math.abs(a - 1 / 0.75) < 1e-6),
        'values are 0 or 1/(1-p)',
      )
      assert.ok(zeros > 4000 * 0.2 && zeros < 4000 * 0.3, `fraction of zeros ${zeros / 4000} not near 0.25`)
      y.sum().backward()
      const g = await readData(x.grad!)
      for (let i = 0; i < v.length; i++) assert.equal(g[i], v[i], `grad equals the mask scale at ${i}`)
    } finally {
      Tensor.training = prev
    }
  })
  test('dropout/training p=0 is identity', async () => {
    const prev = Tensor.training
    Tensor.training = true
    try {
      const x = Tensor.arange(10).float()
      assert.deepEqual(await readData(x.dropout(0)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    } finally {
      Tensor.training = prev
    }
  })
  test('dropout/eval is identity by default (Tensor.training false)', async () => {
    assert.equal(Tensor.training, false)
    const x = Tensor.arange(5).float()
    assert.deepEqual(await readData(x.dropout(0.9)), [0, 1, 2, 3, 4])
  })
})
