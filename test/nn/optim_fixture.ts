// The problem and fixture of scripts/gen_optim_fixtures.py (test/fixtures/optim.json), shared by
// the optimizer tests (not a test file itself).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tensor } from '../../src/index.ts'
import { decodeValue, type FixValue } from '../helpers.ts'

const here = dirname(fileURLToPath(import.meta.url))

export interface OptimFixture {
  groups: { name: string; lrChange: [number, number, number]; steps: FixValue[][][] }[]
  schedulers: { name: string; lrs: number[][] }[]
  clip: {
    shapes: number[][]
    cases: { normType: FixValue; maxNorm: number; total: FixValue; grads: FixValue[][] }[]
  }
  scaler: {
    initScale: number
    growthFactor: number
    backoffFactor: number
    growthInterval: number
    badSteps: Record<string, 'inf' | 'nan'>
    steps: { skipped: boolean; scale: FixValue; W: FixValue[]; bias: FixValue[] }[]
  }
}

export const fixture = JSON.parse(
  readFileSync(join(here, '..', 'fixtures', 'optim.json'), 'utf8'),
) as OptimFixture

export const dec = (xs: FixValue[]): number[] => xs.map(decodeValue)

/** ((i * a + b) % c) / c - 0.5 for i < n (the generator's `formula`). */
export function formula(n: number, a: number, b: number, c: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i * a + b) % c) / c - 0.5)
}

/** The generator's least-squares problem: W [3, 4], bias [4] trainable; x [5, 3], y [5, 4]. */
export function problem(): { W: Tensor; bias: Tensor; x: Tensor; y: Tensor } {
  return {
    W: new Tensor(formula(12, 7, 3, 11), { shape: [3, 4], requiresGrad: true }),
    bias: new Tensor(formula(4, 5, 1, 7), { requiresGrad: true }),
    x: new Tensor(formula(15, 3, 2, 13), { shape: [5, 3] }),
    y: new Tensor(formula(20, 11, 4, 17), { shape: [5, 4] }),
  }
}

export function lossOf(W: Tensor, bias: Tensor, x: Tensor, y: Tensor): Tensor {
  return x.matmul(W).add(bias).sub(y).square().sum().div(5)
}
