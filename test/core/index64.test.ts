// 64-bit index math: tensors with 2^31 or more (logical) elements index with int64 where the value
// range needs it, on every device, and keep int32 elsewhere. Most cases need no big memory: an
// expanded (stride 0) view has 2^32+ logical elements over a 3-element buffer, and a shrink, pad
// or flip of it moves the index past 2^31 while the kernel runs only a few iterations. The
// expected values are plain arithmetic on the element number (which row of the view it is in).
import assert from 'node:assert/strict'
import { freemem } from 'node:os'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import type { Opt } from '../../src/codegen/opts.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { dtypes, Tensor } from '../../src/index.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import { JSRenderer } from '../../src/renderer/js.ts'
import type { Renderer } from '../../src/renderer/renderer.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { narrowIndexMath } from '../../src/codegen/narrow.ts'
import { execAlu } from '../../src/uop/exec.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { hasCPU, makeRng } from '../helpers.ts'

const N = 2 ** 31

/** [1, 2, 3] broadcast to rows of N and flattened: element k is 1 + floor(k / N). */
const rows = (device: string): Tensor =>
  new Tensor([1, 2, 3], { dtype: dtypes.float32, device })
    .reshape([3, 1])
    .expand([3, N])
    .reshape([3 * N])
const rowOf = (k: number): number => 1 + Math.floor(k / N)
const span = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i)

/** The kernels realizing `t` runs, rendered by `r` with `opts` (default: the heuristics). */
function sources(t: Tensor, r: Renderer, opts?: (ast: KernelItem['ast']) => Opt[]): string[] {
  const items = scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  return items.map((it) => renderKernel(it.ast, r, (opts ?? ((a) => handOpts(a, r.target)))(it.ast)).src)
}
const body = (src: string): string => src.slice(src.search(/(^|\n)(void|function) /))

for (const device of [...(hasCPU ? ['CPU'] : []), 'JS']) {
  describe(`64-bit indices on ${device}`, () => {
    test('a shrink of an expanded view past 2^32', async () => {
      const a = 2 * N + 5
      assert.deepEqual(
        Array.from(
          await rows(device)
            .shrink([[a, a + 3]])
            .data(),
        ),
        span(a, a + 3).map(rowOf),
      )
    })
    test('a shrink straddling 2^31 and 2^32', async () => {
      for (const a of [N - 2, 2 * N - 2]) {
        const got = Array.from(
          await rows(device)
            .shrink([[a, a + 4]])
            .data(),
        )
        assert.deepEqual(got, span(a, a + 4).map(rowOf), `shrink at ${a}`)
      }
    })
    test('sums of windows at offsets past 2^31', async () => {
      const a = 2 * N - 8
      const got = Array.from(
        await rows(device)
          .shrink([[a, a + 16]])
          .reshape([2, 8])
          .sum(1)
          .data(),
      )
      assert.deepEqual(got, [8 * 2, 8 * 3])
    })
    test('a pad past the end of a 3 * 2^31 view (the gate compares in int64)', async () => {
      const got = Array.from(
        await rows(device)
          .pad([[0, 5]])
          .shrink([[3 * N - 2, 3 * N + 2]])
          .data(),
      )
      assert.deepEqual(got, [3, 3, 0, 0])
    })
    test('a flip of a 3 * 2^31 view', async () => {
      const got = Array.from(
        await rows(device)
          .flip(0)
          .shrink([[N - 2, N + 2]])
          .data(),
      )
      // flipped element k is element 3N - 1 - k
      assert.deepEqual(
        got,
        span(N - 2, N + 2).map((k) => rowOf(3 * N - 1 - k)),
      )
    })
    test('a permuted view read with a flat index past 2^32', async () => {
      // (N, 3) after the permute: flat element k is row k % 3
      const t = rows(device)
        .reshape([3, N])
        .permute([1, 0])
        .reshape([3 * N])
      const a = 3 * N - 5
      assert.deepEqual(
        Array.from(await t.shrink([[a, a + 5]]).data()),
        span(a, a + 5).map((k) => 1 + (k % 3)),
      )
    })
    test('arange past 2^31 as float64 (an int64 iota)', async () => {
      const t = Tensor.arange(0, 3 * N, 1, { dtype: dtypes.float64, device })
      assert.deepEqual(Array.from(await t.shrink([[3 * N - 3, 3 * N]]).data()), [
        3 * N - 3,
        3 * N - 2,
        3 * N - 1,
      ])
    })
  })
}

describe('64-bit indices in the generated code', () => {
  // the example: the output has 2^32 elements (16 GB, so rendered only, not run)
  const big = (): Tensor => Tensor.zeros([0, 65536, 65536], { device: 'NULL' }).sum(0)
  test('C: int loop counters, a long long flat address', () => {
    const [src] = sources(big(), new CRenderer(), () => [])
    const b = body(src!)
    assert.match(b, /for \(int r0 = 0; r0 < 65536; r0\+\+\)/)
    assert.match(b, /long long v\d+ = /)
    assert.doesNotMatch(b, /\(unsigned int\)/, 'no int32 wrap-around address math')
  })
  test('C with the heuristics (UPCAST/THREAD) and with an UPCAST by 4 on the inner axis', () => {
    for (const opts of [undefined, () => [{ op: 'UPCAST', axis: 1, arg: 4 } as Opt]]) {
      const b = body(sources(big(), new CRenderer(), opts)[0]!)
      assert.match(b, /long long v\d+ = /)
      assert.doesNotMatch(b, /\(unsigned int\)/)
    }
  })
  test('the inner loop of a big kernel keeps the vector form (its int32 counter widened for the address)', () => {
    const t = Tensor.rand([1, 65536], { device: 'NULL' }).realize().expand([65536, 65536]).exp()
    const b = body(sources(t, new CRenderer(), () => [])[0]!)
    assert.match(b, /for \(int r1 = 0; r1 < 65536 \/ TG_VLEN \* TG_VLEN; r1 \+= TG_VLEN\)/)
    assert.match(b, /tg_expv\(/)
  })
  test('a loop of more than 2^31 iterations counts in long long', () => {
    const t = Tensor.ones([3], { device: 'NULL' })
      .reshape([3, 1])
      .expand([3, N])
      .reshape([3 * N])
      .contiguous()
    const b = body(sources(t, new CRenderer(), () => [])[0]!)
    assert.match(b, /for \(long long r0 = 0; r0 < 6442450944LL; r0\+\+\)/)
    assert.doesNotMatch(b, /tgvf/, 'no int32 vector lanes over an int64 loop')
  })
  test('JS: no |0 on the address math', () => {
    const b = body(sources(big(), new JSRenderer(), () => [])[0]!)
    assert.doesNotMatch(b, /\| 0\)/)
  })
  test('argmax along an axis longer than 2^31 returns int64 indices, else int32', () => {
    const along = (n: number) => Tensor.ones([1], { device: 'NULL' }).expand([n]).argmax()
    assert.equal(along(3 * N).dtype, dtypes.int64)
    assert.equal(along(N).dtype, dtypes.int32)
    assert.equal(Tensor.ones([4, 3 * N], { device: 'NULL' }).argmin(1).dtype, dtypes.int64)
  })
  test('small kernels are unchanged: int32 everywhere', () => {
    const t = Tensor.zeros([3, 65536, 16], { device: 'NULL' }).sum(0)
    assert.doesNotMatch(sources(t, new CRenderer())[0]!, /long long [rv]\d/)
  })
})

// one real tensor past 2^31 elements (2 GiB of uint8), only where the memory is free
const bigOk = hasCPU && freemem() > 8 * 2 ** 30
describe('a real 2^31 + 2^16 element tensor', { skip: !bigOk && 'needs a C compiler and 8 GiB free' }, () => {
  test('ones, written and read back at the end', async () => {
    const x = Tensor.full([32769, 65536], 7, { dtype: dtypes.uint8 }).contiguous().realize()
    const tail = x.shrink([
      [32767, 32769],
      [65532, 65536],
    ])
    assert.deepEqual(Array.from(await tail.data()), Array(8).fill(7))
    x.dispose()
  })
})

// ---- narrow_index_math: every int64 node it moves to int32 must keep its value ----

/** Value of `root` with range id i at point[i], with exec.ts semantics (int32 wraps, int64 exact). */
function evalAt(root: UOp, point: readonly number[]): number {
  const vals = new Map<UOp, number>()
  for (const u of toposort([root])) {
    if (u.op === Ops.RANGE) vals.set(u, point[(u.arg as { id: number }).id]!)
    else if (u.op === Ops.CONST) vals.set(u, u.constValue)
    else {
      const dt = u.op === Ops.CAST ? u.dtype : u.src[u.op === Ops.WHERE ? 1 : 0]!.dtype
      vals.set(
        u,
        execAlu(
          u.op,
          dt,
          u.src.map((s) => vals.get(s)!),
        ),
      )
    }
  }
  return vals.get(root)!
}

test('narrow_index_math keeps the value of random int64 index expressions', () => {
  const rand = makeRng(64)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const i64 = dtypes.int64
  let narrowedSome = 0
  for (let i = 0; i < 400; i++) {
    const ranges = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, k) =>
      UOp.range(pick([3, 1000, 65536, 2 ** 20, 2 ** 31, 3 * 2 ** 31]), k, 'global', i64),
    )
    const leaf = (): UOp =>
      rand() < 0.8 ? pick(ranges) : UOp.const(i64, pick([0, 7, -5, 2 ** 31, 2 ** 32 + 3]))
    const expr = (d: number): UOp => {
      if (d === 0) return leaf()
      const r = rand()
      if (r < 0.3)
        return expr(d - 1)
          .mul(pick([1, 3, 65536, 2 ** 16 + 1, -2]))
          .add(expr(d - 1))
      if (r < 0.45) return expr(d - 1).idiv(pick([2, 7, 65536, 2 ** 31]))
      if (r < 0.6) return expr(d - 1).mod(pick([5, 65536, 2 ** 31 + 1]))
      if (r < 0.7) return expr(d - 1).max(expr(d - 1))
      if (r < 0.8)
        return expr(d - 1)
          .lt(expr(d - 1))
          .where(expr(d - 1), expr(d - 1))
      if (r < 0.9)
        return expr(d - 1)
          .cast(dtypes.int32)
          .cast(i64)
      return expr(d - 1).sub(expr(d - 1))
    }
    const e = expr(1 + (i % 4))
    if (!(e.vmin > -(2 ** 52) && e.vmax < 2 ** 52)) continue
    // as a kernel stores it: the value cast to float64 (exact below 2^53)
    const ast = UOp.new(Ops.SINK, dtypes.void, [
      UOp.new(Ops.STORE, dtypes.float64, [
        UOp.new(Ops.DEFINE_GLOBAL, dtypes.float64, [], 0),
        UOp.const(i64, 0),
        e.cast(dtypes.float64),
      ]),
    ])
    const narrowed = narrowIndexMath(ast)
    const ne = narrowed.src[0]!.src[2]!
    if (toposort([narrowed]).some((u) => u.dtype === dtypes.int32)) narrowedSome++
    for (let p = 0; p < 40; p++) {
      // the range ends, zero and random values
      const point = ranges.map((r) => {
        const n = r.src[0]!.constValue
        return p === 0 ? 0 : p === 1 ? n - 1 : Math.floor(rand() * n)
      })
      const want = evalAt(e.cast(dtypes.float64), point)
      assert.equal(evalAt(ne, point) + 0, want + 0, `expression #${i} at ${point}`)
    }
  }
  assert.ok(narrowedSome > 100, `only ${narrowedSome} expressions had nodes narrowed`)
})
