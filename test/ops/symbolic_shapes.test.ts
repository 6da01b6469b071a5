// Symbolic shapes end to end (runs on the default device and with DEVICE=JS): a decode-style
// attention over a KV cache read through `shrink` to a bound Variable, checked against numpy
// (scripts/gen_symbolic_fixtures.py) at many positions; a 200-position decode loop compiles a
// fixed number of kernels; movement ops with symbolic sizes give the values of the same ops with
// concrete sizes; jit replays one capture with new values; unsupported uses are clear errors.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { jit, Tensor, TsgradError, type UOp, Variable } from '../../src/index.ts'
import { stats } from '../../src/engine/realize.ts'
import { expectThrows } from '../helpers.ts'

interface Fixture {
  B: number
  H: number
  MAX: number
  D: number
  K: number[]
  V: number[]
  cases: {
    sp: number
    q: number[]
    attention: number[]
    rowsum: number[]
    rowmax: number[]
    logsm: number[]
  }[]
}
const fx = JSON.parse(
  readFileSync(new URL('../fixtures/symbolic_decode.json', import.meta.url), 'utf8'),
) as Fixture
const { B, H, MAX, D } = fx

const vals = async (t: Tensor): Promise<number[]> => Array.from((await t.data()) as ArrayLike<number>, Number)
function close(got: readonly number[], want: readonly number[], what: string, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`)
  for (let i = 0; i < want.length; i++)
    if (!(Math.abs(got[i]! - want[i]!) <= tol + tol * Math.abs(want[i]!)))
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`)
}

const sp = Variable('sp', 0, MAX - 1)
const K = new Tensor(fx.K, { shape: [B, H, MAX, D] })
const V = new Tensor(fx.V, { shape: [B, H, MAX, D] })

/** One decode step's attention with the cache read up to position `p` (a bound Variable). */
function attention(q: Tensor, p: UOp): Tensor {
  const k = K.shrink([null, null, [0, p.add(1)], null])
  const v = V.shrink([null, null, [0, p.add(1)], null])
  return q.matmul(k.transpose(2, 3)).div(Math.sqrt(D)).softmax(-1).matmul(v)
}

describe('decode attention over a symbolic cache length', () => {
  test('matches numpy at every fixture position', async () => {
    for (const c of fx.cases) {
      const q = new Tensor(c.q, { shape: [B, H, 1, D] })
      const out = attention(q, sp.bind(c.sp))
      assert.deepEqual(out.shape, [B, H, 1, D])
      close(await vals(out), c.attention, `attention at sp=${c.sp}`)
    }
  })

  test('reductions and logSoftmax over the symbolic axis match numpy', async () => {
    for (const c of fx.cases) {
      const b = sp.bind(c.sp)
      const k = K.shrink([null, null, [0, b.add(1)], null])
      assert.deepEqual(k.shape, [B, H, c.sp + 1, D], 'shape gives the bound value')
      close(await vals(k.sum(2)), c.rowsum, `sum at sp=${c.sp}`)
      close(await vals(k.max(2)), c.rowmax, `max at sp=${c.sp}`)
      const q = new Tensor(c.q, { shape: [B, H, 1, D] })
      const scores = q.matmul(k.transpose(2, 3)).div(Math.sqrt(D))
      close(await vals(scores.logSoftmax(-1)), c.logsm, `logSoftmax at sp=${c.sp}`)
    }
  })

  test('a 200-position decode loop compiles a fixed number of kernels', async () => {
    const N = 200
    const v = Variable('pos', 0, N - 1)
    const kc = Tensor.rand([1, 2, N, 4]).realize()
    const q = Tensor.rand([1, 2, 1, 4]).realize()
    const step = (p: number): Promise<number[]> => {
      const k = kc.shrink([null, null, [0, v.bind(p).add(1)], null])
      return vals(q.matmul(k.transpose(2, 3)).softmax(-1).matmul(k))
    }
    await step(0)
    await step(1)
    const compiled = stats.kernelsCompiled
    const run0 = stats.kernelsRun
    let last: number[] = []
    for (let p = 2; p < N; p++) last = await step(p)
    assert.equal(stats.kernelsCompiled, compiled, 'no kernel compiled after the first positions')
    assert.ok(stats.kernelsRun - run0 >= 2 * (N - 2), 'kernels ran for every position')
    // the last step against the same computation with concrete sizes
    const k = kc.shrink([null, null, [0, N], null])
    close(last, await vals(q.matmul(k.transpose(2, 3)).softmax(-1).matmul(k)), 'last position')
  })
})

describe('movement ops with symbolic sizes give the values of the concrete ones', () => {
  const n = Variable('n', 1, 12)
  const x = Tensor.rand([12, 6]).realize()
  for (const len of [1, 4, 12]) {
    test(`at n=${len}`, async () => {
      const b = n.bind(len)
      const xs = x.shrink([[0, b], null])
      const xc = x.shrink([[0, len], null])
      // reshape: flatten the symbolic axis and back, and add unit axes
      close(await vals(xs.reshape([b.mul(6)])), await vals(xc.reshape([len * 6])), 'flatten')
      close(
        await vals(xs.reshape([-1]).reshape([b, 2, 3]).sum(1)),
        await vals(xc.reshape([len, 2, 3]).sum(1)),
        'unflatten',
      )
      close(await vals(xs.unsqueeze(0).flatten(0, 1).mul(2)), await vals(xc.mul(2)), 'unsqueeze + flatten')
      // expand a row to the symbolic length, and a constant of a symbolic shape
      const row = x.shrink([[0, 1], null])
      close(await vals(row.expand([b, 6]).add(xs)), await vals(row.expand([len, 6]).add(xc)), 'expand + add')
      close(
        await vals(Tensor.ones([b, 6]).mul(xs).sum(0)),
        await vals(xc.sum(0)),
        'Tensor.ones of a symbolic shape',
      )
      // pad by a symbolic amount, and a shrink that starts at the variable (a one-row window)
      const padded = x.shrink([[0, 2], null]).pad([[0, b], null])
      assert.deepEqual(padded.shape, [2 + len, 6])
      close(await vals(padded.sum(0)), await vals(x.shrink([[0, 2], null]).sum(0)), 'pad adds zeros')
      const m = Variable('row', 0, 11).bind(len - 1)
      const win = x.shrink([[m, m.add(1)], null])
      assert.ok(!win.isSymbolic, 'a window [m, m + 1] has the concrete length 1')
      assert.deepEqual(win.sshape, [1, 6])
      close(
        await vals(x.shrink([[m, m.add(1)], null])),
        await vals(x.shrink([[len - 1, len], null])),
        'shrink at n-1',
      )
      // permute, elementwise with broadcasting, cast, contiguous
      close(
        await vals(
          xs
            .transpose(0, 1)
            .exp()
            .add(
              x
                .shrink([
                  [0, 1],
                  [0, 1],
                ])
                .expand([6, 1]),
            )
            .cast('float32')
            .contiguous(),
        ),
        await vals(
          xc
            .transpose(0, 1)
            .exp()
            .add(
              x
                .shrink([
                  [0, 1],
                  [0, 1],
                ])
                .expand([6, 1]),
            ),
        ),
        'permute + exp + broadcast add',
      )
      // a realized symbolic result has its concrete size
      const r = xs.mul(3).realize()
      assert.deepEqual(r.shape, [len, 6])
      close(await vals(r), await vals(xc.mul(3)), 'realized symbolic result')
    })
  }
})

test('a realized symbolic result stays symbolic: what is computed from it compiles once', async () => {
  const v = Variable('rlen', 1, 16)
  const x = Tensor.rand([16, 5]).realize()
  const lens = [3, 4, 9, 16, 1, 12]
  const want: number[][] = []
  for (const len of lens)
    want.push(
      await vals(
        x
          .shrink([[0, len], null])
          .exp()
          .sum(0),
      ),
    )
  const perValue: number[] = []
  for (const [i, len] of lens.entries()) {
    const c0 = stats.kernelsCompiled
    const r = x
      .shrink([[0, v.bind(len)], null])
      .exp()
      .realize()
    assert.ok(r.isSymbolic, 'the realized view keeps its symbolic size')
    assert.deepEqual(r.shape, [len, 5])
    close(await vals(r.sum(0)), want[i]!, `sum of realized at ${len}`)
    perValue.push(stats.kernelsCompiled - c0)
  }
  assert.deepEqual(perValue.slice(1), [0, 0, 0, 0, 0], 'kernels compiled for the first value only')
})

describe('Tensor.fromVariable: a variable as a value', () => {
  test('a position mask and arithmetic with the value, compiled once', async () => {
    const v = Variable('vpos', 0, 7)
    const compiled: number[] = []
    for (const p of [2, 5, 0, 7]) {
      const c0 = stats.kernelsCompiled
      const b = v.bind(p)
      const mask = Tensor.arange(8).lt(Tensor.fromVariable(b.add(1)))
      assert.deepEqual(
        await vals(mask.cast('int32')),
        [...Array(8)].map((_, i) => (i <= p ? 1 : 0)),
      )
      const scaled = Tensor.fromVariable(b, { dtype: 'float32' })
        .mul(0.5)
        .add(Tensor.ones([3]))
      assert.deepEqual(await vals(scaled), [1 + p / 2, 1 + p / 2, 1 + p / 2])
      compiled.push(stats.kernelsCompiled - c0)
    }
    assert.deepEqual(compiled.slice(1), [0, 0, 0], 'kernels compiled for the first value only')
  })

  test('a KV-cache write at the position (masked assign) in a jitted step: one capture, the eager values', async () => {
    const [L, Dh] = [16, 4]
    const v = Variable('kvpos', 0, L - 1)
    const make = () => {
      const cache = Tensor.zeros([1, L, Dh]).contiguous().realize()
      const pos = Tensor.arange(L).reshape([1, L, 1])
      const step = (k: Tensor, p: UOp): Tensor => {
        cache.assign(pos.eq(Tensor.fromVariable(p)).where(k.expand([1, L, Dh]), cache))
        return cache.shrink([null, [0, p.add(1)], null]).sum(1)
      }
      return { cache, step }
    }
    const eager = make()
    const jitted = make()
    const f = jit(jitted.step)
    let compiled = -1
    for (let p = 0; p < L; p++) {
      const k = new Tensor(
        Array.from({ length: Dh }, (_, i) => p + i / 10),
        { shape: [1, 1, Dh] },
      )
      const want = await vals(eager.step(k, v.bind(p)))
      close(await vals(f(k, v.bind(p))), want, `step ${p}`)
      if (p === 2) compiled = stats.kernelsCompiled
    }
    assert.equal(stats.kernelsCompiled, compiled, 'replays compile nothing')
    close(await vals(jitted.cache), await vals(eager.cache), 'the caches')
    close(
      await vals(eager.cache.sum(2).reshape([L])),
      Array.from({ length: L }, (_, p) => Dh * p + 0.6),
      'each row written once at its position',
    )
  })

  test('fromVariable refuses what is not a size expression', async () => {
    expectThrows(() => Tensor.fromVariable(3 as never), /fromVariable: expected a Variable/)
    expectThrows(() => Tensor.fromVariable(Tensor.ones([1]).uop), /fromVariable: expected a Variable/)
  })
})

describe('jit with bound variables', () => {
  test('one capture replays every value with the eager numbers', async () => {
    const v = Variable('jpos', 0, MAX - 1)
    const step = jit((q: Tensor, p: UOp) => attention(q, p))
    const q = new Tensor(fx.cases[0]!.q, { shape: [B, H, 1, D] })
    const positions = [3, 9, 0, 21, 47, 30, 5, 12]
    let compiledAfterCapture = -1
    for (const [i, p] of positions.entries()) {
      const got = await vals(step(q, v.bind(p)))
      close(got, await vals(attention(q, v.bind(p))), `jit at ${p}`)
      if (i === 1) compiledAfterCapture = stats.kernelsCompiled
    }
    assert.equal(stats.kernelsCompiled, compiledAfterCapture, 'replays compile nothing')
    const g = step.jit.captured(q, v.bind(0))
    assert.ok(g, 'captured')
    assert.equal(step.jit.captured(q, v.bind(40)), g, 'the same capture for every value')
    // against numpy for the fixture position
    const c = fx.cases.find((x) => x.sp === 47)!
    close(await vals(step(new Tensor(c.q, { shape: [B, H, 1, D] }), v.bind(47))), c.attention, 'jit vs numpy')
  })

  test('a symbolic result of a replay has the shape and values of its call', async () => {
    const v = Variable('jlen', 1, 10)
    const x = Tensor.rand([10, 3]).realize()
    const f = jit((t: Tensor, n: UOp) => t.shrink([[0, n], null]).mul(2))
    for (const len of [2, 5, 1, 10, 7]) {
      const r = f(x, v.bind(len))
      assert.deepEqual(r.shape, [len, 3])
      assert.ok(r.isSymbolic)
      close(await vals(r), await vals(x.shrink([[0, len], null]).mul(2)), `len ${len}`)
    }
  })
})

describe('errors', () => {
  const n = Variable('n', 1, 8)
  const x = Tensor.rand([8, 4])
  test('out-of-range bind names the variable, value and range', async () => {
    const e = expectThrows(() => n.bind(9), /Variable n takes integers in \[1, 8\], got 9/)
    assert.ok(e instanceof TsgradError)
  })
  test('a shrink that can pass the size is refused', async () => {
    const m = Variable('m', 1, 9)
    expectThrows(() => x.shrink([[0, m.bind(3)], null]), /shrink: invalid range \[0, m=3\] for dimension 0/)
  })
  test('ops that would use the bound value give a clear error naming the op', async () => {
    const xs = x.shrink([[0, n.bind(3)], null])
    expectThrows(() => xs.mean(0), /mean: axis 0 of shape \[n=3, 4\] is symbolic/)
    expectThrows(() => xs.var(0), /var: axis 0 .* is symbolic/)
    expectThrows(() => xs.cumsum(0), /cumsum: axis 0 .* is symbolic/)
    expectThrows(
      () => xs.reshape([3, 4]),
      /reshape: cannot reshape the symbolic shape \[n=3, 4\] into \[3, 4\]/,
    )
    const other = Variable('k', 1, 8)
    expectThrows(
      () => xs.add(x.shrink([[0, other.bind(3)], null])),
      /add: shapes \[n=3, 4\] and \[k=3, 4\] cannot be broadcast together/,
    )
  })
  test('ops without symbolic support refuse a symbolic tensor, naming the op', async () => {
    const xs = x.shrink([[0, n.bind(3)], null])
    const msg = (op: string) =>
      new RegExp(`^${op}: not supported for a tensor of symbolic shape \\[(1, 1, )?n=3, 4\\]`)
    expectThrows(() => xs.repeat([2, 1]), msg('repeat'))
    expectThrows(() => xs.get(0), msg('get'))
    expectThrows(() => xs.split(2, 0), msg('split'))
    expectThrows(() => xs.tril(), msg('tril'))
    expectThrows(() => xs.argmax(0), msg('argmax'))
    expectThrows(() => Tensor.cat([x, xs], 0), msg('Tensor.cat'))
    expectThrows(() => x.gather(0, xs.cast('int32')), msg('gather'))
    expectThrows(
      () =>
        xs
          .unsqueeze(0)
          .unsqueeze(0)
          .conv2d(Tensor.ones([1, 1, 1, 1])),
      msg('conv2d'),
    )
  })
  test('one variable bound to two values in one graph is an error', async () => {
    const a = x.shrink([[0, n.bind(2)], null]).sum(0)
    const b = x.shrink([[0, n.bind(3)], null]).sum(0)
    expectThrows(() => a.add(b).realize(), /Variable n is bound to 2 and to 3 in one graph/)
  })
  test('jit refuses a tensor argument of symbolic shape', async () => {
    const f = jit((t: Tensor) => t.mul(2))
    expectThrows(() => f(x.shrink([[0, n.bind(2)], null])), /jit: argument 0 .* has a symbolic shape/)
  })
})
