// assign into a view of a buffer (issue 16, part 2): `c.shrink(...).assign(x)` writes c's buffer in
// place, as PyTorch's `c[1:2] = x`, with a kernel over the view's elements only. Before, the
// write went nowhere (the view tensor took the new value, the buffer kept the old one).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { estimateCost } from '../../src/codegen/cost.ts'
import { type RealizeObserver, setRealizeObserver } from '../../src/engine/realize.ts'
import { jit, Tensor, TsgradError } from '../../src/index.ts'
import type { KernelItem, ScheduleItem } from '../../src/schedule/schedule.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'

const rows = (t: Tensor): number[][] => t.tolistSync() as number[][]
const grid = (r: number, c: number): Tensor =>
  Tensor.arange(r * c)
    .float()
    .reshape([r, c])
    .contiguous()
    .realize()
const ref = (r: number, c: number): number[][] =>
  Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => i * c + j))

/** The kernels that run while `fn` runs (their ASTs and buffers). */
function launches(fn: () => void): KernelItem[] {
  const seen: ScheduleItem[] = []
  const obs: RealizeObserver = (items) => {
    seen.push(...items)
  }
  const prev = setRealizeObserver(obs)
  try {
    fn()
  } finally {
    setRealizeObserver(prev)
  }
  return seen.filter((i): i is KernelItem => i.kind === 'kernel')
}
/** Iterations of a kernel: the product of its loop sizes. */
const iterations = (k: KernelItem): number =>
  toposort([k.ast])
    .filter((u) => u.op === Ops.RANGE)
    .reduce((n, r) => n * (r.src[0]!.constValue as number), 1)

describe('assign into a view writes the base buffer', () => {
  test('the issue repro: a shrink view', () => {
    const c = Tensor.zeros([4, 3]).contiguous().realize()
    c.shrink([
      [1, 2],
      [0, 3],
    ]).assign(Tensor.ones([1, 3]))
    assert.deepEqual(rows(c), [
      [0, 0, 0],
      [1, 1, 1],
      [0, 0, 0],
      [0, 0, 0],
    ])
  })

  test('transpose, flip, get slices (steps, negative steps, an index) and detach write through', () => {
    const c = grid(3, 4)
    c.T.get('1:3').assign(Tensor.full([2, 3], -1)) // columns 1, 2
    const want = ref(3, 4)
    for (const r of want) r[1] = r[2] = -1
    assert.deepEqual(rows(c), want)
    c.get('::2', '::-1').assign(Tensor.arange(4).float().mul(10).reshape([1, 4]).expand([2, 4]))
    want[0] = want[2] = [30, 20, 10, 0]
    assert.deepEqual(rows(c), want)
    c.flip(0)
      .get(0)
      .assign(Tensor.full([4], 5)) // row 2
    want[2] = [5, 5, 5, 5]
    assert.deepEqual(rows(c), want)
    c.detach()
      .get(1, '1::2')
      .assign(Tensor.full([2], 9)) // row 1, columns 1 and 3
    want[1]![1] = want[1]![3] = 9
    assert.deepEqual(rows(c), want)
    const e = Tensor.arange(10).float().contiguous().realize()
    e.get('1::3').assign(Tensor.full([3], -5)) // strided slice: a pad the view never reaches
    assert.deepEqual(e.tolistSync(), [0, -5, 2, 3, -5, 5, 6, -5, 8, 9])
  })

  test('the view tensor and views made before the write show the new values', () => {
    const c = grid(2, 3)
    const t = c.T // a view built before the write aliases the buffer
    const v = c.get(0).assign(Tensor.full([3], 7))
    assert.deepEqual(v.tolistSync(), [7, 7, 7])
    assert.deepEqual(rows(t), [
      [7, 3],
      [7, 4],
      [7, 5],
    ])
  })

  test('lazy readers built before the write keep the old value; built after, the new one', () => {
    const c = grid(2, 3)
    const before = c.sum(1)
    c.get(1).assign(Tensor.zeros([3]))
    const after = c.sum(1)
    assert.deepEqual(before.tolistSync(), [3, 12])
    assert.deepEqual(after.tolistSync(), [3, 0])
  })

  test('two writes into disjoint regions of one buffer both land', () => {
    const c = Tensor.zeros([4, 2]).contiguous().realize()
    c.get('0:2').assign(Tensor.ones([2, 2]))
    c.get('2:4').assign(Tensor.full([2, 2], 2))
    assert.deepEqual(rows(c), [
      [1, 1],
      [1, 1],
      [2, 2],
      [2, 2],
    ])
  })

  test('a value reading the target where it writes (in place) and elsewhere (overlapping: the old values)', () => {
    const c = grid(3, 2)
    const mid = c.get('1:2')
    mid.assign(mid.mul(10))
    assert.deepEqual(rows(c), [
      [0, 1],
      [20, 30],
      [4, 5],
    ])
    // shift down by one row inside the same buffer: every row reads the old row above it
    const d = grid(4, 2)
    d.get('1:4').assign(d.get('0:3'))
    assert.deepEqual(rows(d), [
      [0, 1],
      [0, 1],
      [2, 3],
      [4, 5],
    ])
    const e = grid(4, 2)
    e.get('0:3').assign(e.get('1:4')) // and up
    assert.deepEqual(rows(e), [
      [2, 3],
      [4, 5],
      [6, 7],
      [6, 7],
    ])
    const f = grid(3, 3)
    f.assign(f.T.contiguous()) // whole buffer from its own transpose
    f.T.assign(f.mul(1)) // a view from the buffer read at other places: transposes back
    assert.deepEqual(rows(f), ref(3, 3))
  })

  test('a view of a pending whole-buffer write: that write lands first', () => {
    const c = Tensor.zeros([2, 2]).contiguous().realize()
    c.assign(Tensor.ones([2, 2]))
    c.get(0).assign(Tensor.full([2], 3))
    assert.deepEqual(rows(c), [
      [3, 3],
      [1, 1],
    ])
  })

  test('the kernel visits the written region only (one kernel, region-sized, in the buffer itself)', () => {
    const cache = Tensor.zeros([2, 4, 64, 8]).contiguous().realize()
    const k = Tensor.rand([2, 4, 1, 8]).realize()
    const ks = launches(() =>
      cache
        .shrink([
          [0, 2],
          [0, 4],
          [5, 6],
          [0, 8],
        ])
        .assign(k),
    )
    assert.equal(ks.length, 1)
    assert.equal(iterations(ks[0]!), 2 * 4 * 1 * 8)
    assert.equal(ks[0]!.bufs[0]!.size, 2 * 4 * 64 * 8, 'stores into the cache buffer')
    assert.ok(ks[0]!.bufs[0]!.existing, 'no new buffer for the output')
    // DEBUG=2's byte count: the region stored plus the value read, not the whole cache
    const bytes = estimateCost(
      ks[0]!.ast,
      ks[0]!.bufs.map((b) => b.size * b.dtype.itemsize),
    ).bytes
    assert.equal(bytes, 2 * (2 * 4 * 1 * 8) * 4)
    const got = cache.shrink([
      [0, 2],
      [0, 4],
      [5, 6],
      [0, 8],
    ])
    assert.deepEqual(got.tolistSync(), k.tolistSync())
    assert.equal((cache.sum().itemSync() as number).toFixed(3), (k.sum().itemSync() as number).toFixed(3))
  })

  test('under jit the write replays with the new values', () => {
    const cache = Tensor.zeros([3, 2]).contiguous().realize()
    const step = jit((x: Tensor) => {
      cache.get('1:2').assign(x.add(1))
      return cache.sum()
    })
    for (let i = 0; i < 4; i++) {
      const s = step(Tensor.full([1, 2], i)).itemSync()
      assert.equal(s, 2 * (i + 1), `call ${i}`)
      assert.deepEqual(rows(cache), [
        [0, 0],
        [i + 1, i + 1],
        [0, 0],
      ])
    }
  })

  test('a broadcast or padded target is an error naming the view', () => {
    const e = Tensor.arange(4).float().contiguous().realize()
    assert.throws(
      () =>
        e
          .reshape([4, 1])
          .expand([4, 2])
          .assign(Tensor.zeros([4, 2])),
      (err: Error) => err instanceof TsgradError && /broadcast \(expand\) view/.test(err.message),
    )
    assert.throws(
      () => e.pad([[1, 1]]).assign(Tensor.zeros([6])),
      (err: Error) => err instanceof TsgradError && /padded view/.test(err.message),
    )
    assert.deepEqual(e.tolistSync(), [0, 1, 2, 3], 'nothing written')
  })
})

describe('assign into a view of a lazy tensor', () => {
  test('is an error (the tensor viewed would silently keep its value); a lazy tensor itself still takes the value', () => {
    const lazy = Tensor.zeros([3, 2]).contiguous()
    assert.throws(
      () => lazy.get(1).assign(Tensor.ones([2])),
      (err: Error) =>
        err instanceof TsgradError &&
        /view of a lazy tensor \(CONTIGUOUS\).*realize\(\) that tensor first/.test(err.message),
    )
    const t = Tensor.ones([2]).add(1)
    t.assign(Tensor.full([2], 5))
    assert.deepEqual(t.tolistSync(), [5, 5])
  })
})

describe('assign into a reshape of another tensor', () => {
  test('writes that tensor at once (it kept its old value until the reshape view was realized)', () => {
    const d = Tensor.zeros([4, 3]).contiguous().realize()
    d.reshape([12]).assign(Tensor.arange(12).float())
    assert.deepEqual(rows(d), ref(4, 3))
    const e = grid(2, 3)
    const before = e.sum()
    e.flatten().assign(Tensor.ones([6]))
    assert.equal(before.itemSync(), 15, 'a lazy reader built before keeps the old value')
    assert.deepEqual(rows(e), [
      [1, 1, 1],
      [1, 1, 1],
    ])
    // the tensor's own buffer: still a lazy write, committed by its realize or read
    const own = grid(2, 2)
    own.assign(Tensor.zeros([2, 2]))
    assert.equal(own.uop.op, Ops.ASSIGN)
    assert.deepEqual(rows(own), [
      [0, 0],
      [0, 0],
    ])
  })
})

describe('view assign: targets that track gradients', () => {
  test('a view of a realized tensor that tracks gradients (CUSTOM_GRAD over its buffer) is written', () => {
    // a realized tracked tensor is CUSTOM_GRAD(buffer view, its graph); the merge of custom
    // gradients into the graph made its views look lazy to assign (an error)
    const w = Tensor.zeros([4, 3], { requiresGrad: true }).add(1).realize()
    w.shrink([
      [1, 2],
      [0, 3],
    ]).assign(Tensor.full([1, 3], 5))
    assert.deepEqual(rows(w), [
      [1, 1, 1],
      [5, 5, 5],
      [1, 1, 1],
      [1, 1, 1],
    ])
  })
})
