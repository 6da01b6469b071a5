// Random stream continuity: random numbers are counter-based (hash of seed and counter), so after a
// reseed one draw of n values must equal any split of it into consecutive draws, whatever the
// sizes, the realize order, or whether the draws run inside a jit. A counter that advances by
// one too few (two draws sharing a counter) or too many (a gap) breaks the equality at a seam.
import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import { jit, Tensor } from '../../src/index.ts'
import { rng } from '../../src/tensor/create.ts'

const vals = async (t: Tensor): Promise<number[]> => Array.from((await t.data()) as ArrayLike<number>, Number)
const cat = (parts: number[][]): number[] => parts.flat()

/** `draw(n)` once for the total, and once per part after the same reseed: the values must agree. */
async function assertContinuous(
  name: string,
  draw: (n: number) => Tensor,
  parts: number[],
  rtol: number,
  seed = 11,
): Promise<void> {
  const total = parts.reduce((a, b) => a + b, 0)
  Tensor.manualSeed(seed)
  const whole = await vals(draw(total))
  Tensor.manualSeed(seed)
  const split: number[] = []
  for (const n of parts) split.push(...(await vals(draw(n))))
  assert.equal(split.length, whole.length)
  // exact for hashes; transcendentals (randn's log/cos) may differ by an ulp between a vector loop
  // and a scalar one, while a shifted counter changes the value completely
  const first = whole.findIndex(
    (v, i) => !(Object.is(v, split[i]) || Math.abs(v - split[i]!) <= rtol * Math.abs(v)),
  )
  assert.equal(
    first,
    -1,
    `${name}: draws of [${parts}] differ from one draw of ${total} at element ${first} (${split[first]} vs ${whole[first]})`,
  )
}

const SPLITS = [
  [4, 4],
  [3, 5],
  [1, 1, 1, 1, 1, 1, 1, 1],
  [5, 0, 3],
  [17, 1, 46],
  [1, 63],
]

describe('rng stream continuity', () => {
  afterEach(() => {
    Tensor.training = false
  })
  const draws: Record<string, [(n: number) => Tensor, number]> = {
    rand: [(n) => Tensor.rand([n]), 0],
    rand_2d: [(n) => Tensor.rand([1, n]).reshape([n]), 0],
    randn: [(n) => Tensor.randn([n]), 1e-6],
    normal: [(n) => Tensor.normal([n], 2, 3), 1e-6],
    randint: [(n) => Tensor.randint(-5, 1000, [n]), 0],
    uniform: [(n) => Tensor.uniform([n], -2, 7), 0],
    rand_float16: [(n) => Tensor.rand([n], { dtype: 'float16' }), 0],
    dropout_mask: [(n) => Tensor.ones([n]).dropout(0.5), 0],
  }
  for (const [name, [draw, rtol]] of Object.entries(draws))
    test(`${name}: one draw equals consecutive draws`, async () => {
      Tensor.training = true
      for (const parts of SPLITS) await assertContinuous(name, draw, parts, rtol)
    })

  test('seams: consecutive draws share no counter (rand 4 + 4 against rand 8)', async () => {
    Tensor.manualSeed(3)
    const a = await vals(Tensor.rand([4]))
    const b = await vals(Tensor.rand([4]))
    Tensor.manualSeed(3)
    const whole = await vals(Tensor.rand([8]))
    assert.notEqual(b[0], a[3], 'the second draw starts with the last value of the first')
    assert.deepEqual(cat([a, b]), whole)
  })

  test('a large draw has no equal neighbours and few repeats (24-bit values)', async () => {
    Tensor.manualSeed(5)
    const parts = [1000, 1, 999, 3000]
    const v: number[] = []
    for (const n of parts) v.push(...(await vals(Tensor.rand([n]))))
    let neighbours = 0
    for (let i = 1; i < v.length; i++) if (v[i] === v[i - 1]) neighbours++
    assert.equal(neighbours, 0, 'a value repeats its neighbour (overlapping counters)')
    // 5000 values of 2^24: about 0.75 repeats expected by chance; an overlap per seam adds 3
    const repeats = v.length - new Set(v).size
    assert.ok(repeats <= 3, `${repeats} repeated values in ${v.length}`)
  })

  test('realize order does not change the numbers (counters are taken at build time)', async () => {
    Tensor.manualSeed(8)
    const a = Tensor.rand([5])
    const b = Tensor.rand([6])
    const bv = await vals(b) // realized first
    const av = await vals(a)
    Tensor.manualSeed(8)
    assert.deepEqual(cat([av, bv]), await vals(Tensor.rand([11])))
    // a draw realized together with a later one, and one realized in between
    Tensor.manualSeed(8)
    const c = Tensor.rand([2])
    const d = Tensor.rand([3]).realize()
    const e = Tensor.rand([6])
    Tensor.realize(e, c)
    Tensor.manualSeed(8)
    assert.deepEqual(cat([await vals(c), await vals(d), await vals(e)]), await vals(Tensor.rand([11])))
  })

  test('inside jit: calls, captures and replays continue the stream', async () => {
    const f = jit((x: Tensor) => x.add(Tensor.rand([3])).add(Tensor.rand([2]).sum()))
    const zero = Tensor.zeros([3]).realize()
    Tensor.manualSeed(21)
    const got: number[] = []
    for (let i = 0; i < 4; i++) {
      got.push(...(await vals(f(zero)))) // eager, capture, replay, replay
      got.push(...(await vals(Tensor.rand([1])))) // an eager draw between calls
    }
    Tensor.manualSeed(21)
    const ref = await vals(Tensor.rand([4 * 6]))
    const want: number[] = []
    for (let i = 0; i < 4; i++) {
      const r = ref.slice(6 * i, 6 * i + 6)
      const s = Math.fround(Math.fround(r[3]!) + Math.fround(r[4]!))
      for (let j = 0; j < 3; j++) want.push(Math.fround(r[j]! + s))
      want.push(r[5]!)
    }
    assert.deepEqual(got, want)
  })

  test('randn pairs its two uniforms per element, so it is continuous too', async () => {
    // Box-Muller: element i uses counters 2i and 2i+1 of its draw
    Tensor.manualSeed(4)
    const u = await vals(Tensor.rand([16]))
    Tensor.manualSeed(4)
    const z = await vals(Tensor.randn([8]))
    for (let i = 0; i < 8; i++) {
      const want = Math.sqrt(-2 * Math.log(1 - u[2 * i]!)) * Math.cos(2 * Math.PI * u[2 * i + 1]!)
      assert.ok(Math.abs(z[i]! - want) < 1e-4 * Math.max(1, Math.abs(want)), `randn[${i}] ${z[i]} != ${want}`)
    }
  })

  test('the counter does not wrap at 2^32 (a long run must not replay the stream from its start)', async () => {
    const run = async (counter: number, n: number): Promise<number[]> => {
      Tensor.manualSeed(6)
      rng.counter = counter
      return vals(Tensor.rand([n]))
    }
    const start = await run(0, 4)
    const across = await run(2 ** 32 - 2, 4) // straddles 2^32
    const after = await run(2 ** 32, 4)
    assert.deepEqual(across.slice(2), after.slice(0, 2), 'one stream across the 2^32 boundary')
    assert.notDeepEqual(after.slice(0, 2), start.slice(0, 2), 'counter 2^32 repeats counter 0')
    assert.notDeepEqual(
      await run(3 * 2 ** 32 + 5, 4),
      await run(5, 4),
      'counter 3 * 2^32 + 5 repeats counter 5',
    )
    // and inside a jit replay, whose uploads are rewritten with the current counter
    const f = jit(() => Tensor.rand([3]).mul(1))
    Tensor.manualSeed(6)
    rng.counter = 2 ** 32 - 1
    const calls: number[] = []
    for (let i = 0; i < 3; i++) calls.push(...(await vals(f()))) // eager, capture, replay (read before the next)
    Tensor.manualSeed(6)
    rng.counter = 2 ** 32 - 1
    assert.deepEqual(calls, await vals(Tensor.rand([9])))
    Tensor.manualSeed(0)
  })
})
