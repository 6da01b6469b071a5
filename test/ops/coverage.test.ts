// Every public op of docs/api-contract.md exists on Tensor and has at least one reference fixture
// case (so a missing op shows up here as one list, besides the per-case failures).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { loadFixtures } from '../helpers.ts'

const METHODS =
  `add sub mul div idiv mod pow maximum minimum neg exp exp2 log log2 sqrt rsqrt reciprocal sin cos tan
  abs sign square floor ceil round trunc relu sigmoid tanh gelu silu leakyRelu elu softplus mish hardswish erf
  clip where lerp lt le gt ge eq ne logicalNot bitwiseAnd bitwiseOr bitwiseXor bitwiseNot lshift rshift cast
  float int half bool sum mean max min prod var std argmax argmin any all logsumexp softmax logSoftmax cumsum
  reshape permute expand pad shrink flip transpose flatten unflatten squeeze unsqueeze split chunk repeat gather
  tril triu get contiguous matmul dot linear conv2d convTranspose2d maxPool2d avgPool2d layernorm batchnorm
  dropout oneHot scaledDotProductAttention sparseCategoricalCrossentropy crossEntropy binaryCrossentropy
  binaryCrossentropyLogits zerosLike onesLike fullLike`
    .split(/\s+/)
    .filter(Boolean)
const STATICS =
  'cat stack zeros ones full empty arange linspace eye rand randn randint uniform normal manualSeed'.split(
    ' ',
  )
const RANDOM = new Set(['rand', 'randn', 'randint', 'uniform', 'normal', 'manualSeed']) // checked in creation.test.ts

const all = ['elementwise', 'reduce', 'movement', 'processing', 'creation'].flatMap((n) => loadFixtures(n))
const covered = new Set(
  all.flatMap((c) => [
    c.call,
    ...(c.kind === 'chain' ? (c.args as { call: string }[]).map((s) => s.call) : []),
  ]),
)

test('Tensor has every public method and static of the contract', () => {
  const proto = Tensor.prototype as unknown as Record<string, unknown>
  const missing = [
    ...METHODS.filter((m) => typeof proto[m] !== 'function').map((m) => `Tensor.prototype.${m}`),
    ...STATICS.filter((m) => typeof (Tensor as unknown as Record<string, unknown>)[m] !== 'function').map(
      (m) => `Tensor.${m}`,
    ),
  ]
  if (!('T' in Tensor.prototype)) missing.push('Tensor.prototype.T (getter)')
  assert.deepEqual(missing, [], `missing ops: ${missing.join(', ')}`)
})

test('every public op has reference fixture cases', () => {
  const uncovered = [...METHODS, ...STATICS, 'T'].filter((m) => !covered.has(m) && !RANDOM.has(m))
  assert.deepEqual(uncovered, [], `ops without fixtures: ${uncovered.join(', ')}`)
})
