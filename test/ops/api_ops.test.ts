// PyTorch-style ops and options (pooling ceilMode/adaptive, cumulative ops, activations, losses
// with weight/ignoreIndex/labelSmoothing/posWeight, norms and distances) against PyTorch
// reference fixtures (test/fixtures/ops/api_ops.json, made by scripts/gen_api_fixtures.py):
// forward values and the gradients of sum(out * upstream).
import { describe, test } from 'node:test'
import { groupByOp, loadFixtures, runCase } from '../helpers.ts'

for (const [op, cases] of groupByOp(loadFixtures('api_ops'))) {
  describe(op, () => {
    for (const c of cases) test(c.name, () => runCase(c))
  })
}
