// dispose() and the lazy tensors that read what it frees: only live readers keep the storage's
// values. Readers made in an earlier job are held weakly (tensor/lazy_readers.ts), so a collected
// one is gone and a live one is realized first. Readers made in the current job cannot be told
// from dropped ones (a WeakRef pins its target until the job ends): they hold the storage instead
// (tensor/storage_holds.ts), so a dropped one costs no kernel and its hold goes when it is
// collected. Before, dispose() realized every reader made in the job: a kernel and an output each.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import type { Buffer } from '../../src/runtime/buffer.ts'
import { heldBuffer } from '../../src/tensor/lazy_readers.ts'

const gc = (globalThis as { gc?: () => void }).gc
const nextTask = () => new Promise((r) => setTimeout(r, 1))
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as Float32Array)
const f32 = (xs: number[]): Tensor => new Tensor(Float32Array.from(xs)).realize()

/** Collect until `buf` is freed (finalizers run in a later task), at most ~50 rounds. */
async function freedAfterGC(buf: Buffer): Promise<boolean> {
  for (let i = 0; i < 50 && !buf.disposed; i++) {
    gc!()
    await nextTask()
  }
  return buf.disposed
}

describe('dispose and lazy readers', { skip: !gc && 'needs --expose-gc' }, () => {
  test('a reader dropped in the same job is not realized; its hold on the storage goes when it is collected', async () => {
    const a = f32([1, 2, 3, 4])
    const buf = heldBuffer(a.uop)!
    let b: Tensor | undefined = a.add(1)
    assert.ok(b)
    b = undefined
    gc!()
    const k0 = stats.kernelsRun
    a.dispose()
    assert.equal(stats.kernelsRun - k0, 0, 'no kernel for a dropped reader')
    assert.equal(await freedAfterGC(buf), true, 'the storage is freed once the reader is collected')
    assert.equal(stats.kernelsRun - k0, 0)
  })

  test('a live reader made in the same job keeps its values; the storage goes when it is realized', () => {
    const a = f32([1, 2, 3, 4])
    const buf = heldBuffer(a.uop)!
    const c = a.mul(10)
    const k0 = stats.kernelsRun
    a.dispose()
    assert.equal(stats.kernelsRun - k0, 0, 'nothing runs at dispose()')
    assert.equal(buf.disposed, false, 'c holds the storage')
    assert.deepEqual(vals(c), [10, 20, 30, 40])
    assert.equal(buf.disposed, true, 'freed when c was realized')
  })

  test('a disposed reader gives its hold back', () => {
    const a = f32([1, 2])
    const buf = heldBuffer(a.uop)!
    const c = a.neg()
    a.dispose()
    assert.equal(buf.disposed, false)
    c.dispose()
    assert.equal(buf.disposed, true)
  })

  test('a live reader from an earlier job is realized at dispose() and the storage freed at once', async () => {
    const a = f32([1, 2, 3])
    const buf = heldBuffer(a.uop)!
    const c = a.add(0.5)
    await nextTask()
    const k0 = stats.kernelsRun
    a.dispose()
    assert.equal(stats.kernelsRun - k0, 1, 'c is realized first')
    assert.equal(buf.disposed, true)
    assert.deepEqual(vals(c), [1.5, 2.5, 3.5])
  })

  test('a reader from an earlier job that was collected is not realized', async () => {
    const a = f32([1, 2, 3])
    const buf = heldBuffer(a.uop)!
    let b: Tensor | undefined = a.sqrt()
    assert.ok(b)
    b = undefined
    await nextTask()
    gc!()
    const k0 = stats.kernelsRun
    a.dispose()
    assert.equal(stats.kernelsRun - k0, 0)
    assert.equal(buf.disposed, true)
  })

  test('a held reader still reads its other buffers as they were: a later write realizes it first', () => {
    const a = f32([1, 2])
    const w = f32([10, 20])
    const c = a.add(w)
    a.dispose()
    w.assign(f32([0, 0])).realize()
    assert.deepEqual(vals(c), [11, 22])
  })
})
