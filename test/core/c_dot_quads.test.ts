// Byte-quad dot products in the C renderer (renderer/c_dot_quads.ts): a reduce loop of 8 lanes each
// summing four byte products renders as one 256-bit step, and its sums are the scalar loop's
// exactly over the whole int8 range (-128 included: an int8 weight enters as w ^ 0x80, minus 128
// times each lane's sum of x); a loop that is not the form (uint8 on both sides) stays plain and
// still computes the same values.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { type DType, dtypes } from '../../src/dtype.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { Device } from '../../src/runtime/device.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { hasCPU, makeRng } from '../helpers.ts'

const N = 24

/** y[n] = sum over blocks b of float(sum of the 8 lanes' 4 products) * s[b], as a quad kernel. */
function quadDot(a: Tensor, x: Tensor, s: Tensor): Tensor {
  const K = x.shape[0]!
  const [y] = Tensor.customKernel({
    name: 'quads',
    inputs: [a, x, s],
    outputs: [{ shape: [N] }],
    body: (c) => {
      const [ab, xb, sb] = [c.inputs[0]!, c.inputs[1]!, c.inputs[2]!]
      const n = c.range(N)
      const b = c.range(K / 32, 'reduce')
      const l = c.range(8, 'reduce')
      const at = b.mul(32).add(l.mul(4))
      let dot: ReturnType<typeof n.add> | undefined
      for (let j = 0; j < 4; j++) {
        const p = ab
          .load(n.mul(K).add(at).add(j))
          .cast(dtypes.int32)
          .mul(xb.load(at.add(j)).cast(dtypes.int32))
        dot = dot ? dot.add(p) : p
      }
      const v = dot!.cast(dtypes.float32).mul(sb.load(b))
      return c.sink(c.outputs[0]!.store(n, c.reduce('ADD', v, b, l)))
    },
  })
  return y!
}

function inputs(dt: DType, device: string, K: number) {
  const rng = makeRng(7)
  const lo = dt.name === 'int8' ? -128 : 0
  const bytes = (k: number) =>
    Array.from({ length: k }, (_, i) => (i % 37 === 0 ? lo : lo + Math.floor(rng() * 256)))
  const a = new Tensor(bytes(N * K), { dtype: dt.name, device })
  const x = new Tensor(bytes(K), { dtype: dt.name, device })
  const s = new Tensor(
    Array.from({ length: K / 32 }, (_, i) => 1 + i),
    { device },
  )
  return { a, x, s }
}

function source(y: Tensor): string {
  const ks = scheduleFor([y.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  assert.equal(ks.length, 1)
  const r = Device.get('CPU').renderer
  const src = renderKernel(ks[0]!.ast, r, handOpts(ks[0]!.ast, r.target)).src
  return src.slice(src.lastIndexOf('void quads'))
}

describe('C renderer: byte-quad dot products', { skip: !hasCPU && 'no C compiler' }, () => {
  // an even number of blocks runs two per 512-bit step (c_dot_quad_pairs.ts), an odd one a block per step
  for (const [dt, K, form] of [
    [dtypes.int8, 128, 'pairs'],
    [dtypes.int8, 96, 'quads'],
    [dtypes.uint8, 128, 'plain'],
  ] as const)
    test(`${dt.name} x ${dt.name}, ${K / 32} blocks: ${form === 'pairs' ? 'one tg_q2dp step per two blocks' : form === 'quads' ? 'one tg_qdp step per block' : 'a plain loop'}, the JS device's sums exactly`, async () => {
      const c = inputs(dt, 'CPU', K)
      const y = quadDot(c.a, c.x, c.s)
      const src = source(y)
      if (form === 'pairs') {
        assert.match(src, /tgq16i dq_ = tg_q2dp\(/)
        assert.match(src, /tgq16i xq_ = tg_q2ld\(qx0_\);/)
      } else if (form === 'quads') {
        assert.match(src, /tgq8i dq_ = tg_qdp\(/)
        assert.doesNotMatch(src, /tg_q2dp/)
      } else assert.doesNotMatch(src, /tg_qdp|tg_q2dp/)
      if (form !== 'plain') assert.doesNotMatch(src, /for \(int r\d+ = 0; r\d+ < 8; r\d+\+\+\)/)
      const j = inputs(dt, 'JS', K)
      const want = Array.from(await quadDot(j.a, j.x, j.s).data())
      assert.deepEqual(Array.from(await y.data()), want)
      // and the float64 sum of the products (the values are exact in float32)
      const [av, xv] = [Array.from(await j.a.data()), Array.from(await j.x.data())]
      for (let n = 0; n < N; n++) {
        let t = 0
        for (let k = 0; k < K; k++) t += av[n * K + k]! * xv[k]! * (1 + Math.floor(k / 32))
        assert.equal(want[n], t, `y[${n}]`)
      }
    })
})
