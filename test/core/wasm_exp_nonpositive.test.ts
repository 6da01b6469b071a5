// The WASM renderer's exp for arguments proven <= 0 (renderer/nonpositive.ts, renderer/wasm_exp.ts):
// which kernels get it (softmax's x - max(x), and not a max that misses some of the values), and
// its results against Math.exp (expected values computed here in double precision), with and
// without relaxed SIMD, specials included; the vector sigmoid built on it (exp(-|x|)).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Device, Tensor } from '../../src/index.ts'
import { nonPositiveExps } from '../../src/renderer/nonpositive.ts'
import { WasmRenderer } from '../../src/renderer/wasm.ts'
import { MAX_FOLDED_OFFSET } from '../../src/renderer/wasm_ops.ts'
import { SimdPlan } from '../../src/renderer/wasm_simd.ts'
import { PAGE } from '../../src/runtime/wasm_memory.ts'
import { wasmFeatures } from '../../src/runtime/wasm_features.ts'
import { Ops } from '../../src/uop/ops.ts'
import { wasmProgram } from './wasm_program.ts'

const skip = Device.unavailableReason('WASM') !== undefined || !wasmFeatures().simd
const W = { device: 'WASM' }
const renderer = (relaxed: boolean) =>
  new WasmRenderer({ simd: true, relaxed, shared: false, maxPages: 65536 })
const r = renderer(false)

/** [proven, all] EXP/EXP2 instructions of the kernel realizing `t` */
function proven(t: Tensor): [number, number] {
  const prog = wasmProgram(t, r)
  const exps = prog.uops.filter((u) => u.op === Ops.EXP || u.op === Ops.EXP2).length
  return [nonPositiveExps(prog).size, exps]
}

/** The kernel of `t` (one input buffer `x`, output buffer 0) rendered and run on `x`, with or without relaxed SIMD. */
function runKernel(t: Tensor, x: Float32Array, relaxed: boolean): Float32Array {
  const bytes = renderer(relaxed).renderBytes(wasmProgram(t, r))
  const pages = Math.ceil((MAX_FOLDED_OFFSET + 2 * x.byteLength) / PAGE) + 1
  const mem = new WebAssembly.Memory({ initial: pages })
  const [out, inp] = [MAX_FOLDED_OFFSET, MAX_FOLDED_OFFSET + x.byteLength]
  new Float32Array(mem.buffer, inp, x.length).set(x)
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    env: { mem },
  })
  ;(inst.exports.k as (o: number, i: number) => void)(out, inp)
  return new Float32Array(mem.buffer, out, x.length).slice()
}

describe('WASM exp of arguments <= 0', { skip }, () => {
  test("softmax's and logSoftmax's exp(x - max(x)) and negated squares are proven <= 0; softmax's vector exps short", () => {
    const x = Tensor.rand([8, 256], W).realize()
    const long = Tensor.rand([5, 1024], W).realize()
    for (const t of [x.softmax(-1), x.mul(3).softmax(-1), long.softmax(-1), x.logSoftmax(-1)]) {
      const [n, all] = proven(t)
      assert.ok(all > 0 && n === all, `${n} of ${all} exps proven`)
    }
    // negated squares: a gaussian, and erf's exp(-x^2) where the renderer lacks erf (gelu)
    for (const t of [x.mul(x).neg().exp(), x.gelu()]) {
      const [n, all] = proven(t)
      assert.ok(all > 0 && n === all, `${n} of ${all} exps proven`)
    }
    // the vector exps of the softmax kernel take the short form
    const plan = new SimdPlan(wasmProgram(x.softmax(-1), r), false)
    const flags: boolean[] = []
    const walk = (p: { kind: string; op?: string; src?: unknown[]; nonPositive?: boolean }): void => {
      if (p.kind === 'alu' && (p.op === Ops.EXP || p.op === Ops.EXP2)) flags.push(p.nonPositive === true)
      for (const s of p.src ?? []) walk(s as typeof p)
    }
    for (const g of plan.groups) walk(g.value)
    assert.ok(flags.length > 0 && flags.every((f) => f), `vector exps marked: ${flags}`)
  })
  test('an exp whose max misses some of the values, or of another tensor, is not proven', () => {
    const x = Tensor.rand([8, 256], W).realize()
    const y = Tensor.rand([8, 256], W).realize()
    const half = x.shrink([
      [0, 8],
      [0, 128],
    ])
    const cases = [
      x.sub(half.max(-1, { keepdim: true })).exp(), // the max of the first half of each row
      x.sub(y.max(-1, { keepdim: true })).exp(), // another tensor's max
      x
        .sub(x.max(-1, { keepdim: true }))
        .add(1e-3)
        .exp(), // not x - max
      x.sub(x.min(-1, { keepdim: true })).exp(), // the min
      x.sigmoid(), // exp(-x)
      x.mul(y).neg().exp(), // not a square
    ]
    for (const t of cases) {
      const [n, all] = proven(t)
      assert.ok(all > 0, 'no exp in the kernel')
      assert.equal(n, 0, `${n} of ${all} exps proven`)
    }
  })
  test('results within 2 ulp of Math.exp down to 2^-126, 0 below; -inf gives 0, NaN stays NaN (with and without relaxed SIMD)', () => {
    // rows whose max is 0, so x - max(x) is x: arguments from 0 down to -110 (and -inf)
    const [rows, cols] = [64, 1024]
    const x = Float32Array.from({ length: rows * cols }, (_, i) =>
      i % cols === 0 ? 0 : Math.fround(-Math.abs(Math.sin(i * 12.9898)) * 110),
    )
    const specials = [-0, -1e-30, -87.3, -87.33654, -87.34, -88, -103.9, -1e30, Number.NEGATIVE_INFINITY]
    x.set(specials, 1)
    x.set([Number.NaN, -1, -2, -3], 2 * cols + 4) // a NaN row: its max is NaN, every result NaN
    const t = Tensor.empty([rows, cols], W)
    const e = t.sub(t.max(-1, { keepdim: true })).exp()
    assert.deepEqual(proven(e), [4, 4])
    for (const relaxed of wasmFeatures().relaxed ? [false, true] : [false]) {
      const got = runKernel(e, x, relaxed)
      let worst = 0
      for (let i = 0; i < x.length; i++) {
        if (Math.floor(i / cols) === 2) {
          assert.ok(Number.isNaN(got[i]), `row of a NaN: ${got[i]} at ${i}`)
          continue
        }
        const ref = Math.exp(x[i]!)
        if (ref >= 2 ** -126) worst = Math.max(worst, Math.abs(got[i]! - ref) / (Math.fround(ref) * 2 ** -23))
        else assert.ok(got[i]! >= 0 && got[i]! <= 2 ** -126, `exp(${x[i]}) = ${got[i]}`)
      }
      assert.ok(worst <= 2, `relaxed ${relaxed}: worst ${worst} ulp`)
      assert.deepEqual(
        [got[1], got[2], got[9]],
        [1, 1, 0],
        `exp(-0), exp(-1e-30), exp(-inf) (relaxed ${relaxed})`,
      )
    }
  })
  test('sigmoid through exp(-|x|): within 2 ulp of 1 / (1 + exp(-x)), specials exact (with and without relaxed SIMD)', () => {
    const N = 1 << 14
    const x = Float32Array.from({ length: N }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 120))
    const specials = [
      0,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -87,
      -88,
      -100,
      100,
      1e-30,
    ]
    x.set(specials)
    const t = Tensor.empty([N], W)
    const s = t.sigmoid()
    // the sigmoid form: -|x| as one v128.or with the sign bit (0xfd 0x50), absent from the plain exp
    const bytes = r.renderBytes(wasmProgram(s, r))
    let ors = 0
    for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0xfd && bytes[i + 1] === 0x50) ors++
    assert.equal(ors, 1, 'the vector sigmoid was not used')
    for (const relaxed of wasmFeatures().relaxed ? [false, true] : [false]) {
      const got = runKernel(s, x, relaxed)
      let worst = 0
      for (let i = 0; i < N; i++) {
        const ref = 1 / (1 + Math.exp(-x[i]!))
        if (Number.isNaN(ref)) assert.ok(Number.isNaN(got[i]), `sigmoid(NaN) = ${got[i]}`)
        else if (ref >= 2 ** -126)
          worst = Math.max(worst, Math.abs(got[i]! - ref) / (Math.fround(ref) * 2 ** -23))
        else assert.ok(got[i]! >= 0 && got[i]! <= 2 ** -126, `sigmoid(${x[i]}) = ${got[i]}`)
      }
      assert.ok(worst <= 2, `relaxed ${relaxed}: worst ${worst} ulp`)
      assert.deepEqual([...got.subarray(0, 5)], [0.5, 0.5, Number.NaN, 1, 0], `specials (relaxed ${relaxed})`)
    }
  })
})
