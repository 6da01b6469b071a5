// Fill kernels (engine/fill.ts): a kernel that stores one constant into its buffer runs on the host,
// with no compile, and writes exactly the elements its index visits.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fillOf, fillProgram } from '../../src/engine/fill.ts'
import { setRealizeObserver, stats } from '../../src/engine/realize.ts'
import { jit, Tensor } from '../../src/index.ts'
import type { ScheduleItem } from '../../src/schedule/schedule.ts'

/** The kernel items realizing `fn`'s tensors schedules, and what it returns. */
function kernelsOf<T>(fn: () => T): { items: ScheduleItem[]; out: T } {
  const items: ScheduleItem[] = []
  const prev = setRealizeObserver((its) => {
    items.push(...its.filter((it) => it.kind === 'kernel'))
  })
  try {
    return { items, out: fn() }
  } finally {
    setRealizeObserver(prev)
  }
}

describe('fill kernels', () => {
  test('zeros and full realize without a compile, with the right values', async () => {
    const before = { ...stats }
    const z = Tensor.zeros([3, 5]).clone().realize()
    const lr = Tensor.full([], 0.01, { dtype: 'float32' }).clone().realize()
    const n = Tensor.full([2, 3], -2.5).clone().realize()
    const i = Tensor.full([7], 3, { dtype: 'int32' }).clone().realize()
    assert.deepEqual(Array.from(await z.data()), new Array(15).fill(0))
    assert.deepEqual(Array.from(await lr.data()), [Math.fround(0.01)])
    assert.deepEqual(Array.from(await n.data()), new Array(6).fill(-2.5))
    assert.deepEqual(Array.from(await i.data()), new Array(7).fill(3))
    assert.equal(stats.kernelsCompiled, before.kernelsCompiled, 'nothing compiled')
    assert.ok(stats.fills > before.fills)
  })

  test('one fill per shape and dtype serves every value (lifted constants)', async () => {
    const a = Tensor.full([4], 1.5).clone().realize()
    const fills = stats.fills
    const b = Tensor.full([4], 2.25).clone().realize()
    assert.equal(stats.fills, fills, 'the second value reuses the first fill')
    assert.deepEqual(Array.from(await a.data()), [1.5, 1.5, 1.5, 1.5])
    assert.deepEqual(Array.from(await b.data()), [2.25, 2.25, 2.25, 2.25])
  })

  test('a constant assigned into a view writes only the view', () => {
    const c = Tensor.arange(12).float().reshape([3, 4]).contiguous().realize()
    c.get(0).assign(Tensor.full([4], 7)) // the first row: a fill of the first 4 elements
    c.get(2).assign(Tensor.full([4], 8)) // the last row: an offset store, a kernel
    c.get(1, '1::2').assign(Tensor.full([2], 9)) // strided
    assert.deepEqual(c.tolistSync(), [
      [7, 7, 7, 7],
      [4, 9, 6, 9],
      [8, 8, 8, 8],
    ])
  })

  test('only stores of a constant that visit each element once are fills', () => {
    const { items } = kernelsOf(() => {
      const x = Tensor.arange(6).float().contiguous().realize()
      Tensor.realize(
        Tensor.zeros([2, 3]).clone(),
        x.add(1),
        Tensor.zeros([2, 3])
          .pad([[0, 1], null], { value: 1 })
          .contiguous(),
        Tensor.full([3], 2).reshape([3, 1]).expand([3, 4]).contiguous(),
      )
    })
    const fills = items.map((it) => (it.kind === 'kernel' ? fillOf(it.ast) !== undefined : false))
    // arange, zeros, x + 1, the padded zeros (a masked value), the broadcast constant
    assert.deepEqual(fills.slice(-4), [true, false, false, true])
  })

  test('a device without host views gets the fill copied in', () => {
    const { items } = kernelsOf(() => Tensor.full([2, 3], 0.5).clone().realize())
    const it = items.at(-1)!
    const fill = it.kind === 'kernel' ? fillOf(it.ast) : undefined
    assert.ok(fill?.constVar, 'a fill of a lifted constant')
    const copied: number[][] = []
    const program = fillProgram(fill, {
      alloc: () => undefined,
      free: () => {},
      copyin: (_b, src) => copied.push(Array.from(src as Float32Array)),
      copyout: () => new Float32Array(0),
    })
    program([{}], [new Int32Array(new Float32Array([0.5]).buffer)[0]!])
    assert.deepEqual(copied, [[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
  })

  test('a jitted function with a fill replays it', async () => {
    const f = jit((x: Tensor) => [x.add(Tensor.zeros([4]).contiguous()).mul(2)])
    for (let k = 0; k < 4; k++) {
      const x = Tensor.full([4], k).contiguous().realize()
      assert.deepEqual(Array.from(await f(x)[0]!.data()), [2 * k, 2 * k, 2 * k, 2 * k])
    }
  })
})
