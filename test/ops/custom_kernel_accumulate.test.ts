// ctx.accumulate (custom kernels): accumulators read and set together once per loop step, checked
// against the same math built from tensor ops (an online logsumexp, an online softmax-weighted
// sum with one accumulator per 'upcast' lane), loops of one step, opts that would unroll the loop,
// and bad bodies. Runs on the default device (CPU, or DEVICE=JS).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type KernelContext, Tensor, TsgradError } from '../../src/index.ts'
import { OptState } from '../../src/codegen/opts.ts'
import type { CustomKernelArg } from '../../src/uop/custom_kernel.ts'
import type { UOp } from '../../src/uop/ops.ts'

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(a.length, b.length)
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `at ${i}: ${a[i]} vs ${b[i]}`)
}

/** logsumexp of each row of x (R, N) in one pass: running max m and sum l of exp(x - m) */
function onlineLogsumexp(x: Tensor): Tensor {
  const [R, N] = x.shape as [number, number]
  return Tensor.customKernel({
    name: 'online_lse',
    inputs: [x],
    outputs: [{ shape: [R] }],
    body: (c) => {
      const [out, xb] = [c.outputs[0]!, c.inputs[0]!]
      const i = c.range(R)
      const j = c.range(N, 'reduce')
      const s = xb.load(xb.at(i, j))
      const [m, l] = c.accumulate([j], [Number.NEGATIVE_INFINITY, 0], ([m, l]) => {
        const m2 = m!.max(s)
        return [m2, l!.mul(c.exp(m!.sub(m2))).add(c.exp(s.sub(m2)))]
      })
      return c.sink(out.store(out.at(i), m!.add(c.log(l!))))
    },
  })[0]!
}

/** softmax(x) @ y per row, online: an output accumulator per column of y (an 'upcast' range) */
function onlineSoftmaxMatmul(x: Tensor, y: Tensor): Tensor {
  const [R, N] = x.shape as [number, number]
  const D = y.shape[1]!
  return Tensor.customKernel({
    name: 'online_softmax_mm',
    inputs: [x, y],
    outputs: [{ shape: [R, D] }],
    body: (c: KernelContext) => {
      const [out, xb, yb] = [c.outputs[0]!, c.inputs[0]!, c.inputs[1]!]
      const i = c.range(R)
      const d = c.range(D, 'upcast')
      const j = c.range(N, 'reduce')
      const s = xb.load(xb.at(i, j))
      const [, l, acc] = c.accumulate([j], [Number.NEGATIVE_INFINITY, 0, 0], ([m, l, acc]) => {
        const m2 = m!.max(s)
        const alpha = c.exp(m!.sub(m2))
        const p = c.exp(s.sub(m2))
        return [m2, l!.mul(alpha).add(p), acc!.mul(alpha).add(p.mul(yb.load(yb.at(j, d))))]
      })
      return c.sink(out.store(out.at(i, d), acc!.fdiv(l!)))
    },
  })[0]!
}

describe('customKernel accumulate', () => {
  test('an online logsumexp equals logsumexp', async () => {
    Tensor.manualSeed(1)
    const x = Tensor.randn([5, 37]).mul(4)
    close(await onlineLogsumexp(x).data(), await x.logsumexp(-1).data())
  })

  test('one accumulator per upcast lane: an online softmax-weighted sum equals softmax(x) @ y', async () => {
    Tensor.manualSeed(2)
    const x = Tensor.randn([6, 23]).mul(3)
    const y = Tensor.randn([23, 5])
    close(await onlineSoftmaxMatmul(x, y).data(), await x.softmax(-1).matmul(y).data())
  })

  test('a loop of one step (size-1 ranges are kept as loops for accumulators)', async () => {
    const x = new Tensor([[0.5], [-2]])
    close(await onlineLogsumexp(x).data(), [0.5, -2])
    const y = new Tensor([[3, 4]])
    close(await onlineSoftmaxMatmul(x, y).data(), [3, 4, 3, 4])
  })

  test('opts do not unroll, chain or split the loop of an accumulate', () => {
    const out = onlineLogsumexp(Tensor.randn([4, 32]))
    const ast = (out.uop.arg as CustomKernelArg).def.ast
    const s = new OptState(ast)
    const axis = s.axes.findIndex((r: UOp) => (r.arg as { kind: string }).kind === 'reduce')
    for (const op of ['UNROLL', 'CHAIN', 'SPLIT'] as const)
      assert.match(s.check({ op, axis, arg: 4 }) ?? '', /set each step/)
    assert.equal(s.check({ op: 'UPCAST', axis: 0, arg: 2 }), undefined)
  })

  test('bad accumulates are clear errors', () => {
    const x = Tensor.randn([3, 8])
    const run = (body: (c: KernelContext) => UOp) =>
      Tensor.customKernel({ name: 'bad_acc', inputs: [x], outputs: [{ shape: [3] }], body })
    const store = (c: KernelContext, v: UOp, i: UOp) => c.sink(c.outputs[0]!.store(c.outputs[0]!.at(i), v))
    assert.throws(
      () =>
        run((c) => {
          const i = c.range(3)
          const [a] = c.accumulate([i], [0], ([a]) => [a!])
          return store(c, a!, i)
        }),
      (e: Error) => e instanceof TsgradError && /ranges of kind reduce/.test(e.message),
    )
    assert.throws(
      () =>
        run((c) => {
          const i = c.range(3)
          const j = c.range(8, 'reduce')
          const [a] = c.accumulate([j], [0, 1], ([a]) => [a!])
          return store(c, a!, i)
        }),
      (e: Error) => e instanceof TsgradError && /must return 2 values/.test(e.message),
    )
    assert.throws(
      () =>
        run((c) => {
          const i = c.range(3)
          const j = c.range(8, 'reduce')
          c.accumulate([j], [0], ([a]) => [a!.cast('int32')])
          return store(c, c.const(0), i)
        }),
      (e: Error) => e instanceof TsgradError && /must be a float32 UOp/.test(e.message),
    )
    // the running value leaked out of its update: stored after the loop
    assert.throws(
      () =>
        run((c) => {
          const i = c.range(3)
          const j = c.range(8, 'reduce')
          let leaked: UOp | undefined
          c.accumulate([j], [0], ([a]) => {
            leaked = a!
            return [a!.add(1)]
          })
          return store(c, leaked!, i)
        }),
      (e: Error) => e instanceof TsgradError && /customKernel 'bad_acc'/.test(e.message),
    )
  })
})
