// The WASM device: the binary encoder (LEB128 against the spec's examples), the memory allocator
// (reuse, growth keeping every buffer's contents), the SIMD plan of a matmul tile, JS-reference
// semantics at the edges (expected values computed here with plain JS arithmetic), and WASM as the
// default device where no C compiler works.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Device, dtypes, Tensor } from '../../src/index.ts'
import { WasmRenderer } from '../../src/renderer/wasm.ts'
import { Bytes, Code, encodeModule, I32 } from '../../src/renderer/wasm_encoder.ts'
import { KernelCode, MAX_FOLDED_OFFSET, THREAD_COUNTER } from '../../src/renderer/wasm_ops.ts'
import { SimdPlan } from '../../src/renderer/wasm_simd.ts'
import { PAGE, sizeClass, WasmHeap } from '../../src/runtime/wasm_memory.ts'
import { choosingThreads } from '../../src/runtime/wasm.ts'
import { wasmFeatures } from '../../src/runtime/wasm_features.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'
import { makeRng } from '../helpers.ts'
import { wasmProgram } from './wasm_program.ts'

const skip = Device.unavailableReason('WASM') !== undefined
const W = { device: 'WASM' }

describe('WebAssembly encoder', () => {
  test('LEB128 as in the spec and DWARF examples', () => {
    assert.deepEqual([...new Bytes().u32(624485).view()], [0xe5, 0x8e, 0x26])
    assert.deepEqual([...new Bytes().u32(127).view()], [0x7f])
    assert.deepEqual([...new Bytes().u32(128).view()], [0x80, 0x01])
    assert.deepEqual([...new Bytes().sleb(-123456n).view()], [0xc0, 0xbb, 0x78])
    assert.deepEqual([...new Bytes().sleb(-1n).view()], [0x7f])
    assert.deepEqual([...new Bytes().sleb(63n).view()], [0x3f])
    assert.deepEqual([...new Bytes().sleb(64n).view()], [0xc0, 0x00])
    assert.deepEqual([...new Bytes().sleb(-64n).view()], [0x40])
  })
  test('a module with imported memory and one exported function runs', { skip }, () => {
    const body = new Code().get(0).get(1).o(0x6a) // i32.add
    const bytes = encodeModule(
      { module: 'env', name: 'mem', initial: 1, shared: false },
      [],
      [{ type: { params: [I32, I32], results: [I32] }, locals: [], body, export: 'k' }],
    )
    const mem = new WebAssembly.Memory({ initial: 1 })
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
      env: { mem },
    })
    assert.equal((inst.exports.k as (a: number, b: number) => number)(40, 2), 42)
  })
})

describe('WASM memory', { skip }, () => {
  test('size classes hold the request, 64-byte aligned, at most a quarter more above 4 KiB', () => {
    for (const n of [0, 1, 63, 64, 65, 4096, 4097, 5000, 65536, 1e6, 123456789]) {
      const c = sizeClass(n)
      assert.ok(c >= n && c % 64 === 0, `${n} -> ${c}`)
      if (n > 4096) assert.ok(c <= n * 1.25 + 64, `${n} -> ${c}`)
    }
  })
  test('the heap reuses freed blocks of a size class and grows keeping contents', () => {
    const h = new WasmHeap(false, 4096)
    const a = h.alloc(100)
    h.u8(a).set([1, 2, 3])
    const b = h.alloc(3000)
    h.release(b)
    assert.equal(h.alloc(2500).ptr, b.ptr)
    const pages = h.memory.buffer.byteLength / PAGE
    const big = h.alloc(8 * 2 ** 20)
    assert.ok(h.memory.buffer.byteLength / PAGE > pages && big.ptr + big.bytes <= h.memory.buffer.byteLength)
    assert.deepEqual([...h.u8(a).subarray(0, 3)], [1, 2, 3])
    assert.throws(() => h.alloc(2 ** 30), /WASM device: out of memory allocating 1073741824 bytes/)
  })
  test("a constant index term is the access's memarg offset; no buffer starts below those offsets", () => {
    const [buf, x] = [UOp.variable('buf', 0, 1 << 20), UOp.variable('x', 0, 1 << 20)]
    const idx = UOp.new(Ops.ADD, dtypes.int32, [x, UOp.const(dtypes.int32, 3)])
    const k = new KernelCode()
    k.local.set(buf, 0)
    k.local.set(x, 1)
    assert.equal(k.address(buf, idx, dtypes.float32), 12)
    // buf + (x << 2): the constant is not computed
    assert.deepEqual([...k.code.view()], [...new Code().get(0).get(1).i32(2).o(0x74, 0x6a).view()])
    // buf + x*4 stays >= 0 for every in-bounds access only if buffers start above the offsets
    assert.ok(new WasmHeap(false, 64).alloc(4).ptr >= MAX_FOLDED_OFFSET)
  })
  test('tensors keep their values when the device memory grows', async () => {
    const a = new Tensor([1, 2, 3, 4], W).realize()
    // 64 MiB more than the memory had: it grows (a non-shared memory's old ArrayBuffer detaches)
    const big = Tensor.full([1 << 24], 2, W).realize()
    assert.deepEqual([...(await a.data())], [1, 2, 3, 4])
    assert.equal((await big.sum().data())[0], 2 ** 25)
    // host data written through a fresh view after the growth
    assert.deepEqual([...(await new Tensor([5, 6], W).add(a.shrink([[0, 2]])).data())], [6, 8])
  })
})

describe('WASM SIMD', { skip: skip || !wasmFeatures().simd }, () => {
  const r = new WasmRenderer({ simd: true, relaxed: false, shared: false, maxPages: 65536 })
  test('a matmul tile: vector accumulators updated from splats of A and consecutive loads of B', () => {
    const a = Tensor.rand([64, 128], W)
    const b = Tensor.rand([128, 256], W)
    const plan = new SimdPlan(wasmProgram(a.matmul(b), r), false)
    assert.ok(plan.groups.length >= 4, `${plan.groups.length} store groups`)
    for (const g of plan.groups) {
      assert.equal(g.value.kind, 'acc')
      const steps = g.value.kind === 'acc' ? g.value.group.steps : []
      // the B lanes of an 8-column upcast of a 32-column panel: one v128.load, not four scalars
      const kinds = steps.map((s) => (s.value.kind === 'alu' ? s.value.src.map((x) => x.kind).sort() : []))
      assert.deepEqual(
        kinds,
        steps.map(() => ['load', 'splat']),
      )
    }
  })
  test("a matmul tile splats A's elements straight from memory (v128.load32_splat)", () => {
    const a = Tensor.rand([64, 128], W)
    const b = Tensor.rand([128, 256], W)
    const bytes = r.renderBytes(wasmProgram(a.matmul(b), r))
    // 0xfd 0x09 then the memarg's alignment 2: v128.load32_splat (one load, no scalar f32.load + splat)
    let n = 0
    for (let i = 0; i + 2 < bytes.length; i++)
      if (bytes[i] === 0xfd && bytes[i + 1] === 0x09 && bytes[i + 2] === 2) n++
    assert.ok(n >= 4, `${n} load32_splat for a tile of 4 rows`)
  })
  test('a kernel with only vector accumulators (row sums, no vector store) is vectorized', () => {
    const x = Tensor.rand([8, 256], W).realize()
    for (const t of [x.sum(-1), x.exp().sum(-1)]) {
      const plan = new SimdPlan(wasmProgram(t, r), false)
      assert.equal(plan.groups.length, 0)
      // it was left scalar: the plan counted only store groups as work (sqrt(x).sum(-1): 4x slower)
      assert.equal(plan.empty, false)
      const bytes = r.renderBytes(wasmProgram(t, r))
      let adds = 0 // 0xfd 0xe4 0x01: f32x4.add
      for (let i = 0; i + 2 < bytes.length; i++)
        if (bytes[i] === 0xfd && bytes[i + 1] === 0xe4 && bytes[i + 2] === 0x01) adds++
      assert.ok(adds >= 1, 'no f32x4.add in a row sum')
    }
  })
  test('softmax: one vector exp per 4 elements, stored from the sum loop and read back as vectors', () => {
    const x = Tensor.rand([8, 256], W).realize()
    const prog = wasmProgram(x.softmax(-1), r)
    // the sum's 4 unrolled lanes and the output's 4 upcast lanes: exp(x - max) is stored from the
    // reduce loop (reuse_row_values renames both pairs of ranges), not computed again (was 8 EXPs)
    assert.equal(prog.uops.filter((u) => u.op === Ops.EXP).length, 4)
    const plan = new SimdPlan(prog, false)
    // vector stores: the 4 exps in the sum loop and the 4 scaled values in the output loop, whose
    // loads of the stored row (index ordered AFTER the sum) are one v128.load, not gathered lanes
    assert.equal(plan.groups.length, 2)
    for (const g of plan.groups) assert.notEqual(g.value.kind, 'gather')
    const skipped = prog.uops.filter((u) => u.op === Ops.LOAD && plan.skips(u)).length
    assert.equal(skipped, prog.uops.filter((u) => u.op === Ops.LOAD).length, 'a load stayed scalar')
    // the row max in two vector accumulators (8 lanes: f32x4.max's latency chain halved)
    const maxAccs = prog.uops.filter((u) => u.op === Ops.REDUCE && u.arg === 'MAX').length
    assert.equal(maxAccs, 8)
  })
  test('softmax over rows as short as one vector (unrolled whole) equals the JS device', async () => {
    // a 4-wide row unrolled 4 leaves no reduce loop: the row stored from it was read back before
    // it was written (outputs were exp(x - max), not normalized)
    for (const shape of [
      [3, 4],
      [2, 8],
      [3, 1],
      [5, 12],
    ]) {
      const v = Float32Array.from({ length: shape[0]! * shape[1]! }, (_, i) => Math.sin(i * 1.3) * 3)
      const run = (device: string) => new Tensor(v, { shape, device }).softmax(-1).data()
      const [w, j] = [await run('WASM'), await run('JS')]
      for (let i = 0; i < w.length; i++)
        assert.ok(Math.abs(w[i]! - j[i]!) < 1e-6, `${shape}: ${w[i]} vs ${j[i]}`)
    }
  })
  test('a conv weight gradient (3-wide output rows) gets a register tile of vectors along the channels', () => {
    const x = Tensor.rand([2, 32, 12, 12], W).realize()
    const w = Tensor.rand([32, 32, 3, 3], { ...W, requiresGrad: true }).realize()
    x.conv2d(w, { padding: 1 }).sum().backward()
    const prog = wasmProgram(w.grad!, r)
    const plan = new SimdPlan(prog, false)
    // it was one row of 8 output channels (2 vectors: 2 multiply-adds per 3 loads), the output's
    // contiguous axis (the window's 3 columns) holding no vector; now 8 output channels x 4 input
    // channels (8 vectors: 8 multiply-adds per 6 loads), 31-43 -> 19 ms of CPU for a small CNN step
    assert.equal(plan.empty, false)
    const reduces = prog.uops.filter((u) => u.op === Ops.REDUCE)
    assert.ok(reduces.length >= 32, `${reduces.length} accumulators`)
    const scalarAccs = prog.uops.filter((u) => u.op === Ops.DEFINE_ACC && !plan.skips(u)).length
    assert.equal(scalarAccs, 0, `${scalarAccs} of ${reduces.length} accumulators scalar`)
  })
  test('relu is one f32x4.pmax (not a compare and a bitselect), bit for bit as JS with -0 and NaN', async () => {
    const x = Tensor.rand([8, 64], W).realize()
    const bytes = r.renderBytes(wasmProgram(x.relu(), r))
    const count = (b1: number, b2?: number) => {
      let n = 0
      for (let i = 0; i + 2 < bytes.length; i++)
        if (bytes[i] === 0xfd && bytes[i + 1] === b1 && (b2 === undefined || bytes[i + 2] === b2)) n++
      return n
    }
    assert.equal(count(0xeb, 0x01), 1) // f32x4.pmax
    assert.equal(count(0x52), 0) // v128.bitselect
    const v = Float32Array.from({ length: 1024 }, (_, i) =>
      i % 7 === 0 ? -0 : i % 11 === 0 ? Number.NaN : Math.sin(i) * 3,
    )
    for (const f of [
      (t: Tensor) => t.relu(),
      (t: Tensor) => t.clip(-1, 1),
      (t: Tensor) => t.minimum(t.mul(0.5)),
    ]) {
      const [w, j] = [await f(new Tensor(v, W)).data(), await f(new Tensor(v, { device: 'JS' })).data()]
      for (let i = 0; i < v.length; i++) assert.ok(Object.is(w[i], j[i]), `${v[i]}: ${w[i]} vs ${j[i]}`)
    }
  })
  test("a conv's 3x3 window stays loops on WASM (no CHAIN), and the result equals JS's", async () => {
    const x = Tensor.rand([1, 16, 12, 12], W).realize()
    const w = Tensor.rand([16, 16, 3, 3], W).realize()
    const items = scheduleFor([x.conv2d(w, { padding: 1 }).uop]).items.filter(
      (i): i is KernelItem => i.kind === 'kernel',
    )
    const opts = handOpts(items.at(-1)!.ast, r.target)
    // straight-line steps made V8 load all 9 steps' operands first and spill the register tile:
    // conv2d 8x64x56x56 took 130 ms of CPU, 69 with the window as loops
    assert.ok(opts.some((o) => o.op === 'UPCAST'))
    assert.ok(!opts.some((o) => o.op === 'CHAIN'), JSON.stringify(opts))
    const xv = await x.data()
    const wv = await w.data()
    const run = (device: string) =>
      new Tensor(xv, { shape: [1, 16, 12, 12], device })
        .conv2d(new Tensor(wv, { shape: [16, 16, 3, 3], device }), { padding: 1 })
        .data()
    const [a, b] = [await run('WASM'), await run('JS')]
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, `${a[i]} vs ${b[i]}`)
  })
  test('elementwise kernels are upcast by 4 and stored as vectors', () => {
    const x = Tensor.rand([8, 64], W)
    const plan = new SimdPlan(wasmProgram(x.mul(2).add(1).relu(), r), false)
    assert.ok(plan.groups.length >= 1)
    assert.equal(plan.groups[0]!.value.kind, 'alu')
  })
  test('vectorized matmul and elementwise results equal the JS device bit for bit', async () => {
    const rng = makeRng(3)
    for (const [m, k, n] of [
      [5, 7, 9],
      [16, 33, 64],
      [64, 128, 96],
    ] as const) {
      const av = Float32Array.from({ length: m * k }, () => rng() - 0.5)
      const bv = Float32Array.from({ length: k * n }, () => rng() - 0.5)
      const run = (device: string) =>
        new Tensor(av, { shape: [m, k], device })
          .matmul(new Tensor(bv, { shape: [k, n], device }))
          .relu()
          .mul(3)
          .data()
      const [w, j] = [await run('WASM'), await run('JS')]
      if (wasmFeatures().relaxed) for (let i = 0; i < w.length; i++) assert.ok(Math.abs(w[i]! - j[i]!) < 1e-5)
      else assert.deepEqual(w, j, `${m}x${k}x${n}`)
    }
  })
})

describe('WASM semantics at the edges (as the JS reference)', { skip }, () => {
  const i32 = (v: number[]) => new Tensor(v, { device: 'WASM', dtype: dtypes.int32 })
  test('int32 floor division and modulo: by zero gives 0, INT_MIN // -1 wraps', async () => {
    const x = [-(2 ** 31), -(2 ** 31), 7, -7, 7, 0, 2 ** 31 - 1]
    const y = [-1, 0, 2, 2, -2, 0, -1]
    // Python's floor semantics (the front end builds them on truncating IDIV and MOD)
    const div = x.map((a, i) => (y[i] ? Math.floor(a / y[i]!) | 0 : 0))
    const mod = x.map((a, i) => (y[i] ? (a - Math.floor(a / y[i]!) * y[i]!) | 0 : 0))
    assert.deepEqual([...(await i32(x).idiv(i32(y)).data())], div)
    assert.deepEqual([...(await i32(x).mod(i32(y)).data())], mod)
  })
  test('float -> int casts wrap like JS |0 (NaN and infinities give 0)', async () => {
    const v = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      3e9,
      -3e9,
      1e20,
      -2.7,
      2.7,
      2 ** 31,
    ]
    const f = new Tensor(v, { device: 'WASM', dtype: dtypes.float64 })
    assert.deepEqual(
      [...(await f.cast(dtypes.int32).data())],
      v.map((x) => x | 0),
    )
    assert.deepEqual(
      [...(await f.cast(dtypes.uint32).data())],
      v.map((x) => x >>> 0),
    )
    assert.deepEqual(
      [...(await f.cast(dtypes.int8).data())],
      v.map((x) => ((x | 0) << 24) >> 24),
    )
  })
  test('narrow ints wrap after each op; uint32 compares and shifts unsigned', async () => {
    const a = new Tensor([100, -100, 127], { device: 'WASM', dtype: dtypes.int8 })
    assert.deepEqual([...(await a.add(a).data())], [-56, 56, -2])
    const u = new Tensor([4e9, 1, 2 ** 31], { device: 'WASM', dtype: dtypes.uint32 })
    assert.deepEqual(
      [...(await u.lt(new Tensor([1, 4e9, 1], { device: 'WASM', dtype: dtypes.uint32 })).data())],
      [false, true, false].map(Number),
    )
    assert.deepEqual([...(await u.rshift(1).data())], [2e9, 0, 2 ** 30])
  })
  test('int64 arithmetic beyond 32 bits', async () => {
    const a = new Tensor([2 ** 40 + 3, -(2 ** 35)], { device: 'WASM', dtype: dtypes.int64 })
    assert.deepEqual([...(await a.mul(3).add(1).data())], [3n * (2n ** 40n + 3n) + 1n, -3n * 2n ** 35n + 1n])
  })
  test('scalar float32 exp and exp2 equal Math.exp rounded to float32 on a sample', async () => {
    const rng = makeRng(11)
    // 19999 elements: no upcast by 4, so the scalar code (double precision) runs, not the vector exp
    const v = Float32Array.from({ length: 19999 }, () => (rng() - 0.5) * 220)
    const e = await new Tensor(v, W).exp().data()
    const e2 = await new Tensor(v, W).exp2().data()
    let diff = 0
    for (let i = 0; i < v.length; i++) {
      if (e[i] !== Math.fround(Math.exp(v[i]!))) diff++
      if (e2[i] !== Math.fround(2 ** v[i]!)) diff++
    }
    assert.ok(diff <= 2, `${diff} of ${2 * v.length} differ`)
    const special = await new Tensor(
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, 89, -104, 1, 2, 3],
      W,
    )
      .exp()
      .data()
    assert.deepEqual(
      [...special.subarray(0, 6)],
      [Number.NaN, Number.POSITIVE_INFINITY, 0, 1, Number.POSITIVE_INFINITY, 0],
    )
  })
  test('vector float32 exp and exp2 (with or without relaxed SIMD) are within 2 ulp; specials as Math.exp', async () => {
    const N = 1 << 16
    const v = Float32Array.from({ length: N }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 110))
    const special = [Number.NaN, Infinity, -Infinity, 0, -0, 89, -104, 88.72, 88.73, -87.3, -100, -150, 1e-30]
    v.set(special)
    const refs: [(t: Tensor) => Tensor, (x: number) => number][] = [
      [(t) => t.exp(), Math.exp],
      [(t) => t.exp2(), (x) => 2 ** x],
    ]
    for (const [f, ref] of refs) {
      const got = await f(new Tensor(v, W)).data()
      let worst = 0
      for (let i = 0; i < N; i++) {
        const e = Math.fround(ref(v[i]!))
        if (e > 1.2e-38 && Number.isFinite(e)) worst = Math.max(worst, Math.abs(got[i]! - e) / (e * 2 ** -23))
      }
      assert.ok(worst <= 2, `worst ${worst} ulp`)
      // NaN and infinities exactly; tiny results within 1e-38
      for (let i = 0; i < special.length; i++) {
        const [g, e] = [got[i]!, Math.fround(ref(v[i]!))]
        assert.ok(Object.is(g, e) || Math.abs(g - e) < 1e-38, `${v[i]}: ${g} vs ${e}`)
      }
    }
  })
  test('float16 results round through float32 then to half', async () => {
    const h = new Tensor([1, 2049, 0.1], { device: 'WASM', dtype: dtypes.float16 })
    const j = new Tensor([1, 2049, 0.1], { device: 'JS', dtype: dtypes.float16 })
    const f = (t: Tensor) => t.mul(1.0009765625).add(3).cast(dtypes.float32).data()
    assert.deepEqual(await f(h), await f(j))
  })
})

describe('default device', { skip }, () => {
  test('WASM when no C compiler works', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./src/index.ts').then((t) => console.log('default=' + t.Device.DEFAULT))",
      ],
      { encoding: 'utf8', env: { ...process.env, CC: '/nonexistent/cc', DEVICE: '', CACHELEVEL: '0' } },
    )
    assert.match(r.stdout, /default=WASM/, r.stderr)
  })
})

describe('WASM threads', { skip: skip || !wasmFeatures().sharedMemory }, () => {
  test('kernels split across 3 worker threads give the JS results (matmul, elementwise, reduce)', () => {
    const script = `
      const { Tensor } = await import('./src/index.ts')
      const rnd = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.5)
      const run = (device) => {
        const a = new Tensor(rnd(192 * 160, 1), { shape: [192, 160], device })
        const b = new Tensor(rnd(160 * 224, 2), { shape: [160, 224], device })
        const x = new Tensor(rnd(1 << 21, 3), { device })
        return [a.matmul(b).relu(), x.mul(3).add(1).exp(), x.reshape([1024, 2048]).sum(1)]
      }
      const w = run('WASM'), j = run('JS')
      let same = true
      for (let i = 0; i < w.length; i++) {
        const [p, q] = [await w[i].data(), await j[i].data()]
        // the row sums add in another order (4 lane accumulators): equal up to rounding
        for (let e = 0; e < p.length; e++) if (!Object.is(p[e], q[e]) && Math.abs(p[e] - q[e]) > 1e-4) same = false
      }
      console.log('same=' + same)
    `
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, WASM_THREADS: '3', DEBUG: '1', DEVICE: '' },
      timeout: 120000,
    })
    assert.match(r.stdout, /WASM device: simd \w+, relaxed simd \w+, 3 threads/, r.stderr)
    assert.match(r.stdout, /same=true/, r.stderr)
  })
})

describe('WASM THREAD loops in chunks', { skip: skip || !wasmFeatures().sharedMemory }, () => {
  test('one thread of two takes every chunk when the other never comes (no fixed halves)', () => {
    const r = new WasmRenderer({ simd: wasmFeatures().simd, relaxed: false, shared: true, maxPages: 65536 })
    const x = Tensor.rand([1 << 22], W).realize()
    const prog = wasmProgram(x.add(1), r)
    assert.ok(prog.uops.some((u) => u.op === Ops.RANGE && (u.arg as { kind: string }).kind === 'thread'))
    const heap = new WasmHeap(true, 65536)
    const n = 1 << 22
    const [out, inp] = [heap.alloc(4 * n), heap.alloc(4 * n)]
    new Float32Array(heap.memory.buffer, inp.ptr, n).fill(2)
    const kt = new WebAssembly.Instance(
      new WebAssembly.Module(r.renderBytes(prog) as Uint8Array<ArrayBuffer>),
      {
        env: { mem: heap.memory },
        js: {},
      },
    ).exports.kt as (...a: number[]) => void
    // thread 0 of 2 alone, after the launch's reset of the chunk counter: a fixed split [0, n/2)
    // left the second half to a thread that, late or descheduled, made the launch wait for it
    new Int32Array(heap.memory.buffer, THREAD_COUNTER, 1)[0] = 0
    kt(0, 2, out.ptr, inp.ptr)
    const y = new Float32Array(heap.memory.buffer, out.ptr, n)
    assert.equal(y.indexOf(0), -1, 'an element was left for the other thread')
    assert.equal(y[n - 1], 3)
  })
})

describe('WASM launches', { skip: skip || !wasmFeatures().sharedMemory }, () => {
  test('a launch does not wait for a worker that has not woken: one that joins after the close backs out', () => {
    // (in a child: the old protocol counted every worker in and waited forever for an absent one)
    const script = `
      const c = await import('./src/runtime/wasm_control.ts')
      const ctl = new Int32Array(new SharedArrayBuffer(4 * c.CONTROL_WORDS))
      const ran = []
      c.launchOnControl(ctl, 3, [5, 6], 2, (...a) => ran.push(a), true)
      // a worker waking now, for the generation it saw: counts itself in, finds the launch closed
      const gen = Atomics.load(ctl, c.GEN)
      Atomics.add(ctl, c.PENDING, 1)
      const joined = Atomics.load(ctl, c.OPEN) === gen
      Atomics.sub(ctl, c.PENDING, 1)
      console.log('result=' + JSON.stringify({ ran, joined, pending: Atomics.load(ctl, c.PENDING) }))
    `
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60000,
    })
    const m = /result=(.*)/.exec(r.stdout)
    assert.ok(m, `no result (hung?): ${r.stderr}`)
    assert.deepEqual(JSON.parse(m[1]!), { ran: [[0, 2, 5, 6]], joined: false, pending: 0 })
  })

  test('a kernel whose threaded launches are slower runs on one thread (a busy machine)', () => {
    // all threads: a launch held up by a descheduled worker (here 2 ms of waiting); one thread: fast
    const wait = new Int32Array(new SharedArrayBuffer(4))
    const counts = { one: 0, all: 0 }
    const launch = choosingThreads(
      2,
      () => counts.one++,
      () => {
        counts.all++
        Atomics.wait(wait, 0, 0, 2)
      },
    )
    for (let i = 0; i < 40; i++) launch([])
    // the first launch on all threads (a warm-up, not kept) and one timed, then one thread but for
    // the occasional try of the other (after 8 launches, then 16): before, every launch waited on the workers
    assert.ok(counts.all <= 5, JSON.stringify(counts))
    assert.equal(counts.one + counts.all, 40)
    // and back to all threads when they become the faster (an idle machine again)
    const fast = { one: 0, all: 0 }
    const back = choosingThreads(
      2,
      () => {
        fast.one++
        Atomics.wait(wait, 0, 0, 2)
      },
      () => fast.all++,
    )
    for (let i = 0; i < 40; i++) back([])
    assert.ok(fast.one <= 4, JSON.stringify(fast))
  })
})

describe('WASM relaxed SIMD', { skip }, () => {
  test("Node 20's engine flag is set by the device: relaxed SIMD without --experimental-wasm-relaxed-simd", () => {
    const probe = (flags: string[]) =>
      spawnSync(
        process.execPath,
        [
          ...flags,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          "const { wasmFeatures } = await import('./src/runtime/wasm_features.ts'); console.log('relaxed=' + wasmFeatures().relaxed)",
        ],
        { encoding: 'utf8', env: { ...process.env, DEVICE: '' } },
      )
    const [plain, flagged] = [probe([]), probe(['--experimental-wasm-relaxed-simd'])]
    assert.match(flagged.stdout, /relaxed=(true|false)/, flagged.stderr)
    // the same as with the flag on the command line (an engine without relaxed SIMD: false both)
    assert.equal(
      /relaxed=(\w+)/.exec(plain.stdout)?.[1],
      /relaxed=(\w+)/.exec(flagged.stdout)![1],
      plain.stderr,
    )
  })
  test('found by validation where the engine has it; fused multiply-adds stay within rounding of JS', () => {
    const script = `
      const { Tensor } = await import('./src/index.ts')
      const { wasmFeatures } = await import('./src/runtime/wasm_features.ts')
      const rnd = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.5)
      const run = (device) =>
        new Tensor(rnd(64 * 96, 1), { shape: [64, 96], device })
          .matmul(new Tensor(rnd(96 * 128, 2), { shape: [96, 128], device }))
          .data()
      const [w, j] = [await run('WASM'), await run('JS')]
      let worst = 0, differ = 0
      for (let i = 0; i < w.length; i++) {
        worst = Math.max(worst, Math.abs(w[i] - j[i]))
        if (w[i] !== j[i]) differ++
      }
      console.log('relaxed=' + wasmFeatures().relaxed + ' worst=' + worst + ' differ=' + differ)
    `
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, DEVICE: '', WASM_THREADS: '1' },
      timeout: 120000,
    })
    const m = /relaxed=(\w+) worst=(\S+) differ=(\d+)/.exec(r.stdout)
    assert.ok(m, r.stderr)
    if (m[1] !== 'true') return // an engine without the flag: nothing to check
    assert.ok(Number(m[2]) < 1e-5, `worst difference ${m[2]}`)
    // fused: most sums round differently from JS's separate multiply and add
    assert.ok(Number(m[3]) > 0, 'no result differs: relaxed_madd was not used')
  })
})
