// nn.KVCache (issue 16, part 2): a preallocated cache updated in place, each step writing only its
// own B*Hkv*T*D elements, and attention over the cached views equal to attention over the keys
// and values concatenated.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type RealizeObserver, setRealizeObserver } from '../../src/engine/realize.ts'
import { nn, Tensor, TsgradError, Variable } from '../../src/index.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { allclose } from '../helpers.ts'

function launches(fn: () => void): KernelItem[] {
  const seen: KernelItem[] = []
  const obs: RealizeObserver = (items) => {
    for (const it of items) if (it.kind === 'kernel') seen.push(it)
  }
  const prev = setRealizeObserver(obs)
  try {
    fn()
  } finally {
    setRealizeObserver(prev)
  }
  return seen
}
const iterations = (k: KernelItem): number =>
  toposort([k.ast])
    .filter((u) => u.op === Ops.RANGE)
    .reduce((n, r) => n * (r.src[0]!.constValue as number), 1)
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as Float32Array)

describe('nn.KVCache', () => {
  const [B, Hq, Hkv, S, D] = [2, 4, 2, 16, 8]

  test('after a prefill and decode steps the cache holds the keys/values concatenated; each update writes only its region', () => {
    Tensor.manualSeed(11)
    const cache = new nn.KVCache(B, Hkv, S, D)
    const steps = [3, 1, 1, 1, 1] // a prefill of 3 tokens, then 4 decode steps
    const ks: Tensor[] = []
    const vs: Tensor[] = []
    let pos = 0
    for (const T of steps) {
      const k = Tensor.randn([B, Hkv, T, D]).realize()
      const v = Tensor.randn([B, Hkv, T, D]).realize()
      ks.push(k)
      vs.push(v)
      let views: [Tensor, Tensor] | undefined
      const run = launches(() => {
        views = cache.update(k, v, pos)
      })
      // one kernel per buffer, over B*Hkv*T*D elements, storing into the cache's own buffer
      assert.equal(run.length, 2, `step at ${pos}`)
      for (const kk of run) {
        assert.equal(iterations(kk), B * Hkv * T * D)
        assert.equal(kk.bufs[0]!.size, B * Hkv * S * D)
        assert.ok(kk.bufs[0]!.existing)
      }
      pos += T
      assert.deepEqual(views![0].shape, [B, Hkv, pos, D])
      allclose(vals(views![0]), vals(Tensor.cat(ks, 2)), { rtol: 0, atol: 0, label: `keys after ${pos}` })
      allclose(vals(views![1]), vals(Tensor.cat(vs, 2)), { rtol: 0, atol: 0, label: `values after ${pos}` })
    }
    // positions not written yet are still zero
    assert.ok(
      vals(
        cache.k.shrink([
          [0, B],
          [0, Hkv],
          [pos, S],
          [0, D],
        ]),
      ).every((x) => x === 0),
    )
    assert.deepEqual(Object.keys(nn.getStateDict({ cache })), [], 'the cache is not model state')
  })

  test('attention over the cached views equals attention over the concatenated keys (prefill + decode, GQA)', () => {
    Tensor.manualSeed(12)
    const cache = new nn.KVCache(B, Hkv, S, D)
    const k0 = Tensor.randn([B, Hkv, 5, D]).realize()
    const v0 = Tensor.randn([B, Hkv, 5, D]).realize()
    const q0 = Tensor.randn([B, Hq, 5, D]).realize()
    const causal = { isCausal: true, causalAlign: 'bottomRight' } as const
    let [kc, vc] = cache.update(k0, v0, 0)
    const pre = q0.scaledDotProductAttention(kc, vc, causal)
    allclose(vals(pre), vals(q0.scaledDotProductAttention(k0, v0, { isCausal: true })), { label: 'prefill' })
    const k1 = Tensor.randn([B, Hkv, 1, D]).realize()
    const v1 = Tensor.randn([B, Hkv, 1, D]).realize()
    const q1 = Tensor.randn([B, Hq, 1, D]).realize()
    ;[kc, vc] = cache.update(k1, v1, 5)
    const dec = q1.scaledDotProductAttention(kc, vc)
    const want = q1.scaledDotProductAttention(Tensor.cat([k0, k1], 2), Tensor.cat([v0, v1], 2))
    allclose(vals(dec), vals(want), { label: 'decode' })
  })

  test('bad shapes, positions and options are errors naming the cache', () => {
    const cache = new nn.KVCache(1, 2, 4, 8)
    const kv = (T: number, h = 2) => Tensor.zeros([1, h, T, 8])
    const is = (re: RegExp) => (e: Error) => e instanceof TsgradError && re.test(e.message)
    assert.throws(
      () => cache.update(kv(1, 3), kv(1), 0),
      is(/k of shape \[1, 3, 1, 8\] does not fit the cache \[1, 2, 4, 8\]/),
    )
    assert.throws(() => cache.update(kv(2), kv(1), 0), is(/k and v lengths differ/))
    assert.throws(() => cache.update(kv(2), kv(2), 3), is(/positions 3\.\.5 .* maxLen 4/))
    assert.throws(() => cache.update(kv(1), kv(1), 1.5), is(/do not fit/))
    assert.throws(() => new nn.KVCache(1, 0, 4, 8), is(/positive integers/))
    assert.throws(() => new nn.KVCache(1, 1, 4, 8, { dtpye: 'float16' } as object), is(/KVCache/))
  })
})

describe('KVCache with a Variable position, eager', () => {
  test('a lazy reader of an earlier position (other binding) is realized in its own schedule', () => {
    // keys.sum() leaves its lazy REDUCE_AXIS intermediate alive; the next update's write realizes
    // it first, and it binds the position to the previous value: one schedule cannot hold both
    // (before: "Variable p is bound to 1 and to 0 in one graph")
    const cache = new nn.KVCache(1, 1, 16, 4)
    const pos = Variable('p', 0, 15)
    const sums: number[] = []
    for (let i = 0; i < 4; i++) {
      const k = Tensor.full([1, 1, 1, 4], i)
      const [keys] = cache.update(k, k, pos.bind(i))
      sums.push(keys.sum().dataSync()[0]!)
    }
    assert.deepEqual(sums, [0, 4, 12, 24])
  })
})
