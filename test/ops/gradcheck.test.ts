// Finite-difference gradient checks: autograd vs central differences, both computed by tsgrad in
// float64, for every differentiable op (small shapes). Plus autograd semantics (accumulation,
// explicit gradients, detach, noGrad).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes, Tensor } from '../../src/index.ts'
import { deviceLacks, type F64Input, gradcheck, makeRng, randInput, readData } from '../helpers.ts'

const rng = makeRng(20240601)
const U = (shape: number[], lo = -1, hi = 1, avoid?: number[]): F64Input =>
  randInput(rng, shape, lo, hi, { avoid, margin: 0.05 })
/** |x| in [lo, hi], random sign: away from the kink at 0 */
const NZ = (shape: number[], lo = 0.2, hi = 2): F64Input => randInput(rng, shape, lo, hi, { signed: true })
const ints = (shape: number[], data: number[]): Tensor =>
  new Tensor(Int32Array.from(data), { shape, dtype: dtypes.int32 })
const bools = (shape: number[], data: number[]): Tensor =>
  new Tensor(Uint8Array.from(data), { shape, dtype: dtypes.bool })
const f64 = (shape: number[], data: number[]): Tensor =>
  new Tensor(Float64Array.from(data), { shape, dtype: dtypes.float64 })

interface GC {
  name: string
  fn: (...xs: Tensor[]) => Tensor
  inputs: F64Input[]
  noGrad?: number[]
  rtol?: number
  atol?: number
}
const S = [2, 3]
const cases: GC[] = [
  // ---- elementwise unary
  { name: 'neg', fn: (x) => x.neg(), inputs: [U(S)] },
  { name: 'exp', fn: (x) => x.exp(), inputs: [U(S, -2, 2)] },
  { name: 'exp2', fn: (x) => x.exp2(), inputs: [U(S, -2, 2)] },
  { name: 'log', fn: (x) => x.log(), inputs: [U(S, 0.2, 3)] },
  { name: 'log2', fn: (x) => x.log2(), inputs: [U(S, 0.2, 3)] },
  { name: 'sqrt', fn: (x) => x.sqrt(), inputs: [U(S, 0.2, 3)] },
  { name: 'rsqrt', fn: (x) => x.rsqrt(), inputs: [U(S, 0.2, 3)] },
  { name: 'reciprocal', fn: (x) => x.reciprocal(), inputs: [NZ(S, 0.5, 2)] },
  { name: 'sin', fn: (x) => x.sin(), inputs: [U(S, -3, 3)] },
  { name: 'cos', fn: (x) => x.cos(), inputs: [U(S, -3, 3)] },
  { name: 'tan', fn: (x) => x.tan(), inputs: [U(S, -1, 1)] },
  { name: 'abs', fn: (x) => x.abs(), inputs: [NZ(S)] },
  { name: 'square', fn: (x) => x.square(), inputs: [U(S)] },
  { name: 'relu', fn: (x) => x.relu(), inputs: [NZ(S)] },
  { name: 'sigmoid', fn: (x) => x.sigmoid(), inputs: [U(S, -4, 4)] },
  { name: 'tanh', fn: (x) => x.tanh(), inputs: [U(S, -3, 3)] },
  { name: 'gelu', fn: (x) => x.gelu(), inputs: [U(S, -3, 3)] },
  { name: 'gelu tanh', fn: (x) => x.gelu({ approximate: 'tanh' }), inputs: [U(S, -3, 3)] },
  { name: 'silu', fn: (x) => x.silu(), inputs: [U(S, -4, 4)] },
  { name: 'leakyRelu', fn: (x) => x.leakyRelu(0.1), inputs: [NZ(S)] },
  { name: 'elu', fn: (x) => x.elu(0.7), inputs: [NZ(S)] },
  { name: 'softplus', fn: (x) => x.softplus(), inputs: [U(S, -4, 4)] },
  { name: 'softplus_beta', fn: (x) => x.softplus(2), inputs: [U(S, -3, 3)] },
  { name: 'mish', fn: (x) => x.mish(), inputs: [U(S, -4, 4)] },
  { name: 'hardswish', fn: (x) => x.hardswish(), inputs: [U(S, -5, 5, [-3, 3])] },
  { name: 'erf', fn: (x) => x.erf(), inputs: [U(S, -2, 2)] },
  { name: 'clip', fn: (x) => x.clip(-0.5, 0.5), inputs: [U([3, 4], -1, 1, [-0.5, 0.5])] },
  { name: 'cast_f64_f64', fn: (x) => x.cast(dtypes.float64).mul(x), inputs: [U(S)] },
  // ---- elementwise binary (with broadcasting)
  { name: 'add', fn: (a, b) => a.add(b), inputs: [U(S), U([3])] },
  { name: 'sub', fn: (a, b) => a.sub(b), inputs: [U([2, 1]), U([1, 3])] },
  { name: 'mul', fn: (a, b) => a.mul(b), inputs: [U(S), U([2, 1])] },
  { name: 'div', fn: (a, b) => a.div(b), inputs: [U(S), NZ([3], 0.5, 2)] },
  { name: 'maximum', fn: (a, b) => a.maximum(b), inputs: [U(S), U(S)] },
  { name: 'minimum', fn: (a, b) => a.minimum(b), inputs: [U(S), U([3])] },
  { name: 'pow', fn: (a, b) => a.pow(b), inputs: [U(S, 0.5, 2), U(S, -1.5, 1.5)] },
  { name: 'pow_number', fn: (a) => a.pow(3), inputs: [U(S)] },
  { name: 'lerp', fn: (a, b, w) => a.lerp(b, w), inputs: [U(S), U(S), U(S, 0, 1)] },
  {
    name: 'where',
    fn: (a, b) => bools([2, 3], [1, 0, 1, 1, 0, 0]).where(a, b),
    inputs: [U(S), U([3])],
  },
  { name: 'number_ops_chain', fn: (a) => a.add(1.5).mul(-2).sub(0.25).div(3), inputs: [U(S)] },
  // ---- reduce
  { name: 'sum_axis', fn: (x) => x.sum(1), inputs: [U([3, 4])] },
  { name: 'sum_all', fn: (x) => x.sum(), inputs: [U([3, 4])] },
  { name: 'sum_keepdim', fn: (x) => x.sum(0, { keepdim: true }).mul(x), inputs: [U([3, 4])] },
  { name: 'mean', fn: (x) => x.mean(0), inputs: [U([3, 4])] },
  { name: 'max_axis', fn: (x) => x.max(1), inputs: [U([3, 4])] },
  { name: 'max_all', fn: (x) => x.max(), inputs: [U([3, 4])] },
  { name: 'min_axis', fn: (x) => x.min(0), inputs: [U([3, 4])] },
  { name: 'prod', fn: (x) => x.prod(1), inputs: [NZ([3, 4], 0.5, 1.5)] },
  { name: 'var', fn: (x) => x.var(1), inputs: [U([3, 4])] },
  { name: 'var_correction0', fn: (x) => x.var(0, { correction: 0 }), inputs: [U([3, 4])] },
  { name: 'std', fn: (x) => x.std(), inputs: [U([3, 4])] },
  { name: 'logsumexp', fn: (x) => x.logsumexp(1), inputs: [U([3, 4], -2, 2)] },
  { name: 'softmax', fn: (x) => x.softmax(), inputs: [U([3, 4], -2, 2)] },
  { name: 'softmax_axis0', fn: (x) => x.softmax(0), inputs: [U([3, 4], -2, 2)] },
  { name: 'logSoftmax', fn: (x) => x.logSoftmax(), inputs: [U([3, 4], -2, 2)] },
  { name: 'cumsum', fn: (x) => x.cumsum(1), inputs: [U([3, 4])] },
  { name: 'cumsum_default', fn: (x) => x.cumsum(), inputs: [U([5])] },
  // ---- movement
  { name: 'reshape', fn: (x) => x.reshape([4, 3]).mul(f64([3], [1, 2, 3])), inputs: [U([3, 4])] },
  { name: 'permute', fn: (x) => x.permute([2, 0, 1]), inputs: [U([2, 3, 4])] },
  { name: 'expand', fn: (x) => x.expand([3, 4]), inputs: [U([3, 1])] },
  {
    name: 'pad',
    fn: (x) =>
      x.pad(
        [
          [1, 0],
          [2, 1],
        ],
        { value: 0.5 },
      ),
    inputs: [U(S)],
  },
  { name: 'shrink', fn: (x) => x.shrink([[1, 3], null]), inputs: [U([3, 4])] },
  { name: 'flip', fn: (x) => x.flip([0, 1]), inputs: [U(S)] },
  { name: 'transpose', fn: (x) => x.transpose(0, 2), inputs: [U([2, 3, 2])] },
  { name: 'T', fn: (x) => x.T, inputs: [U(S)] },
  { name: 'flatten', fn: (x) => x.flatten(1), inputs: [U([2, 2, 3])] },
  { name: 'unflatten', fn: (x) => x.unflatten(1, [2, 2]), inputs: [U([3, 4])] },
  { name: 'squeeze', fn: (x) => x.squeeze(1), inputs: [U([3, 1, 2])] },
  { name: 'unsqueeze', fn: (x) => x.unsqueeze(1), inputs: [U(S)] },
  { name: 'cat', fn: (a, b) => Tensor.cat([a, b, a], 1), inputs: [U([2, 1]), U(S)] },
  { name: 'stack', fn: (a, b) => Tensor.stack([a, b], 1), inputs: [U(S), U(S)] },
  {
    name: 'split',
    fn: (x) => {
      const [a, b] = x.split([1, 2], 0)
      return a!.sum(0).mul(b!.sum(0))
    },
    inputs: [U([3, 2])],
  },
  {
    name: 'chunk',
    fn: (x) => {
      const [a, b] = x.chunk(2, 1)
      return a!.mul(b!)
    },
    inputs: [U([2, 4])],
  },
  { name: 'repeat', fn: (x) => x.repeat([2, 1, 2]), inputs: [U(S)] },
  { name: 'gather', fn: (x) => x.gather(1, ints([3, 2], [0, 3, 3, 3, 1, 0])), inputs: [U([3, 4])] },
  { name: 'tril', fn: (x) => x.tril(), inputs: [U([3, 4])] },
  { name: 'triu', fn: (x) => x.triu(1), inputs: [U([3, 4])] },
  { name: 'get_slices', fn: (x) => x.get('::-1', 1, null, '1:'), inputs: [U([2, 3, 4])] },
  { name: 'get_tensor_index', fn: (x) => x.get(ints([4], [2, 0, 2, -1])), inputs: [U([3, 2])] },
  // ---- processing
  { name: 'matmul', fn: (a, b) => a.matmul(b), inputs: [U([3, 4]), U([4, 2])] },
  { name: 'matmul_batched', fn: (a, b) => a.matmul(b), inputs: [U([2, 3, 4]), U([4, 2])] },
  { name: 'matmul_vec', fn: (a, b) => a.matmul(b), inputs: [U([4]), U([4, 3])] },
  { name: 'dot', fn: (a, b) => a.dot(b), inputs: [U([4]), U([4])] },
  { name: 'linear', fn: (x, w, b) => x.linear(w, b), inputs: [U([2, 3]), U([3, 4]), U([4])] },
  {
    name: 'conv2d',
    fn: (x, w, b) => x.conv2d(w, { bias: b, padding: 1 }),
    inputs: [U([1, 2, 4, 4]), U([3, 2, 3, 3]), U([3])],
  },
  {
    name: 'conv2d_stride_groups_dilation',
    fn: (x, w) => x.conv2d(w, { stride: 2, groups: 2, dilation: [1, 2] }),
    inputs: [U([1, 2, 5, 6]), U([2, 1, 2, 2])],
  },
  {
    name: 'convTranspose2d',
    fn: (x, w, b) => x.convTranspose2d(w, { bias: b, stride: 2, padding: 1, outputPadding: 1 }),
    inputs: [U([1, 2, 3, 3]), U([2, 2, 3, 3]), U([2])],
  },
  { name: 'maxPool2d', fn: (x) => x.maxPool2d(2), inputs: [U([1, 2, 4, 4])] },
  {
    name: 'maxPool2d_stride1_padding1',
    fn: (x) => x.maxPool2d(3, { stride: 1, padding: 1 }),
    inputs: [U([1, 1, 4, 4])],
  },
  { name: 'avgPool2d', fn: (x) => x.avgPool2d(2), inputs: [U([1, 2, 4, 4])] },
  {
    name: 'avgPool2d_exclude_pad',
    fn: (x) => x.avgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }),
    inputs: [U([1, 1, 5, 5])],
  },
  { name: 'layernorm', fn: (x) => x.layernorm(), inputs: [U([3, 5], -2, 2)] },
  {
    name: 'batchnorm',
    fn: (x, w, b, m, inv) => x.batchnorm(w, b, m, inv),
    inputs: [U([2, 3, 2]), U([3]), U([3]), U([3]), U([3], 0.5, 2)],
  },
  {
    name: 'scaledDotProductAttention',
    fn: (q, k, v) => q.scaledDotProductAttention(k, v),
    inputs: [U([2, 3, 4]), U([2, 2, 4]), U([2, 2, 3])],
  },
  {
    name: 'scaledDotProductAttention_causal',
    fn: (q, k, v) => q.scaledDotProductAttention(k, v, { isCausal: true }),
    inputs: [U([1, 3, 2]), U([1, 3, 2]), U([1, 3, 2])],
  },
  {
    name: 'sparseCategoricalCrossentropy',
    fn: (x) => x.sparseCategoricalCrossentropy(ints([3], [0, 3, 1]), { labelSmoothing: 0.1 }),
    inputs: [U([3, 4], -2, 2)],
  },
  {
    name: 'crossEntropy_indices',
    fn: (x) => x.crossEntropy(ints([3], [2, 0, 1])),
    inputs: [U([3, 4], -2, 2)],
  },
  {
    name: 'crossEntropy_probs',
    fn: (x, y) => x.crossEntropy(y, { reduction: 'sum' }),
    inputs: [U([2, 3], -2, 2), U([2, 3], 0, 1)],
    noGrad: [1],
  },
  {
    name: 'binaryCrossentropy',
    fn: (p, y) => p.binaryCrossentropy(y),
    inputs: [U([2, 3], 0.1, 0.9), U([2, 3], 0, 1)],
    noGrad: [1],
  },
  {
    name: 'binaryCrossentropyLogits',
    fn: (x, y) => x.binaryCrossentropyLogits(y),
    inputs: [U([2, 3], -3, 3), U([2, 3], 0, 1)],
    noGrad: [1],
  },
  {
    name: 'mlp_composite',
    fn: (x, w1, w2) => x.matmul(w1).tanh().matmul(w2).logSoftmax().mean(),
    inputs: [U([3, 4]), U([4, 5]), U([5, 2])],
  },
]

describe('gradcheck (float64 finite differences)', { skip: deviceLacks('float64') }, () => {
  for (const c of cases) {
    test(c.name, () =>
      gradcheck(c.fn, c.inputs, { label: c.name, noGrad: c.noGrad, rtol: c.rtol, atol: c.atol }),
    )
  }
})

describe('autograd semantics', () => {
  const vals = (t: Tensor | undefined) => {
    assert.ok(t, 'expected a gradient')
    return readData(t)
  }
  test('gradients accumulate across backward() calls', async () => {
    const x = new Tensor([1, 2, 3], { dtype: dtypes.float32, requiresGrad: true })
    x.mul(2).sum().backward()
    x.mul(3).sum().backward()
    assert.deepEqual(await vals(x.grad), [5, 5, 5])
  })
  test('backward(grad) with an explicit gradient on a non-scalar', async () => {
    const x = new Tensor([1, 2, 3], { dtype: dtypes.float32, requiresGrad: true })
    x.mul(x).backward(new Tensor([1, 0.5, -1], { dtype: dtypes.float32 }))
    assert.deepEqual(await vals(x.grad), [2, 2, -6])
  })
  test('a tensor used twice gets both contributions', async () => {
    const x = new Tensor([1, -2, 3], { dtype: dtypes.float32, requiresGrad: true })
    x.mul(x).add(x).sum().backward()
    assert.deepEqual(await vals(x.grad), [3, -3, 7])
  })
  test('detach blocks the gradient', async () => {
    const x = new Tensor([1, 2, 3], { dtype: dtypes.float32, requiresGrad: true })
    const d = x.detach()
    assert.equal(d.requiresGrad, false)
    x.mul(d).sum().backward()
    assert.deepEqual(await vals(x.grad), [1, 2, 3])
  })
  test('requiresGrad propagates; noGrad disables it', () => {
    const x = new Tensor([1, 2, 3], { dtype: dtypes.float32, requiresGrad: true })
    assert.equal(x.requiresGrad, true)
    assert.equal(x.add(1).requiresGrad, true)
    assert.equal(new Tensor([1, 2], { dtype: dtypes.float32 }).add(1).requiresGrad, false)
    const y = Tensor.noGrad(() => x.mul(2))
    assert.equal(y.requiresGrad, false)
  })
  test('gradient of a scalar leaf used through broadcasting', async () => {
    const s = new Tensor(2, { dtype: dtypes.float32, requiresGrad: true })
    const x = new Tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: dtypes.float32 },
    )
    x.mul(s).sum().backward()
    assert.deepEqual(s.grad!.shape, [])
    assert.deepEqual(await vals(s.grad), [21])
  })
})
