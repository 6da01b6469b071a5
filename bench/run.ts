// `npm run bench [case ...]`: tsgrad on the default device against numpy (python3),
// onnxruntime-node and PyTorch (/usr/bin/python3 with torch, when present), in the same run.
// Each case reports two tsgrad times side by side: `plain`, the median of 7 calls after 2 warm-ups
// of what users write (`f(x)` then `.realize()`, nothing disposed, so each call gets fresh output
// buffers and the garbage collector frees the old ones), and `best-of`, the best of several runs
// that dispose every output (the buffer pool hands the next run a warm buffer). Peers are timed the
// plain way; ratios are peer plain time / tsgrad plain time (>1: tsgrad faster).
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Device, jit, nn, optim, Tensor } from '../src/index.ts'
import { stats } from '../src/engine/realize.ts'
import { pendingBuilds } from '../src/runtime/cpu_quick.ts'
import { mnistStepCase, smallOpsCase, transformerCase } from './models.ts'
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

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/**
 * Steady state, not the first tier: with a cold kernel cache a kernel runs its quick first-tier build
 * (engine/tiers.ts) until gcc's full build lands in the background, which takes longer than a few
 * warm-ups of a small case (matmul 256 timed its first tier: 0.35 against 0.18 ms). Calls `f` until no
 * background build is pending (each launch polls its build and swaps), sleeping between calls so the
 * builds get the cores; at most 60 s.
 */
function settleTiers(f: () => Tensor): void {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const end = performance.now() + 60_000
  while (pendingBuilds() > 0 && performance.now() < end) {
    Atomics.wait(pause, 0, 0, 20)
    f().realize()
  }
  f().realize()
}

/** The plain user path: `f()` then realize, outputs kept until the GC takes them; median of n after warm-ups. */
function plainTime(f: () => Tensor, n = 7, warm = 2): number {
  for (let i = 0; i < warm; i++) f().realize()
  settleTiers(f)
  const ts: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    f().realize()
    ts.push(performance.now() - t0)
  }
  return median(ts)
}

/** Both times of a case: plain (what ratios use) and best-of with dispose. */
const measure = (f: () => Tensor, n: number): { plain: number; best: number } => ({
  plain: plainTime(f),
  best: tsgradTime(f, n),
})

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

/** PyTorch on the CPU, a bench-only peer: Debian's python3-torch at /usr/bin/python3, when present. */
function torchPeer(cases: readonly string[]): Record<string, number> {
  const py = '/usr/bin/python3'
  const r = spawnSync(py, [join(import.meta.dirname, 'torch_peer.py'), ...cases], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.log(
      `PyTorch peer unavailable: ${(r.stderr || r.error?.message || '').split('\n').slice(-2).join(' ')}`,
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
  // plain: the median of n calls after 2 warm-ups, each result kept until the next replaces it
  for (let i = 0; i < 2; i++) await s.run(f)
  const ts: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await s.run(f)
    ts.push(performance.now() - t0)
  }
  return median(ts)
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
  times: { plain: number; best?: number },
  unit: string,
  amount: number,
  peers: Record<string, number | undefined>,
) {
  const ms = times.plain
  const rate = (t: number) => (amount > 0 ? (amount / (t / 1e3) / 1e9).toFixed(1) : '-')
  const cells = [
    name,
    `plain ${ms.toFixed(2)} ms (${rate(ms)} ${unit})`,
    times.best === undefined ? 'best-of -' : `best-of ${times.best.toFixed(2)} ms (${rate(times.best)})`,
  ]
  for (const [peer, t] of Object.entries(peers)) {
    cells.push(
      t === undefined ? `${peer}: -` : `${peer} ${t.toFixed(2)} ms (${rate(t)}) x${(t / ms).toFixed(2)}`,
    )
  }
  rows.push(cells)
  console.log(cells.join(' | '))
}

async function main(): Promise<void> {
  if (only[0] === 'browser') {
    // in headless Chromium against the browser peers: `npm run bench -- browser [case ...]`
    await (await import('./browser/host.ts')).browserBench(only.slice(1))
    return
  }
  console.log(`tsgrad bench on ${Device.DEFAULT}, ${new Date().toISOString()}`)
  const np = ['matmul', 'elementwise', 'softmax', 'smallops'].some(want) ? numpyPeer() : {}
  const torchCases = ['matmul', 'elementwise', 'softmax', 'conv2d', 'smallops', 'transformer', 'mnist']
  const pt = torchCases.some(want) ? torchPeer(only.length ? only : torchCases) : {}
  const ort = await loadOrt()
  for (const n of [64, 256, 512, 1024, 2048]) {
    if (!want(`matmul${n}`) && !want('matmul')) continue
    const [da, db] = [randn(n * n), randn(n * n)]
    const a = new Tensor(da, { shape: [n, n] }).realize()
    const b = new Tensor(db, { shape: [n, n] }).realize()
    const ms = measure(() => a.matmul(b), n >= 2048 ? 5 : 10)
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
    report(`matmul ${n}`, ms, 'GFLOP/s', 2 * n ** 3, {
      numpy: np[`matmul${n}`],
      onnxruntime: o,
      pytorch: pt[`matmul${n}`],
    })
  }
  if (want('elementwise')) {
    const N = 1 << 24
    const dx = randn(N)
    const x = new Tensor(dx, { shape: [N] }).realize()
    const [bestEw, bestCopy] = interleaved(
      [() => x.mul(2).add(1).relu().mul(x.sigmoid()), () => x.neg()],
      8,
    ) as [number, number]
    const ms = { plain: plainTime(() => x.mul(2).add(1).relu().mul(x.sigmoid())), best: bestEw }
    const copy = { plain: plainTime(() => x.neg()), best: bestCopy }
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
      pytorch: pt.elementwise,
    })
    report('copy kernel (x.neg()) 16M', copy, 'GB/s', 8 * N, {
      numpy_neg: np.copy,
      'TypedArray.set (best)': jsCopy,
    })
    console.log(`  elementwise at ${((copy.plain / ms.plain) * 100).toFixed(0)}% of tsgrad's copy (plain)`)
  }
  if (want('softmax')) {
    const d = randn(4096 * 4096)
    const s = new Tensor(d, { shape: [4096, 4096] }).realize()
    const ms = measure(() => s.softmax(-1), 5)
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
    report('softmax 4096x4096', ms, 'GB/s', 8 * 4096 * 4096, {
      numpy: np.softmax,
      onnxruntime: o,
      pytorch: pt.softmax,
    })
  }
  if (want('conv2d')) {
    const [dx, dw] = [randn(8 * 64 * 56 * 56), randn(64 * 64 * 9)]
    const x = new Tensor(dx, { shape: [8, 64, 56, 56] }).realize()
    const w = new Tensor(dw, { shape: [64, 64, 3, 3] }).realize()
    const ms = measure(() => x.conv2d(w, { padding: 1 }), 5)
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
      pytorch: pt.conv2d,
    })
  }
  if (want('transformer')) {
    // batch 8, sequence 128, width 256, 4 heads (bench/models.ts; the same block in torch_peer.py)
    const { forward, trainStep } = transformerCase()
    const flops = 2 * 8 * 128 * (12 * 256 * 256) + 4 * 8 * 128 * 128 * 256
    report('transformer block forward (8x128x256, 4 heads)', measure(forward, 5), 'GFLOP/s', flops, {
      pytorch: pt.transformer,
    })
    report('transformer block train step (Adam)', measure(trainStep, 5), 'GFLOP/s', 3 * flops, {
      pytorch: pt['transformer-train'],
    })
  }
  if (want('mnist')) {
    const step = mnistStepCase(64)
    report('MNIST CNN train step, batch 64 (Adam)', measure(step, 5), 'GFLOP/s', 0, { pytorch: pt.mnist })
  }
  if (want('smallops')) {
    // 100 ops on 1,000 elements, each realized: the per-op overhead of an eager loop
    const f = smallOpsCase(100)
    const t = measure(f, 10)
    const per = (ms?: number) => (ms === undefined ? '-' : `${((ms / 100) * 1e3).toFixed(1)} us/op`)
    rows.push([
      'eager loop of 100 small ops (1,000 elements)',
      `plain ${per(t.plain)}`,
      `best-of ${per(t.best)}`,
      `numpy ${per(np.smallops)}`,
      `pytorch ${per(pt.smallops)}`,
    ])
    console.log(rows[rows.length - 1]!.join(' | '))
    // the same loop once V8 has optimized the path: the plain row above is the first ~1,000 ops of
    // the process, mostly V8's warm-up (interpreted code and its tier-up), not tsgrad's overhead
    for (let i = 0; i < 200; i++) f()
    const ts = measure(f, 10)
    rows.push([
      'eager loop of 100 small ops, after 20,000 ops',
      `plain ${per(ts.plain)}`,
      `best-of ${per(ts.best)}`,
    ])
    console.log(rows[rows.length - 1]!.join(' | '))
    // the same loop with a new scalar in every op: no kernel compiles after the first call
    const g = smallOpsCase(100, true)
    const c0 = stats.kernelsCompiled
    const tf = measure(g, 10)
    rows.push([
      'eager loop of 100 small ops, a new scalar each op',
      `plain ${per(tf.plain)}`,
      `best-of ${per(tf.best)}`,
      `${stats.kernelsCompiled - c0} kernels compiled`,
    ])
    console.log(rows[rows.length - 1]!.join(' | '))
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
    report('MLP 784-512-512-10 Adam step, batch 512', { plain: ms }, 'GFLOP/s', flops, {})
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
