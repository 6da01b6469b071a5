// Buffer lifetimes around jit captures (issue 15, item 8): a capture launches with raw storage, so a
// buffer it uses must keep that storage while the capture can replay, even when its tensor is
// disposed; otherwise the device pool hands the storage to another tensor and the next replay
// writes into that tensor's data.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Device, jit, Tensor, TsgradError } from '../../src/index.ts'
import { memory } from '../../src/runtime/buffer.ts'

const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>, Number)
const f32 = (xs: number[]): Tensor => new Tensor(Float32Array.from(xs)).realize()
const devices = ['JS', ...(Device.unavailableReason('CPU') === undefined ? ['CPU'] : [])]

for (const device of devices) {
  describe(`jit buffer lifetimes on ${device}`, () => {
    let prev = ''
    before(() => {
      prev = Device.DEFAULT
      Device.DEFAULT = device
    })
    after(() => {
      Device.DEFAULT = prev
    })

    test('disposing state the capture writes does not let a replay write into another tensor', () => {
      const n = 257 // a size no other test uses, so the pool hands this storage straight back
      const s = f32(Array(n).fill(0))
      const f = jit((x: Tensor) => {
        s.assign(s.add(x))
        return x.sum()
      })
      for (let i = 0; i < 3; i++) f(f32(Array(n).fill(1)))
      s.dispose()
      const other = f32(Array(n).fill(7)) // may get the storage s had
      const out = f(f32(Array(n).fill(1)))
      assert.deepEqual(vals(out), [n])
      assert.deepEqual(vals(other), Array(n).fill(7), 'the replay wrote into an unrelated tensor')
    })

    test('disposing a parameter the capture reads keeps the capture computing with it', () => {
      const n = 263
      const w = f32(Array.from({ length: n }, (_, i) => i))
      const f = jit((x: Tensor) => x.mul(w).sum())
      const x = f32(Array(n).fill(2))
      const want = ((n * (n - 1)) / 2) * 2
      for (let i = 0; i < 3; i++) assert.deepEqual(vals(f(x)), [want])
      w.dispose()
      const other = f32(Array(n).fill(-1))
      assert.deepEqual(vals(f(x)), [want])
      assert.deepEqual(vals(other), Array(n).fill(-1))
      assert.throws(() => w.dataSync(), TsgradError, 'the tensor itself is disposed')
    })

    test('jit.reset() releases the storage of disposed buffers the capture kept', () => {
      const n = 4099
      const s = f32(Array(n).fill(0))
      const f = jit((x: Tensor) => {
        s.assign(s.add(x))
        return x.sum()
      })
      const x = f32(Array(n).fill(1))
      for (let i = 0; i < 3; i++) f(x)
      const held = memory.inUse
      s.dispose()
      assert.equal(memory.inUse, held, 'kept while the capture can replay')
      f.jit.reset()
      assert.ok(memory.inUse <= held - n * 4, 'freed once the capture is dropped')
      assert.throws(() => f(x), /was disposed/, 'run eagerly again, the function reads the disposed state')
    })

    test('a disposed input is a clear error, not a read of freed storage', () => {
      const f = jit((x: Tensor) => x.add(1))
      const x = f32([1, 2])
      for (let i = 0; i < 3; i++) f(x)
      x.dispose()
      assert.throws(
        () => f(x),
        (e: unknown) =>
          e instanceof TsgradError && /jit: argument 0/.test(e.message) && /\[2\] float32/.test(e.message),
      )
    })

    test('an output that is a view of an input can be disposed without freeing the input', () => {
      const f = jit((x: Tensor) => x.reshape([2, 2]))
      const x = f32([1, 2, 3, 4])
      for (let i = 0; i < 4; i++) f(x).dispose()
      assert.deepEqual(vals(x), [1, 2, 3, 4])
      const g = jit((x: Tensor) => x.mul(2).reshape([2, 2]))
      const outs = [0, 1, 2, 3].map(() => g(x))
      outs[0]!.dispose()
      for (const o of outs.slice(1)) assert.deepEqual(vals(o), [2, 4, 6, 8])
    })
  })
}
