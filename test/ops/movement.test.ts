// movement ops against numpy reference fixtures (test/fixtures/ops/movement.json), forward and gradients.
import { describe, test } from 'node:test'
import { groupByOp, loadFixtures, caseSkip, runCase } from '../helpers.ts'

for (const [op, cases] of groupByOp(loadFixtures('movement'))) {
  describe(op, () => {
    for (const c of cases) test(c.name, { skip: caseSkip(c) }, () => runCase(c))
  })
}
