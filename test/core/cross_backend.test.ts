// Cross-backend check: randomly generated graphs (elementwise, reduce and movement mixes, odd
// sizes) give the same values on the CPU device (C, with the optimizer's heuristics) and on the
// WASM device (WebAssembly, with its heuristics) as on the JS reference device (no opts). Integer
// graphs must match exactly, wraparound included.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Device, dtypes, startWebGPU, Tensor } from '../../src/index.ts'
import { allclose, hasCPU, makeRng } from '../helpers.ts'

type Rng = () => number
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!
const SIZES = [1, 2, 3, 5, 7, 8, 13, 16, 17, 33]

/** A random float graph as a function of its inputs, so it can be built on each device. */
function randomGraph(rng: Rng, inputs: Tensor[]): Tensor {
  const pool: Tensor[] = [...inputs]
  const steps = 3 + Math.floor(rng() * 8)
  let t = inputs[0]!
  for (let i = 0; i < steps; i++) {
    const kind = pick(rng, ['unary', 'binary', 'binary', 'move', 'reduce'])
    if (kind === 'unary') {
      t = pick(rng, [
        (x: Tensor) => x.exp().mul(0.1),
        (x: Tensor) => x.abs().add(1).log(),
        (x: Tensor) => x.sin(),
        (x: Tensor) => x.tanh(),
        (x: Tensor) => x.relu(),
        (x: Tensor) => x.sigmoid(),
        (x: Tensor) => x.abs().sqrt(),
        (x: Tensor) => x.mul(x),
        (x: Tensor) => x.neg().exp2().mul(0.5),
      ])(t)
    } else if (kind === 'binary') {
      const o = pick(rng, pool)
      // broadcast o against t along trailing axes when shapes differ
      const other = o.numel() === t.numel() ? o.reshape(t.shape) : o.sum().reshape(t.shape.map(() => 1))
      t = pick(rng, [
        (a: Tensor, b: Tensor) => a.add(b),
        (a: Tensor, b: Tensor) => a.mul(b),
        (a: Tensor, b: Tensor) => a.sub(b),
        (a: Tensor, b: Tensor) => a.maximum(b),
        (a: Tensor, b: Tensor) => a.div(b.abs().add(1)),
        (a: Tensor, b: Tensor) => a.lt(b).where(a, b.mul(2)),
      ])(t, other)
    } else if (kind === 'move' && t.ndim >= 1) {
      const ax = Math.floor(rng() * t.ndim)
      t = pick(rng, [
        (x: Tensor) => x.flip(ax),
        (x: Tensor) => (x.ndim >= 2 ? x.transpose(0, x.ndim - 1) : x),
        (x: Tensor) => x.pad(x.shape.map((_, i) => (i === ax ? [1, 2] : [0, 0]) as [number, number])),
        (x: Tensor) =>
          x.shape[ax]! > 2 ? x.shrink(x.shape.map((d, i) => (i === ax ? [1, d - 1] : null))) : x,
        (x: Tensor) => x.reshape([x.numel()]),
        (x: Tensor) =>
          x
            .unsqueeze(0)
            .expand([2, ...x.shape])
            .mul(1.5),
      ])(t)
    } else if (t.ndim >= 1) {
      const ax = Math.floor(rng() * t.ndim)
      t = pick(rng, [
        (x: Tensor) => x.sum(ax),
        (x: Tensor) => x.max(ax, { keepdim: true }),
        (x: Tensor) => x.sum(ax, { keepdim: true }).add(x),
        (x: Tensor) => x.softmax(ax),
      ])(t)
    }
    pool.push(t)
  }
  return t
}

function randomShape(rng: Rng): number[] {
  const nd = 1 + Math.floor(rng() * 3)
  return Array.from({ length: nd }, () => pick(rng, SIZES))
}

// WEBGPU starts asynchronously on a slow software adapter: it is checked in its own pass of the
// test runner (DEVICE=WEBGPU), which checks only it
const onlyWebGPU = Device.DEFAULT === 'WEBGPU'
const backends = [
  { dev: 'CPU', what: 'optimized C', skip: onlyWebGPU || !hasCPU },
  { dev: 'WASM', what: 'WebAssembly', skip: onlyWebGPU || Device.unavailableReason('WASM') !== undefined },
  { dev: 'WEBGPU', what: 'WGSL', skip: !onlyWebGPU },
]
for (const { dev, what, skip } of backends)
  describe(`cross-backend: ${dev} (${what}) vs JS (reference)`, { skip }, () => {
    test('60 random float graphs agree', async () => {
      for (let g = 0; g < 60; g++) {
        const rng = makeRng(1000 + g)
        const shape = randomShape(rng)
        const n = shape.reduce((a, b) => a * b, 1)
        const datas = [0, 1].map(() => Float32Array.from({ length: n }, () => rng() * 4 - 2))
        const seed = 5000 + g
        const build = (device: string) =>
          randomGraph(
            makeRng(seed),
            datas.map((d) => new Tensor(d, { shape, device })),
          )
        const cpu = build(dev)
        const js = build('JS')
        assert.deepEqual(cpu.shape, js.shape, `graph ${g}: shapes`)
        const [a, b] = [await cpu.data(), await js.data()]
        allclose(a as Float32Array, b as Float32Array, {
          rtol: 2e-4,
          atol: 2e-5,
          label: `graph ${g} (${shape})`,
        })
      }
    })

    // float16 compute (WEBGPU: WGSL f16 with shader-f16): every op rounds to float16 like the JS
    // reference, so the graphs differ only by the platforms' transcendentals (an ulp of float16 or
    // less per op, carried through the later ops), measured against the largest value (lavapipe:
    // within 0.62 of the tolerance; CPU matches JS exactly). Graph 11 overflows float16 to inf,
    // which a device keeping float16 values in float32 range would miss.
    test('20 random float16 graphs agree', async (t) => {
      if (dev === 'WEBGPU') await startWebGPU()
      if (!Device.supportsDType(dev, dtypes.float16)) return t.skip(`${dev} has no float16 here`)
      for (let g = 0; g < 20; g++) {
        const rng = makeRng(3000 + g)
        const shape = randomShape(rng)
        const n = shape.reduce((a, b) => a * b, 1)
        const datas = [0, 1].map(() => Float32Array.from({ length: n }, () => rng() * 4 - 2))
        const build = (device: string) =>
          randomGraph(
            makeRng(7000 + g),
            datas.map((d) => new Tensor(d, { shape, device }).cast(dtypes.float16)),
          ).cast(dtypes.float32)
        const [a, b] = [await build(dev).data(), await build('JS').data()]
        const scale = Math.max(
          1,
          ...Array.from(b as Float32Array, (v) => (Number.isFinite(v) ? Math.abs(v) : 0)),
        )
        allclose(a as Float32Array, b as Float32Array, {
          rtol: 1e-2,
          atol: 4e-3 * scale,
          label: `float16 graph ${g} (${shape})`,
        })
      }
    })

    test('matmul-shaped reductions with odd and tile-sized dimensions agree', async () => {
      const rng = makeRng(77)
      for (const [m, k, n] of [
        [1, 1, 1],
        [3, 5, 7],
        [8, 16, 32],
        [33, 17, 64],
        [64, 9, 48],
        [2, 100, 3],
      ] as const) {
        const a = Float32Array.from({ length: m * k }, () => rng() - 0.5)
        const b = Float32Array.from({ length: k * n }, () => rng() - 0.5)
        const run = (device: string) =>
          new Tensor(a, { shape: [m, k], device })
            .matmul(new Tensor(b, { shape: [k, n], device }))
            .relu()
            .data()
        allclose((await run(dev)) as Float32Array, (await run('JS')) as Float32Array, {
          rtol: 1e-4,
          atol: 1e-5,
          label: `matmul ${m}x${k}x${n}`,
        })
      }
    })

    test('int32 graphs agree exactly, including wraparound, division by zero and shifts', async () => {
      const rng = makeRng(9)
      const n = 257
      const big = Int32Array.from({ length: n }, () => Math.floor((rng() - 0.5) * 2 ** 32))
      const small = Int32Array.from({ length: n }, () => Math.floor((rng() - 0.5) * 20))
      const run = async (device: string) => {
        const a = new Tensor(big, { shape: [n], device, dtype: dtypes.int32 })
        const b = new Tensor(small, { shape: [n], device, dtype: dtypes.int32 })
        const outs = [
          a.add(a),
          a.mul(b.add(100000)),
          a.neg(),
          a.idiv(b),
          a.mod(b),
          a.lshift(3),
          a.rshift(5),
          a.bitwiseXor(b),
          a.cast(dtypes.float32).mul(3.7).cast(dtypes.int32),
          a.sum(),
        ]
        return Promise.all(outs.map(async (t) => Array.from((await t.data()) as Int32Array)))
      }
      const [c, j] = [await run(dev), await run('JS')]
      for (let i = 0; i < c.length; i++) assert.deepEqual(c[i], j[i], `int graph output ${i}`)
    })
  })
