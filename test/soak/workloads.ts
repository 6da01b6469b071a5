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

/** A 32-64-10 MLP trained eagerly with Adam on one fixed batch, the learning rate decaying. */
export function eagerAdam(): Step {
  Tensor.manualSeed(1)
  const m = new MLP()
  const opt = new optim.Adam(nn.getParameters(m), { lr: 1e-3 })
  const x = Tensor.randn([16, 32]).realize()
  const y = Tensor.randint(0, 10, [16]).realize()
  let t = 0
  return () => {
    opt.lr = 1e-3 * 0.9999 ** t++
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

/**
 * Memory after a full collection, without yielding to the event loop (a yield would run the
 * finalizers and end the job, which releases what WeakRefs pinned: the loop must be flat without).
 */
export function memoryNow(step: number): Sample {
  const gc = globalThis.gc
  if (!gc) throw new Error('run with node --expose-gc')
  gc()
  gc() // V8 frees dead ArrayBuffers' storage concurrently after a GC and completes that at the next
  const u = process.memoryUsage()
  return { step, heap: u.heapUsed + u.arrayBuffers, rss: u.rss }
}

/** Let the event loop turn (finalizers run), then collect: the state a warm-up ends in. */
export async function settle(): Promise<void> {
  // finalization callbacks are tasks queued after a collection; on a busy machine they may come
  // after the next setImmediate, so give them a few turns and a short timer too
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.()
    await new Promise((r) => (i < 3 ? setImmediate(r) : setTimeout(r, 20)))
  }
  globalThis.gc?.()
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
 * Run `steps` steps of a training loop that awaits the loss (`item()`) every `readEvery` steps, as
 * one that logs does, and does nothing else asynchronous; sample memory right after a read every
 * `sampleEvery` steps (a multiple of `readEvery`).
 */
export async function soak(
  step: Step,
  o: { steps: number; sampleEvery: number; readEvery: number },
): Promise<Sample[]> {
  const samples: Sample[] = []
  for (let i = 1; i <= o.steps; i++) {
    const loss = step()
    if (i % o.readEvery === 0) {
      const v = Number(await loss.item())
      if (!Number.isFinite(v)) throw new Error(`loss is ${v} at step ${i}`)
    }
    if (i % o.sampleEvery === 0) samples.push(memoryNow(i))
  }
  return samples
}

/** Heap growth per step over `steps` steps that never yield to the event loop. */
export function syncGrowthPerStep(step: Step, steps: number): number {
  const before = memoryNow(0)
  for (let i = 0; i < steps; i++) step()
  return (memoryNow(steps).heap - before.heap) / steps
}
