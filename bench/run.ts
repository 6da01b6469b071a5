// `npm run bench`: tsgrad on the default device against numpy (python3) and onnxruntime-node, in
// the same run, printing times and ratios. Best of several runs after a warm-up (the machine is
// shared and noisy); ratios are peer time / tsgrad time (>1: tsgrad faster).
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Device, jit, nn, optim, Tensor } from '../src/index.ts'
import { onnxModel } from './onnx.ts'

const only = process.argv.slice(2)
const want = (name: string) => only.length === 0 || only.some((o) => name.startsWith(o))

function best(fn: () => void, n: number): number {
  fn()
  let b = Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    fn()
    b = Math.min(b, performance.now() - t0)
  }
  return b
}
// outputs are disposed after each run, as a loop that owns its results would
/** Best times of several cases measured in alternation, so a ratio between them sees the same load. */
function interleaved(fs: (() => Tensor)[], n: number): number[] {
  const run = (f: () => Tensor) => f().realize().dispose()
  for (const f of fs) run(f)
  const b = fs.map(() => Number.POSITIVE_INFINITY)
  for (let i = 0; i < n; i++)
    fs.forEach((f, j) => {
      const t0 = performance.now()
      run(f)
      b[j] = Math.min(b[j]!, performance.now() - t0)
    })
  return b
}
const tsgradTime = (f: () => Tensor, n: number): number => interleaved([f], n)[0]!

// ---- peers ----
function numpyPeer(): Record<string, number> {
  const r = spawnSync('python3', [join(import.meta.dirname, 'numpy_peer.py')], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.log(
      `numpy peer unavailable: ${(r.stderr || r.error?.message || '').split('\n').slice(-2).join(' ')}`,
    )
    return {}
  }
  return JSON.parse(r.stdout)
}

type Ort = typeof import('onnxruntime-node')
async function loadOrt(): Promise<Ort | undefined> {
  try {
    return await import('onnxruntime-node')
  } catch {
    console.log('onnxruntime-node unavailable (npm install it for that peer)')
    return undefined
  }
}

async function ortTime(
  ort: Ort,
  model: Uint8Array,
  feeds: Record<string, [Float32Array, number[]]>,
  n: number,
): Promise<number> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1 })
  const f: Record<string, InstanceType<Ort['Tensor']>> = {}
  for (const [k, [d, shape]] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', d, shape)
  await s.run(f)
  let b = Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await s.run(f)
    b = Math.min(b, performance.now() - t0)
  }
  return b
}

const randn = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1)

/** The MLP case (784-512-512-10, Adam, batch 512), shared by the mlp and jit benchmarks. */
function mlpCase() {
  const layers = [new nn.Linear(784, 512), new nn.Linear(512, 512), new nn.Linear(512, 10)]
  const opt = new optim.Adam(nn.getParameters(layers), { lr: 1e-3 })
  const x = new Tensor(randn(512 * 784), { shape: [512, 784] }).realize()
  const labels = Int32Array.from({ length: 512 }, () => Math.floor(Math.random() * 10))
  const y = new Tensor(labels, { shape: [512] }).realize()
  return { layers, opt, x, y }
}

// ---- report ----
const rows: string[][] = []
function report(
  name: string,
  ms: number,
  unit: string,
  amount: number,
  peers: Record<string, number | undefined>,
) {
  const rate = (t: number) => (amount / (t / 1e3) / 1e9).toFixed(1)
  const cells = [name, `${ms.toFixed(2)} ms`, `${rate(ms)} ${unit}`]
  for (const [peer, t] of Object.entries(peers)) {
    cells.push(
      t === undefined ? `${peer}: -` : `${peer} ${t.toFixed(2)} ms (${rate(t)}) x${(t / ms).toFixed(2)}`,
    )
  }
  rows.push(cells)
  console.log(cells.join(' | '))
}

async function main(): Promise<void> {
  console.log(`tsgrad bench on ${Device.DEFAULT}, ${new Date().toISOString()}`)
  const np = want('matmul') || want('elementwise') || want('softmax') ? numpyPeer() : {}
  const ort = await loadOrt()
  for (const n of [256, 512, 1024, 2048]) {
    if (!want(`matmul${n}`) && !want('matmul')) continue
    const [da, db] = [randn(n * n), randn(n * n)]
    const a = new Tensor(da, { shape: [n, n] }).realize()
    const b = new Tensor(db, { shape: [n, n] }).realize()
    const ms = tsgradTime(() => a.matmul(b), n >= 2048 ? 5 : 10)
    const o = ort
      ? await ortTime(
          ort,
          onnxModel(
            [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }],
            { a: [n, n], b: [n, n] },
            { c: [n, n] },
          ),
          { a: [da, [n, n]], b: [db, [n, n]] },
          5,
        )
      : undefined
    report(`matmul ${n}`, ms, 'GFLOP/s', 2 * n ** 3, { numpy: np[`matmul${n}`], onnxruntime: o })
  }
  if (want('elementwise')) {
    const N = 1 << 24
    const dx = randn(N)
    const x = new Tensor(dx, { shape: [N] }).realize()
    const [ms, copy] = interleaved([() => x.mul(2).add(1).relu().mul(x.sigmoid()), () => x.neg()], 8) as [
      number,
      number,
    ]
    const dst = new Float32Array(N)
    const jsCopy = best(() => dst.set(dx), 5)
    const o = ort
      ? await ortTime(
          ort,
          onnxModel(
            [
              { op: 'Mul', inputs: ['x', 'two'], outputs: ['t1'] },
              { op: 'Add', inputs: ['t1', 'one'], outputs: ['t2'] },
              { op: 'Relu', inputs: ['t2'], outputs: ['t3'] },
              { op: 'Sigmoid', inputs: ['x'], outputs: ['t4'] },
              { op: 'Mul', inputs: ['t3', 't4'], outputs: ['y'] },
            ],
            { x: [N] },
            { y: [N] },
            { two: 2, one: 1 },
          ),
          { x: [dx, [N]] },
          5,
        )
      : undefined
    report('elementwise relu(x*2+1)*sigmoid(x) 16M', ms, 'GB/s', 8 * N, {
      numpy: np.elementwise,
      onnxruntime: o,
    })
    report('copy kernel (x.neg()) 16M', copy, 'GB/s', 8 * N, {
      numpy_copy: np.copy,
      'TypedArray.set': jsCopy,
    })
    console.log(`  elementwise at ${((copy / ms) * 100).toFixed(0)}% of tsgrad's copy bandwidth`)
  }
  if (want('softmax')) {
    const d = randn(4096 * 4096)
    const s = new Tensor(d, { shape: [4096, 4096] }).realize()
    const ms = tsgradTime(() => s.softmax(-1), 5)
    const o = ort
      ? await ortTime(
          ort,
          onnxModel(
            [{ op: 'Softmax', inputs: ['s'], outputs: ['y'], int: { axis: -1 } }],
            { s: [4096, 4096] },
            { y: [4096, 4096] },
          ),
          { s: [d, [4096, 4096]] },
          5,
        )
      : undefined
    report('softmax 4096x4096', ms, 'GB/s', 8 * 4096 * 4096, { numpy: np.softmax, onnxruntime: o })
  }
  if (want('conv2d')) {
    const [dx, dw] = [randn(8 * 64 * 56 * 56), randn(64 * 64 * 9)]
    const x = new Tensor(dx, { shape: [8, 64, 56, 56] }).realize()
    const w = new Tensor(dw, { shape: [64, 64, 3, 3] }).realize()
    const ms = tsgradTime(() => x.conv2d(w, { padding: 1 }), 5)
    const o = ort
      ? await ortTime(
          ort,
          onnxModel(
            [
              {
                op: 'Conv',
                inputs: ['x', 'w'],
                outputs: ['y'],
                ints: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] },
              },
            ],
            { x: [8, 64, 56, 56], w: [64, 64, 3, 3] },
            { y: [8, 64, 56, 56] },
          ),
          { x: [dx, [8, 64, 56, 56]], w: [dw, [64, 64, 3, 3]] },
          5,
        )
      : undefined
    report('conv2d 8x64x56x56, 64 3x3 pad 1', ms, 'GFLOP/s', 2 * 8 * 64 * 64 * 56 * 56 * 9, {
      onnxruntime: o,
    })
  }
  if (want('mlp')) {
    const { layers, opt, x, y } = mlpCase()
    const [l1, l2, l3] = layers as [nn.Linear, nn.Linear, nn.Linear]
    const step = () => {
      const Tprev = Tensor.training
      Tensor.training = true
      opt.zeroGrad()
      const loss = l3.call(l2.call(l1.call(x).relu()).relu()).sparseCategoricalCrossentropy(y)
      loss.backward()
      opt.step()
      Tensor.training = Tprev
    }
    const ms = best(step, 10)
    const flops = 2 * 3 * 512 * (784 * 512 + 512 * 512 + 512 * 10)
    report('MLP 784-512-512-10 Adam step, batch 512', ms, 'GFLOP/s', flops, {})
  }
  if (want('jit')) {
    // per-kernel launch overhead: a chain of K tiny kernels (16 floats each), eager vs replayed
    const K = 200
    const chain = (x: Tensor) => {
      let y = x
      for (let k = 0; k < K; k++) y = y.add(1).contiguous()
      return y
    }
    const x = Tensor.ones([16]).contiguous().realize()
    const eagerMs = best(() => chain(x).realize(), 10)
    const jitted = jit(chain)
    jitted(x)
    jitted(x)
    // 25 samples of 20 replays each: best and median per kernel
    const samples = Array.from({ length: 25 }, () => {
      const t0 = performance.now()
      for (let i = 0; i < 20; i++) jitted(x)
      return (performance.now() - t0) / 20
    }).sort((a, b) => a - b)
    const us = (ms: number) => ((ms / K) * 1e3).toFixed(2)
    rows.push([
      `jit replay, ${K} tiny kernels`,
      `${us(samples[0]!)} us/kernel best, ${us(samples[12]!)} median`,
      `eager (graph + schedule + launch) ${((eagerMs / K) * 1e3).toFixed(1)} us/kernel`,
    ])
    console.log(rows[rows.length - 1]!.join(' | '))
    // the whole train step as one jitted call (same model as the mlp case)
    const mlp = mlpCase()
    const trainStep = (ls: nn.Linear[], o: optim.Optimizer) => (xs: Tensor, ys: Tensor) => {
      const loss = ls[2]!.call(ls[1]!.call(ls[0]!.call(xs).relu()).relu()).sparseCategoricalCrossentropy(ys)
      o.zeroGrad()
      loss.backward()
      Tensor.realize(loss, ...o.scheduleStep())
      return loss
    }
    const compare = (name: string, step: (xs: Tensor, ys: Tensor) => Tensor, xs: Tensor, ys: Tensor) => {
      const jstep = jit(step)
      const eager = best(() => step(xs, ys), 10)
      const replay = best(() => jstep(xs, ys), 10)
      const kernels = jstep.jit.captured(xs, ys)?.stats.kernels ?? 0
      rows.push([name, `jit ${replay.toFixed(2)} ms (${kernels} kernels)`, `eager ${eager.toFixed(2)} ms`])
      console.log(rows[rows.length - 1]!.join(' | '))
    }
    compare('MLP 784-512-512-10 Adam step, batch 512', trainStep(mlp.layers, mlp.opt), mlp.x, mlp.y)
    // the quick-start model: small kernels, where scheduling dominated the eager step
    const s = [new nn.Linear(2, 64), new nn.Linear(64, 64), new nn.Linear(64, 3)]
    const sOpt = new optim.Adam(nn.getParameters(s), { lr: 1e-3 })
    const sx = new Tensor(randn(256 * 2), { shape: [256, 2] }).realize()
    const sy = new Tensor(Int32Array.from({ length: 256 }, (_, i) => i % 3)).realize()
    compare('MLP 2-64-64-3 Adam step, batch 256', trainStep(s, sOpt), sx, sy)
  }
  if (want('latency')) {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-bench-cache-'))
    const code = `import('${join(import.meta.dirname, '../src/index.ts')}').then(({ Tensor }) => { const x = Tensor.ones([1000]).realize(); const t0 = performance.now(); x.mul(1.2345).add(6.789).exp().realize(); console.log(performance.now() - t0) })`
    const once = () =>
      Number(
        spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
          encoding: 'utf8',
          env: { ...process.env, TSGRAD_CACHE_DIR: dir },
        }).stdout.trim(),
      )
    const cold = once()
    const warm = once()
    rows.push([
      'first call of a fresh kernel',
      `${cold.toFixed(1)} ms cold cache`,
      `${warm.toFixed(1)} ms warm disk cache`,
    ])
    console.log(rows[rows.length - 1]!.join(' | '))
  }
  if (want('matvec')) {
    // decode matvec on GGUF Q8_0/Q4_0/F16 weights next to a copy of as many bytes (bench/gguf_matvec.ts)
    const { ggufMatvec } = await import('./gguf_matvec.ts')
    rows.push(...(await ggufMatvec()))
  }
  if (only.includes('llm')) {
    // a LLaMA-3.2-1B-shaped model in Q8_0/Q4_0/F16 against llama.cpp (bench/llm.ts). Only when
    // named: it writes ~4.5 GB of model files on first use and runs for many minutes.
    // `npm run bench -- llm [Q8_0 Q4_0 F16] [--threads N]`
    const { llmBench } = await import('./llm.ts')
    rows.push(...(await llmBench(process.argv.slice(2))))
  }
  if (only.includes('llama-train'))
    rows.push(...(await (await import('./llama_train.ts')).llamaTrainBench([]))) // train-llama small vs PyTorch; flash vs math attention
  if (want('viz')) {
    const { vizOverhead } = await import('./viz_overhead.ts')
    const r = vizOverhead()
    const pct = ((r.off - r.stripped) / r.stripped) * 100
    rows.push([
      'VIZ overhead, realize loop (64x64 fused kernel)',
      `VIZ off ${r.off.toFixed(1)} µs/realize`,
      `no hooks ${r.stripped.toFixed(1)} µs (${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%)`,
      `VIZ=-1 recording ${r.recording.toFixed(1)} µs`,
    ])
    console.log(rows[rows.length - 1]!.join(' | '))
  }
}

await main()
