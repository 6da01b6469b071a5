// flashAttention (custom kernels) against PyTorch (fixtures from
// scripts/gen_flash_attention_fixtures.py) and against the plain attention built from tensor ops:
// values and gradients, causal and not, T != S, Dv != D, grouped-query attention; no T x S buffer
// in its schedules.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { Tensor, TsgradError } from '../../src/index.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { flashAttention } from '../../src/tensor/flash_attention.ts'

interface Arr {
  shape: number[]
  data: number[]
}
interface Case {
  name: string
  causal: boolean
  scale: number | null
  q: Arr
  k: Arr
  v: Arr
  w: Arr
  out: Arr
  dq: Arr
  dk: Arr
  dv: Arr
}
const fixtures = JSON.parse(
  readFileSync(new URL('../fixtures/flash_attention.json', import.meta.url), 'utf8'),
) as { cases: Case[] }

const tensor = (a: Arr, requiresGrad = false) =>
  new Tensor(Float32Array.from(a.data), { shape: a.shape, requiresGrad })
const close = (what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol = 2e-5) => {
  assert.equal(a.length, b.length, what)
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what} at ${i}: ${a[i]} vs ${b[i]}`)
}

function plainAttention(q: Tensor, k: Tensor, v: Tensor, causal: boolean, scale: number): Tensor {
  // grouped-query attention: each k/v head repeated for its group of query heads
  const G = q.shape[1]! / k.shape[1]!
  const rep = (t: Tensor) =>
    G === 1
      ? t
      : t
          .unsqueeze(2)
          .expand([t.shape[0]!, t.shape[1]!, G, t.shape[2]!, t.shape[3]!])
          .reshape([t.shape[0]!, t.shape[1]! * G, t.shape[2]!, t.shape[3]!])
  k = rep(k)
  v = rep(v)
  let s = q.matmul(k.transpose(-1, -2)).mul(scale)
  if (causal) s = Tensor.ones([q.shape[2]!, k.shape[2]!]).tril().eq(1).where(s, Number.NEGATIVE_INFINITY)
  return s.softmax(-1).matmul(v)
}

describe('flashAttention', () => {
  for (const c of fixtures.cases) {
    test(`${c.name}: values and gradients match PyTorch and the plain attention`, async () => {
      const scale = c.scale ?? 1 / Math.sqrt(c.q.shape[3]!)
      const run = async (f: (q: Tensor, k: Tensor, v: Tensor) => Tensor) => {
        const [q, k, v] = [tensor(c.q, true), tensor(c.k, true), tensor(c.v, true)]
        const out = f(q, k, v)
        out.mul(tensor(c.w)).sum().backward()
        return [await out.data(), await q.grad!.data(), await k.grad!.data(), await v.grad!.data()]
      }
      const flash = await run((q, k, v) =>
        flashAttention(
          q,
          k,
          v,
          c.scale === null ? { causal: c.causal } : { causal: c.causal, scale: c.scale },
        ),
      )
      const plain = await run((q, k, v) => plainAttention(q, k, v, c.causal, scale))
      const names = ['out', 'dq', 'dk', 'dv'] as const
      names.forEach((n, i) => {
        close(`${n} vs PyTorch`, flash[i]!, c[n].data)
        close(`${n} vs plain attention`, flash[i]!, plain[i]!)
      })
    })
  }

  test('no buffer of the T x S scores: forward and backward use O(T) extra memory', () => {
    const [B, H, T, D] = [1, 2, 64, 16]
    const q = Tensor.randn([B, H, T, D], { requiresGrad: true }).realize()
    const k = Tensor.randn([B, H, T, D], { requiresGrad: true }).realize()
    const v = Tensor.randn([B, H, T, D], { requiresGrad: true }).realize()
    const out = flashAttention(q, k, v, { causal: true })
    out.sum().backward()
    const sched = scheduleFor([out.uop, q.grad!.uop, k.grad!.uop, v.grad!.uop])
    const biggest = Math.max(...sched.items.flatMap((it) => it.bufs.map((b) => b.size)))
    assert.equal(biggest, B * H * T * D, 'the largest buffer is an input-sized one')
    const names = sched.items.filter((i) => i.kind === 'kernel').length
    assert.ok(names <= 6, `${names} kernels`)
    // the plain form has one
    const plain = scheduleFor([plainAttention(q, k, v, true, 0.25).uop])
    assert.ok(Math.max(...plain.items.flatMap((it) => it.bufs.map((b) => b.size))) >= B * H * T * T)
  })

  test('float16 inputs compute in float32 and come back as float16', async () => {
    const [q, k, v] = [0, 1, 2].map(() => Tensor.randn([1, 1, 5, 4]).realize()) as [Tensor, Tensor, Tensor]
    const out = flashAttention(q.half(), k.half(), v.half())
    assert.equal(out.dtype.name, 'float16')
    close('float16', await out.float().data(), await plainAttention(q, k, v, false, 0.5).data(), 3e-3)
  })

  test('bad inputs are clear errors', () => {
    const q = Tensor.randn([1, 2, 4, 8])
    const err = (re: RegExp) => (e: unknown) => e instanceof TsgradError && re.test(e.message)
    assert.throws(() => flashAttention(q.reshape([2, 4, 8]), q, q), err(/flashAttention: q must be 4-D/))
    assert.throws(() => flashAttention(q, Tensor.randn([1, 2, 4, 4]), q), err(/same last dimension/))
    assert.throws(
      () => flashAttention(q, q, Tensor.randn([1, 2, 5, 8])),
      err(/k and v must have the same length/),
    )
    assert.throws(
      () => flashAttention(q, Tensor.randn([1, 3, 4, 8]), Tensor.randn([1, 3, 4, 8])),
      err(/a multiple of the heads of k and v/),
    )
    assert.throws(() => flashAttention(q, q, Tensor.randn([1, 1, 4, 8])), err(/the same number of heads/))
    assert.throws(
      () => flashAttention(q, Tensor.randn([2, 2, 4, 8]), Tensor.randn([2, 2, 4, 8])),
      err(/batch sizes must match/),
    )
    assert.throws(
      () => flashAttention(q, q, q, { causal: 1 as unknown as boolean }),
      err(/causal must be a boolean/),
    )
    assert.throws(() => flashAttention(q, q, q, { mask: 1 } as never), err(/unknown option 'mask'/))
  })
})
