// Pass `layouts` (schedule/layouts.ts): a matmul's B is packed as the device's renderer asks
// (renderer/target.ts LayoutTarget), for the product and for its structural gradients alike.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import { type LayoutTarget, PANELS_32 } from '../../src/renderer/target.ts'
import { Device } from '../../src/runtime/device.ts'
import { applyLayouts } from '../../src/schedule/layouts.ts'
import { scheduleTopo } from '../../src/schedule/schedule.ts'
import { Ops, type UOp } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'

/** The shapes of the copies the pass adds for `roots` on a target. */
function copies(roots: UOp[], t: LayoutTarget | undefined): string[] {
  const laid = applyLayouts(roots, scheduleTopo(roots), () => t)
  const before = new Set(toposort(roots))
  return toposort([...laid.roots])
    .filter((u) => u.op === Ops.CONTIGUOUS && !before.has(u))
    .map((u) => u.shape!.join('x'))
}

const kernels = (...ts: Tensor[]) =>
  scheduleFor(ts.map((t) => t.uop)).items.filter((i) => i.kind === 'kernel')

describe('pass layouts', () => {
  const a = Tensor.rand([128, 256]).realize()
  const b = Tensor.rand([256, 512]).realize()
  const w = Tensor.rand([200, 256]).realize()

  test('B goes to panels of the target width when n is a multiple of it', () => {
    assert.deepEqual(copies([a.matmul(b).uop], PANELS_32), ['16x256x32'])
    assert.deepEqual(copies([a.matmul(b).uop], { ...PANELS_32, panel: 64 }), ['8x256x64'])
  })

  test('without panels, only a B that is not contiguous along n is copied (x @ W.T)', () => {
    const flat: LayoutTarget = { ...PANELS_32, panel: 0 }
    assert.deepEqual(copies([a.matmul(b).uop], flat), [])
    assert.deepEqual(copies([a.matmul(w.T).uop], flat), ['256x200'])
  })

  test('a target that asks copies an A read across its rows (g^T @ h) contiguous along k; values unchanged', async () => {
    const g = Tensor.rand([256, 128]).realize()
    const T: LayoutTarget = { ...PANELS_32, panel: 0, packTransposedA: true }
    // A = g^T (its k steps are rows of g) is copied as 128x256; B (a, contiguous along n) stays
    assert.deepEqual(copies([g.T.matmul(b.shrink([[0, 256], null])).uop], T), ['128x256'])
    assert.deepEqual(copies([g.T.matmul(b).uop], { ...T, panel: 32 }).sort(), ['128x256', '16x256x32'])
    // an A contiguous along k, and targets that do not ask, are left as they are
    assert.deepEqual(copies([a.matmul(b).uop], T), [])
    assert.deepEqual(copies([g.T.matmul(b).uop], { ...PANELS_32, panel: 0 }), [])
    // on WASM (which asks) the product equals the JS device's
    const [gv, bv] = [await g.data(), await b.data()]
    const run = (device: string) =>
      new Tensor(gv, { shape: [256, 128], device }).T.matmul(
        new Tensor(bv, { shape: [256, 512], device }),
      ).data()
    const [w1, j1] = [await run('WASM'), await run('JS')]
    for (let i = 0; i < j1.length; i++)
      assert.ok(Math.abs(w1[i]! - j1[i]!) < 1e-3, `${i}: ${w1[i]} vs ${j1[i]}`)
  })

  test('small products, matrix-vector products and targets without layouts keep B as it is', () => {
    assert.deepEqual(copies([a.shrink([[0, 16], null]).matmul(b).uop], PANELS_32), [])
    assert.deepEqual(copies([a.matmul(b).uop], { ...PANELS_32, packMinWork: 1 << 30 }), [])
    assert.deepEqual(copies([a.matmul(b).uop], undefined), [])
  })

  test('the C target packs from 2^25 multiply-adds: a 256-cube product reads B in place', () => {
    const c = new CRenderer().layout
    const m256 = Tensor.rand([256, 256]).realize()
    assert.deepEqual(copies([m256.matmul(m256).uop], c), [], '256 x 256 x 256')
    const m512 = Tensor.rand([512, 512]).realize()
    assert.deepEqual(copies([m512.matmul(m512).uop], c), ['16x512x32'], '512 x 512 x 512')
  })

  test("the work that reads B counts every row reading it: grouped-query attention's keys", () => {
    // scores of 4 query heads per key head, 512 x 512 x 64 each: 2^24 per head, 2^26 per key head
    // (before: below the C target's 2^25, the keys were read in place at their row stride, 3x slower)
    const c = new CRenderer().layout
    const q = Tensor.rand([1, 2, 4, 512, 64]).realize()
    const k = Tensor.rand([1, 2, 1, 512, 64]).realize()
    assert.deepEqual(copies([q.matmul(k.transpose(-1, -2)).uop], c), ['2x16x64x32'])
    assert.deepEqual(
      copies([q.shrink([null, null, [0, 1], null, null]).matmul(k.transpose(-1, -2)).uop], c),
      [],
    )
  })

  test('a float16 B of a float32 product is converted by the copy', () => {
    const h = b.cast('float16').realize()
    const laid = applyLayouts([a.matmul(h).uop], scheduleTopo([a.matmul(h).uop]), () => PANELS_32)
    const c = toposort([...laid.roots]).filter((u) => u.op === Ops.CONTIGUOUS)
    assert.equal(c.length, 1)
    assert.equal(c[0]!.dtype.name, 'float32')
  })

  test("the weight gradient is computed in the weight's order, with its B in panels", () => {
    // (products of 2^25.6 multiply-adds and more: the CPU target, whose kernels are counted, packs them too)
    const x = Tensor.rand([4, 512, 256]).realize()
    const wt = Tensor.rand([256, 384], { requiresGrad: true }).realize()
    x.matmul(wt).square().sum().backward()
    // the forward's W (256, 384) in 12 panels; the gradient sums 4 x 512 rows as one axis of 2048 and
    // its B is the output gradient (2048, 384), in 12 panels too (not x, as in the (384, 256) order)
    assert.deepEqual(copies([wt.grad!.uop], PANELS_32), ['12x256x32', '12x2048x32'])
    // W to panels, the output gradient (with the forward product) to panels, the weight gradient
    const ks = kernels(wt.grad!)
    assert.equal(ks.length, 3)
    assert.equal(ks.at(-1)!.bufs[0]!.size, 256 * 384)
  })

  test('each device reads its own renderer (JS and CPU pack alike today)', () => {
    assert.equal(Device.get('JS').renderer.layout.panel, 32)
    assert.equal(Device.get('CPU').renderer.layout.panel, 2 * Device.get('CPU').renderer.target.vectorWidth)
  })

  test('packed products and their oriented, packed gradients match plain loops', async () => {
    const [M, K, N] = [96, 80, 64]
    const x = Tensor.rand([M, K], { requiresGrad: true }).realize()
    const y = Tensor.rand([K, N], { requiresGrad: true }).realize()
    const out = x.matmul(y)
    out.relu().sum().backward()
    const [xs, ys, os, gx, gy] = await Promise.all([x, y, out, x.grad!, y.grad!].map((t) => t.data()))
    const close = (got: number, want: number, what: string) =>
      assert.ok(Math.abs(got - want) < 1e-4 * (1 + Math.abs(want)), `${what}: ${got} vs ${want}`)
    const o = (i: number, j: number) => {
      let s = 0
      for (let k = 0; k < K; k++) s += xs![i * K + k]! * ys![k * N + j]!
      return s
    }
    for (let i = 0; i < M; i += 7)
      for (let j = 0; j < N; j += 5) close(os![i * N + j]!, o(i, j), `out[${i},${j}]`)
    const mask = (i: number, j: number) => (os![i * N + j]! > 0 ? 1 : 0)
    for (let i = 0; i < M; i += 11)
      for (let k = 0; k < K; k += 3) {
        let s = 0
        for (let j = 0; j < N; j++) s += mask(i, j) * ys![k * N + j]!
        close(gx![i * K + k]!, s, `dx[${i},${k}]`)
      }
    for (let k = 0; k < K; k += 7)
      for (let j = 0; j < N; j += 3) {
        let s = 0
        for (let i = 0; i < M; i++) s += xs![i * K + k]! * mask(i, j)
        close(gy![k * N + j]!, s, `dy[${k},${j}]`)
      }
  })
  test("attention's q, k and v gradients, stacked into their projection's, are one product per kernel", () => {
    // per head 128 x 64 x 128 multiply-adds: read through the stack's pads they fused into one
    // kernel of three gated products (3x the work, untiled) once the CPU packed only from 2^25
    Tensor.manualSeed(0)
    const [B, T, C, H] = [1, 128, 128, 2]
    const x = Tensor.rand([B, T, C]).realize()
    const w = Tensor.rand([3 * C, C], { requiresGrad: true }).realize()
    const qkv = x
      .matmul(w.T)
      .reshape([B, T, 3, H, C / H])
      .permute([2, 0, 3, 1, 4])
    const [q, k, v] = [0, 1, 2].map((i) => qkv.get(i)) as [Tensor, Tensor, Tensor]
    q.scaledDotProductAttention(k, v, { isCausal: true }).square().sum().backward()
    const reduces = kernels(w.grad!).map((kn) => toposort([kn.ast]).filter((u) => u.op === Ops.REDUCE).length)
    assert.ok(Math.max(...reduces) <= 1, `reduces per kernel: ${reduces.join(', ')}`)
  })
})
