// A probability target must have the input's shape: one with the same element count and rank but
// another layout ([1, 6] for [6, 1]) broadcast silently to [6, 6] before.
import { test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { expectThrows } from '../helpers.ts'

test('crossEntropy with probabilities of a transposed shape is an error', () => {
  expectThrows(
    () => Tensor.rand([6, 1]).crossEntropy(Tensor.rand([1, 6])),
    /crossEntropy/,
    /\[1, 6\]/,
    /\[6, 1\]/,
  )
})
