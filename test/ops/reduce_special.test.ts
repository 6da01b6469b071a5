// Reductions over special values against numpy (test/fixtures/special_reductions.json, from
// scripts/gen_special_reductions.py): rows of all -inf / +inf, NaN at the first element, in a
// vector chunk, in the middle, in the remainder and last, signed zeros, at lengths that take the
// vector loops, simd reductions and threaded kernels; a fully masked attention row; and empty axes
// (computed here: the results are identities).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Tensor, TsgradError } from '../../src/index.ts'
import { allclose, decodeValue, type FixArray, type FixValue, readData, toTensor } from '../helpers.ts'

interface InputSpec {
  shape: number[]
  dtype: string
  base: 'wave' | 'sign'
  runs: [number, number, number, FixValue][]
  rows: string[]
}
interface SpecialCase {
  name: string
  op: string
  axis?: number
  input?: InputSpec
  out: FixArray
  q?: FixArray
  k?: FixArray
  v?: FixArray
  mask?: FixArray
}

const here = dirname(fileURLToPath(import.meta.url))
const cases = (
  JSON.parse(readFileSync(join(here, '..', 'fixtures', 'special_reductions.json'), 'utf8')) as {
    cases: SpecialCase[]
  }
).cases

/** The generator's input: a base formula with runs [start, count, stride, value] written over it. */
function buildInput(spec: InputSpec): Tensor {
  const n = spec.shape.reduce((a, b) => a * b, 1)
  const flat = Array.from({ length: n }, (_, i) =>
    spec.base === 'wave' ? (((i * 7) % 13) - 6) / 4 : (i * 5) % 7 < 3 ? -1 : 1,
  )
  for (const [start, count, stride, value] of spec.runs)
    for (let j = 0; j < count; j++) flat[start + j * stride] = decodeValue(value)
  return toTensor({ shape: spec.shape, dtype: spec.dtype, data: flat })
}

const OPS: Record<string, (x: Tensor, axis: number) => Tensor> = {
  sum: (x, a) => x.sum(a),
  max: (x, a) => x.max(a),
  min: (x, a) => x.min(a),
  mean: (x, a) => x.mean(a),
  prod: (x, a) => x.prod(a),
  argmax: (x, a) => x.argmax(a),
  argmin: (x, a) => x.argmin(a),
  logsumexp: (x, a) => x.logsumexp(a),
  softmax: (x, a) => x.softmax(a),
  logSoftmax: (x, a) => x.logSoftmax(a),
  cumsum: (x, a) => x.cumsum(a),
}

const tolOf = (dtype: string) =>
  dtype === 'float16' ? { rtol: 5e-3, atol: 5e-3 } : { rtol: 1e-4, atol: 1e-5 }

describe('reductions over special values (numpy)', () => {
  for (const c of cases.filter((c) => c.input))
    test(c.name, async () => {
      const spec = c.input!
      const out = OPS[c.op]!(buildInput(spec), c.axis!)
      assert.deepEqual([...out.shape], c.out.shape, `${c.name}: shape`)
      assert.equal(out.dtype.name, c.out.dtype, `${c.name}: dtype`)
      const got = await readData(out)
      // say which row pattern a mismatch is in
      const rowOf = (i: number): string => (c.out.shape.length === 1 ? (spec.rows[i] ?? '?') : 'see index')
      try {
        allclose(got, c.out.data, { ...tolOf(spec.dtype), label: c.name, shape: c.out.shape })
      } catch (e) {
        const bad = got.findIndex((g, i) => {
          const w = decodeValue(c.out.data[i]!)
          return !(Object.is(g, w) || Math.abs(g - w) <= 1e-2 * Math.abs(w) + 1e-3)
        })
        throw new Error(`${(e as Error).message}\n  first bad element ${bad}: row pattern '${rowOf(bad)}'`)
      }
      // the sign of a max/min over zeros of one sign is that sign (numpy and PyTorch agree)
      if (c.op === 'max' || c.op === 'min')
        spec.rows.forEach((p, i) => {
          if (p === 'all-0' || p === 'all+0')
            assert.ok(
              Object.is(got[i], p === 'all-0' ? -0 : 0),
              `${c.name}: ${c.op} of row '${p}' gave ${Object.is(got[i], -0) ? '-0' : got[i]}`,
            )
        })
    })

  const att = cases.find((c) => c.op === 'sdpa')!
  test(att.name, async () => {
    const [q, k, v] = [att.q!, att.k!, att.v!].map((a) => toTensor(a))
    const mask = toTensor(att.mask!)
    const tol = { rtol: 1e-4, atol: 1e-5, shape: att.out.shape }
    const boolOut = q!.scaledDotProductAttention(k!, v!, { attnMask: mask })
    allclose(await readData(boolOut), att.out.data, { ...tol, label: 'boolean mask' })
    const additive = mask.where(0, Number.NEGATIVE_INFINITY)
    const addOut = q!.scaledDotProductAttention(k!, v!, { attnMask: additive })
    allclose(await readData(addOut), att.out.data, { ...tol, label: 'additive -inf mask' })
  })
})

describe('maximum/minimum propagate NaN from either side (vector loop and remainder)', () => {
  for (const n of [37, 3])
    test(`length ${n}`, async () => {
      const a = Array.from({ length: n }, (_, i) => (i % 5 === 1 ? Number.NaN : i - 10))
      const b = Array.from({ length: n }, (_, i) => (i % 7 === 2 ? Number.NaN : 5 - i))
      const want = (f: (x: number, y: number) => number) =>
        a.map((x, i) => (Number.isNaN(x) || Number.isNaN(b[i]!) ? Number.NaN : f(x, b[i]!)))
      const [ta, tb] = [new Tensor(a), new Tensor(b)]
      allclose(await readData(ta.maximum(tb)), want(Math.max), { label: 'maximum(a, b)' })
      allclose(await readData(tb.maximum(ta)), want(Math.max), { label: 'maximum(b, a)' })
      allclose(await readData(ta.minimum(tb)), want(Math.min), { label: 'minimum(a, b)' })
      allclose(await readData(tb.minimum(ta)), want(Math.min), { label: 'minimum(b, a)' })
    })
})

describe('empty axes', () => {
  // sum 0, prod 1, mean NaN (0/0), logsumexp -inf (PyTorch); max -inf and min +inf are the
  // reductions' identities (numpy and PyTorch raise; tsgrad returns the identity, as tinygrad does)
  const identities: [string, (x: Tensor, a: number) => Tensor, number][] = [
    ['sum', (x, a) => x.sum(a), 0],
    ['prod', (x, a) => x.prod(a), 1],
    ['mean', (x, a) => x.mean(a), Number.NaN],
    ['max', (x, a) => x.max(a), Number.NEGATIVE_INFINITY],
    ['min', (x, a) => x.min(a), Number.POSITIVE_INFINITY],
    ['logsumexp', (x, a) => x.logsumexp(a), Number.NEGATIVE_INFINITY],
  ]
  for (const [name, f, id] of identities)
    test(`${name} over an empty axis is ${id}`, async () => {
      const r = f(Tensor.zeros([3, 0]), 1)
      assert.deepEqual(r.shape, [3])
      allclose(await readData(r), [id, id, id], { label: name })
      const c = f(Tensor.zeros([0, 4]), 0)
      assert.deepEqual(c.shape, [4])
      allclose(await readData(c), [id, id, id, id], { label: `${name} axis 0` })
      const e = f(Tensor.zeros([0, 4]), 1) // nothing to reduce into
      assert.deepEqual(e.shape, [0])
      assert.equal((await readData(e)).length, 0)
    })
  test('softmax, logSoftmax and cumsum of empty tensors are empty', async () => {
    for (const shape of [[0], [3, 0], [0, 3]])
      for (const t of [
        Tensor.zeros(shape).softmax(0),
        Tensor.zeros(shape).logSoftmax(-1),
        Tensor.zeros(shape).cumsum(0),
      ]) {
        assert.deepEqual(t.shape, shape)
        assert.equal((await readData(t)).length, 0)
      }
  })
  test('argmax/argmin over an empty axis is an error naming the op and shape', () => {
    for (const op of ['argmax', 'argmin'] as const) {
      assert.throws(
        () => Tensor.zeros([3, 0])[op](1),
        (e: Error) => {
          assert.ok(e instanceof TsgradError, String(e))
          assert.match(e.message, new RegExp(`${op}.*\\[3, 0\\]`))
          return true
        },
      )
      assert.throws(() => Tensor.zeros([0])[op](), TsgradError)
      assert.deepEqual(Tensor.zeros([0, 3])[op](1).shape, [0]) // the reduced axis is not empty
    }
  })
})
