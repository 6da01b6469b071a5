// reduce ops against numpy reference fixtures (test/fixtures/ops/reduce.json), forward and gradients.
import { describe, test } from 'node:test'
import { groupByOp, loadFixtures, caseSkip, runCase } from '../helpers.ts'

for (const [op, cases] of groupByOp(loadFixtures('reduce'))) {
  describe(op, () => {
    for (const c of cases) test(c.name, { skip: caseSkip(c) }, () => runCase(c))
  })
}
