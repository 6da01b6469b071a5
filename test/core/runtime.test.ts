import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { Device, dtypes, Tensor, Variable } from '../../src/index.ts'
import { memory } from '../../src/runtime/buffer.ts'
import { hasCPU } from '../helpers.ts'

describe('devices', () => {
  test('JS and NULL are registered; JS is the default here', () => {
    assert.ok(Device.available.includes('JS'))
    assert.ok(Device.available.includes('NULL'))
    assert.equal(Tensor.ones([2]).device, Device.DEFAULT)
  })
  test('NULL compiles and schedules but runs nothing', async () => {
    const a = Tensor.ones([4, 4], { device: 'NULL' })
    const y = a.add(1).sum(1)
    const before = stats.kernelsCompiled
    const d = await y.data()
    assert.equal(d.length, 4)
    assert.ok(stats.kernelsCompiled > before)
  })
  test('to() copies between devices', async () => {
    const a = new Tensor([1, 2, 3], { device: 'JS' })
    const b = a.to('JS:1')
    assert.equal(b.device, 'JS:1')
    assert.deepEqual(Array.from(await b.mul(2).data()), [2, 4, 6])
  })
  test('unknown devices are a clear error', () => {
    assert.throws(() => Tensor.ones([2], { device: 'TPU' }), /unknown device 'TPU'/)
  })
})

describe('memory', () => {
  test('dispose() releases a buffer now', () => {
    const t = Tensor.rand([1000]).realize()
    const before = memory.inUse
    t.dispose()
    assert.equal(memory.inUse, before - 4000)
  })
  test('unreachable buffers are freed by the garbage collector', { skip: !globalThis.gc }, async () => {
    const before = memory.inUse
    for (let i = 0; i < 20; i++) Tensor.rand([10000]).realize()
    for (let i = 0; i < 10 && memory.inUse > before + 80000; i++) {
      globalThis.gc!()
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.ok(memory.inUse <= before + 80000, `in use ${memory.inUse - before} bytes above the start`)
  })
})

describe('dtypes', () => {
  test('float16 and bfloat16 store rounded values', async () => {
    const h = new Tensor([1 / 3, 65504, 1e-8], { dtype: dtypes.float16 })
    const d = await h.data()
    assert.ok(Math.abs(d[0]! - 0.333251953125) < 1e-9)
    assert.equal(d[1], 65504)
    const b = new Tensor([1 / 3], { dtype: dtypes.bfloat16 })
    assert.equal((await b.data())[0], 0.333984375)
    assert.ok(Math.abs((await h.add(h).data())[0]! - 0.66650390625) < 1e-9)
  })
  test('int64 stores in BigInt64Array', async () => {
    const t = new Tensor([1, -2, 3], { dtype: dtypes.int64 })
    const d = await t.mul(3).data()
    assert.ok(d instanceof BigInt64Array)
    assert.deepEqual(Array.from(d, Number), [3, -6, 9])
  })
  test('bool tensors read as Uint8Array and tolist booleans', async () => {
    const t = new Tensor([1, 2, 3]).gt(1)
    assert.deepEqual(Array.from(await t.data()), [0, 1, 1])
    assert.deepEqual(await t.tolist(), [false, true, true])
  })
})

describe('DEBUG output', () => {
  const run = (level: number, device = 'JS') =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./src/index.ts').then(async ({ Tensor }) => { await new Tensor(new Float32Array(32), { shape: [4, 8] }).add(1).sum(1).data() })",
      ],
      { env: { ...process.env, DEBUG: String(level), DEVICE: device }, encoding: 'utf8' },
    ).stdout
  test('DEBUG=1 prints kernel count and time per realize', () => {
    assert.match(run(1), /realize: 1 kernels, [\d.]+ ms/)
  })
  test('DEBUG=2 prints one line per kernel', () => {
    assert.match(run(2), /r_4_8 +JS +global \[4\] +[\d.]+ ms +[\d.]+ GFLOP\/s +[\d.]+ GB\/s/)
  })
  test('DEBUG=4 prints readable source', () => {
    const out = run(4)
    assert.match(out, /function r_4_8\(b0, b1\) \{/)
    assert.match(out, /for \(let r0 = 0; r0 < 4; r0\+\+\) \{/)
  })
  test('DEBUG=4 on CPU prints the C source; DEBUG=1 names the default device', { skip: !hasCPU }, () => {
    const out = run(4, 'CPU')
    assert.match(out, /void r_4_8\(float\* restrict b0, const float\* restrict b1\) \{/)
    assert.match(out, /for \(int r0 = 0; r0 < 4; r0\+\+\) \{/)
    assert.match(run(1, ''), /default device: (CPU|JS)/)
  })
})

describe('random numbers', () => {
  test('manualSeed makes rand reproducible; successive calls differ', async () => {
    Tensor.manualSeed(7)
    const a = await Tensor.rand([64]).data()
    const b = await Tensor.rand([64]).data()
    Tensor.manualSeed(7)
    const c = await Tensor.rand([64]).data()
    assert.deepEqual(Array.from(a), Array.from(c))
    assert.notDeepEqual(Array.from(a), Array.from(b))
    assert.ok(Array.from(a).every((v) => v >= 0 && v < 1))
  })
  test('uniform statistics are plausible', async () => {
    Tensor.manualSeed(3)
    const x = Tensor.rand([20000])
    const mean = (await x.mean().item()) as number
    const v = (await x.var().item()) as number
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`)
    assert.ok(Math.abs(v - 1 / 12) < 0.005, `var ${v}`)
    const n = Tensor.randn([20000])
    assert.ok(Math.abs((await n.mean().item()) as number) < 0.03)
    assert.ok(Math.abs(((await n.std().item()) as number) - 1) < 0.03)
  })
})

describe('kernels with many buffers', () => {
  // koffi takes at most 64 parameters per function: a kernel reading 70 buffers failed with its raw
  // "Functions cannot have more than 64 parameters"; the CPU renderer adds a packed entry point
  for (const device of hasCPU ? ['CPU', 'JS'] : ['JS'])
    test(`a cat of 70 realized tensors on ${device}, and 70 buffers with a Variable`, () => {
      const ts = Array.from({ length: 70 }, (_, i) => Tensor.full([3], i, { device }).contiguous().realize())
      const d = Tensor.cat(ts).dataSync()
      assert.deepEqual(
        Array.from(d),
        Array.from({ length: 210 }, (_, j) => Math.floor(j / 3)),
      )
      // variables travel in the packed entry too
      const n = Variable('n', 1, 3)
      const s = ts.reduce((a, t) => a.add(t.shrink([[0, n.bind(2)]])), Tensor.zeros([n.bind(2)], { device }))
      assert.deepEqual(Array.from(s.dataSync()), [2415, 2415])
    })
})
