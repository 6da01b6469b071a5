// gelu (exact and tanh), rmsnorm, rotary embeddings (NeoX and normal layouts, LLaMA-3 scaling) and the
// SiLU-gated MLP against PyTorch 1.13 (values and gradients): fixtures from
// scripts/gen_transformer_ops.py in test/fixtures/transformer_ops.json. Kernel counts are pinned.
// Runs on the default device; DEVICE=JS runs it on JS.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { scheduleFor } from '../../src/engine/realize.ts'
import { nn, Tensor } from '../../src/index.ts'
import { ropeFrequencies } from '../../src/tensor/rope.ts'
import { allclose, decodeValue, expectThrows } from '../helpers.ts'

interface Arr {
  shape: number[]
  data: (number | string)[]
}
type Case = Record<string, any>
const here = dirname(fileURLToPath(import.meta.url))
const fixtures = JSON.parse(readFileSync(join(here, '..', 'fixtures', 'transformer_ops.json'), 'utf8')) as {
  cases: Record<string, Case[]>
}
const C = fixtures.cases

const dec = decodeValue
const tensor = (a: Arr, requiresGrad = false): Tensor =>
  new Tensor(Float32Array.from(a.data, dec), { shape: a.shape, requiresGrad })
const vals = async (t: Tensor): Promise<number[]> => Array.from((await t.data()) as ArrayLike<number>, Number)
const kernels = (t: Tensor): number => scheduleFor([t.uop]).items.filter((i) => i.kind === 'kernel').length
const TOL = { rtol: 1e-4, atol: 2e-5 }

async function check(t: Tensor, exp: Arr, label: string, tol = TOL): Promise<void> {
  assert.deepEqual(t.shape, exp.shape, `${label}: shape`)
  allclose(await vals(t), exp.data, { ...tol, label, shape: exp.shape })
}

/** value of fn(x) and the gradient of sum(fn(x) * upstream) against the fixture */
async function checkWithGrad(c: Case, fn: (x: Tensor) => Tensor, label: string, tol = TOL): Promise<void> {
  const x = tensor(c.x, true)
  const out = fn(x)
  await check(out, c.out, `${label} value`, tol)
  out.mul(tensor(c.upstream)).sum().backward()
  await check(x.grad!, c.grad, `${label} grad`, tol)
}

describe('gelu (PyTorch, both forms)', () => {
  for (const c of C.gelu!) {
    test(`approximate=${c.approximate}`, async () => {
      // the erf polynomial of the JS device is good to ~1e-6 absolute
      await checkWithGrad(c, (x) => x.gelu({ approximate: c.approximate }), `gelu ${c.approximate}`)
    })
  }
  test("the default is PyTorch's exact form", async () => {
    const c = C.gelu!.find((g) => g.approximate === 'none')!
    await check(tensor(c.x).gelu(), c.out, 'gelu()')
  })
  test('bad options', async () => {
    expectThrows(
      () => Tensor.rand([2]).gelu({ approximate: 'erf' as never }),
      /gelu: approximate must be 'none' or 'tanh'/,
    )
    expectThrows(() => Tensor.rand([2]).gelu({ approx: 'tanh' } as never), /gelu/)
  })
})

describe('rmsnorm', () => {
  for (const c of C.rmsnorm!) {
    test(`${c.x.shape} axis ${c.axis}`, () => checkWithGrad(c, (x) => x.rmsnorm(c.axis, c.eps), 'rmsnorm'))
  }
  test('over the last axis is one kernel, nn.RMSNorm with its weight too', async () => {
    const x = Tensor.rand([8, 64]).realize()
    assert.equal(kernels(x.rmsnorm()), 1)
    assert.equal(kernels(new nn.RMSNorm(64).call(x)), 1)
  })
  test('nn.RMSNorm uses it (weight applied after)', async () => {
    const c = C.rmsnorm!.find((r) => r.axis === -1 && r.eps === 1e-6)!
    const norm = new nn.RMSNorm(c.x.shape.at(-1), { eps: c.eps })
    norm.weight!.assign(Tensor.full([c.x.shape.at(-1)], 2)).realize()
    const got = await vals(norm.call(tensor(c.x)))
    allclose(
      got,
      c.out.data.map((v: number) => 2 * v),
      TOL,
    )
  })
  test('float16 is normalized in float32 (no overflow of the squares), one kernel', async () => {
    const x = new Tensor([[300, -400, 500, 0.5]]).realize()
    const h = x.half().realize()
    const y = h.rmsnorm()
    assert.equal(y.dtype.name, 'float16')
    assert.equal(kernels(y), 1)
    allclose(await vals(y), await vals(x.rmsnorm()), { rtol: 1e-3, atol: 1e-3 })
  })
  test('bad eps', () => expectThrows(() => Tensor.rand([2, 3]).rmsnorm(-1, -1), /rmsnorm: eps/))
})

describe('rope', () => {
  for (const c of C.rope!) {
    const name = `${c.layout}, theta ${c.theta}${c.scaling ? ', llama3 scaling' : ''}`
    test(name, async () => {
      const T = c.x.shape[2]
      const D = c.x.shape[3]
      const [cos, sin] = Tensor.ropeTables(c.maxPositions, D, {
        theta: c.theta,
        scaling: c.scaling ?? undefined,
      })
      const at = (t: Tensor) => t.shrink([[c.start, c.start + T], null])
      await checkWithGrad(c, (x) => x.rope(at(cos), at(sin), { layout: c.layout }), name)
    })
  }
  for (const c of C.ropeTables!) {
    test(`tables ${c.maxPositions}x${c.headDim}, theta ${c.theta}${c.scaling ? ', llama3 scaling' : ''}`, async () => {
      const [cos, sin] = Tensor.ropeTables(c.maxPositions, c.headDim, {
        theta: c.theta,
        scaling: c.scaling ?? undefined,
      })
      await check(cos, c.cos, 'cos', { rtol: 0, atol: 1e-6 })
      await check(sin, c.sin, 'sin', { rtol: 0, atol: 1e-6 })
    })
  }
  test('llama3 scaling: low band / factor, high band kept, medium blended', async () => {
    const s = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 }
    const plain = ropeFrequencies(8, 500000)
    const scaled = ropeFrequencies(8, 500000, s)
    assert.equal(scaled[0], plain[0])
    assert.equal(scaled[1], plain[1])
    assert.ok(scaled[2]! < plain[2]! && scaled[2]! > plain[2]! / 8)
    assert.equal(scaled[3], plain[3]! / 8)
  })
  test('one kernel per rope from sliced tables, both layouts', async () => {
    const x = Tensor.rand([1, 4, 3, 16]).realize()
    const [cos, sin] = Tensor.ropeTables(32, 16)
    const at = (t: Tensor) => t.shrink([[5, 8], null])
    assert.equal(kernels(x.rope(at(cos), at(sin))), 1)
    assert.equal(kernels(x.rope(at(cos), at(sin), { layout: 'normal' })), 1)
  })
  test('errors', async () => {
    const [cos, sin] = Tensor.ropeTables(8, 4)
    expectThrows(() => Tensor.rand([2, 3, 5]).rope(cos, sin), /rope: x must be a float tensor .* even D/)
    expectThrows(
      () => Tensor.rand([2, 3, 4]).rope(cos, sin),
      /rope: cos \[8, 2\] must broadcast to \[2, 3, 2\]/,
    )
    expectThrows(() => Tensor.rand([8, 4]).rope(cos, sin, { layout: 'gptj' as never }), /rope: layout/)
    expectThrows(() => Tensor.ropeTables(8, 5), /headDim must be a positive even integer/)
    expectThrows(
      () =>
        Tensor.ropeTables(8, 4, {
          scaling: { factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositions: 8 },
        }),
      /highFreqFactor \(1\) must be larger than lowFreqFactor \(4\)/,
    )
    expectThrows(() => Tensor.ropeTables(8, 4, { scaling: { factor: 8 } as never }), /scaling.lowFreqFactor/)
  })
})

describe('nn.GatedMLP (LLaMA feed-forward)', () => {
  for (const c of C.gatedMlp!) {
    test(`bias ${c.bias}`, async () => {
      const inputs = c.inputs as Record<string, Arr>
      const [dim, hidden] = [inputs.x!.shape.at(-1)!, inputs['gate.weight']!.shape[0]!]
      const mlp = new nn.GatedMLP(dim, hidden, { bias: c.bias })
      const state = nn.getStateDict(mlp)
      assert.deepEqual(
        Object.keys(state).sort(),
        Object.keys(inputs)
          .filter((k) => k !== 'x')
          .sort(),
      )
      for (const [k, t] of Object.entries(state)) t.assign(tensor(inputs[k]!)).realize()
      const x = tensor(inputs.x!, true)
      const out = mlp.call(x)
      await check(out, c.out, 'value')
      out.mul(tensor(c.upstream)).sum().backward()
      await check(x.grad!, c.grads.x, 'grad x')
      for (const [k, t] of Object.entries(state)) await check(t.grad!, c.grads[k], `grad ${k}`)
    })
  }
})
