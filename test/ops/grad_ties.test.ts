// Gradients at ties against PyTorch (test/fixtures/grad_ties.json, from scripts/gen_grad_ties.py):
// maximum/minimum split a tie 0.5/0.5, max/min reductions split the upstream evenly among tied
// maxima (torch.amax/amin), clamp with tensor bounds keeps x's gradient at a bound, prod gives a
// lone zero the product of the others and several zeros nothing, and argmax/argmin take the first
// of tied indices. Lengths hit vector loops with remainders, simd reductions and threaded kernels;
// float16/float32/float64.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Tensor } from '../../src/index.ts'
import { allclose, defaultTol, deviceLacks, type FixArray, readData, toTensor } from '../helpers.ts'

interface TieCase {
  name: string
  op: string
  params: Record<string, any>
  inputs: FixArray[]
  upstream?: FixArray
  out: FixArray
  grads?: FixArray[]
}

const here = dirname(fileURLToPath(import.meta.url))
const cases = (
  JSON.parse(readFileSync(join(here, '..', 'fixtures', 'grad_ties.json'), 'utf8')) as { cases: TieCase[] }
).cases

const OPS: Record<string, (p: Record<string, any>, ...xs: Tensor[]) => Tensor> = {
  maximum: (_, a, b) => a!.maximum(b!),
  minimum: (_, a, b) => a!.minimum(b!),
  maximumSelf: (_, x) => x!.maximum(x!),
  minimumSelf: (_, x) => x!.minimum(x!),
  clamp: (_, x, lo, hi) => x!.clamp(lo, hi),
  clampScalar: (p, x) => x!.clamp(p.min, p.max),
  relu: (_, x) => x!.relu(),
  max: (p, x) => x!.max(p.axis, { keepdim: p.keepdim ?? false }),
  min: (p, x) => x!.min(p.axis, { keepdim: p.keepdim ?? false }),
  prod: (p, x) => x!.prod(p.axis),
  prodAll: (_, x) => x!.prod(),
  maxThenMul: (_, x, w) => x!.max(1, { keepdim: true }).mul(w!),
  maxPool2d: (p, x) => x!.maxPool2d(p.kernel, { stride: p.stride }),
  argmax: (p, x) => x!.argmax(p.axis, { keepdim: p.keepdim }),
  argmin: (p, x) => x!.argmin(p.axis, { keepdim: p.keepdim }),
}

async function expectArray(t: Tensor, want: FixArray, label: string): Promise<void> {
  assert.deepEqual([...t.shape], want.shape, `${label}: shape`)
  assert.equal(t.dtype.name, want.dtype, `${label}: dtype`)
  allclose(await readData(t), want.data, { ...defaultTol(want.dtype), label, shape: want.shape })
}

describe('gradients at ties (PyTorch)', () => {
  for (const c of cases)
    test(c.name, { skip: deviceLacks(...c.inputs.map((a) => a.dtype)) }, async () => {
      const fn = OPS[c.op]
      assert.ok(fn, `no op '${c.op}' in the test's table`)
      const xs = c.inputs.map((a) => toTensor(a, { requiresGrad: c.grads !== undefined }))
      const out = fn(c.params, ...xs)
      await expectArray(out, c.out, `${c.name} forward`)
      if (!c.grads) return
      out.mul(toTensor(c.upstream!)).sum().backward()
      for (const [i, g] of c.grads.entries()) {
        const got = xs[i]!.grad
        assert.ok(got, `${c.name}: input ${i} has no gradient`)
        await expectArray(got, g, `${c.name} grad of input ${i}`)
      }
    })
})
