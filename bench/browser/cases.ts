// The cases of the browser bench, shared by the page (tsgrad and peers) and the host (report).
export type CaseName = 'matmul512' | 'matmul1024' | 'elementwise' | 'softmax' | 'conv2d' | 'mlp'

/** one timed call: resolves when the result's data is on the host, maybe with a cleanup function */
export type Timed = () => Promise<unknown>

export interface Impl {
  name: string
  kind: 'wasm' | 'webgpu'
  /** the timed call for a case, or undefined where the implementation has no such op */
  setup(c: CaseName, x: Inputs): Promise<Timed | undefined>
  /** frees what the last setup made (peers that count references or scopes) */
  free?(): void
}

export interface Result {
  case: CaseName
  impl: string
  kind: 'wasm' | 'webgpu'
  ms?: number
  /** median CPU time per call of the browser's processes (all threads), where the host reports it */
  cpuMs?: number
  error?: string
}

export interface Inputs {
  n?: number
  a?: Float32Array
  b?: Float32Array
  labels?: Int32Array
}

export const CASES: Record<
  CaseName,
  { title: string; unit: string; amount: number; runs: number; warm: number }
> = {
  matmul512: { title: 'matmul 512', unit: 'GFLOP/s', amount: 2 * 512 ** 3, runs: 9, warm: 2 },
  matmul1024: { title: 'matmul 1024', unit: 'GFLOP/s', amount: 2 * 1024 ** 3, runs: 7, warm: 2 },
  elementwise: {
    title: 'elementwise relu(2x+1)*sigmoid(x) 16M',
    unit: 'GB/s',
    amount: 8 * (1 << 24),
    runs: 7,
    warm: 2,
  },
  softmax: { title: 'softmax 4096x4096', unit: 'GB/s', amount: 8 * 4096 * 4096, runs: 5, warm: 1 },
  conv2d: {
    title: 'conv2d 8x64x56x56, 64 3x3 pad 1',
    unit: 'GFLOP/s',
    amount: 2 * 8 * 64 * 64 * 56 * 56 * 9,
    runs: 5,
    warm: 1,
  },
  mlp: {
    title: 'MLP 784-512-512-10 SGD train step, batch 512',
    unit: 'GFLOP/s',
    amount: 2 * 3 * 512 * (784 * 512 + 512 * 512 + 512 * 10),
    runs: 5,
    warm: 2,
  },
}

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1)

/** The same inputs for every implementation of a case. */
export function makeInputs(c: CaseName): Inputs {
  switch (c) {
    case 'matmul512':
    case 'matmul1024': {
      const n = c === 'matmul512' ? 512 : 1024
      return { n, a: rand(n * n), b: rand(n * n) }
    }
    case 'elementwise':
      return { a: rand(1 << 24) }
    case 'softmax':
      return { a: rand(4096 * 4096) }
    case 'conv2d':
      return { a: rand(8 * 64 * 56 * 56), b: rand(64 * 64 * 9) }
    case 'mlp':
      return {
        a: rand(512 * 784),
        labels: Int32Array.from({ length: 512 }, () => Math.floor(Math.random() * 10)),
      }
  }
}
