// Row reduces fused into their consumer (softmax, logSoftmax, layernorm in one kernel) and the
// `reuse_row_values` pass (exp stored from the reduce loop, read back by the output loop): values
// against a float64 JS reference at shapes that exercise threaded rows, a single threaded row and
// batch axes, and the pass's effect on the kernel AST.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { applyOpts } from '../../src/codegen/opts.ts'
import { reuseRowValues } from '../../src/codegen/reuse.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { assertClose, randArray, values } from '../nn/helpers.ts'

/** Apply f to each row of length n of a flat array. */
function rows(x: number[], n: number, f: (row: number[]) => number[]): number[] {
  const out: number[] = []
  for (let i = 0; i < x.length; i += n) out.push(...f(x.slice(i, i + n)))
  return out
}
const softmaxRef = (r: number[]) => {
  const m = Math.max(...r)
  const e = r.map((v) => Math.exp(v - m))
  const s = e.reduce((a, b) => a + b, 0)
  return e.map((v) => v / s)
}
const logSoftmaxRef = (r: number[]) => {
  const m = Math.max(...r)
  const l = Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0))
  return r.map((v) => v - m - l)
}
const layernormRef = (r: number[]) => {
  const mean = r.reduce((a, b) => a + b, 0) / r.length
  const v = r.reduce((a, b) => a + (b - mean) ** 2, 0) / r.length
  return r.map((x) => (x - mean) / Math.sqrt(v + 1e-5))
}

describe('row reduces fused into one kernel', () => {
  for (const shape of [[37, 129], [2, 3, 50], [40000], [3, 70000]]) {
    const n = shape[shape.length - 1]!
    const data = randArray(
      shape.reduce((a, b) => a * b, 1),
      7,
      4,
    )
    const x = new Tensor(data, { shape })
    test(`softmax ${JSON.stringify(shape)}`, async () =>
      assertClose(await values(x.softmax(-1)), rows(data, n, softmaxRef), 2e-6))
    test(`logSoftmax ${JSON.stringify(shape)}`, async () =>
      assertClose(await values(x.logSoftmax(-1)), rows(data, n, logSoftmaxRef), 2e-5))
    test(`layernorm ${JSON.stringify(shape)}`, async () =>
      assertClose(await values(x.layernorm(-1)), rows(data, n, layernormRef), 1e-4))
  }
  test('softmax of a computed input, then used twice', async () => {
    const data = randArray(33 * 65, 8, 3)
    const x = new Tensor(data, { shape: [33, 65] })
    const y = x.mul(2).softmax(-1)
    const ref = rows(
      data.map((v) => v * 2),
      65,
      softmaxRef,
    )
    assertClose(
      await values(y.add(y)),
      ref.map((v) => 2 * v),
      2e-6,
    )
  })
})

describe('reuse_row_values', () => {
  const softmaxAst = () => {
    const x = Tensor.rand([64, 128]).realize()
    const items = scheduleFor([x.softmax(-1).uop]).items
    assert.equal(items.length, 1)
    const it = items[0]!
    assert.ok(it.kind === 'kernel')
    return it.ast
  }
  const count = (ast: ReturnType<typeof softmaxAst>, op: string) =>
    toposort([ast]).filter((u) => u.op === op).length
  test('softmax: exp once per element, stored from the reduce loop and read back', () => {
    const ast = softmaxAst()
    assert.equal(count(ast, Ops.EXP), 2)
    const out = reuseRowValues(applyOpts(ast, [{ op: 'THREAD', axis: 0, arg: 0 }]))
    assert.equal(count(out, Ops.EXP), 1)
    assert.equal(count(out, Ops.STORE), 2)
    assert.equal(count(out, Ops.AFTER), 1)
  })
  test('not applied when the row axis is split by an opt or is the thread axis', () => {
    const ast = softmaxAst()
    for (const opts of [
      [{ op: 'UPCAST', axis: 1, arg: 4 }],
      [
        { op: 'SWAP', axis: 0, arg: 1 },
        { op: 'THREAD', axis: 0, arg: 0 },
      ],
    ] as const) {
      const o = applyOpts(ast, opts)
      assert.equal(reuseRowValues(o), o)
    }
  })
})
