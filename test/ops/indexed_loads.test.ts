// Data-dependent loads: embedding, gather and `get` with tensor indices read one element per
// output element through a GATHER node (a load whose index is a loaded value), never a one-hot
// reduction over the indexed axis. Values and gradients against PyTorch 1.13 fixtures
// (scripts/gen_indexed_loads.py); lazy out-of-range indices read nothing and give 0, whatever
// their dtype; the kernels have no loop over the indexed axis (pinned through the schedule).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { estimateCost } from '../../src/codegen/cost.ts'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { type IndexItem, jit, Tensor } from '../../src/index.ts'
import { Device } from '../../src/runtime/device.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { Ops, type UOp } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { hasCPU, deviceLacks } from '../helpers.ts'

interface Arr {
  shape: number[]
  data: number[]
}
interface Case {
  name: string
  op: 'embedding' | 'embedding_lazy' | 'gather' | 'get'
  x: Arr
  index?: Arr
  dim?: number
  items?: ({ tensor: Arr } | string)[]
  out: Arr
  upstream: Arr
  grad: Arr
}
const fixtures = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'indexed_loads.json'), 'utf8')) as {
    cases: Case[]
  }
).cases

const f32 = (a: Arr, requiresGrad = false) =>
  new Tensor(Float32Array.from(a.data), { shape: a.shape, requiresGrad })
const i32 = (a: Arr) => new Tensor(Int32Array.from(a.data), { shape: a.shape })

function close(got: ArrayLike<number>, want: Arr, what: string, tol = 0): void {
  assert.equal(got.length, want.data.length, `${what}: length`)
  for (let i = 0; i < got.length; i++) {
    const [g, w] = [got[i]!, want.data[i]!]
    assert.ok(Math.abs(g - w) <= tol * (1 + Math.abs(w)), `${what}[${i}]: got ${g}, want ${w}`)
  }
}

function build(c: Case, x: Tensor, lazyIndex: boolean): Tensor {
  // a lazy index: the values are computed in the graph, so no host check sees them
  const idx = (a: Arr) => (lazyIndex ? i32(a).add(0) : i32(a))
  if (c.op === 'embedding' || c.op === 'embedding_lazy') return idx(c.index!).embedding(x)
  if (c.op === 'gather') return x.gather(c.dim!, idx(c.index!))
  const items: IndexItem[] = c.items!.map((it) => (typeof it === 'string' ? it : idx(it.tensor)))
  return x.get(...items)
}

describe('indexed loads: values and gradients against PyTorch', () => {
  for (const c of fixtures)
    test(c.name, async () => {
      const x = f32(c.x, true)
      const out = build(c, x, c.op === 'embedding_lazy')
      assert.deepEqual(out.shape, c.out.shape)
      // a load copies: exactly the table's values
      close(await out.data(), c.out, 'value')
      out.backward(f32(c.upstream))
      close(await x.grad!.data(), c.grad, 'gradient', 1e-5)
    })
})

describe('indexed loads: lazy indices out of range read nothing and give 0', () => {
  const V = 300
  const D = 20
  const table = Tensor.rand([V, D]).realize()
  const rows = async (ids: Tensor): Promise<number[][]> => (await ids.embedding(table).tolist()) as number[][]
  const row = async (i: number) => Array.from(await table.get(i).data())
  const zero = new Array<number>(D).fill(0)
  test('int32: -1, V, V + 1000 and the int32 extremes give zero rows; in range reads the row', async () => {
    const base = new Tensor(Int32Array.from([0, 5, 299, 1299, 2147483647, -2147483648, 7]))
    const ids = base.sub(1) // lazy: -1, 4, 298, 1298, 2147483646, 2147483647 (wraps), 6
    const got = await rows(ids)
    assert.deepEqual(got[0], zero)
    assert.deepEqual(got[1], await row(4))
    assert.deepEqual(got[2], await row(298))
    assert.deepEqual(got[3], zero)
    assert.deepEqual(got[4], zero)
    assert.deepEqual(got[5], zero)
    assert.deepEqual(got[6], await row(6))
  })
  test('int64 ids past 2^32 are out of range (not wrapped onto a valid row)', {
    skip: deviceLacks('int64'),
  }, async () => {
    const ids = new Tensor(BigInt64Array.from([2n ** 32n + 1n, -(2n ** 32n) + 3n, 2n])).add(0)
    const got = await rows(ids)
    assert.deepEqual(got[0], zero)
    assert.deepEqual(got[1], zero)
    assert.deepEqual(got[2], await row(2))
  })
  test('get: a lazy int64 index past 2^32 selects nothing (it was cast to int32: 2^32 + 1 read row 1)', {
    skip: deviceLacks('int64'),
  }, async () => {
    const x = new Tensor([10, 11, 12, 13])
    const i = new Tensor(BigInt64Array.from([2n ** 32n + 1n, 2n, -(2n ** 32n) - 1n])).add(0)
    assert.deepEqual(await x.get(i).tolist(), [0, 12, 0])
    const m = new Tensor([
      [1, 2],
      [3, 4],
    ])
    assert.deepEqual(await m.get(new Tensor(BigInt64Array.from([1n])), i.shrink([[0, 1]])).tolist(), [0])
  })
  test('an axis of 2^32 positions (a lazy arange): int64 index math on every device', {
    skip: deviceLacks('int64'),
  }, async () => {
    const big = Tensor.arange(2 ** 32, undefined, 1, { dtype: 'int64' })
    const ids = new Tensor(BigInt64Array.from([2n ** 32n - 1n, 5n, 2n ** 31n + 7n, 2n ** 32n])).add(0)
    assert.deepEqual(Array.from(await big.get(ids).data()), [2n ** 32n - 1n, 5n, 2n ** 31n + 7n, 0n])
    assert.deepEqual(
      Array.from(
        await big
          .reshape([1, 2 ** 32])
          .gather(1, ids.reshape([1, 4]))
          .data(),
      ),
      [2n ** 32n - 1n, 5n, 2n ** 31n + 7n, 0n],
    )
    // rows of a 2^31-element table: the positions fit int32 (narrow_index_math narrows them)
    const rows = Tensor.arange(2 ** 31, undefined, 1, { dtype: 'int64' }).reshape([2 ** 21, 1024])
    const r = new Tensor(Int32Array.from([2 ** 21 - 1, 3, 2 ** 21])).add(0)
    const got = Array.from(await rows.get(r).data()).map(Number)
    const want = [2 ** 21 - 1, 3, -1].flatMap((k) =>
      Array.from({ length: 1024 }, (_, d) => (k < 0 ? 0 : k * 1024 + d)),
    )
    assert.deepEqual(got, want)
  })
  test('tables of every dtype: bool, float16, bfloat16, int8, uint8, int64 rows; out of range 0', {
    skip: deviceLacks('int64', 'bfloat16'),
  }, async () => {
    const ids = new Tensor(Int32Array.from([2, 0, 3])).add(0)
    for (const dtype of ['bool', 'float16', 'bfloat16', 'int8', 'uint8', 'int64'] as const) {
      const vals = [
        [1, 0],
        [0, 1],
        [1, 1],
      ]
      const t = new Tensor(vals, { dtype })
      const want = [vals[2], vals[0], [0, 0]].map((r) => r.map((v) => (dtype === 'bool' ? v === 1 : v)))
      const got = (await ids.embedding(t).tolist()) as unknown[][]
      assert.deepEqual(
        got.map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v))),
        want,
        dtype,
      )
      assert.deepEqual(
        ((await t.get(ids).tolist()) as unknown[][]).map((r) =>
          r.map((v) => (typeof v === 'bigint' ? Number(v) : v)),
        ),
        want,
        `get ${dtype}`,
      )
    }
  })
  test('empty ids, and lazy ids into an empty table, give empty and zero rows', async () => {
    assert.deepEqual(new Tensor(new Int32Array(0)).embedding(table).shape, [0, D])
    const w0 = Tensor.rand([0, 3]).realize()
    assert.deepEqual(await new Tensor(Int32Array.from([0, 4])).add(0).embedding(w0).tolist(), [
      [0, 0, 0],
      [0, 0, 0],
    ])
  })
  test('uint8 and int8 ids: 200 is a valid row of 300, -3 is out of range', async () => {
    assert.deepEqual((await rows(new Tensor([100], { dtype: 'uint8' }).add(100)))[0], await row(200))
    assert.deepEqual((await rows(new Tensor([-1], { dtype: 'int8' }).sub(2)))[0], zero)
  })
  test('gather and get: lazy out-of-range positions give 0', async () => {
    const x = new Tensor([
      [1, 2, 3],
      [4, 5, 6],
    ])
    const gi = new Tensor(
      [
        [2, 3],
        [-1, 0],
      ],
      { dtype: 'int32' },
    ).add(0)
    assert.deepEqual(await x.gather(1, gi).tolist(), [
      [3, 0],
      [0, 4],
    ])
    // numpy: -2..1 index 2 rows; -3 and 2 are out of range
    const ri = new Tensor([-3, -2, 1, 2], { dtype: 'int32' }).add(0)
    assert.deepEqual(await x.get(ri).tolist(), [
      [0, 0, 0],
      [1, 2, 3],
      [4, 5, 6],
      [0, 0, 0],
    ])
    // two indices: one out of range must not carry into a valid flat position (row 0, col 3 is
    // flat position 3, which is x[1, 0])
    const r = new Tensor([0, 0, 1], { dtype: 'int32' }).add(0)
    const cidx = new Tensor([3, 2, -4], { dtype: 'int32' }).add(0)
    assert.deepEqual(await x.get(r, cidx).tolist(), [0, 3, 0])
  })
})

/** The kernels realizing `t` (default heuristics). */
function kernels(t: Tensor): KernelItem[] {
  return scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
}
const rangeSizes = (ast: UOp): number[] =>
  toposort([ast])
    .filter((u) => u.op === Ops.RANGE)
    .map((u) => u.src[0]!.constValue)
/** LOADs whose index contains a loaded value */
const indexedLoads = (ast: UOp): UOp[] =>
  toposort([ast]).filter((u) => u.op === Ops.LOAD && toposort([u.src[1]!]).some((n) => n.op === Ops.LOAD))

describe('indexed loads: the work is one load per output element', () => {
  const V = 50000
  const table = Tensor.rand([V, 32]).realize()
  const ids = new Tensor(Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % V))
  test('embedding of 64 tokens: one kernel, loops over tokens and columns only', () => {
    const ks = kernels(ids.embedding(table))
    assert.equal(ks.length, 1)
    assert.deepEqual(
      rangeSizes(ks[0]!.ast).sort((a, b) => a - b),
      [32, 64],
    )
    assert.equal(indexedLoads(ks[0]!.ast).length, 1)
    assert.ok(!toposort([ks[0]!.ast]).some((u) => u.op === Ops.REDUCE))
  })
  test('DEBUG=2 bytes count the rows a gather reads, not the whole table', () => {
    const [k] = kernels(ids.embedding(table))
    const bytes = k!.bufs.map((b) => b.size * b.dtype.itemsize)
    // output 64 x 32 floats, 64 ids, 64 rows of 32 floats (not the 50000-row table)
    assert.equal(estimateCost(k!.ast, bytes).bytes, 64 * 32 * 4 + 64 * 4 + 64 * 32 * 4)
  })
  test('gather and get: no loop over the indexed axis', () => {
    const x = Tensor.rand([16, 1000]).realize()
    const gi = new Tensor(
      Int32Array.from({ length: 16 * 3 }, (_, i) => (i * 37) % 1000),
      { shape: [16, 3] },
    )
    const g = kernels(x.gather(1, gi))
    assert.equal(g.length, 1)
    assert.deepEqual(
      rangeSizes(g[0]!.ast).sort((a, b) => a - b),
      [3, 16],
    )
    const rowsIdx = new Tensor(Int32Array.from([5, 2, -1]))
    const colsIdx = new Tensor(Int32Array.from([999, 0, 4]))
    const y = Tensor.rand([20, 8, 1000]).realize()
    for (const t of [y.get(rowsIdx), y.get(rowsIdx, ':', colsIdx), y.get(':', ':', colsIdx)]) {
      const ks = kernels(t)
      assert.equal(ks.length, 1)
      // only the output's own axes are looped over: no range over the indexed axis (20 or 1000)
      assert.ok(
        rangeSizes(ks[0]!.ast).every((n) => t.shape.includes(n)),
        `${t.shape}`,
      )
      assert.equal(indexedLoads(ks[0]!.ast).length, 1)
    }
  })
  test('a computed index fuses; a table computed by a reduce is realized once, not per token', async () => {
    assert.equal(kernels(ids.add(1).embedding(table.mul(2))).length, 1)
    const a = Tensor.rand([300, 8]).realize()
    const b = Tensor.rand([8, 16]).realize()
    const ks = kernels(new Tensor(Int32Array.from([3, 3, 299])).embedding(a.matmul(b)))
    const gatherKernel = ks.at(-1)!
    assert.ok(!toposort([gatherKernel.ast]).some((u) => u.op === Ops.REDUCE))
    const got = (await new Tensor(Int32Array.from([3, 299])).embedding(a.matmul(b)).tolist()) as number[][]
    const full = (await a.matmul(b).tolist()) as number[][]
    assert.deepEqual(got, [full[3], full[299]])
  })
  test('a table dequantized on the fly (int8 blocks times a scale per 32): only the selected rows', async () => {
    const [Vq, Dq] = [4096, 64]
    const q = new Tensor(
      Int8Array.from({ length: Vq * Dq }, (_, i) => ((i * 37) % 255) - 127),
      {
        shape: [Vq, Dq],
      },
    )
    const scale = new Tensor(
      Float32Array.from({ length: (Vq * Dq) / 32 }, (_, i) => 1 + (i % 7)),
      {
        shape: [Vq, Dq / 32, 1],
      },
    )
    const dq = q
      .reshape([Vq, Dq / 32, 32])
      .cast('float32')
      .mul(scale)
      .reshape([Vq, Dq])
    const t = new Tensor(Int32Array.from([4095, 7, 7]))
    const ks = kernels(t.embedding(dq))
    assert.equal(ks.length, 1)
    assert.ok(
      rangeSizes(ks[0]!.ast).every((n) => n === 3 || n === Dq),
      `${rangeSizes(ks[0]!.ast)}`,
    )
    const got = (await t.embedding(dq).tolist()) as number[][]
    const want = [4095, 7, 7].map((r) =>
      [...Array(Dq)].map((_, d) => ((((r * Dq + d) * 37) % 255) - 127) * (1 + (((r * Dq + d) >> 5) % 7))),
    )
    assert.deepEqual(got, want)
  })
  test('C: the row is read as whole vectors behind one gate per token', {
    skip: !hasCPU && 'no C compiler',
  }, () => {
    const t = new Tensor(Int32Array.from([1, 2])).embedding(Tensor.rand([100, 64]).realize())
    const [k] = kernels(t)
    const r = Device.get('CPU').renderer
    const src = renderKernel(k!.ast, r, handOpts(k!.ast, r.target)).src
    assert.match(src, /\? \*\(const tgvfu\*\)\(b\d+ \+ v\d+\) : tg_vf\(0\.0f\)/)
    // the row's position was clamped into the table before any address is formed
    assert.doesNotMatch(src, /y_\[l_\] = tg_vi/)
  })
  test('a gather along a 64-long inner loop (the index varies along it) reads the right elements', async () => {
    const x = Tensor.rand([4, 1000]).realize()
    const n = 4 * 64
    const raw = Int32Array.from({ length: n }, (_, i) => (i * 7919 + 13) % 1003) // a few past 999
    const got = Array.from(await x.gather(1, new Tensor(raw, { shape: [4, 64] }).add(0)).data())
    const xs = Array.from(await x.data())
    const want = Array.from(raw, (j, i) => (j < 1000 ? xs[Math.floor(i / 64) * 1000 + j]! : 0))
    assert.deepEqual(got, want)
  })
  test('an embedding fused into a matmul (register-tiled, the gathered rows as its A operand)', async () => {
    const [T, E, N] = [128, 64, 256]
    const w = Tensor.rand([300, E]).realize()
    const m = Tensor.rand([E, N]).realize()
    const raw = Int32Array.from({ length: T }, (_, i) => (i * 7919 + 5) % 310) // a few out of range
    const out = new Tensor(raw).add(0).embedding(w).matmul(m)
    assert.equal(kernels(out).filter((k) => indexedLoads(k.ast).length > 0).length, 1)
    const [got, ws, ms] = [await out.data(), await w.data(), await m.data()]
    for (let t = 0; t < T; t++)
      for (let n = 0; n < N; n++) {
        let want = 0
        if (raw[t]! < 300) for (let e = 0; e < E; e++) want += ws[raw[t]! * E + e]! * ms[e * N + n]!
        assert.ok(Math.abs(got[t * N + n]! - want) <= 1e-4 * (1 + Math.abs(want)), `[${t}, ${n}]`)
      }
  })
  test('a table that is a padded, flipped, transposed view of a buffer', async () => {
    const base = Tensor.rand([3, 5]).realize()
    const b = (await base.tolist()) as number[][]
    // rows of pad(base.T, 2 before, 1 after) flipped: 8 rows of 3
    const view = base.T.pad([
      [2, 1],
      [0, 0],
    ]).flip(0)
    const rows = [...Array(8)].map((_, r) => {
      const k = 7 - r - 2 // row of base.T, or padding
      return k >= 0 && k < 5 ? [b[0]![k]!, b[1]![k]!, b[2]![k]!] : [0, 0, 0]
    })
    const ids = [7, 0, 1, 2, 5, 8, -1, 3]
    const got = (await new Tensor(Int32Array.from(ids)).add(0).embedding(view).tolist()) as number[][]
    assert.deepEqual(
      got,
      ids.map((i) => (i >= 0 && i < 8 ? rows[i]! : [0, 0, 0])),
    )
  })
  test('every load stays inside its buffer by value range (the gathered position is clamped)', {
    skip: deviceLacks('int64'),
  }, () => {
    const x = Tensor.rand([16, 1000]).realize()
    const gi = new Tensor(
      Int32Array.from({ length: 16 * 3 }, (_, i) => i),
      { shape: [16, 3] },
    )
    const i8 = new Tensor([-1, 5], { dtype: 'int8' }).add(0)
    const i64 = new Tensor(BigInt64Array.from([2n ** 40n, 3n])).add(0)
    const cases = [
      ids.embedding(table),
      ids.add(V).embedding(table),
      i8.embedding(table),
      i64.embedding(table),
      x.gather(1, gi.mul(1000)),
      x.get(i64.cast('int32'), i8),
      x.T.get(i8),
      ids.add(0).embedding(Tensor.rand([0, 3]).realize()),
    ]
    for (const t of cases)
      for (const k of kernels(t))
        for (const u of toposort([k.ast]))
          if (u.op === Ops.LOAD) {
            const size = k.bufs[u.src[0]!.arg as number]!.size
            assert.ok(
              u.src[1]!.vmin >= 0 && u.src[1]!.vmax < size,
              `load at [${u.src[1]!.vrange}] of ${size}`,
            )
          }
  })
  test('assigning a row permutation of a table to itself reads the old rows', async () => {
    const w = new Tensor([
      [1, 2],
      [3, 4],
      [5, 6],
    ]).realize()
    w.assign(new Tensor(Int32Array.from([2, 0, 1])).embedding(w)).realize()
    assert.deepEqual(await w.tolist(), [
      [5, 6],
      [1, 2],
      [3, 4],
    ])
  })
  test('the weight gradient vectorizes along the columns, not over the tokens', () => {
    const w = Tensor.rand([1000, 64]).realize()
    w.requiresGrad = true
    const g = Tensor.rand([64, 64]).realize()
    new Tensor(Int32Array.from({ length: 64 }, (_, i) => (i * 37) % 1000))
      .embedding(w)
      .mul(g)
      .sum()
      .backward()
    const ks = kernels(w.grad!)
    const dw = ks.find((k) => toposort([k.ast]).some((u) => u.op === Ops.REDUCE))!
    // one-hot scatter-add: a reduce over the 64 tokens for each (row, column)
    assert.deepEqual(
      rangeSizes(dw.ast).sort((a, b) => a - b),
      [64, 64, 1000],
    )
    const opts = handOpts(dw.ast, { threads: false, vectorWidth: 16, registers: 32, simdReduce: true })
    // the token ids are contiguous along the reduce but shared by every column: the strided reads
    // of the upstream gradient decide, so the column axis is upcast (was a simd reduction over
    // tokens with stride-64 reads: 15 s instead of 0.9 s for a (128256, 512) table)
    assert.ok(
      opts.some((o) => o.op === 'UPCAST' && o.axis === 1),
      JSON.stringify(opts),
    )
  })
  test('jit: a jitted embedding replays with new ids', async () => {
    const w = Tensor.rand([40, 6]).realize()
    const f = jit((i: Tensor) => i.embedding(w))
    for (const v of [
      [1, 2],
      [39, 0],
      [5, 5],
      [7, 40],
    ]) {
      const got = (await f(new Tensor(Int32Array.from(v))).tolist()) as number[][]
      const want = await Promise.all(
        v.map(async (i) => (i < 40 ? Array.from(await w.get(i).data()) : new Array<number>(6).fill(0))),
      )
      assert.deepEqual(got, want)
    }
  })
})
