// Long graphs: building, autograd, scheduling and codegen grow near-linearly with the graph, deep
// chains neither overflow the stack nor hand the C compiler one giant function, and give the
// values of a plain float32 recurrence.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Device, Tensor } from '../../src/index.ts'
import { clearKernelCache, stats } from '../../src/engine/realize.ts'
import { clearScheduleCache } from '../../src/schedule/cache.ts'
import { cpuMs } from '../cpu_time.ts'
import { assertClose } from '../nn/helpers.ts'

/** x -> x + 0.001 -> * 0.999 -> + 0.001 ... (n ops; `salt` changes the first constant) */
const chain = (x: Tensor, n: number, salt = 0): Tensor => {
  let y = x
  for (let i = 0; i < n; i++) y = i % 2 ? y.mul(0.999) : y.add(i === 0 ? 0.001 + salt * 1e-7 : 0.001)
  return y
}
/** the same recurrence in float32 on the host, and its derivative (0.999 per multiply) */
function chainRef(x: number, n: number): { y: number; dy: number } {
  let y = Math.fround(x)
  let dy = 1
  for (let i = 0; i < n; i++) {
    y = Math.fround(i % 2 ? y * Math.fround(0.999) : y + Math.fround(0.001))
    if (i % 2) dy *= 0.999
  }
  return { y, dy }
}

/** a wide graph of about n ops and depth log2(n): the sum of sqrt(x * c) for n/3 constants c */
const wide = (x: Tensor, n: number, salt = 0): Tensor => {
  let terms = Array.from({ length: Math.floor(n / 3) }, (_, i) => x.mul(1 + i * 1e-4 + salt * 1e-7).sqrt())
  while (terms.length > 1)
    terms = terms.flatMap((t, i) => (i % 2 ? [] : [terms[i + 1] ? t.add(terms[i + 1]!) : t]))
  return terms[0]!
}

const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]

describe('deep graphs', () => {
  test('build, backward and realize (schedule + codegen) scale near-linearly: 4k vs 16k ops', () => {
    // NULL renders every kernel and runs nothing, so this times our code, not a compiler
    // a deep chain (cut into kernels of 512 ops) and a wide graph (one kernel of n ops)
    const phases = (n: number) => {
      const t: Record<string, number> = {}
      const time = (k: string, f: () => void) => {
        // a new scalar no longer makes a new schedule or kernel (schedule/lift_graph_consts.ts):
        // forget both, so every rep schedules and renders its kernels
        clearScheduleCache()
        clearKernelCache()
        // a collection of the last rep's garbage (the GC threads count in process CPU time) landing
        // in a phase read as 9.6x on a loaded CI machine: start each phase from a collected heap
        ;(globalThis as { gc?: () => void }).gc?.()
        t[k] = Math.min(t[k] ?? Number.POSITIVE_INFINITY, cpuMs(f))
      }
      for (let rep = 0; rep < 3; rep++) {
        const x = Tensor.ones([16], { device: 'NULL', requiresGrad: true })
        let loss = x
        time('build', () => {
          loss = chain(x, n, rep + n).sum() // (caches cleared: codegen is timed too)
        })
        time('backward', () => loss.backward())
        time('realize', () => Tensor.realize(loss, x.grad!))
        let w = x
        time('build wide', () => {
          w = wide(x, n, rep + n)
        })
        time('realize wide', () => w.realize())
      }
      return t
    }
    phases(1000) // warm up the JIT
    const small = phases(4000)
    const large = phases(16000)
    for (const k of Object.keys(small)) {
      // linear is 4x, quadratic 16x (before: build 21x, codegen 22x); phases under 50 ms are noise
      if (large[k]! < 50) continue
      const ratio = large[k]! / small[k]!
      assert.ok(
        ratio < 9,
        `${k}: ${small[k]!.toFixed(0)} ms at 4k ops, ${large[k]!.toFixed(0)} ms at 16k (${ratio.toFixed(1)}x)`,
      )
    }
  })

  test('a 2,000-op elementwise chain is cut into kernels of at most 512 ops', () => {
    const x = Tensor.ones([16], { device: 'NULL' })
    const k0 = stats.kernelsRun
    chain(x, 2000).realize()
    assert.equal(stats.kernelsRun - k0, 4)
    const k1 = stats.kernelsRun
    chain(x, 500).realize()
    assert.equal(stats.kernelsRun - k1, 1)
  })

  for (const device of devices)
    test(`20,000-op chains through softmax, matmul and backward on ${device}`, async () => {
      const n = 20000
      const x0 = [0.5, -1, 2, 0.25]
      const { y: y0, dy } = chainRef(1, n)
      const ys = x0.map((v) => chainRef(v, n).y)
      const x = new Tensor(x0, { device, requiresGrad: true })
      const y = chain(x, n)
      // softmax over the chain's output (its row loops would hold the chain three times)
      const e = ys.map((v) => Math.exp(v - Math.max(...ys)))
      const sm = e.map((v) => v / e.reduce((a, b) => a + b, 0))
      assertClose(await y.softmax(-1).data(), sm, 1e-4, 'softmax')
      // a matmul reading the chain through a broadcast
      const w = new Tensor([[1], [2], [3], [4]], { device })
      assertClose(
        await y.reshape([1, 4]).matmul(w).data(),
        [ys[0]! + 2 * ys[1]! + 3 * ys[2]! + 4 * ys[3]!],
        1e-4,
      )
      // d(sum y)/dx = product of the multipliers
      y.sum().backward()
      assertClose(await x.grad!.data(), [dy, dy, dy, dy], 1e-4, 'grad')
      const one = chain(Tensor.ones([1], { device }), n)
      assertClose(await one.data(), [y0], 1e-4, 'chain')
    })
})
