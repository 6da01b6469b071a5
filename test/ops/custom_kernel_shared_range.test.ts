// Custom kernels whose reduces share a reduce RANGE: a RANGE is one loop, so a reduce over (b, l)
// and one over b run in the same b loop (the l loop nested inside it). Before the fix each reduce
// built its own b loop and nodes over b landed in only one of them (wrong values, or C/JS that
// read a variable before its loop defined it).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor, TsgradError } from '../../src/index.ts'

/** out[r, n] = sum_{b,l} w[n,b,l] x[r,b,l] + sum_b corr[n,b] (times s[r,b] when `corrReadsRow`) */
const twoReduces = (
  R: number,
  N: number,
  NB: number,
  L: number,
  corrFirst: boolean,
  corrReadsRow: boolean,
) => {
  const w = Tensor.randn([N, NB, L]).realize()
  const x = Tensor.randn([R, NB, L]).realize()
  const corr = Tensor.randn([N, NB]).realize()
  const s = Tensor.randn([R, NB]).realize()
  const [y] = Tensor.customKernel({
    name: 'two_reduces',
    inputs: [w, x, corr, s],
    outputs: [{ shape: [R, N] }],
    body: (c) => {
      const [wb, xb, cb, sb] = [c.inputs[0]!, c.inputs[1]!, c.inputs[2]!, c.inputs[3]!]
      const out = c.outputs[0]!
      const n = c.range(N)
      const r = c.range(R)
      const b = c.range(NB, 'reduce')
      const l = c.range(L, 'reduce')
      const cv = cb.load(cb.at(n, b))
      const correction = () => c.reduce('ADD', corrReadsRow ? cv.mul(sb.load(sb.at(r, b))) : cv, b)
      const main = () => c.reduce('ADD', wb.load(wb.at(n, b, l)).mul(xb.load(xb.at(r, b, l))), b, l)
      const [first, second] = corrFirst ? [correction(), main()] : [main(), correction()]
      return c.sink(out.store(out.at(r, n), first.add(second)))
    },
  })
  return { y: y!, w, x, corr, s }
}

const reference = async (
  R: number,
  N: number,
  NB: number,
  L: number,
  corrReadsRow: boolean,
  t: ReturnType<typeof twoReduces>,
) => {
  const [W, X, C, S] = await Promise.all([t.w.data(), t.x.data(), t.corr.data(), t.s.data()])
  const out = new Float64Array(R * N)
  for (let r = 0; r < R; r++)
    for (let n = 0; n < N; n++) {
      let acc = 0
      for (let b = 0; b < NB; b++) {
        acc += C[n * NB + b]! * (corrReadsRow ? S[r * NB + b]! : 1)
        for (let l = 0; l < L; l++) acc += W[(n * NB + b) * L + l]! * X[(r * NB + b) * L + l]!
      }
      out[r * N + n] = acc
    }
  return out
}

/** Runs `f` without BEAM: a search may unroll the shared range away, and then nothing is wrong. */
const withoutBeam = async (f: () => Promise<void>) => {
  const prev = process.env.BEAM
  delete process.env.BEAM
  try {
    await f()
  } finally {
    if (prev !== undefined) process.env.BEAM = prev
  }
}

describe('custom kernel: reduces sharing a reduce range', () => {
  for (const [R, N, NB, L] of [
    [1, 8, 4, 8],
    [2, 8, 4, 8],
    [3, 5, 4, 8],
    [2, 3, 1, 8],
  ] as const)
    for (const corrFirst of [false, true])
      for (const corrReadsRow of [false, true])
        test(`R=${R} N=${N} NB=${NB} L=${L}${corrFirst ? ', correction first' : ''}${corrReadsRow ? ', correction reads the row' : ''}`, async () => {
          const t = twoReduces(R, N, NB, L, corrFirst, corrReadsRow)
          const got = await t.y.data()
          const want = await reference(R, N, NB, L, corrReadsRow, t)
          for (let i = 0; i < want.length; i++)
            assert.ok(
              Math.abs(got[i]! - want[i]!) <= 1e-4 * (1 + Math.abs(want[i]!)),
              `at ${i}: ${got[i]} vs ${want[i]}`,
            )
        })

  test('a shared range that is not a common outer loop is a clear error', async () => {
    const x = Tensor.randn([4, 8]).realize()
    const y = Tensor.customKernel({
      name: 'bad_share',
      inputs: [x],
      outputs: [{ shape: [1] }],
      body: (c) => {
        const a = c.inputs[0]!
        const b = c.range(4, 'reduce')
        const l = c.range(8, 'reduce')
        const whole = c.reduce('ADD', a.load(a.at(b, l)), l, b)
        const col = c.reduce('ADD', a.load(a.at(b, 0)), b)
        return c.sink(c.outputs[0]!.store(0, whole.add(col)))
      },
    })[0]!
    await withoutBeam(() =>
      assert.rejects(
        () => y.data(),
        (e: Error) => e instanceof TsgradError && /shared by reduces over/.test(e.message),
      ),
    )
  })

  test('a reduce reading the result of a reduce in its own loop is a clear error', async () => {
    const x = Tensor.randn([6]).realize()
    const y = Tensor.customKernel({
      name: 'bad_read',
      inputs: [x],
      outputs: [{ shape: [1] }],
      body: (c) => {
        const a = c.inputs[0]!
        const j = c.range(6, 'reduce')
        const m = c.reduce('MAX', a.load(j), j)
        const s = c.reduce('ADD', c.exp(a.load(j).sub(m)), j)
        return c.sink(c.outputs[0]!.store(0, s))
      },
    })[0]!
    await withoutBeam(() =>
      assert.rejects(
        () => y.data(),
        (e: Error) => e instanceof TsgradError && /shares its loop/.test(e.message),
      ),
    )
  })
})
