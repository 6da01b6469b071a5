// Training loops keep memory flat: nothing built by a step (graph nodes, buffers, their bookkeeping)
// may outlive it. The long version is `npm run soak` (test/soak/soak.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { settledMemory, soak, syncGrowth, workloads } from '../soak/workloads.ts'

const KB = 1024
describe('memory stays flat over training steps', { skip: !globalThis.gc && 'needs --expose-gc' }, () => {
  for (const [name, make] of Object.entries(workloads)) {
    test(name, async () => {
      const step = make()
      for (let i = 0; i < 100; i++) step() // compile, settle caches and V8's code
      await settledMemory(0)
      // a loop that never yields: only a finalization-registry cell per dropped buffer may pile up
      // (72 bytes each, until the event loop turns); before, every node and buffer stayed
      const perStep = syncGrowth(step, 200) / 200
      assert.ok(perStep < 2 * KB, `${name}: ${perStep.toFixed(0)} bytes per synchronous step`)
      // a loop that awaits a read now and then: flat
      const s = await soak(step, { steps: 300, warmup: 50, sampleEvery: 50, readEvery: 50 })
      const growth = s[s.length - 1]!.heap - s[0]!.heap
      assert.ok(growth < 512 * KB, `${name}: heap grew by ${(growth / KB).toFixed(0)} KiB over 250 steps`)
    })
  }
})
