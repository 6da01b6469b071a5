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

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2
}
/** k of t ~ n^k: the least-squares slope of log t over log n */
function fittedExponent(ns: readonly number[], ts: readonly number[]): number {
  const xs = ns.map(Math.log)
  const ys = ts.map(Math.log)
  const mx = xs.reduce((a, b) => a + b) / xs.length
  const my = ys.reduce((a, b) => a + b) / ys.length
  let sxy = 0
  let sxx = 0
  xs.forEach((x, i) => {
    sxy += (x - mx) * (ys[i]! - my)
    sxx += (x - mx) ** 2
  })
  return sxy / sxx
}

const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]

describe('deep graphs', () => {
  test('build, backward and realize (schedule + codegen) scale near-linearly: 1k to 16k ops', () => {
    // NULL renders every kernel and runs nothing, so this times our code, not a compiler
    // a deep chain (cut into kernels of 512 ops) and a wide graph (one kernel of n ops)
    const once = (n: number, salt: number): Record<string, number> => {
      const t: Record<string, number> = {}
      const time = (k: string, f: () => void) => {
        // a new scalar no longer makes a new schedule or kernel (schedule/lift_graph_consts.ts):
        // forget both, so every rep schedules and renders its kernels
        clearScheduleCache()
        clearKernelCache()
        // a collection of the last phase's garbage (the GC threads count in process CPU time)
        // landing in a phase inflates it: start each phase from a collected heap
        ;(globalThis as { gc?: () => void }).gc?.()
        t[k] = cpuMs(f)
      }
      const x = Tensor.ones([16], { device: 'NULL', requiresGrad: true })
      let loss = x
      time('build', () => {
        loss = chain(x, n, salt).sum() // (caches cleared: codegen is timed too)
      })
      time('backward', () => loss.backward())
      time('realize', () => Tensor.realize(loss, x.grad!))
      let w = x
      time('build wide', () => {
        w = wide(x, n, salt)
      })
      time('realize wide', () => w.realize())
      return t
    }
    once(1000, 0) // warm up the JIT
    // the sizes alternate within each rep, so a busy spell of the machine lands on all of them.
    // The median of the reps per size, not the fastest: whether a phase pays for scavenges of the
    // young generation depends on its (dynamic) size, and a small size's luckiest rep, free of them
    // (backward of 4k ops: 3 ms, against 14-44 ms in most reps), read as 22x against 16k ops
    const sizes = [1000, 2000, 4000, 8000, 16000]
    const reps: Record<string, number[][]> = {}
    for (let rep = 0; rep < 4; rep++)
      sizes.forEach((n, i) => {
        for (const [k, ms] of Object.entries(once(n, rep * 100 + i + 1)))
          (reps[k] ??= sizes.map(() => []))[i]!.push(ms)
      })
    for (const [k, perSize] of Object.entries(reps)) {
      const ts = perSize.map(median)
      if (ts.at(-1)! < 50) continue // (too short to time)
      // linear is 1, quadratic 2 (before: build and codegen went 21x and 22x from 4k to 16k ops,
      // 2.2). Over 16x of sizes, one size read 3x too slow moves the fit by at most 0.32 (the old
      // 4k/16k ratio: by 0.8)
      // sizes whose phase takes under 10 ms stay out of the fit: below the young generation's size a
      // phase pays no scavenges at all (backward: 1, 2 ms at 1k and 2k ops, then 23, 45, 80 ms: a
      // step, not a slope, which read as ops^1.58)
      const kept = sizes.flatMap((n, i) => (ts[i]! >= 10 ? [[n, ts[i]!] as const] : []))
      if (kept.length < 3) continue
      const e = fittedExponent(
        kept.map(([n]) => n),
        kept.map(([, t]) => t),
      )
      assert.ok(
        e < 1.5,
        `${k}: ${ts.map((t) => t.toFixed(0)).join(', ')} ms at ${sizes.join(', ')} ops: time ~ ops^${e.toFixed(2)} (linear 1, quadratic 2)`,
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
