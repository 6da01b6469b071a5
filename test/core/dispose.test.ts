// dispose() semantics (issue 15, items 4 and 15): a tensor's storage is freed when its last handle
// (the tensor and its reshape views, counted as tf.js counts references) is disposed, else by GC; live lazy tensors computed from it are realized
// first; using a disposed tensor is a clear error naming the call, the tensor's shape, dtype,
// device and op.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor, TsgradError } from '../../src/index.ts'
import { Buffer, memory } from '../../src/runtime/buffer.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'

const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)
const f32 = (xs: number[], shape?: number[]): Tensor =>
  new Tensor(Float32Array.from(xs), shape ? { shape } : {}).realize()

describe('dispose of views', () => {
  test('disposing a reshape view keeps the base tensor', () => {
    const a = f32([1, 2, 3, 4, 5, 6])
    const v = a.reshape([2, 3])
    const before = memory.inUse
    v.dispose()
    assert.equal(memory.inUse, before, 'the storage is still used by a')
    assert.deepEqual(vals(a), [1, 2, 3, 4, 5, 6])
    assert.deepEqual(vals(a.add(1)), [2, 3, 4, 5, 6, 7])
  })

  test('disposing the base keeps a live view; the storage goes with the last one', () => {
    const a = Tensor.rand([1000]).realize()
    const want = vals(a)
    const v = a.reshape([10, 100])
    const before = memory.inUse
    a.dispose()
    assert.equal(memory.inUse, before)
    assert.deepEqual(vals(v), want)
    v.dispose()
    assert.equal(memory.inUse, before - 4000)
  })

  test('other movement views, detach and clone', () => {
    const a = f32([1, 2, 3, 4], [2, 2])
    const t = a.permute([1, 0])
    const s = a.shrink([[0, 1], null])
    const e = a.reshape([1, 4]).expand([2, 4]) // (its reshape is a handle until it is disposed)
    const d = a.detach()
    const c = a.clone().realize()
    d.dispose() // not a handle of the storage
    c.dispose() // its own storage
    assert.deepEqual(vals(a), [1, 2, 3, 4])
    assert.deepEqual(vals(t), [1, 3, 2, 4])
    const kept = a.reshape([4])
    a.dispose() // kept still holds the storage: the views read it
    assert.deepEqual(vals(t), [1, 3, 2, 4])
    assert.deepEqual(vals(s), [1, 2])
    assert.deepEqual(vals(e), [1, 2, 3, 4, 1, 2, 3, 4])
    kept.dispose()
  })

  test('a permuted view of a disposed tensor is a clear error, not freed memory', () => {
    const a = f32([1, 2, 3, 4], [2, 2])
    const t = a.permute([1, 0])
    a.dispose()
    assert.throws(
      () => t.dataSync(),
      (e: unknown) =>
        e instanceof TsgradError &&
        /dataSync: <Tensor \[2, 2\] float32/.test(e.message) &&
        /view of storage that was disposed/.test(e.message),
    )
  })

  test('realize of a view is the same storage; a lazy tensor computed from a disposed one keeps its value', () => {
    const a = f32([1, 2, 3, 4])
    const v = a.reshape([2, 2]).realize()
    const lazy = a.mul(10)
    v.dispose()
    a.dispose()
    assert.deepEqual(vals(lazy), [10, 20, 30, 40])
  })
})

describe('using a disposed tensor', () => {
  const disposed = (): Tensor => {
    const t = f32([1, 2, 3, 4], [2, 2])
    t.dispose()
    return t
  }
  const clear = (call: string) => (e: unknown) =>
    e instanceof TsgradError &&
    e.message.startsWith(call) &&
    e.message.includes('[2, 2] float32 on') &&
    /was disposed/.test(e.message)

  test('reads name the call, shape, dtype and device', async () => {
    await assert.rejects(() => disposed().data(), clear('data'))
    await assert.rejects(() => disposed().item(), clear('item'))
    await assert.rejects(() => disposed().tolist(), clear('data'))
    assert.throws(() => disposed().dataSync(), clear('dataSync'))
    assert.throws(() => disposed().tolistSync(), clear('dataSync'))
    assert.throws(() => disposed().realize(), clear('realize'))
  })

  test('an op on a disposed tensor fails when the graph is built', () => {
    const live = f32([1, 1, 1, 1], [2, 2])
    assert.throws(() => disposed().add(1), clear('using it in an op'))
    assert.throws(() => live.add(disposed()), clear('using it in an op'))
    assert.throws(() => live.assign(disposed()), clear('assign'))
    assert.throws(() => disposed().assign(live), clear('assign'))
    assert.throws(() => disposed().reshape([4]), clear('using it in an op'))
  })

  test('a graph reaching freed storage some other way is an error naming the kernel', () => {
    const buf = new Buffer(Tensor.ones([1]).device, 3, Tensor.ones([1]).dtype)
    buf.copyin(new Float32Array([1, 2, 3]))
    const t = new Tensor(UOp.new(Ops.BUFFER, buf.dtype, [], buf)).mul(2)
    buf.dispose()
    assert.throws(
      () => t.dataSync(),
      (e: unknown) =>
        e instanceof TsgradError &&
        /realize: MUL \[3\] float32/.test(e.message) &&
        /disposed/.test(e.message),
    )
  })
})
