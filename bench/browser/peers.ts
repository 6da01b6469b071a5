// The browser bench's peers, each written the way its users write it: jax-js (wasm and webgpu;
// ownership by reference counts, `jit` for fused graphs), TensorFlow.js (wasm and webgpu backends;
// `tidy`, `dispose`), onnxruntime-web (wasm; a one-op ONNX graph per case, no training). They are
// bench-only packages, loaded from URLs the host serves (bench/peers/setup-browser-peers.sh
// installs them); a missing one is skipped with a note. The peers' APIs are typed here only as far
// as the bench uses them.
import { onnxModel } from '../onnx.ts'
import type { CaseName, Impl, Inputs, Timed } from './cases.ts'

/** URLs of the peer modules, as the host serves them */
export const PEER_URLS = {
  jax: '/peer_modules/@jax-js/jax/dist/index.js',
  tfjs: '/peer_bundles/tfjs.js',
  ort: '/peer_modules/onnxruntime-web/dist/ort.wasm.min.mjs',
}
const SETUP = 'sh bench/peers/setup-browser-peers.sh'

// the peers' own types are not installed with the project
type Any = any
const load = (url: string): Promise<Any> => import(/* @vite-ignore */ url)

export async function loadPeers(log: (s: string) => void, threads?: number): Promise<Impl[]> {
  const impls: Impl[] = []
  const threadCount = threads ?? navigator.hardwareConcurrency
  try {
    const jax = await load(PEER_URLS.jax)
    const devices: string[] = await jax.init()
    for (const d of ['wasm', 'webgpu']) {
      if (d === 'webgpu' && threads === 1) continue
      if (devices.includes(d)) impls.push(jaxImpl(jax, d))
      else log(`jax-js ${d} unavailable here`)
    }
  } catch (e) {
    log(`jax-js not loaded (${(e as Error).message}); install the browser peers: ${SETUP}`)
  }
  try {
    const m = await load(PEER_URLS.tfjs)
    m.setWasmPaths('/peer_modules/@tensorflow/tfjs-backend-wasm/dist/')
    m.setThreadsCount(threadCount)
    impls.push(tfjsImpl(m.tf, 'wasm'))
    if (threads !== 1) impls.push(tfjsImpl(m.tf, 'webgpu'))
  } catch (e) {
    log(`TensorFlow.js not loaded (${(e as Error).message}); install the browser peers: ${SETUP}`)
  }
  try {
    const ort = await load(PEER_URLS.ort)
    ort.env.wasm.wasmPaths = '/peer_modules/onnxruntime-web/dist/'
    ort.env.wasm.numThreads = threadCount
    impls.push(ortImpl(ort))
  } catch (e) {
    log(`onnxruntime-web not loaded (${(e as Error).message}); install the browser peers: ${SETUP}`)
  }
  return impls
}

function jaxImpl(jax: Any, device: string): Impl {
  const { numpy: np, nn } = jax
  // the arrays a setup made (and the MLP's latest parameters): disposed by free()
  let held: Any[] = []
  const put = (d: Float32Array, shape: number[]) => {
    const a = np.array(d, { shape, device })
    held.push(a)
    return a
  }
  // data() consumes the result: nothing is left to free
  const read =
    (f: () => Any): Timed =>
    async () => {
      await f().data()
    }
  return {
    name: `jax-js ${device}`,
    kind: device === 'webgpu' ? 'webgpu' : 'wasm',
    free: () => {
      for (const a of held) a.dispose()
      held = []
    },
    setup: async (c: CaseName, x: Inputs) => {
      switch (c) {
        case 'matmul512':
        case 'matmul1024': {
          const [a, b] = [put(x.a!, [x.n!, x.n!]), put(x.b!, [x.n!, x.n!])]
          return read(() => np.matmul(a.ref, b.ref))
        }
        case 'elementwise': {
          const t = put(x.a!, [x.a!.length])
          const f = jax.jit((v: Any) => nn.relu(v.ref.mul(2).add(1)).mul(nn.sigmoid(v)))
          return read(() => f(t.ref))
        }
        case 'softmax': {
          const t = put(x.a!, [4096, 4096])
          const f = jax.jit((v: Any) => nn.softmax(v, -1))
          return read(() => f(t.ref))
        }
        case 'conv2d': {
          const [t, w] = [put(x.a!, [8, 64, 56, 56]), put(x.b!, [64, 64, 3, 3])]
          return read(() => jax.lax.conv(t.ref, w.ref, [1, 1], 'SAME'))
        }
        case 'mlp': {
          const sizes = [784, 512, 512, 10]
          let params: Any = {}
          for (let i = 0; i < 3; i++) {
            const [fi, fo] = [sizes[i]!, sizes[i + 1]!]
            const w = Float32Array.from({ length: fi * fo }, () => (Math.random() * 2 - 1) / Math.sqrt(fi))
            params[`w${i}`] = put(w, [fi, fo])
            params[`b${i}`] = put(new Float32Array(fo), [fo])
          }
          const xs = put(x.a!, [512, 784])
          const onehot = new Float32Array(512 * 10)
          for (let i = 0; i < 512; i++) onehot[i * 10 + x.labels![i]!] = 1
          const ys = put(onehot, [512, 10])
          const loss = (p: Any, xb: Any, yb: Any) => {
            const h1 = nn.relu(np.matmul(xb, p.w0).add(p.b0))
            const h2 = nn.relu(np.matmul(h1, p.w1).add(p.b1))
            const logits = np.matmul(h2, p.w2).add(p.b2)
            return nn
              .logSoftmax(logits, -1)
              .mul(yb)
              .sum()
              .mul(-1 / 512)
          }
          const step = jax.jit((p: Any, xb: Any, yb: Any) => {
            const [l, g] = jax.valueAndGrad(loss)(jax.tree.ref(p), xb, yb)
            return [l, jax.tree.map((w: Any, gw: Any) => w.sub(gw.mul(0.01)), p, g)]
          })
          held = [xs, ys]
          return async () => {
            const [l, next] = step(params, xs.ref, ys.ref)
            params = next
            held = [xs, ys, ...Object.values(params)]
            await l.data()
          }
        }
      }
    },
  }
}

function tfjsImpl(tf: Any, backend: string): Impl {
  const timed =
    (f: () => Any): Timed =>
    async () => {
      const y = tf.tidy(f)
      await y.data()
      return () => y.dispose()
    }
  return {
    name: `TF.js ${backend}`,
    kind: backend === 'webgpu' ? 'webgpu' : 'wasm',
    free: () => {
      tf.engine().endScope()
      tf.disposeVariables()
    },
    setup: async (c: CaseName, x: Inputs) => {
      if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not start`)
      await tf.ready()
      tf.engine().startScope() // the inputs, freed by free()
      switch (c) {
        case 'matmul512':
        case 'matmul1024': {
          const [a, b] = [tf.tensor2d(x.a!, [x.n!, x.n!]), tf.tensor2d(x.b!, [x.n!, x.n!])]
          return timed(() => tf.matMul(a, b))
        }
        case 'elementwise': {
          const t = tf.tensor1d(x.a!)
          return timed(() => tf.mul(tf.relu(tf.add(tf.mul(t, 2), 1)), tf.sigmoid(t)))
        }
        case 'softmax': {
          const t = tf.tensor2d(x.a!, [4096, 4096])
          return timed(() => tf.softmax(t))
        }
        case 'conv2d': {
          // TF.js convolves channels-last: the same sizes as NHWC and HWIO
          const [t, w] = [tf.tensor4d(x.a!, [8, 56, 56, 64]), tf.tensor4d(x.b!, [3, 3, 64, 64])]
          return timed(() => tf.conv2d(t, w, 1, 'same'))
        }
        case 'mlp': {
          const sizes = [784, 512, 512, 10]
          const vars: Any[] = []
          for (let i = 0; i < 3; i++) {
            vars.push(tf.variable(tf.randomUniform([sizes[i]!, sizes[i + 1]!], -0.05, 0.05)))
            vars.push(tf.variable(tf.zeros([sizes[i + 1]!])))
          }
          const xs = tf.tensor2d(x.a!, [512, 784])
          const ys = tf.oneHot(tf.tensor1d(x.labels!, 'int32'), 10)
          const opt = tf.train.sgd(0.01)
          return async () => {
            const l = opt.minimize(() => {
              const h1 = tf.relu(tf.add(tf.matMul(xs, vars[0]), vars[1]))
              const h2 = tf.relu(tf.add(tf.matMul(h1, vars[2]), vars[3]))
              return tf.losses.softmaxCrossEntropy(ys, tf.add(tf.matMul(h2, vars[4]), vars[5]))
            }, true)
            await l.data()
            return () => l.dispose()
          }
        }
      }
    },
  }
}

function ortImpl(ort: Any): Impl {
  let last: Any
  const session = async (
    nodes: Parameters<typeof onnxModel>[0],
    inputs: Record<string, [Float32Array, number[]]>,
    out: number[],
    consts?: Record<string, number>,
  ): Promise<Timed> => {
    const shapes = Object.fromEntries(Object.entries(inputs).map(([k, [, s]]) => [k, s]))
    const s = await ort.InferenceSession.create(onnxModel(nodes, shapes, { y: out }, consts), {
      executionProviders: ['wasm'],
    })
    last = s
    const feeds = Object.fromEntries(
      Object.entries(inputs).map(([k, [d, shape]]) => [k, new ort.Tensor('float32', d, shape)]),
    )
    return async () => {
      const r = await s.run(feeds)
      return () => r.y.dispose()
    }
  }
  return {
    name: 'onnxruntime-web wasm',
    kind: 'wasm',
    free: () => {
      last?.release()
      last = undefined
    },
    setup: async (c: CaseName, x: Inputs) => {
      switch (c) {
        case 'matmul512':
        case 'matmul1024': {
          const n = x.n!
          return session(
            [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
            { a: [x.a!, [n, n]], b: [x.b!, [n, n]] },
            [n, n],
          )
        }
        case 'elementwise': {
          const N = x.a!.length
          return session(
            [
              { op: 'Mul', inputs: ['x', 'two'], outputs: ['t1'] },
              { op: 'Add', inputs: ['t1', 'one'], outputs: ['t2'] },
              { op: 'Relu', inputs: ['t2'], outputs: ['t3'] },
              { op: 'Sigmoid', inputs: ['x'], outputs: ['t4'] },
              { op: 'Mul', inputs: ['t3', 't4'], outputs: ['y'] },
            ],
            { x: [x.a!, [N]] },
            [N],
            { two: 2, one: 1 },
          )
        }
        case 'softmax':
          return session(
            [{ op: 'Softmax', inputs: ['s'], outputs: ['y'], int: { axis: -1 } }],
            { s: [x.a!, [4096, 4096]] },
            [4096, 4096],
          )
        case 'conv2d':
          return session(
            [
              {
                op: 'Conv',
                inputs: ['x', 'w'],
                outputs: ['y'],
                ints: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] },
              },
            ],
            { x: [x.a!, [8, 64, 56, 56]], w: [x.b!, [64, 64, 3, 3]] },
            [8, 64, 56, 56],
          )
        case 'mlp':
          return undefined // inference only (training needs onnxruntime-web's training build)
      }
    },
  }
}
