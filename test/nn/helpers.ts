// Shared helpers for the nn tests (not a test file itself).
import assert from 'node:assert/strict'
import type { Tensor } from '../../src/index.ts'
import { readData as values } from '../helpers.ts'

export { values }

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol = 1e-5,
  what = '',
): void {
  assert.equal(actual.length, expected.length, `${what} length ${actual.length} != ${expected.length}`)
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!
    const e = expected[i]!
    const ok = Number.isNaN(e) ? Number.isNaN(a) : Math.abs(a - e) <= tol * Math.max(1, Math.abs(e))
    if (!ok) {
      assert.fail(
        `${what} mismatch at ${i}: got ${a}, expected ${e} (tol ${tol})\n got ${Array.from(actual)}\n exp ${Array.from(expected)}`,
      )
    }
  }
}

export async function expectClose(
  t: Tensor,
  expected: ArrayLike<number>,
  tol = 1e-5,
  what = '',
): Promise<void> {
  assertClose(await values(t), expected, tol, what)
}

/** Deterministic pseudo-random numbers in [-1, 1) for reference data (independent of the library). */
export function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return (s / 2 ** 32) * 2 - 1
  }
}

export function randArray(n: number, seed: number, scale = 1): number[] {
  const r = prng(seed)
  return Array.from({ length: n }, () => Math.fround(r() * scale))
}

/** Run fn with Tensor.training set, restoring the previous value. */
export async function withTraining<T>(
  T: { training: boolean },
  on: boolean,
  fn: () => Promise<T> | T,
): Promise<T> {
  const prev = T.training
  T.training = on
  try {
    return await fn()
  } finally {
    T.training = prev
  }
}
