// Explicit vector loops in the C renderer: which loops take them, and that their values match the
// JS reference device bit for bit where the semantics are exact (integers, bools, casts, selects,
// NaN-propagating max, -0.0), including the scalar remainder after the last full vector; and the
// 8-lane path of machines without AVX-512, by compiling with -mno-avx512f in a child process.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { dtypes, nn, Tensor } from '../../src/index.ts'
import { Device } from '../../src/runtime/device.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { hasCPU, makeRng } from '../helpers.ts'

/** The C source of the single kernel that realizing `t` runs, with the default heuristics. */
function cSource(t: Tensor): string {
  const items = scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  assert.equal(items.length, 1, 'expected one kernel')
  const r = Device.get('CPU').renderer
  const src = renderKernel(items[0]!.ast, r, handOpts(items[0]!.ast, r.target)).src
  return src.slice(src.lastIndexOf('void E_'))
}

/** Values of `f` built on `device` from the same inputs. */
async function on(device: string, inputs: [number[], string][], f: (...t: Tensor[]) => Tensor) {
  const ts = inputs.map(([v, dt]) => new Tensor(v, { dtype: dt, device }))
  return Array.from(await f(...ts).data())
}

/** Bitwise equality (NaN equal to NaN, -0 distinct from 0). */
function sameBits(got: number[], want: number[], what: string): void {
  assert.equal(got.length, want.length)
  for (let i = 0; i < want.length; i++)
    assert.ok(Object.is(got[i], want[i]), `${what}[${i}]: CPU ${got[i]}, JS ${want[i]}`)
}

describe('C vector loops', { skip: !hasCPU && 'no C compiler' }, () => {
  test('a contiguous elementwise loop of 100 renders as vectors plus a scalar remainder', () => {
    const src = cSource(Tensor.rand([100]).realize().exp().add(1))
    assert.match(src, /for \(int r\d+ = 0; r\d+ < 100 \/ TG_VLEN \* TG_VLEN; r\d+ \+= TG_VLEN\)/)
    assert.match(src, /tg_expv\(/)
    assert.match(src, /for \(int r\d+ = 100 \/ TG_VLEN \* TG_VLEN; r\d+ < 100; r\d+\+\+\)/)
  })
  test('a transposed read and a loop shorter than 16 stay plain loops', () => {
    assert.doesNotMatch(cSource(Tensor.rand([40, 40]).realize().transpose().exp()), /tgvf/)
    assert.doesNotMatch(cSource(Tensor.rand([8, 9]).realize().exp()), /tgvf/)
  })

  const rng = makeRng(7)
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1e-40, -3e38]
  const floats = (n: number): number[] =>
    Array.from({ length: n }, (_, i) =>
      i < specials.length ? specials[i]! : Math.fround((rng() - 0.5) * 200),
    )
  const ints = (n: number): number[] =>
    Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 2147483647 - i : Math.floor((rng() - 0.5) * 2000)))
  const graphs: [string, (n: number) => [number[], string][], (...t: Tensor[]) => Tensor][] = [
    [
      'float select, max and compare',
      (n) => [
        [floats(n), 'float32'],
        [floats(n), 'float32'],
      ],
      (a, b) => a.lt(b).where(a.maximum(b), b.mul(-1)).add(a.eq(b).cast(dtypes.float32)),
    ],
    ['-0.0 constants and negation', (n) => [[floats(n), 'float32']], (a) => a.mul(0).neg().add(-0.0)],
    [
      'int32 wrapping arithmetic',
      (n) => [
        [ints(n), 'int32'],
        [ints(n), 'int32'],
      ],
      (a, b) => a.add(b).mul(3).sub(b.neg()).maximum(a),
    ],
    [
      'int32 division, shifts and bitwise ops (lane loops)',
      (n) => [
        [ints(n), 'int32'],
        [ints(n), 'int32'],
      ],
      (a, b) => a.idiv(b.bitwiseOr(1)).add(a.lshift(3)).bitwiseXor(b.rshift(2)).bitwiseAnd(a.bitwiseNot()),
    ],
    [
      'bool logic and casts',
      (n) => [
        [floats(n), 'float32'],
        [ints(n), 'int32'],
      ],
      (a, b) =>
        a
          .gt(0)
          .logicalAnd(b.lt(10))
          .logicalOr(a.ne(a))
          .logicalNot()
          .cast(dtypes.int32)
          .add(b.cast(dtypes.float32).cast(dtypes.int32)),
    ],
    [
      'float -> int casts wrap like JS',
      (n) => [[floats(n).map((v) => v * 1e8), 'float32']],
      (a) => a.cast(dtypes.int32),
    ],
    [
      'narrow integer and float16 loads (widened lanes): nibbles, int8/int16 wrap, float16 bits',
      (n) => {
        const bytes = ints(n).map((v) => v & 0xff)
        const halves = ints(n).map((v, i) => (v * 37 + i * 4099) & 0xffff)
        return [
          [bytes, 'uint8'],
          [bytes.map((v) => (v << 24) >> 24), 'int8'],
          [halves.map((v) => (v << 16) >> 16), 'int16'],
          [halves, 'uint16'],
          [floats(n).map((v) => v / 1e3), 'float16'],
        ]
      },
      (a, b, c, d, h) =>
        a
          .rshift(4)
          .bitwiseAnd(0x0f)
          .cast(dtypes.float32)
          .sub(8)
          .add(a.bitcast(dtypes.int8).cast(dtypes.float32))
          .add(a.add(a).lshift(1).cast(dtypes.float32))
          .add(b.mul(b).bitwiseXor(b.rshift(1)).cast(dtypes.float32))
          .add(c.bitcast(dtypes.uint16).cast(dtypes.int32).cast(dtypes.float32))
          .add(c.sub(d.bitcast(dtypes.int16)).add(c).cast(dtypes.float32))
          .add(d.bitcast(dtypes.float16).cast(dtypes.float32))
          .add(h.cast(dtypes.float32))
          .add(a.eq(b.bitcast(dtypes.uint8)).where(d, c.bitcast(dtypes.uint16)).cast(dtypes.float32)),
    ],
    [
      'padded (gated) loads and the loop index as a value',
      (n) => [[floats(n), 'float32']],
      (a) =>
        a.pad([[3, 5]]).add(Tensor.arange(0, a.shape[0]! + 8, 1, { device: a.device }).cast(dtypes.float32)),
    ],
  ]
  for (const [name, inputs, f] of graphs)
    test(`${name}: CPU matches JS bit for bit at sizes 16, 17, 47, 100`, async () => {
      for (const n of [16, 17, 47, 100]) {
        const ins = inputs(n)
        sameBits(await on('CPU', ins, f), await on('JS', ins, f), `${name} n=${n}`)
      }
    })
  test('a matvec over Q8_0/Q4_0 blocks or F16: the inner loop adds vectors of widened loads into lanes', async () => {
    const [rows, cols] = [48, 256]
    const w = Tensor.randn([rows, cols]).realize()
    const x = Tensor.randn([1, cols]).realize()
    const xs = Array.from(await x.data())
    for (const type of ['Q8_0', 'Q4_0', 'F16'] as const) {
      const W = nn.ggufParse(await nn.ggufSerialize({ tensors: { w } }, type)).tensors.w!
      const y = x.matmul(W.T)
      const items = scheduleFor([y.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
      assert.equal(items.length, 1, 'one fused kernel')
      const r = Device.get('CPU').renderer
      const src = renderKernel(items[0]!.ast, r, handOpts(items[0]!.ast, r.target)).src
      const body = src.slice(src.lastIndexOf(' r_'))
      if (type === 'F16') {
        // one converting load (vcvtph2ps where the target has it), not widened lanes then integer math
        assert.match(body, /tgvf x\d+ = tg_ldh2fv\(\(const void \*\)\(b\d+ \+ v\d+\)\);/)
        assert.doesNotMatch(body, /tg_h2fv\(/)
      } else if (type === 'Q8_0') {
        // the int8 quants (block bytes BITCAST to int8) are sign-extended by their own loader, not
        // zero-extended and shifted left and back
        assert.match(body, /tgvi x\d+ = tg_ldi8\(\(const void \*\)\(b\d+ \+ v\d+\)\);/)
        assert.doesNotMatch(body, /<< 24\) >> 24/)
      } else assert.match(body, /tgvi x\d+ = tg_ldu8\(b\d+ \+ v\d+\);/, type)
      if (type !== 'F16') {
        // the block's float16 scale, once per block: the F16C conversion, not the vectorizable form
        assert.match(body, /float v\d+ = tg_h2f1\(v\d+\);/, type)
      }
      assert.match(body, /\*\(tgvfu\*\)\(acc0_l \+ r\d+\) = \*\(tgvfu\*\)\(acc0_l \+ r\d+\) \+ x\d+;/, type)
      if (type !== 'F16') {
        // a block's two halves (Q8_0) or nibble planes (Q4_0) are straight-line steps sharing the
        // block scale, multiplied once into their sum; Q4_0's planes share one byte load, no select
        assert.match(
          body,
          /tgvf (x\d+) = \(tg_vf\(v\d+\) \* x\d+\);\n\s*\*\(tgvfu\*\)\(acc0_l \+ r\d+\) = \*\(tgvfu\*\)\(acc0_l \+ r\d+\) \+ \1;/,
          type,
        )
        assert.equal(body.match(/acc0_l \+ r\d+\) =/g)?.length, 1, type)
        assert.doesNotMatch(body, /tg_seli/, type)
        if (type === 'Q4_0') assert.equal(body.match(/tg_ldu8\(/g)?.length, 1)
      }
      // against a float64 sum of the dequantized values (which the gguf tests check bit for bit)
      const wd = Array.from(await W.data())
      const got = Array.from(await y.data())
      for (let i = 0; i < rows; i++) {
        let want = 0
        let mag = 0
        for (let k = 0; k < cols; k++) {
          want += xs[k]! * wd[i * cols + k]!
          mag += Math.abs(xs[k]! * wd[i * cols + k]!)
        }
        assert.ok(Math.abs(got[i]! - want) <= 1e-6 * mag, `${type} row ${i}: ${got[i]} vs ${want}`)
      }
    }
  })
  test('a block loop of straight-line steps without a common scale (Q4_1) keeps its lane accumulators', async () => {
    // Q4_1: d * q + m per element, so the two nibble planes' steps share no factor: two updates
    // of the lane accumulator in one loop (before, two updates meant a simd reduction per block)
    const [rows, cols] = [48, 256]
    const nbytes = ((rows * cols) / 32) * 20
    const head: number[] = [...new TextEncoder().encode('GGUF')]
    const u32 = (v: number) => head.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24)
    const u64 = (v: number) => {
      u32(v)
      u32(0)
    }
    // version 3, one tensor, no metadata; tensor 'w': 2 dims (cols, rows), type Q4_1 (3), offset 0
    for (const [f, v] of [
      [u32, 3],
      [u64, 1],
      [u64, 0],
      [u64, 1],
    ] as const)
      f(v)
    head.push(119)
    for (const [f, v] of [
      [u32, 2],
      [u64, cols],
      [u64, rows],
      [u32, 3],
      [u64, 0],
    ] as const)
      f(v)
    const start = Math.ceil(head.length / 32) * 32
    const file = new Uint8Array(start + nbytes)
    file.set(head)
    for (let i = 0; i < nbytes; i++) file[start + i] = (i * 97 + 13) & 255
    for (let b = 0; b < nbytes / 20; b++) file.set([b & 255, 0x20, (b * 7) & 255, 0xa0], start + b * 20)
    const W = nn.ggufParse(file).tensors.w!
    const x = Tensor.randn([1, cols]).realize()
    const y = x.matmul(W.T)
    const items = scheduleFor([y.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
    const r = Device.get('CPU').renderer
    const body = renderKernel(items[0]!.ast, r, handOpts(items[0]!.ast, r.target)).src.split(' r_').at(-1)!
    assert.equal(body.match(/\*\(tgvfu\*\)\(acc0_l \+ r\d+\) = /g)?.length, 2)
    assert.doesNotMatch(body, /omp simd reduction/)
    const [xs, wd, got] = [await x.data(), await W.data(), await y.data()].map((a) => Array.from(a))
    for (let i = 0; i < rows; i++) {
      let [want, mag] = [0, 0]
      for (let k = 0; k < cols; k++) {
        want += xs![k]! * wd![i * cols + k]!
        mag += Math.abs(xs![k]! * wd![i * cols + k]!)
      }
      assert.ok(Math.abs(got![i]! - want) <= 1e-6 * mag, `row ${i}: ${got![i]} vs ${want}`)
    }
  })
  test('the vector exp and sigmoid agree with the plain loop (same polynomial, bit for bit)', async () => {
    // 31 elements: 16 in the vector loop, the first 15 again in the scalar remainder
    const base = floats(16)
    const x = new Tensor([...base, ...base.slice(0, 15)])
    const e = Array.from(await x.exp().data())
    const s = Array.from(await x.sigmoid().data())
    for (let i = 16; i < 31; i++) {
      assert.ok(Object.is(e[i], e[i - 16]), `exp lane ${i - 16}: ${e[i - 16]} vs ${e[i]}`)
      assert.ok(Object.is(s[i], s[i - 16]), `sigmoid lane ${i - 16}: ${s[i - 16]} vs ${s[i]}`)
    }
  })
})

const inChild = process.env.TSGRAD_TEST_NO_AVX512 === '1'
describe('C vector loops without AVX-512', {
  skip: (!hasCPU || process.arch !== 'x64' || inChild) && 'x64 C compiler only, once',
}, () => {
  test('the 8-lane path passes these checks, the transcendental sweep and the random cross-backend graphs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-cc-'))
    const cc = join(dir, 'cc-no-avx512')
    writeFileSync(cc, `#!/bin/sh\nexec ${process.env.CC ?? 'gcc'} "$@" -mno-avx512f\n`, { mode: 0o755 })
    const macros = spawnSync(cc, ['-march=native', '-dM', '-E', '-x', 'c', '/dev/null'], { encoding: 'utf8' })
    assert.equal(macros.status, 0, macros.stderr)
    assert.doesNotMatch(macros.stdout, /__AVX512F__/)
    const files = [
      'test/core/c_vector.test.ts',
      'test/ops/transcendentals.test.ts',
      'test/core/cross_backend.test.ts',
      'test/nn/quant_matvec.test.ts',
      'test/core/c_half_runs.test.ts',
    ]
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], {
      // without NODE_TEST_CONTEXT, which would make the child report to this runner, not stdout
      env: {
        ...process.env,
        NODE_TEST_CONTEXT: undefined,
        CC: cc,
        CACHELEVEL: '0',
        TSGRAD_TEST_NO_AVX512: '1',
      },
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000))
    assert.match(r.stdout, /# fail 0/)
  })
})
