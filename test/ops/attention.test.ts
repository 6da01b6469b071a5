// scaledDotProductAttention (issue 16, part 2): PyTorch semantics, grouped-query attention without
// repeated keys, top-left (PyTorch) and bottom-right (prefill against a cache) causal masks.
// Values and gradients against test/fixtures/attention.json (scripts/gen_attention_fixtures.py:
// explicit torch math in float64, GQA by repeat_interleave).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { scheduleFor } from '../../src/engine/realize.ts'
import { type AttentionOptions, Tensor } from '../../src/index.ts'
import { attentionBackend } from '../../src/tensor/attention.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { allclose, expectThrows, type FixArray, toTensor } from '../helpers.ts'

interface AttentionCase {
  name: string
  q: FixArray
  k: FixArray
  v: FixArray
  mask?: FixArray
  opts: AttentionOptions
  out: FixArray
  upstream: FixArray
  dq: FixArray
  dk: FixArray
  dv: FixArray
}
const here = dirname(fileURLToPath(import.meta.url))
const cases = (
  JSON.parse(readFileSync(join(here, '..', 'fixtures', 'attention.json'), 'utf8')) as {
    cases: AttentionCase[]
  }
).cases
const tol = { rtol: 1e-4, atol: 1e-5 }

/** Runs one fixture case with `extra` options: values and dq/dk/dv against PyTorch. */
async function checkCase(
  c: AttentionCase,
  extra: AttentionOptions = {},
  check?: (out: Tensor) => void,
): Promise<void> {
  const [q, k, v] = [c.q, c.k, c.v].map((a) => toTensor(a, { requiresGrad: true })) as [
    Tensor,
    Tensor,
    Tensor,
  ]
  const opts: AttentionOptions = { ...c.opts, ...extra }
  if (c.mask) opts.attnMask = toTensor(c.mask)
  const out = q.scaledDotProductAttention(k, v, opts)
  check?.(out)
  assert.deepEqual(out.shape, c.out.shape)
  allclose((await out.data()) as Float32Array, c.out.data, { ...tol, label: 'out', shape: c.out.shape })
  out.mul(toTensor(c.upstream)).sum().backward()
  for (const [name, t, want] of [
    ['dq', q, c.dq],
    ['dk', k, c.dk],
    ['dv', v, c.dv],
  ] as const)
    allclose((await t.grad!.data()) as Float32Array, want.data, { ...tol, label: name, shape: want.shape })
}

describe('scaledDotProductAttention against PyTorch (values and gradients)', {}, () => {
  for (const c of cases) test(c.name, () => checkCase(c))
})

const kernels = (t: Tensor) => scheduleFor([t.uop]).items.filter((i) => i.kind === 'kernel')

describe('grouped-query attention reads keys without repeating them', () => {
  test('a decode step (q of length 1 against a cache view): 4 kernels, no buffer of the repeated keys', async () => {
    const [B, Hq, Hkv, S, D] = [1, 8, 2, 64, 32]
    const cache = Tensor.zeros([B, Hkv, S, D]).contiguous().realize()
    const q = Tensor.rand([B, Hq, 1, D]).realize()
    const view = cache.shrink([
      [0, B],
      [0, Hkv],
      [0, 17],
      [0, D],
    ])
    const out = q.scaledDotProductAttention(view, view)
    const ks = kernels(out)
    // scores, row max, row sum, softmax @ v
    assert.equal(ks.length, 4)
    const repeated = B * Hq * 17 * D
    for (const k of ks)
      for (const b of k.bufs) assert.ok(b.existing || b.size < repeated, `a buffer of ${b.size} elements`)
  })

  test('a prefill against a cache (Tq < Tk, bottom-right causal): 3-4 kernels, no buffer of the repeated keys', async () => {
    const run = (tq: number, tk: number, d: number): number => {
      const q = Tensor.rand([1, 8, tq, d]).realize()
      const k = Tensor.rand([1, 2, tk, d]).realize()
      const ks = kernels(q.scaledDotProductAttention(k, k, { isCausal: true, causalAlign: 'bottomRight' }))
      const repeated = 8 * tk * d
      for (const kk of ks)
        for (const b of kk.bufs) assert.ok(b.existing || b.size < repeated, `a buffer of ${b.size} elements`)
      return ks.length
    }
    assert.equal(run(4, 24, 32), 4)
    // the group is a broadcast axis of the products (not folded into their rows, which made the
    // loads of a transposed q div/mod chains): k^T and v are read in place, not packed, and with
    // no reshape between them the row max fuses into the scores' kernel
    assert.equal(run(16, 96, 64), 3)
  })

  test('GQA equals attention over explicitly repeated keys', async () => {
    Tensor.manualSeed(5)
    const q = Tensor.randn([2, 6, 3, 4])
    const k = Tensor.randn([2, 2, 5, 4])
    const v = Tensor.randn([2, 2, 5, 3])
    const rep = (t: Tensor) =>
      t.reshape([2, 2, 1, 5, t.shape[3]!]).expand([2, 2, 3, 5, t.shape[3]!]).reshape([2, 6, 5, t.shape[3]!])
    const got = q.scaledDotProductAttention(k, v, { isCausal: true, causalAlign: 'bottomRight' })
    const want = q.scaledDotProductAttention(rep(k), rep(v), { isCausal: true, causalAlign: 'bottomRight' })
    allclose((await got.data()) as Float32Array, Array.from((await want.data()) as Float32Array), tol)
  })
})

describe('GQA gradients on the packed matmul path', () => {
  test('dq, dk, dv equal those of attention over explicitly repeated keys (64 rows per group: packed)', async () => {
    Tensor.manualSeed(6)
    const [B, Hq, Hkv, Tq, Tk, D] = [1, 8, 2, 16, 96, 64]
    const g = Hq / Hkv
    const grads = async (repeat: boolean): Promise<number[][]> => {
      const q = Tensor.randn([B, Hq, Tq, D]).realize()
      const k = Tensor.randn([B, Hkv, Tk, D]).realize()
      const v = Tensor.randn([B, Hkv, Tk, D]).realize()
      for (const t of [q, k, v]) t.requiresGrad = true
      const rep = (t: Tensor) =>
        repeat ? t.reshape([B, Hkv, 1, Tk, D]).expand([B, Hkv, g, Tk, D]).reshape([B, Hq, Tk, D]) : t
      const out = q.scaledDotProductAttention(rep(k), rep(v), { isCausal: true, causalAlign: 'bottomRight' })
      out.mul(out).sum().backward()
      const gs: number[][] = []
      for (const t of [q, k, v]) gs.push(Array.from((await t.grad!.data()) as Float32Array))
      return gs
    }
    Tensor.manualSeed(6)
    const got = await grads(false)
    Tensor.manualSeed(6)
    const want = await grads(true)
    for (const [i, name] of ['dq', 'dk', 'dv'].entries()) allclose(got[i]!, want[i]!, { ...tol, label: name })
  })
})

describe('causal alignment', () => {
  const ones = (...s: number[]) => Tensor.ones(s)
  test('top-left (PyTorch isCausal) vs bottom-right: which keys a query sees', async () => {
    // v = identity over keys: each output row is that query's attention weights
    const q = Tensor.zeros([2, 1])
    const k = Tensor.zeros([4, 1])
    const v = Tensor.eye(4)
    const tl = (await q.scaledDotProductAttention(k, v, { isCausal: true }).tolist()) as number[][]
    const br = (await q
      .scaledDotProductAttention(k, v, { isCausal: true, causalAlign: 'bottomRight' })
      .tolist()) as number[][]
    allclose(tl.flat(), [1, 0, 0, 0, 0.5, 0.5, 0, 0], tol)
    allclose(br.flat(), [1 / 3, 1 / 3, 1 / 3, 0, 0.25, 0.25, 0.25, 0.25], tol)
    // square: both the same
    const sq = ones(3, 2).scaledDotProductAttention(ones(3, 2), Tensor.eye(3), {
      isCausal: true,
      causalAlign: 'bottomRight',
    })
    const sq0 = ones(3, 2).scaledDotProductAttention(ones(3, 2), Tensor.eye(3), { isCausal: true })
    assert.deepEqual(await sq.tolist(), await sq0.tolist())
  })
})

describe('dropoutP', () => {
  test('drops attention weights with probability p and scales the rest by 1/(1-p), in or out of training', async () => {
    Tensor.manualSeed(7)
    const n = 64
    // uniform weights 1/n; v = identity, so the output is the weights after dropout
    const w = (await Tensor.zeros([n, 4])
      .scaledDotProductAttention(Tensor.zeros([n, 4]), Tensor.eye(n), { dropoutP: 0.25 })
      .data()) as Float32Array
    let kept = 0
    for (const x of w) {
      if (x === 0) continue
      kept++
      assert.ok(Math.abs(x - 1 / n / 0.75) < 1e-6, `kept weight ${x}`)
    }
    const frac = kept / (n * n)
    assert.ok(Math.abs(frac - 0.75) < 0.03, `kept fraction ${frac}`)
    const all = Tensor.ones([3, 2]).scaledDotProductAttention(Tensor.ones([4, 2]), Tensor.ones([4, 5]), {
      dropoutP: 1,
    })
    assert.deepEqual(await all.tolist(), [Array(5).fill(0), Array(5).fill(0), Array(5).fill(0)])
  })
})

describe('errors name the shapes', () => {
  const z = (...s: number[]) => Tensor.zeros(s)
  test('head counts, head dims, lengths, ranks, masks and options', async () => {
    expectThrows(
      () => z(1, 6, 2, 8).scaledDotProductAttention(z(1, 4, 2, 8), z(1, 4, 2, 8)),
      /6 query heads are not a multiple of 4/,
      /\[1, 6, 2, 8\]/,
    )
    expectThrows(
      () => z(1, 4, 2, 8).scaledDotProductAttention(z(1, 2, 2, 8), z(1, 1, 2, 8)),
      /key and value head counts differ/,
    )
    expectThrows(
      () => z(1, 2, 2, 8).scaledDotProductAttention(z(1, 2, 3, 6), z(1, 2, 3, 6)),
      /head dims differ \(8 vs 6\)/,
    )
    expectThrows(
      () => z(1, 2, 2, 8).scaledDotProductAttention(z(1, 2, 3, 8), z(1, 2, 4, 8)),
      /key and value lengths differ/,
    )
    expectThrows(() => z(2, 8).scaledDotProductAttention(z(1, 3, 8), z(1, 3, 8)), /same rank/)
    expectThrows(
      () => z(2, 2, 2, 8).scaledDotProductAttention(z(1, 2, 3, 8), z(1, 2, 3, 8)),
      /batch dimensions differ/,
    )
    expectThrows(
      () => z(1, 4, 2, 8).scaledDotProductAttention(z(1, 2, 3, 8), z(1, 2, 3, 8), { attnMask: z(3, 2, 3) }),
      /attnMask of shape \[3, 2, 3\] does not broadcast to the scores \[1, 4, 2, 3\]/,
    )
    expectThrows(
      () => z(2, 8).scaledDotProductAttention(z(3, 8), z(3, 8), { attnMask: z(2, 3), isCausal: true }),
      /cannot both be set/,
    )
    expectThrows(
      () => z(2, 8).scaledDotProductAttention(z(3, 8), z(3, 8), { causalAlign: 'bottomRight' }),
      /needs isCausal/,
    )
    expectThrows(
      () =>
        z(2, 8).scaledDotProductAttention(z(3, 8), z(3, 8), {
          isCausal: true,
          causalAlign: 'right' as 'topLeft',
        }),
      /causalAlign must be/,
    )
    expectThrows(
      () => z(2, 8).scaledDotProductAttention(z(3, 8), z(3, 8), { dropoutP: 1.5 }),
      /dropoutP must be/,
    )
  })
})

describe("backend: 'flash' (flashAttention) and the 'auto' choice", () => {
  // every fixture case flash applies to: same values and gradients as PyTorch through the flash kernels
  const applies = (c: AttentionCase) =>
    c.q.shape.length === 4 &&
    !c.mask &&
    !(c.opts.dropoutP ?? 0) &&
    !(c.opts.isCausal && c.opts.causalAlign === 'bottomRight' && c.q.shape[2] !== c.k.shape[2])
  const flashCases = cases.filter(applies)
  test('some fixture cases take the flash path', () =>
    assert.ok(flashCases.length >= 3, `${flashCases.length}`))
  for (const c of flashCases)
    test(`flash: ${c.name}`, () =>
      // the flash kernels compute it (custom kernels in the graph)
      checkCase(c, { backend: 'flash' }, (out) =>
        assert.ok(toposort([out.uop]).some((u) => u.op === Ops.CUSTOM_KERNEL)),
      ))
  test("'flash' where it does not apply is an error naming why; 'auto' picks flash only for huge score matrices", async () => {
    const q = Tensor.zeros([1, 2, 4, 8])
    const k = Tensor.zeros([1, 2, 4, 8])
    expectThrows(
      () => q.scaledDotProductAttention(k, k, { attnMask: Tensor.ones([4, 4]), backend: 'flash' }),
      /backend 'flash' does not apply: an attnMask is given/,
    )
    expectThrows(() => q.scaledDotProductAttention(k, k, { backend: 'fast' as 'flash' }), /backend must be/)
    const big = Tensor.zeros([1, 8, 16384, 64]) // scores 8 x 16384^2 x 4 B = 8 GiB: flash
    const bigShape = { group: 1, tq: 16384, tk: 16384 }
    assert.equal(attentionBackend(big, {}, bigShape), 'flash')
    assert.equal(attentionBackend(big, { isCausal: true }, bigShape), 'flash')
    assert.equal(attentionBackend(big, { backend: 'math' }, bigShape), 'math')
    assert.equal(attentionBackend(big, { attnMask: Tensor.ones([1]) }, bigShape), 'math')
    assert.equal(attentionBackend(q, {}, { group: 1, tq: 4, tk: 4 }), 'math')
  })
})

describe('the softmax before the second product is computed once', () => {
  test('a causal mask (index arithmetic on the scores) does not make the probabilities fused per output column', async () => {
    // the causal `where` reads IOTA and the scores: it is data, realized before the product with v
    // like the unmasked probabilities (fused, each exp ran once per column of v: 2.5 s at T=512)
    // (scores of 4 x 128 x 128: large enough that recomputing them per column is avoided at all)
    const q = Tensor.rand([1, 4, 128, 32]).realize()
    const k = Tensor.rand([1, 4, 128, 32]).realize()
    for (const isCausal of [false, true]) {
      const ks = kernels(q.scaledDotProductAttention(k, k, { isCausal }))
      const last = ks[ks.length - 1]!
      const exps = toposort([last.ast]).filter((u) => u.op === Ops.EXP || u.op === Ops.EXP2).length
      assert.equal(exps, 0, `isCausal ${isCausal}: the product with v computes exp`)
    }
  })
})
