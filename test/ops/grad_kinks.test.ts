// Values and gradients at the points where the derivative is a convention (kinks, ties, zeros,
// infinities) match PyTorch: fixtures from scripts/gen_torch_grad_fixtures.py (PyTorch, float32)
// in test/fixtures/grad_kinks.json. Runs on the default device (the suite reruns test/ops on JS).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Tensor } from '../../src/index.ts'

type Enc = number | 'nan' | 'inf' | '-inf' | '-0'
interface KinkCase {
  name: string
  op: string
  params: Record<string, unknown>
  shape: number[]
  inputs: Enc[][]
  outShape: number[]
  out: Enc[]
  grads: Enc[][]
  signedZero: boolean
}

const here = dirname(fileURLToPath(import.meta.url))
const cases = (
  JSON.parse(readFileSync(join(here, '..', 'fixtures', 'grad_kinks.json'), 'utf8')) as { cases: KinkCase[] }
).cases

const dec = (v: Enc): number =>
  v === 'nan' ? Number.NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === '-0' ? -0 : v

type P = Record<string, number | number[] | boolean[] | undefined>
const unary: Record<string, (x: Tensor, p: P) => Tensor> = {
  abs: (x) => x.abs(),
  relu: (x) => x.relu(),
  leakyRelu: (x, p) => x.leakyRelu(p.slope as number),
  elu: (x, p) => x.elu(p.alpha as number),
  gelu: (x) => x.gelu({ approximate: 'tanh' }),
  silu: (x) => x.silu(),
  sigmoid: (x) => x.sigmoid(),
  tanh: (x) => x.tanh(),
  mish: (x) => x.mish(),
  hardtanh: (x, p) => x.hardtanh(p.min as number, p.max as number),
  relu6: (x) => x.relu6(),
  hardsigmoid: (x) => x.hardsigmoid(),
  hardswish: (x) => x.hardswish(),
  softplus: (x, p) => x.softplus(p.beta as number),
  clip: (x, p) => x.clip(p.min as number | undefined, p.max as number | undefined),
  sign: (x) => x.sign(),
  floor: (x) => x.floor(),
  ceil: (x) => x.ceil(),
  round: (x) => x.round(),
  trunc: (x) => x.trunc(),
  sqrt: (x) => x.sqrt(),
  rsqrt: (x) => x.rsqrt(),
  log: (x) => x.log(),
  log2: (x) => x.log2(),
  reciprocal: (x) => x.reciprocal(),
  exp: (x) => x.exp(),
  maximumScalar: (x, p) => x.maximum(p.value as number),
  minimumScalar: (x, p) => x.minimum(p.value as number),
  max: (x, p) => x.max(p.axis as number | undefined),
  min: (x, p) => x.min(p.axis as number | undefined),
  powScalar: (x, p) => x.pow(p.exponent as number),
  std: (x) => x.std(),
  var: (x) => x.var(),
  prod: (x, p) => x.prod(p.axis as number),
  maxPool2d: (x, p) => x.maxPool2d(p.kernel as number),
  where: (x) => x, // binary; see below
  binaryCrossentropy: (x, p) => x.binaryCrossentropy(new Tensor(p.target as number[]), { reduction: 'none' }),
  binaryCrossentropyLogits: (x, p) =>
    x.binaryCrossentropyLogits(new Tensor(p.target as number[]), { reduction: 'none' }),
  logsumexp: (x, p) => x.logsumexp(p.axis as number),
  softmax: (x, p) => x.softmax(p.axis as number),
  logSoftmax: (x, p) => x.logSoftmax(p.axis as number),
}
/**
 * Activations another branch may add: each is tried under the names it may have and skipped when
 * absent, so the fixtures hold them to PyTorch's kinks once they exist.
 */
const optional: Record<string, { names: string[]; args: (p: P) => unknown[] }> = {
  selu: { names: ['selu'], args: () => [] },
  celu: { names: ['celu'], args: (p) => [p.alpha] },
  logsigmoid: { names: ['logsigmoid', 'logSigmoid'], args: () => [] },
  softsign: { names: ['softsign'], args: () => [] },
  hardshrink: { names: ['hardshrink', 'hardShrink'], args: (p) => [p.lambd] },
  softshrink: { names: ['softshrink', 'softShrink'], args: (p) => [p.lambd] },
}
type Method = (this: Tensor, ...a: unknown[]) => Tensor
const optionalMethod = (op: string): { fn: Method; args: (p: P) => unknown[] } | undefined => {
  const o = optional[op]
  if (!o) return undefined
  const proto = Tensor.prototype as unknown as Record<string, Method | undefined>
  const fn = o.names.map((n) => proto[n]).find((f) => typeof f === 'function')
  return fn ? { fn, args: o.args } : undefined
}

const binary: Record<string, (x: Tensor, y: Tensor, p: P) => Tensor> = {
  maximum: (x, y) => x.maximum(y),
  minimum: (x, y) => x.minimum(y),
  pow: (x, y) => x.pow(y),
  div: (x, y) => x.div(y),
  clipMin: (x, y) => x.clip(y),
  clipMax: (x, y) => x.clip(undefined, y),
  mod: (x, y) => x.mod(y),
  where: (x, y, p) => new Tensor(p.cond as boolean[]).where(x, y),
}

/**
 * Where tsgrad deliberately differs from PyTorch (documented in docs/api.md). logsumexp over a row
 * that is all -inf gives -inf with a zero gradient (PyTorch's gradient there is NaN, which poisons
 * every parameter upstream of a fully masked row).
 */
const overrides: Record<string, (c: KinkCase) => KinkCase> = {
  // max pooling splits the gradient evenly among tied maxima like the max reduction (amax, as
  // tinygrad); PyTorch's max_pool2d gives it all to the first maximum
  'maxPool2d/ties': (c) => ({ ...c, grads: [c.grads[0]!.map(() => 0.25)] }),
  'logsumexp/all-neginf': (c) => ({ ...c, grads: [c.grads[0]!.map((g, i) => (i < 3 ? 0 : g))] }),
}

function close(name: string, what: string, got: ArrayLike<number>, want: Enc[], signedZero: boolean): void {
  assert.equal(got.length, want.length, `${name} ${what}: length`)
  for (let i = 0; i < want.length; i++) {
    const w = dec(want[i]!)
    const g = got[i]!
    const at = `${name} ${what}[${i}]: got ${Object.is(g, -0) ? '-0' : g}, PyTorch ${want[i]}`
    if (Number.isNaN(w)) assert.ok(Number.isNaN(g), at)
    else if (!Number.isFinite(w)) assert.equal(g, w, at)
    else {
      assert.ok(Math.abs(g - w) <= 1e-6 + 1e-4 * Math.abs(w), at)
      if (signedZero && w === 0) assert.ok(Object.is(g, w), `${at} (sign of zero)`)
    }
  }
}

describe('gradients at kinks, ties and singular points match PyTorch', () => {
  for (const raw of cases) {
    const missing = raw.op in optional && !optionalMethod(raw.op)
    test(raw.name, { skip: missing && `no ${raw.op} method on this branch` }, async () => {
      const c = overrides[raw.name]?.(raw) ?? raw
      const xs = c.inputs.map(
        (d) => new Tensor(Float32Array.from(d, dec), { shape: c.shape, requiresGrad: true }),
      )
      const p = c.params as P
      const opt = optionalMethod(c.op)
      const out = opt
        ? opt.fn.call(xs[0]!, ...opt.args(p))
        : xs.length === 2
          ? binary[c.op]!(xs[0]!, xs[1]!, p)
          : unary[c.op]!(xs[0]!, p)
      assert.deepEqual(out.shape, c.outShape, `${c.name}: output shape`)
      out.backward(Tensor.ones(out.shape))
      close(c.name, 'value', await out.data(), c.out, c.signedZero)
      for (let i = 0; i < xs.length; i++) {
        const g = xs[i]!.grad
        assert.ok(g, `${c.name}: input ${i} got no gradient`)
        close(c.name, `grad of input ${i}`, await g.data(), c.grads[i]!, c.signedZero)
      }
    })
  }
})
