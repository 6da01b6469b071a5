// An eager op's garbage must die young: what V8's young-generation collector (the scavenger) keeps
// is copied, promoted to the old space and freed only by a full collection, which costs far more
// per byte than the allocation itself. Measured as the old space's growth over a synchronous loop of
// eager ops followed by two minor collections (anything alive at both is promoted).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { getHeapSpaceStatistics } from 'node:v8'
import { Tensor } from '../../src/index.ts'
import { settle } from '../soak/workloads.ts'

const gc = globalThis.gc as ((o?: { type: 'minor' | 'major' }) => void) | undefined
const oldSpaceUsed = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size

/** Old-space bytes per op that a loop of `n` eager ops leaves after two minor collections (best of 3). */
function promotedPerOp(op: (y: Tensor) => Tensor, start: Tensor, n: number): number {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 3; round++) {
    const before = oldSpaceUsed()
    let y = start
    for (let i = 0; i < n; i++) y = op(y)
    gc!({ type: 'minor' })
    gc!({ type: 'minor' })
    best = Math.min(best, (oldSpaceUsed() - before) / n)
  }
  return best
}

describe('eager ops leave no old-space garbage', { skip: !gc && 'needs --expose-gc' }, () => {
  test('a chain of realized elementwise ops', async () => {
    // (on the CPU device: the WASM device's buffers still promote ~0.85 KB per op, its own bookkeeping)
    const x = Tensor.rand([1000], { device: 'CPU' }).realize()
    const op = (y: Tensor): Tensor => y.add(0.001).realize()
    for (let i = 0; i < 500; i++) op(x) // compile, let V8 optimize
    await settle()
    // each op's output Buffer was the key of a WeakMap (the interning table of nodes on a buffer)
    // whose value, its BUFFER node, holds the Buffer: the scavenger keeps such an entry, so every
    // output, its nodes and what they reach were promoted (~1.6 KB per op)
    const perOp = promotedPerOp(op, x, 2000)
    assert.ok(perOp < 600, `${perOp.toFixed(0)} bytes per op promoted to the old space`)
  })
})
