// Ops that do not support symbolic shapes refuse tensors of symbolic shape with an error naming
// the op. They compute with the concrete `shape` (bound values), which would either fail deep inside
// (a reshape or shrink that names itself, not the op) or compile a kernel per value. Installed after
// every op family is attached (tensor/index.ts imports this module last).
import { TsgradError } from '../helpers.js'
import { fmtSShape } from '../uop/sint.js'
import { Tensor } from './tensor.js'

/** Tensor methods without symbolic support (the supported ones are listed in docs/api.md). */
const METHODS = [
  'adaptiveAvgPool1d',
  'adaptiveAvgPool2d',
  'adaptiveMaxPool1d',
  'adaptiveMaxPool2d',
  'argmax',
  'argmin',
  'avgPool1d',
  'avgPool2d',
  'batchnorm',
  'binaryCrossentropy',
  'binaryCrossentropyLogits',
  'chunk',
  'conv2d',
  'convTranspose2d',
  'cosineEmbeddingLoss',
  'crossEntropy',
  'cummax',
  'cummin',
  'cumprod',
  'dropout',
  'embedding',
  'gather',
  'gaussianNllLoss',
  'get',
  'hingeEmbeddingLoss',
  'huberLoss',
  'klDiv',
  'l1Loss',
  'logcumsumexp',
  'marginRankingLoss',
  'maxPool1d',
  'maxPool2d',
  'mseLoss',
  'nllLoss',
  'oneHot',
  'poissonNllLoss',
  'repeat',
  'roll',
  'smoothL1Loss',
  'softMarginLoss',
  'sparseCategoricalCrossentropy',
  'split',
  'tril',
  'triu',
  'tripletMarginLoss',
  'unflatten',
] as const
/** Statics taking tensors (in arrays too) without symbolic support. */
const STATICS = ['cat', 'stack'] as const

function symbolicIn(args: readonly unknown[]): Tensor | undefined {
  for (const a of args) {
    if (a instanceof Tensor && a.isSymbolic) return a
    if (Array.isArray(a)) {
      const t = symbolicIn(a)
      if (t) return t
    }
  }
  return undefined
}

function refuse(op: string, t: Tensor): never {
  throw new TsgradError(
    `${op}: not supported for a tensor of symbolic shape ${fmtSShape(t.sshape)} (a Variable size); symbolic shapes work with elementwise ops, sum/max/min/prod, softmax/logSoftmax, matmul, movement ops, cast and contiguous`,
  )
}

type Fn = (this: unknown, ...args: unknown[]) => unknown
const P = Tensor.prototype as unknown as Record<string, Fn>
for (const name of METHODS) {
  const f = P[name]!
  P[name] = function (this: Tensor, ...args: unknown[]) {
    const t = this.isSymbolic ? this : symbolicIn(args)
    if (t) refuse(name, t)
    return f.apply(this, args)
  } as Fn
}
const S = Tensor as unknown as Record<string, Fn>
for (const name of STATICS) {
  const f = S[name]!
  S[name] = function (this: unknown, ...args: unknown[]) {
    const t = symbolicIn(args)
    if (t) refuse(`Tensor.${name}`, t)
    return f.apply(this, args)
  } as Fn
}
