// Training loops for the memory soak (test/soak/soak.ts, `npm run soak`) and its short version in
// the test suite (test/engine/memory.test.ts): memory must stay flat however long they run.
// Not a test file itself.
import { jit, nn, optim, Tensor } from '../../src/index.ts'

class MLP {
  l1 = new nn.Linear(32, 64)
  l2 = new nn.Linear(64, 10)
  call(x: Tensor): Tensor {
    return this.l2.call(this.l1.call(x).relu())
  }
}

/** One training step per call; returns the loss (lazy or realized). */
export type Step = () => Tensor

/** A 32-64-10 MLP trained eagerly with Adam on one fixed batch. */
export function eagerAdam(): Step {
  Tensor.manualSeed(1)
  const m = new MLP()
  const opt = new optim.Adam(nn.getParameters(m), { lr: 1e-3 })
  const x = Tensor.randn([16, 32]).realize()
  const y = Tensor.randint(0, 10, [16]).realize()
  return () => {
    opt.zeroGrad()
    const loss = m.call(x).sparseCategoricalCrossentropy(y)
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    return loss
  }
}

/** The same step, jitted, on a fresh random batch every call (with dropout: replays draw numbers). */
export function jitFreshInputs(): Step {
  Tensor.manualSeed(2)
  Tensor.training = true
  const m = new MLP()
  const opt = new optim.Adam(nn.getParameters(m), { lr: 1e-3 })
  const step = jit((x: Tensor, y: Tensor) => {
    opt.zeroGrad()
    const loss = m.call(x.dropout(0.1)).sparseCategoricalCrossentropy(y)
    loss.backward()
    Tensor.realize(loss, ...opt.scheduleStep())
    return loss
  })
  return () => step(Tensor.randn([16, 32]).realize(), Tensor.randint(0, 10, [16]).realize())
}

export const workloads: Record<string, () => Step> = { eagerAdam, jitFreshInputs }

export interface Sample {
  step: number
  /** V8 heap plus ArrayBuffer memory (tensor storage), bytes, after a full GC */
  heap: number
  rss: number
}

/** Memory after a full collection and one event-loop turn (so finalizers have run). */
export async function settledMemory(step: number): Promise<Sample> {
  const gc = globalThis.gc
  if (!gc) throw new Error('run with node --expose-gc')
  gc()
  await new Promise((r) => setImmediate(r))
  gc()
  const u = process.memoryUsage()
  return { step, heap: u.heapUsed + u.arrayBuffers, rss: u.rss }
}

/** Least-squares slope of `value` per step. */
export function slope(samples: readonly Sample[], value: (s: Sample) => number): number {
  const n = samples.length
  const mx = samples.reduce((a, s) => a + s.step, 0) / n
  const my = samples.reduce((a, s) => a + value(s), 0) / n
  let num = 0
  let den = 0
  for (const s of samples) {
    num += (s.step - mx) * (value(s) - my)
    den += (s.step - mx) ** 2
  }
  return num / den
}

/**
 * Run `steps` steps, reading the loss with `await item()` every `readEvery` steps (as a training
 * loop that logs does) and sampling memory every `sampleEvery` steps after `warmup`.
 */
export async function soak(
  step: Step,
  o: { steps: number; warmup: number; sampleEvery: number; readEvery: number },
): Promise<Sample[]> {
  const samples: Sample[] = []
  for (let i = 1; i <= o.steps; i++) {
    const loss = step()
    if (i % o.readEvery === 0) {
      const v = Number(await loss.item())
      if (!Number.isFinite(v)) throw new Error(`loss is ${v} at step ${i}`)
    }
    if (i >= o.warmup && (i - o.warmup) % o.sampleEvery === 0) samples.push(await settledMemory(i))
  }
  return samples
}

/** Heap growth over `steps` steps that never yield to the event loop (no finalizer runs). */
export function syncGrowth(step: Step, steps: number): number {
  const gc = globalThis.gc!
  gc()
  const before = process.memoryUsage()
  for (let i = 0; i < steps; i++) step()
  gc()
  const after = process.memoryUsage()
  return after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
}
