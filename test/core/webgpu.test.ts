// The WEBGPU device's own behaviour (the op suite runs on it separately): results equal the JS
// reference where WGSL can match it (packed 8/16-bit stores, integer division by zero, float ->
// int wrapping, NaN max), the asynchronous read path, dtypes WGSL lacks refused at graph build,
// and adapter errors surfacing with the kernel's name. Skipped where WebGPU cannot start.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Device, dtypes, Tensor } from '../../src/index.ts'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { fmtOpts, type Opt } from '../../src/codegen/opts.ts'
import { beamIdle, beamStats, candidateActions } from '../../src/engine/beam.ts'
import { Buffer } from '../../src/runtime/buffer.ts'
import type { KernelItem, SchedBuf } from '../../src/schedule/schedule.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { scheduleFor, stats } from '../../src/engine/realize.ts'
import { startWebGPU } from '../../src/runtime/webgpu.ts'

const why = await startWebGPU().then(
  () => undefined,
  (e: Error) => e.message,
)
const skip = why ? `WEBGPU cannot start here: ${why}` : false

/** The same graph built on WEBGPU and on the JS reference device, read back as numbers. */
async function both(build: (device: string) => Tensor): Promise<[number[], number[]]> {
  const gpu = Array.from((await build('WEBGPU').data()) as ArrayLike<number>, Number)
  const js = Array.from((await build('JS').data()) as ArrayLike<number>, Number)
  return [gpu, js]
}

describe('WEBGPU device', { skip }, () => {
  test('8- and 16-bit stores from neighbouring invocations keep each other (packed words)', async () => {
    for (const dt of ['int8', 'uint8', 'int16', 'uint16', 'bool'] as const) {
      const [gpu, js] = await both((device) =>
        dt === 'bool'
          ? Tensor.arange(1001, undefined, 1, { device }).mod(3).eq(1)
          : Tensor.arange(1001, undefined, 1, { device }).mul(37).sub(500).cast(dt),
      )
      assert.deepEqual(gpu, js, dt)
    }
  })

  test('integer division and modulo by zero give 0; float -> int casts wrap like the JS reference', async () => {
    const ints = [7, -7, 5, 0, -2147483648, 2147483647]
    const divs = [0, 2, -3, 0, -1, 0]
    const [gd, jd] = await both((device) =>
      new Tensor(ints, { device, dtype: 'int32' }).idiv(new Tensor(divs, { device, dtype: 'int32' })),
    )
    assert.deepEqual(gd, jd, 'idiv')
    const [gm, jm] = await both((device) =>
      new Tensor(ints, { device, dtype: 'int32' }).mod(new Tensor(divs, { device, dtype: 'int32' })),
    )
    assert.deepEqual(gm, jm, 'mod')
    const floats = [1.9, -1.9, 3e9, -3e9, 1e12, Number.NaN, Number.POSITIVE_INFINITY, 300.5]
    for (const dt of ['int32', 'uint32', 'int8', 'uint8'] as const) {
      const [g, j] = await both((device) => new Tensor(floats, { device }).cast(dt))
      assert.deepEqual(g, j, `float32 -> ${dt}`)
    }
  })

  test('float16 results are rounded to float16 after every op, as on the JS device', async (t) => {
    if (!Device.supportsDType('WEBGPU', dtypes.float16)) return t.skip('no shader-f16')
    const x = [-12, 0, 12, 1.0009765625, 2.71, 60000]
    for (const [name, f] of [
      ['sigmoid', (a: Tensor) => a.sigmoid()],
      ['x * 1.001 + 0.3', (a: Tensor) => a.mul(1.001).add(0.3)],
      ['sum', (a: Tensor) => a.mul(0.37).sum()],
    ] as const) {
      const [g, j] = await both((device) => f(new Tensor(x, { device }).cast('float16')).cast('float32'))
      assert.deepEqual(g, j, name)
    }
  })

  test('max propagates NaN, as on the JS device', async () => {
    const [g, j] = await both((device) =>
      new Tensor([1, Number.NaN, 3, -1], { device }).maximum(new Tensor([Number.NaN, 2, 1, -2], { device })),
    )
    assert.deepEqual(g, j)
    const [gs, js] = await both((device) => new Tensor([1, Number.NaN, 3], { device }).max())
    assert.deepEqual(gs, js)
  })

  test('a fused row softmax: no row is stored and read back across invocations (no reuse_row_values)', async () => {
    const data = Float32Array.from({ length: 6 * 33 }, (_, i) => Math.sin(i * 1.3) * 3)
    const [g, j] = await both((device) => new Tensor(data, { shape: [6, 33], device }).softmax(-1))
    for (let i = 0; i < j.length; i++)
      assert.ok(Math.abs(g[i]! - j[i]!) < 1e-6, `at ${i}: ${g[i]} vs ${j[i]}`)
  })

  test('float comparisons see NaN (isnan, isfinite) although shader compilers fold x != x', async () => {
    const x = [Number.NaN, 1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]
    for (const f of ['isnan', 'isfinite', 'isinf'] as const) {
      const [g, j] = await both((device) => new Tensor(x, { device })[f]())
      assert.deepEqual(g, j, f)
    }
  })

  test('GROUP: reduces with few outputs split across a workgroup; a fused row reduce runs once per row (LOCAL)', async () => {
    const data = Float32Array.from({ length: 4 * 4096 }, (_, i) => Math.sin(i * 1.3) * 3)
    const ints = Int32Array.from({ length: 4 * 4096 }, (_, i) => (i * 7919) % 1000)
    const cases: [string, (d: string) => Tensor][] = [
      ['softmax rows', (device) => new Tensor(data, { shape: [4, 4096], device }).softmax(-1)],
      ['row sums', (device) => new Tensor(data, { shape: [4, 4096], device }).sum(-1)],
      ['full sum', (device) => new Tensor(data, { shape: [4, 4096], device }).sum()],
      ['full max', (device) => new Tensor(data, { shape: [4, 4096], device }).max()],
      ['int sum', (device) => new Tensor(ints, { shape: [4, 4096], device }).sum(-1)],
      ['column means', (device) => new Tensor(data, { shape: [4096, 4], device }).mean(0)],
    ]
    for (const [name, build] of cases) {
      const [g, j] = await both(build)
      for (let i = 0; i < j.length; i++)
        assert.ok(
          Math.abs(g[i]! - j[i]!) <= 1e-4 * Math.max(1, Math.abs(j[i]!)),
          `${name} at ${i}: ${g[i]} vs ${j[i]}`,
        )
    }
    const target = Device.get('WEBGPU').renderer.target
    const kernelOpts = (t: Tensor) =>
      scheduleFor([t.uop]).items.map((it) => fmtOpts(handOpts(it.ast, target)))
    const x = Tensor.rand([4, 4096], { device: 'WEBGPU' }).realize()
    assert.deepEqual(kernelOpts(x.sum()), ['GROUP(1,256)'])
    // both reduces of the row (max, sum) grouped
    assert.deepEqual(kernelOpts(x.softmax(-1)), ['GROUP(2,256) GROUP(3,256) LOCAL(1,256)'])
    // many outputs fill the GPU by themselves: no GROUP
    assert.ok(!kernelOpts(Tensor.rand([8192, 256], { device: 'WEBGPU' }).sum(-1))[0]!.includes('GROUP'))
  })

  test('a reduce over a symbolic size passes the variable to the shader', async () => {
    const { Variable } = await import('../../src/index.ts')
    const n = new Variable('n', 1, 16)
    const x = Tensor.arange(16, undefined, 1, { device: 'WEBGPU' }).cast('float32')
    for (const v of [3, 10]) {
      const got = await x
        .shrink([[0, n.bind(v)]])
        .sum()
        .data()
      assert.equal(got[0], (v * (v - 1)) / 2)
    }
  })

  test('reads are asynchronous: dataSync says to await data()', () => {
    assert.throws(() => new Tensor([1, 2], { device: 'WEBGPU' }).add(1).dataSync(), /use await data\(\)/)
  })

  test('dtypes WGSL lacks are refused when the graph is built, naming the op and the device', () => {
    assert.equal(Device.supportsDType('WEBGPU', dtypes.float64), false)
    assert.equal(Device.supportsDType('WEBGPU', dtypes.int8), true)
    assert.equal(Device.supportsDType('JS', dtypes.float64), true)
    assert.throws(
      () => new Tensor([1, 2], { device: 'WEBGPU', dtype: 'float64' }),
      /Tensor: dtype float64 is not supported on WEBGPU/,
    )
    assert.throws(
      () => new Tensor([1, 2], { device: 'WEBGPU' }).cast('int64'),
      /cast: dtype int64 is not supported/,
    )
    assert.throws(() => Tensor.zeros([2], { device: 'WEBGPU', dtype: 'bfloat16' }), /not supported on WEBGPU/)
    assert.throws(
      () => new Tensor([1, 2], { device: 'JS', dtype: 'float64' }).to('WEBGPU'),
      /to: dtype float64/,
    )
  })

  test("float16 without the adapter's shader-f16 is refused when the graph is built and when rendered", async () => {
    // lavapipe has shader-f16: an adapter without it is simulated on the renderer the device consults
    const dev = Device.get('WEBGPU')
    await dev.synchronize() // the device has told the renderer what the adapter has
    const r = dev.renderer as { f16: boolean }
    const had = r.f16
    const x = new Tensor([1.5, 2], { device: 'WEBGPU' })
    const half = x.cast('float16').add(1)
    r.f16 = false
    try {
      assert.equal(Device.supportsDType('WEBGPU', dtypes.float16), false)
      assert.throws(
        () => x.cast('float16'),
        /cast: dtype float16 is not supported on WEBGPU: the adapter has no 'shader-f16'/,
      )
      const items = scheduleFor([half.uop]).items.filter((it) => it.kind === 'kernel')
      const item = items.find((it) => it.bufs.some((b) => b.dtype.name === 'float16'))!
      const { renderKernel } = await import('../../src/codegen/kernel.ts')
      assert.throws(
        () => renderKernel(item.ast, dev.renderer, []),
        /float16 needs the adapter's 'shader-f16'/,
      )
    } finally {
      r.f16 = had
    }
    if (had) assert.deepEqual(Array.from(await half.cast('float32').data()), [2.5, 3])
  })

  test('topk without int64 keys (int32 key + index): the JS order for ties, NaN, -0, int extremes; k > 16 picks', async () => {
    const cases: [number[], 'float32' | 'int32' | 'uint32' | 'uint8' | 'float16'][] = [
      [[2, 7, 2, 7, 1, 2, 7, Number.NaN, -0, 0, -3.5, -1e30, 1e-40, -1e-40, Infinity, -Infinity], 'float32'],
      [[5, -2147483648, 2147483647, 0, -1, 5, 3], 'int32'],
      [[4000000000, 0, 2147483648, 2147483647, 1, 4000000000], 'uint32'],
      [[3, 1, 2, 3, 0], 'uint8'],
      [[1.5, -2, 1.5, 0.25], 'float16'],
    ]
    for (const [d, dt] of cases)
      for (const largest of [true, false])
        for (const k of [1, 3, d.length]) {
          const [gpu, js] = await both((device) => {
            const x = new Tensor(d, { dtype: dt === 'float16' ? 'float32' : dt, device }).cast(dt)
            return x.topk(k, { largest })[1]
          })
          assert.deepEqual(gpu, js, `${dt} largest=${largest} k=${k}`)
        }
    // 20 picks: joined by a tree of cats (one cat of 20 would bind more than 16 buffers)
    const row = Float32Array.from({ length: 300 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 50) / 4)
    const [gpu, js] = await both((device) => new Tensor(row, { shape: [3, 100], device }).topk(20)[1])
    assert.deepEqual(gpu, js, 'k = 20')
    // multinomial without replacement is a topk of exponential races: zero weights never drawn
    const w = new Tensor(
      [
        [0.1, 0, 0.5, 0.4],
        [1, 1, 1, 0],
      ],
      { device: 'WEBGPU' },
    )
    const draws = Array.from(await w.multinomial(3).data(), Number)
    assert.deepEqual(
      [draws.slice(0, 3).sort(), draws.slice(3).sort()],
      [
        [0, 2, 3],
        [0, 1, 2],
      ],
    )
  })

  test('BEAM=1 times candidates on the GPU in the background; its winner replaces the kernel and agrees', async () => {
    const a = Tensor.rand([64, 256], { device: 'WEBGPU' }).realize()
    const b = Tensor.rand([256, 64], { device: 'WEBGPU' }).realize()
    const ref = await new Tensor(await a.data(), { shape: [64, 256], device: 'JS' })
      .matmul(new Tensor(await b.data(), { shape: [256, 64], device: 'JS' }))
      .data()
    const close = (got: ArrayLike<number>, label: string): void => {
      for (let i = 0; i < ref.length; i++)
        assert.ok(
          Math.abs(got[i]! - ref[i]!) <= 1e-4 * Math.max(1, Math.abs(ref[i]!)),
          `${label} at ${i}: ${got[i]} vs ${ref[i]}`,
        )
    }
    const saved = { ...process.env }
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-beam-gpu-'))
    Object.assign(process.env, { BEAM: '1', BEAM_TIMEOUT: '4', TSGRAD_CACHE_DIR: dir })
    try {
      const searches = beamStats.searches
      const timed = beamStats.timed
      // the first run: the heuristics' kernel while the search runs
      close(await a.matmul(b).data(), 'during the search')
      const started = beamStats.searches - searches
      assert.ok(started >= 1, 'a search per kernel started')
      await beamIdle()
      assert.ok(beamStats.timed > timed + 2 * started, 'the search timed several candidates on the device')
      assert.equal(readdirSync(join(dir, 'beam')).length, started, 'the winners are cached on disk')
      const compiled = stats.kernelsCompiled
      close(await a.matmul(b).data(), 'the winner')
      assert.equal(
        stats.kernelsCompiled,
        compiled + started,
        'the winners were compiled in place of the heuristics',
      )
      close(await a.matmul(b).data(), 'again')
      assert.equal(beamStats.searches, searches + started, 'no second search')
    } finally {
      for (const k of ['BEAM', 'BEAM_TIMEOUT', 'TSGRAD_CACHE_DIR']) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    }
  })

  test('a BEAM candidate the adapter rejects is timed as failed, not reported at the next read', async () => {
    const dev = Device.get('WEBGPU')
    const src =
      '// tsgrad {"threads":64,"workgroup":64,"nbufs":0,"nvars":0}\n@compute @workgroup_size(64) fn bad_cand() { let x: f32 = 1u; }\n'
    await assert.rejects(
      dev.timeKernel!(src, 'bad_cand', [], undefined, 2),
      /candidate bad_cand failed to compile/,
    )
    const good =
      '// tsgrad {"threads":64,"workgroup":64,"nbufs":1,"nvars":0}\n@group(0) @binding(0) var<storage, read_write> b0: array<f32>;\n@compute @workgroup_size(64) fn good_cand(@builtin(local_invocation_index) li: u32) { b0[li] = f32(li); }\n'
    const buf = dev.allocator.alloc(64, dtypes.float32)
    const ms = await dev.timeKernel!(good, 'good_cand', [buf], undefined, 3)
    assert.ok(Number.isFinite(ms) && ms >= 0, `a time in ms: ${ms}`)
    dev.allocator.free(buf)
    assert.deepEqual(Array.from(await new Tensor([1, 2], { device: 'WEBGPU' }).add(1).data()), [2, 3])
  })

  test('a kernel over more buffers than the adapter binds is split (maxStorageBuffersPerShaderStage)', async () => {
    const limit = Device.get('WEBGPU').renderer.limits!.maxBuffers
    const n = limit + 5
    const xs = Array.from({ length: n }, (_, i) =>
      Tensor.full([4, 64], i + 1, { device: 'WEBGPU' })
        .contiguous()
        .realize(),
    )
    const sum = xs.slice(1).reduce((a, x) => a.add(x), xs[0]!)
    assert.ok(scheduleFor([sum.uop]).items.length > 1)
    assert.deepEqual([...new Set(await sum.data())], [(n * (n + 1)) / 2])
    // and with a reduce fused in
    const dots = xs
      .slice(1)
      .reduce((a, x) => a.add(x.mul(2)), xs[0]!)
      .sum(-1)
    assert.deepEqual([...new Set(await dots.data())], [64 * (n * (n + 1) - 1)])
  })

  test('workgroup-memory tiles (WORKGROUP, STAGE) keep results: matmul, x @ W.T, batched, conv2d with padding', async () => {
    const dev = Device.get('WEBGPU')
    const gpu = dev.renderer.target.gpu!
    const r = (shape: number[]) => Tensor.rand(shape, { device: 'WEBGPU' }).realize()
    const cases: [string, Tensor][] = [
      ['matmul', r([64, 48]).matmul(r([48, 80]))],
      ['x @ W.T', r([32, 64]).matmul(r([48, 64]).transpose())],
      ['batched', r([3, 16, 24]).matmul(r([3, 24, 32]))],
      ['conv2d', r([2, 8, 10, 10]).conv2d(r([16, 8, 3, 3]), { padding: 1 })],
    ]
    for (const [name, t] of cases) {
      const items = scheduleFor([t.uop]).items.filter(
        (i): i is KernelItem => i.kind === 'kernel' && toposort([i.ast]).some((u) => u.op === Ops.REDUCE),
      )
      const k = items[items.length - 1]!
      // a 2-D workgroup of up to 8 x 8 among BEAM's actions, then the deepest stage
      // (after the heuristics' CHAIN of a convolution's window: a load along a serial window
      // loop inside the staged one is not staged)
      const opts: Opt[] = handOpts(k.ast, dev.renderer.target).filter((o) => o.op === 'CHAIN')
      for (const op of ['WORKGROUP', 'WORKGROUP', 'STAGE'] as const) {
        const acts = candidateActions(k.ast, opts, false, gpu)
          .filter((o) => o.op === op && o.arg <= 16)
          .filter((o) => o.op === 'STAGE' || (o.arg <= 8 && !opts.some((p) => p.axis === o.axis)))
        if (acts.length) opts.push(acts.reduce((a, b) => (b.arg > a.arg ? b : a)))
      }
      assert.ok(
        opts.some((o) => o.op === 'STAGE'),
        `${name}: ${fmtOpts(opts)}`,
      )
      const temps = new Map<SchedBuf, Buffer>()
      const bufOf = (b: SchedBuf): Buffer => {
        if (b.existing) return b.existing as Buffer
        if (!temps.has(b)) temps.set(b, new Buffer('WEBGPU', b.size, b.dtype))
        return temps.get(b)!
      }
      const launch = (it: KernelItem, o: readonly Opt[]) => {
        const src = renderKernel(it.ast, dev.renderer, o)
        void dev.runtime(dev.compiler.compile(src.src, src.name), src.name)(it.bufs.map((b) => bufOf(b).raw))
      }
      // (the kernels before it, such as a weight's permuted copy, with the heuristics' opts)
      for (const it of items.slice(0, -1)) launch(it, handOpts(it.ast, dev.renderer.target))
      const run = async (o: readonly Opt[]) => {
        launch(k, o)
        return Array.from((await bufOf(k.bufs[0]!).copyout()) as Float32Array)
      }
      const [want, got] = [await run(handOpts(k.ast, dev.renderer.target)), await run(opts)]
      for (let i = 0; i < want.length; i++)
        assert.ok(
          Math.abs(got[i]! - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)),
          `${name} ${fmtOpts(opts)} at ${i}`,
        )
    }
  })

  test('a kernel the adapter rejects is an error naming the kernel', async () => {
    const dev = Device.get('WEBGPU')
    const src =
      '// tsgrad {"threads":1,"workgroup":64,"nbufs":0,"nvars":0}\n@compute @workgroup_size(64) fn bad_kernel() { let x: f32 = 1u; }\n'
    dev.runtime(dev.compiler.compile(src, 'bad_kernel'), 'bad_kernel')([])
    await assert.rejects(async () => dev.synchronize(), /kernel bad_kernel failed to compile/)
    // the device keeps working afterwards
    assert.deepEqual(Array.from(await new Tensor([1, 2], { device: 'WEBGPU' }).add(1).data()), [2, 3])
  })
})

test('without an adapter WEBGPU says why it cannot start', () => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./src/index.ts').then(async (t) => { try { await new t.Tensor([1], { device: 'WEBGPU' }).add(1).data() } catch (e) { console.log('ERR ' + e.message); console.log('REASON ' + t.Device.unavailableReason('WEBGPU')) } })",
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', DEVICE: '' },
      timeout: 60_000,
    },
  )
  assert.match(r.stdout, /ERR WEBGPU device cannot start: no WebGPU adapter/)
  assert.match(r.stdout, /REASON WEBGPU device cannot start/)
})
