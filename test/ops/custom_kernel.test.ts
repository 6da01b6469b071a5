// Tensor.customKernel: kernels written in UOps, run through the same pipeline as generated ones
// (opts, BEAM, DEBUG names), with validation errors that name the kernel and optional backwards.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { jit, type KernelContext, Tensor, TsgradError } from '../../src/index.ts'
import { dtypes } from '../../src/dtype.ts'
import { beamIdle, beamStats } from '../../src/engine/beam.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { startRecording, stopRecording } from '../../src/viz/enable.ts'

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(a.length, b.length)
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `at ${i}: ${a[i]} vs ${b[i]}`)
}
const kernels = (...ts: Tensor[]) =>
  scheduleFor(ts.map((t) => t.uop)).items.filter((i) => i.kind === 'kernel')

/** y = 2x + 1, elementwise over the flat buffer */
const axpb = (x: Tensor, name = 'axpb') =>
  Tensor.customKernel({
    name,
    inputs: [x],
    outputs: [{ shape: x.shape }],
    body: (k) => {
      const i = k.range(x.numel())
      return k.sink(k.outputs[0]!.store(i, k.inputs[0]!.load(i).mul(2).add(1)))
    },
  })[0]!

/** softmax over the last axis of a (rows, cols) tensor; also the row max and sum as outputs */
const rowSoftmax = (x: Tensor) => {
  const [rows, cols] = x.shape as [number, number]
  return Tensor.customKernel({
    name: 'row_softmax',
    inputs: [x],
    outputs: [{ shape: [rows, cols] }, { shape: [rows] }, { shape: [rows] }],
    body: (k: KernelContext) => {
      const [o, mo, so] = [k.outputs[0]!, k.outputs[1]!, k.outputs[2]!]
      const a = k.inputs[0]!
      const r = k.range(rows)
      const c = k.range(cols)
      const j1 = k.range(cols, 'reduce')
      const j2 = k.range(cols, 'reduce')
      const m = k.reduce('MAX', a.load(a.at(r, j1)), j1)
      const sum = k.reduce('ADD', k.exp(a.load(a.at(r, j2)).sub(m)), j2)
      return k.sink(
        o.store(o.at(r, c), k.exp(a.load(a.at(r, c)).sub(m)).fdiv(sum)),
        mo.store(r, m),
        so.store(r, sum),
      )
    },
  })
}

describe('Tensor.customKernel', () => {
  test('an elementwise kernel matches the tensor ops', async () => {
    const x = Tensor.randn([5, 7]).realize()
    close(await axpb(x).data(), await x.mul(2).add(1).data())
  })

  test('a row softmax with reductions matches softmax; three outputs, one kernel', async () => {
    const x = Tensor.randn([6, 33]).mul(3).realize()
    const [s, m, sum] = rowSoftmax(x) as [Tensor, Tensor, Tensor]
    assert.equal(kernels(s, m, sum).length, 1)
    close(await s.data(), await x.softmax(-1).data())
    close(await m.data(), await x.max(-1).data())
    close(
      await sum.data(),
      await x
        .sub(x.max(-1, { keepdim: true }))
        .exp()
        .sum(-1)
        .data(),
    )
    // one output alone still runs the kernel once (the others are temporaries)
    const [s2] = rowSoftmax(x)
    assert.equal(kernels(s2!.add(1)).length, 2)
  })

  test('lazy and non-contiguous inputs are realized contiguous first', async () => {
    const x = Tensor.randn([4, 6]).realize()
    const y = axpb(x.transpose().add(1))
    close(await y.data(), await x.transpose().add(1).mul(2).add(1).contiguous().data())
  })

  test("a reshape of another kernel's output (or of a contiguous) is read in place, not copied", async () => {
    const x = Tensor.randn([4, 6]).realize()
    const want = Array.from(await x.mul(2).add(1).mul(2).add(1).data())
    // before: the reshaped input was realized by a copy kernel (3 kernels)
    const y = axpb(axpb(x, 'first').reshape([6, 4]), 'second')
    assert.equal(kernels(y).length, 2)
    close(await y.data(), want)
    const z = axpb(x.add(1).contiguous().reshape([24]))
    assert.equal(kernels(z).length, 2)
    close(await z.data(), Array.from(await x.add(1).mul(2).add(1).data()))
  })

  test('a custom backward (as a kernel) matches the structural gradient', async () => {
    const square = (x: Tensor) =>
      Tensor.customKernel({
        name: 'square',
        inputs: [x],
        outputs: [{ shape: x.shape }],
        body: (k) => {
          const i = k.range(x.numel())
          const v = k.inputs[0]!.load(i)
          return k.sink(k.outputs[0]!.store(i, v.mul(v)))
        },
        backward: ([g], [xin]) => {
          const [dx] = Tensor.customKernel({
            name: 'square_grad',
            inputs: [g!, xin!],
            outputs: [{ shape: xin!.shape }],
            body: (k) => {
              const i = k.range(xin!.numel())
              return k.sink(k.outputs[0]!.store(i, k.inputs[0]!.load(i).mul(k.inputs[1]!.load(i)).mul(2)))
            },
          })
          return [dx]
        },
      })[0]!
    const data = [0.5, -1.5, 2, 3, -0.25, 1]
    const a = new Tensor(data, { requiresGrad: true })
    const w = new Tensor([1, 2, 3, 4, 5, 6])
    square(a).mul(w).sum().backward()
    const b = new Tensor(data, { requiresGrad: true })
    b.square().mul(w).sum().backward()
    close(await a.grad!.data(), await b.grad!.data())
    // numeric check: d/da_i sum(w a^2) ~ (f(a + h e_i) - f(a - h e_i)) / 2h
    const f = async (v: number[]) => (await square(new Tensor(v)).mul(w).sum().data())[0]!
    const h = 1e-2
    const ga = await a.grad!.data()
    for (let i = 0; i < data.length; i++) {
      const up = [...data]
      const dn = [...data]
      up[i]! += h
      dn[i]! -= h
      close([((await f(up)) - (await f(dn))) / (2 * h)], [ga[i]!], 1e-2)
    }
  })

  test('a custom backward written with tensor ops, through a kernel with several outputs', async () => {
    const x = Tensor.randn([3, 10], { requiresGrad: true })
    const softmax = (t: Tensor) =>
      Tensor.customKernel({
        name: 'sm',
        inputs: [t],
        outputs: [{ shape: t.shape }],
        body: (k) => rowBody(k, t.shape as [number, number]),
        backward: ([g], _ins, [y]) => [y!.mul(g!.sub(g!.mul(y!).sum(-1, { keepdim: true })))],
      })[0]!
    const w = Tensor.randn([3, 10]).realize()
    softmax(x).mul(w).sum().backward()
    const x2 = new Tensor(await x.data(), { shape: [3, 10], requiresGrad: true })
    x2.softmax(-1).mul(w).sum().backward()
    close(await x.grad!.data(), await x2.grad!.data(), 1e-4)
  })

  test('jit replays a custom kernel with several outputs on new inputs', async () => {
    const f = jit((x: Tensor) => {
      const [s, m] = rowSoftmax(x)
      return s!.add(m!.unsqueeze(1))
    })
    for (let step = 0; step < 5; step++) {
      const x = Tensor.randn([4, 16]).realize()
      const want = await x
        .softmax(-1)
        .add(x.max(-1, { keepdim: true }))
        .data()
      close(await f(x).data(), want)
    }
  })

  test('backward through a kernel without one is a clear error', () => {
    const x = new Tensor([1, 2, 3], { requiresGrad: true })
    assert.throws(() => axpb(x, 'nograd').sum().backward(), /custom kernel 'nograd' has no backward/)
  })

  // (on an asynchronous device, WEBGPU, the search runs in the background: waited for here)
  test('BEAM searches a custom kernel like a generated one', async () => {
    const prev = [process.env.BEAM, process.env.BEAM_TIMEOUT]
    process.env.BEAM = '2'
    process.env.BEAM_TIMEOUT = '5'
    try {
      const before = beamStats.searches + beamStats.cacheHits
      const x = Tensor.randn([37, 29]).realize()
      const [s] = rowSoftmax(x)
      close(await s!.data(), await x.softmax(-1).data())
      assert.ok(beamStats.searches + beamStats.cacheHits > before, 'BEAM ran on the custom kernel')
      await beamIdle()
      close(await rowSoftmax(x)[0]!.data(), await x.softmax(-1).data())
    } finally {
      if (prev[0] === undefined) delete process.env.BEAM
      else process.env.BEAM = prev[0]
      if (prev[1] === undefined) delete process.env.BEAM_TIMEOUT
      else process.env.BEAM_TIMEOUT = prev[1]
    }
  })

  test('DEBUG=2 names the kernel', async () => {
    const prev = process.env.DEBUG
    const lines: string[] = []
    const log = console.log
    process.env.DEBUG = '2'
    console.log = (...a: unknown[]) => lines.push(a.join(' '))
    try {
      await axpb(Tensor.randn([13]).realize(), 'named_for_debug').data()
    } finally {
      console.log = log
      if (prev === undefined) delete process.env.DEBUG
      else process.env.DEBUG = prev
    }
    assert.ok(
      lines.some((l) => l.includes('named_for_debug_13')),
      lines.join('\n'),
    )
  })

  test('VIZ records the kernel under its name, and the strip_custom_grads pass', () => {
    const x = Tensor.randn([3, 8], { requiresGrad: true }).realize()
    const rec = startRecording()
    try {
      const [s] = Tensor.customKernel({
        name: 'viz_softmax',
        inputs: [x],
        outputs: [{ shape: [3, 8] }],
        body: (k) => rowBody(k, [3, 8]),
        backward: ([g], _i, [y]) => [y!.mul(g!.sub(g!.mul(y!).sum(-1, { keepdim: true })))],
      })
      s!.realize()
    } finally {
      stopRecording()
    }
    const { index } = rec.snapshot(['test'])
    assert.ok(
      index.kernels.some((k) => k.name.startsWith('viz_softmax_')),
      index.kernels.map((k) => k.name).join(' '),
    )
    assert.ok(index.passes.some((p) => p.name === 'strip_custom_grads'))
  })

  describe('validation names the kernel', () => {
    const x = Tensor.randn([4, 4])
    const one = (
      name: string,
      body: (k: KernelContext) => ReturnType<KernelContext['sink']>,
      outDtype = dtypes.float32,
    ) => Tensor.customKernel({ name, inputs: [x], outputs: [{ shape: [4, 4], dtype: outDtype }], body })
    const err = (re: RegExp) => (e: unknown) => e instanceof TsgradError && re.test(e.message)

    test('a store out of range', () => {
      assert.throws(
        () => one('oob', (k) => k.sink(k.outputs[0]!.store(k.range(17), 0))),
        err(
          /customKernel 'oob': a store into buffer 0 \(16 elements\) at an index in \[0, 16\]: out of range/,
        ),
      )
    })
    test('a load out of range', () => {
      assert.throws(
        () =>
          one('oob_load', (k) => {
            const i = k.range(16)
            return k.sink(k.outputs[0]!.store(i, k.inputs[0]!.load(i.add(1))))
          }),
        err(/customKernel 'oob_load': a load of buffer 1 \(16 elements\) at an index in \[1, 16\]/),
      )
    })
    test('a wrong dtype', () => {
      assert.throws(
        () =>
          one(
            'dt',
            (k) => {
              const i = k.range(16)
              return k.sink(k.outputs[0]!.store(i, k.inputs[0]!.load(i)))
            },
            dtypes.int32,
          ),
        err(/customKernel 'dt': a store of a float32 value into output 0 \(int32\): cast it first/),
      )
    })
    test('a missing store', () => {
      assert.throws(
        () =>
          Tensor.customKernel({
            name: 'missing',
            inputs: [x],
            outputs: [{ shape: [4] }, { shape: [4] }],
            body: (k) => k.sink(k.outputs[0]!.store(k.range(4), 1)),
          }),
        err(/customKernel 'missing': output 1 is never stored to/),
      )
    })
    test('a store into an input, a buffer out of range, a reduce range left open', () => {
      assert.throws(
        () => one('ro', (k) => k.sink(k.inputs[0]!.store(0, 1))),
        err(/customKernel 'ro': input 1 is an input/),
      )
      assert.throws(
        () =>
          one('far', (k) => {
            const i = k.range(16)
            const bad = k.inputs[0]!.load(i).replace({
              src: [k.inputs[0]!.load(i).src[0]!.replace({ arg: 5 }), i],
            })
            return k.sink(k.outputs[0]!.store(i, bad))
          }),
        err(/customKernel 'far': a load addresses buffer 5: out of range \(1 outputs \+ 1 inputs\)/),
      )
      assert.throws(
        () =>
          one('open', (k) => {
            const i = k.range(16)
            const j = k.range(4, 'reduce')
            return k.sink(k.outputs[0]!.store(i, k.inputs[0]!.load(j)))
          }),
        err(/customKernel 'open': a store depends on a reduce range outside any REDUCE/),
      )
    })
    test('a tensor-graph node in the body, a body that returns no sink', () => {
      assert.throws(
        () => one('tensor_op', (k) => k.sink(k.outputs[0]!.store(k.range(16), x.uop))),
        err(/customKernel 'tensor_op': DEVICE is not kernel IR/),
      )
      assert.throws(
        () => one('no_sink', (k) => k.outputs[0]!.store(k.range(16), 1)),
        err(/customKernel 'no_sink': body must return ctx.sink\(...stores\), got STORE/),
      )
    })
    test('local memory is not available on CPU or JS', () => {
      assert.throws(
        () => one('loc', (k) => k.local(16)),
        err(/customKernel 'loc': local memory is not available/),
      )
    })
  })
})

function rowBody(k: KernelContext, [rows, cols]: [number, number]) {
  const o = k.outputs[0]!
  const a = k.inputs[0]!
  const r = k.range(rows)
  const c = k.range(cols)
  const j1 = k.range(cols, 'reduce')
  const j2 = k.range(cols, 'reduce')
  const m = k.reduce('MAX', a.load(a.at(r, j1)), j1)
  const sum = k.reduce('ADD', k.exp(a.load(a.at(r, j2)).sub(m)), j2)
  return k.sink(o.store(o.at(r, c), k.exp(a.load(a.at(r, c)).sub(m)).fdiv(sum)))
}
