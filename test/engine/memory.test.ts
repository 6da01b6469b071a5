// Training loops keep memory flat: nothing built by a step (graph nodes, buffers, their bookkeeping)
// may outlive it, even in a loop that never lets the event loop turn. The long version is
// `npm run soak` (test/soak/soak.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { settle, soak, syncGrowthPerStep, workloads } from '../soak/workloads.ts'

const KB = 1024
describe('memory stays flat over training steps', { skip: !globalThis.gc && 'needs --expose-gc' }, () => {
  for (const [name, make] of Object.entries(workloads)) {
    test(name, async () => {
      const step = make()
      for (let i = 0; i < 100; i++) step() // compile, fill caches, let V8 optimize
      await settle()
      // a loop that awaits a read now and then: flat (it kept every node and buffer it built,
      // 21 KB per eager step and 52 KB per jitted one, while the WeakRef interning table pinned them)
      const s = await soak(step, { steps: 300, sampleEvery: 50, readEvery: 25 })
      const growth = s[s.length - 1]!.heap - s[0]!.heap
      assert.ok(growth < 1024 * KB, `${name}: heap grew by ${(growth / KB).toFixed(0)} KiB over 250 steps`)
      // a loop that never yields: only a finalization-registry cell per dropped buffer (72 bytes
      // until the event loop turns) and V8's own code may pile up
      const perStep = syncGrowthPerStep(step, 200)
      assert.ok(perStep < 6 * KB, `${name}: ${perStep.toFixed(0)} bytes per synchronous step`)
    })
  }
})
