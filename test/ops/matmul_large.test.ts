// Matmuls large enough to take the packed path (B copied to 32-column panels, or contiguous along n
// where n is not a multiple of 32; backward as two matmuls), forward and gradients against a plain
// float64 JS reference with explicit broadcasting.
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { assertClose, randArray, values } from '../nn/helpers.ts'

type Shape = number[]
const size = (s: Shape) => s.reduce((a, b) => a * b, 1)

/** out = A @ B and, for upstream G, dA and dB summed over broadcast batch axes. */
function reference(A: number[], sa: Shape, B: number[], sb: Shape, G: number[]) {
  const [m, k] = sa.slice(-2) as [number, number]
  const n = sb[sb.length - 1]!
  const nb = Math.max(sa.length, sb.length) - 2
  const ba = [...Array(nb - (sa.length - 2)).fill(1), ...sa.slice(0, -2)]
  const bb = [...Array(nb - (sb.length - 2)).fill(1), ...sb.slice(0, -2)]
  const bo = ba.map((d, i) => Math.max(d, bb[i]!))
  const out = new Float64Array(size(bo) * m * n)
  const dA = new Float64Array(A.length)
  const dB = new Float64Array(B.length)
  for (let flat = 0; flat < size(bo); flat++) {
    // batch index -> offsets into A and B (broadcast axes read index 0)
    let rem = flat
    let offA = 0
    let offB = 0
    let strideA = 1
    let strideB = 1
    for (let i = nb - 1; i >= 0; i--) {
      const idx = rem % bo[i]!
      rem = Math.floor(rem / bo[i]!)
      offA += (ba[i] === 1 ? 0 : idx) * strideA
      offB += (bb[i] === 1 ? 0 : idx) * strideB
      strideA *= ba[i]!
      strideB *= bb[i]!
    }
    const [a0, b0, o0] = [offA * m * k, offB * k * n, flat * m * n]
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0
        const g = G[o0 + i * n + j]!
        for (let t = 0; t < k; t++) {
          const av = A[a0 + i * k + t]!
          const bv = B[b0 + t * n + j]!
          s += av * bv
          dA[a0 + i * k + t]! += g * bv
          dB[b0 + t * n + j]! += g * av
        }
        out[o0 + i * n + j] = s
      }
  }
  return { out, dA, dB, outShape: [...bo, m, n] }
}

async function check(sa: Shape, sb: Shape, transposedB: boolean): Promise<void> {
  const A = randArray(size(sa), 1)
  const B = randArray(size(sb), 2)
  const a = new Tensor(A, { shape: sa, requiresGrad: true })
  // a transposed B is a permuted view of a (…, n, k) parameter, as in x @ W.T
  const bt = transposedB ? [...sb.slice(0, -2), sb[sb.length - 1]!, sb[sb.length - 2]!] : sb
  const bData = transposedB ? transposeLast(B, sb) : B
  const w = new Tensor(bData, { shape: bt, requiresGrad: true })
  const b = transposedB ? w.transpose(-1, -2) : w
  const out = a.matmul(b)
  const ref = reference(A, sa, B, sb, [])
  const G = randArray(ref.out.length, 3)
  const full = reference(A, sa, B, sb, G)
  out
    .mul(new Tensor(G, { shape: full.outShape }))
    .sum()
    .backward()
  assertClose(await values(out), full.out, 1e-4, 'out')
  assertClose(await values(a.grad!), full.dA, 1e-4, 'dA')
  const dW = await values(w.grad!)
  assertClose(transposedB ? transposeLast(dW, bt) : dW, full.dB, 1e-4, 'dB')
}

/** (…, r, c) -> (…, c, r) for a flat row-major array. */
function transposeLast(x: ArrayLike<number>, s: Shape): number[] {
  const [r, c] = s.slice(-2) as [number, number]
  const out: number[] = new Array(x.length)
  for (let b = 0; b < x.length / (r * c); b++)
    for (let i = 0; i < r; i++)
      for (let j = 0; j < c; j++) out[b * r * c + j * r + i] = x[b * r * c + i * c + j]!
  return out
}

describe('matmul, packed path (m >= 64, m*n*k >= 2^18)', () => {
  test('(64,96) @ (96,64)', () => check([64, 96], [96, 64], false))
  test('(64,96) @ W.T with W (64,96): a transposed weight is packed', () => check([64, 96], [96, 64], true))
  test('(2,64,80) @ (80,64): B shared by the batch', () => check([2, 64, 80], [80, 64], true))
  test('(64,80) @ (2,80,64): A shared by the batch', () => check([64, 80], [2, 80, 64], false))
  test('(2,1,64,48) @ (1,3,48,96): both batches broadcast', () => check([2, 1, 64, 48], [1, 3, 48, 96], true))
  // n = 40 is not a whole number of 32-column panels: B is packed contiguous along n instead
  test('(96,80) @ W.T with W (40,80): packed without panels', () => check([96, 80], [80, 40], true))
  test('(2,96,80) @ (80,40): B shared by the batch, without panels', () =>
    check([2, 96, 80], [80, 40], false))
})
