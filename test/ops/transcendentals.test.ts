// exp, exp2 and sigmoid in float32 across the whole float range, against float64 Math.exp rounded
// once: the CPU backend evaluates them with its own inline polynomial, so every exponent range
// (subnormal results, overflow, the thresholds between) is checked, not only the fixtures' values.
// erf against scipy's float64 erf at 2,197 points (test/fixtures/erf_sweep.json,
// scripts/gen_erf_sweep.py), which include every float next to where the CPU's polynomials switch.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { readFileSync } from 'node:fs'
import { Device, dtypes, Tensor } from '../../src/index.ts'

/** s (1 - s) rounded to float32 */
const s1 = (v: number) => {
  const s = 1 / (1 + Math.exp(-v))
  return Math.fround(s * (1 - s))
}

/** Every `step`-th float32 bit pattern (both signs), plus the values where the code paths change. */
function sweep(step: number): Float32Array {
  const bits: number[] = []
  for (let b = 0; b < 0x100000000; b += step) bits.push(b)
  const u = new Uint32Array(bits)
  const edges = [
    0,
    -0,
    1,
    -1,
    88.72283,
    88.72284,
    88.7228317,
    89,
    -86,
    -87.33,
    -87.34,
    -100,
    -103.97,
    -104,
    -104.01,
    127.99999,
    128,
    -124,
    -126,
    -149,
    -150,
    -151,
    -152,
    1e-30,
    -1e-30,
    3e38,
    -3e38,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
  ]
  return Float32Array.from([...new Float32Array(u.buffer), ...edges])
}

/** Distance in units in the last place of the float32 nearest to `want`. */
function ulps(got: number, want: number): number {
  if (Number.isNaN(want)) return Number.isNaN(got) ? 0 : Number.POSITIVE_INFINITY
  const w = Math.fround(want)
  if (!Number.isFinite(w) || !Number.isFinite(got)) return w === got ? 0 : Number.POSITIVE_INFINITY
  const f = new Float32Array([Math.abs(w)])
  const u = new Uint32Array(f.buffer)
  u[0]! += 1
  const ulp = f[0]! - Math.abs(w)
  return Math.abs(got - want) / ulp
}

/** The largest error in ulps, where an absolute error up to `atol` counts as none. */
function worst(xs: Float32Array, got: Float32Array, ref: (x: number) => number, atol: number) {
  let w = { ulp: 0, at: 0 }
  for (let i = 0; i < xs.length; i++) {
    const want = ref(xs[i]!)
    const e = Math.abs(got[i]! - want) <= atol ? 0 : ulps(got[i]!, want)
    if (!(e <= w.ulp)) w = { ulp: e, at: xs[i]! }
  }
  return w
}

/**
 * Why this device cannot meet the sweep's C/JS precision, or false: one whose exp flushes
 * subnormal results to zero (WGSL allows it, and 3 + 2|x| ulp for exp; Mesa's lavapipe does both).
 */
async function flushesSubnormals(): Promise<string | false> {
  const tiny = await new Tensor([-88]).exp().data() // 6.05e-39, below 2^-126
  return tiny[0] === 0 ? `${Device.DEFAULT}'s exp flushes subnormal results to zero` : false
}

describe('float32 transcendentals over the whole range', () => {
  const xs = sweep(4099)
  const x = new Tensor(xs)
  // sigmoid is 0 where exp(-x) overflows (x < -88.72), where the true value is below 2^-126
  const cases: [string, (t: Tensor) => Tensor, (v: number) => number, number, number][] = [
    ['exp', (t) => t.exp(), Math.exp, 2, 0],
    ['exp2', (t) => t.exp2(), (v) => 2 ** v, 2, 0],
    ['sigmoid', (t) => t.sigmoid(), (v) => 1 / (1 + Math.exp(-v)), 3, 2 ** -126],
  ]
  for (const [name, f, ref, tol, atol] of cases)
    test(`${name} within ${tol} ulp of float64, inf/0/NaN where expected`, async (t) => {
      const why = await flushesSubnormals()
      if (why) return t.skip(why)
      const got = (await f(x).data()) as Float32Array
      const w = worst(xs, got, ref, atol)
      assert.ok(w.ulp <= tol, `${name}(${w.at}) is ${w.ulp.toFixed(2)} ulp off`)
    })
  test('sigmoid flushes only below the float range: sigmoid(-88) is 6.05e-39, sigmoid(-90) is 0', async () => {
    const got = await new Tensor([-88, -90, 90]).sigmoid().data()
    assert.ok(Math.abs(got[0]! - 6.0546e-39) < 1e-42, `${got[0]}`)
    assert.deepEqual([got[1], got[2]], [0, 1])
  })
  test('sigmoid gradient is finite where exp(-x) overflows', async () => {
    const t = new Tensor([-200, -90, -20.5, 0, 20.5, 90, 200], { dtype: dtypes.float32, requiresGrad: true })
    t.sigmoid().sum().backward()
    const g = await t.grad!.data()
    const want = [...(await t.detach().data())].map((v) => {
      const s = 1 / (1 + Math.exp(-v))
      return s * (1 - s)
    })
    for (let i = 0; i < want.length; i++)
      assert.ok(Math.abs(g[i]! - want[i]!) <= 1e-7, `grad at ${i}: ${g[i]}`)
  })
  test('sigmoid gradient stays finite when the parameter is realized after the graph was built', async (t) => {
    const why = await flushesSubnormals()
    if (why) return t.skip(why)
    // backward then substitutes the realized parameter and rebuilds the graph above it: the
    // custom gradient must come along (the structural one is NaN where exp(-x) overflows)
    const w = Tensor.full([3], -100.0, { dtype: dtypes.float32 }).add(
      new Tensor([0, 50, 100], { dtype: dtypes.float32 }),
    )
    w.requiresGrad = true
    const y = w.sigmoid().sum()
    w.realize()
    y.backward()
    const g = await w.grad!.data()
    assert.ok(Math.abs(g[0]! - 3.72e-44) < 1e-43 && g[1] === s1(-50) && g[2] === 0.25, `${[...g]}`)
  })
  test('float16 sigmoid keeps small values (computed in float32)', async () => {
    const got = await new Tensor([-12, 0, 12], { dtype: dtypes.float16 })
      .sigmoid()
      .cast(dtypes.float32)
      .data()
    assert.ok(Math.abs(got[0]! - 6.14e-6) < 1e-7, `${got[0]}`)
    assert.deepEqual([got[1], got[2]], [0.5, 1])
  })
  test('erf within 3 ulp of float64 on the CPU (its inline polynomial), within 1e-6 elsewhere', async () => {
    const fx = JSON.parse(readFileSync(new URL('../fixtures/erf_sweep.json', import.meta.url), 'utf8')) as {
      x: number[]
      erf: number[]
    }
    const xs = Float32Array.from(fx.x)
    const got = (await new Tensor(xs).erf().data()) as Float32Array
    // the other devices decompose erf (Abramowitz & Stegun 7.1.26: 1.5e-7, ~1e-6 in float32)
    const cpu = Device.DEFAULT === 'CPU'
    const ref = new Map(fx.x.map((v, i) => [v, fx.erf[i]!]))
    const w = worst(xs, got, (v) => ref.get(v)!, cpu ? 0 : 1e-6)
    assert.ok(w.ulp <= (cpu ? 3 : 0), `erf(${w.at}) is ${w.ulp.toFixed(2)} ulp off`)
    const special = await new Tensor([0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN])
      .erf()
      .data()
    // (erf(-0) keeps its sign on the CPU; the decomposition gives +0. WGSL lets a shader compiler
    // assume no NaN, and lavapipe's erf(NaN) through the decomposition is 0: NaN is not checked there)
    const gpu = Device.DEFAULT === 'WEBGPU'
    assert.deepEqual(
      [...special].slice(0, gpu ? 4 : 5),
      [0, cpu ? -0 : 0, 1, -1, Number.NaN].slice(0, gpu ? 4 : 5),
    )
  })
})
