// The WGSL renderer's target without a GPU: which reduces the GPU optimizer (codegen/gpu_opts.ts)
// splits across a workgroup and what the rendered shader then loops over; workgroup-memory tiles
// (WORKGROUP, STAGE: codegen/stage.ts); kernels split by the target's limit on bound buffers
// (schedule/buffer_limit.ts). (The results on a real adapter:
// test/core/webgpu.test.ts.)
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { fmtOpts, type Opt, OptState } from '../../src/codegen/opts.ts'
import { candidateActions } from '../../src/engine/beam.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { createSchedule } from '../../src/schedule/schedule.ts'
import { Tensor } from '../../src/index.ts'
import { WGSLRenderer } from '../../src/renderer/wgsl.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'

const wgsl = new WGSLRenderer(false)

/** realized: an unrealized rand is a kernel of its own generator */
const rand = (shape: number[]) => Tensor.rand(shape, { device: 'JS' }).realize()

function kernels(t: Tensor): KernelItem[] {
  return scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
}

/** The trip counts of the shader's `for` loops. */
function loopTrips(src: string): number[] {
  return [...src.matchAll(/for \(var \w+: i32 = 0i; \w+ < (\d+)i;/g)].map((m) => Number(m[1]))
}

describe('GROUP on a GPU target', () => {
  test("every reduce of a fused softmax row is split across the row's workgroup", () => {
    const x = Tensor.rand([4, 4096], { device: 'JS' }).realize()
    const [k] = kernels(x.softmax(-1))
    const opts = handOpts(k!.ast, wgsl.target)
    // the row max and the row sum both grouped (was: the max a 4096-step loop in every invocation)
    assert.equal(opts.filter((o) => o.op === 'GROUP').length, 2, fmtOpts(opts))
    const src = renderKernel(k!.ast, wgsl, opts).src
    assert.deepEqual(loopTrips(src), [16, 16, 16], src)
    assert.equal(src.match(/workgroupBarrier/g)!.length >= 4, true)
  })

  test('a grouped softmax row computes exp once per element: each invocation reads back its own stores', () => {
    const [k] = kernels(rand([4096, 4096]).softmax(-1))
    const src = renderKernel(k!.ast, wgsl, handOpts(k!.ast, wgsl.target)).src
    const body = src.slice(src.indexOf('fn r_'))
    assert.equal(body.match(/exp\(/g)!.length, 1, body)
    // not where other invocations would read the row: rows too many to group
    const [m] = kernels(rand([8192, 512]).softmax(-1))
    const plain = renderKernel(m!.ast, wgsl, handOpts(m!.ast, wgsl.target)).src
    assert.ok(plain.slice(plain.indexOf('fn r_')).match(/exp\(/g)!.length > 1)
    assert.doesNotMatch(plain, /GROUP|grp_/)
  })

  test('the workgroup is as large as filling the GPU needs: 4096 rows get 16 invocations each, one row 256', () => {
    const groupOf = (t: Tensor) =>
      handOpts(kernels(t)[0]!.ast, wgsl.target)
        .filter((o) => o.op === 'GROUP')
        .map((o) => o.arg)
    assert.deepEqual(groupOf(rand([4096, 4096]).softmax(-1)), [16, 16])
    assert.deepEqual(groupOf(rand([1, 4096]).softmax(-1)), [256, 256])
    assert.deepEqual(groupOf(rand([4096 * 16]).sum()), [256])
  })

  test('a column sum over many columns keeps one invocation per column (neighbours read neighbours)', () => {
    const ops = (t: Tensor) => fmtOpts(handOpts(kernels(t)[0]!.ast, wgsl.target))
    // a bias gradient: 512 outputs, rows far apart (was GROUP(1,128): 6-21 ms against 0.4-2.8 on lavapipe)
    assert.doesNotMatch(ops(rand([512, 512]).sum(0)), /GROUP/)
    // few columns: grouped, or 4 invocations would do all the work
    assert.match(ops(rand([4096, 4]).sum(0)), /GROUP/)
    assert.match(ops(rand([512, 512]).sum(1)), /GROUP/)
  })

  test('two reduces over one workgroup: same size only, no group inside another loop or twice per reduce', () => {
    const x = Tensor.rand([4, 4096], { device: 'JS' }).realize()
    const [k] = kernels(x.softmax(-1))
    const s = new OptState(k!.ast)
    const reduceAxes = s
      .sizes()
      .map((_, i) => i)
      .filter((i) => i >= s.outputAxes)
    s.apply({ op: 'GROUP', axis: reduceAxes[0]!, arg: 256 })
    assert.match(s.check({ op: 'GROUP', axis: reduceAxes[1]!, arg: 128 })!, /workgroup's size/)
    assert.equal(s.check({ op: 'GROUP', axis: reduceAxes[1]!, arg: 256 }), undefined)
    // a full reduce over two axes: one reduce, one group range
    const y = Tensor.rand([64, 4096], { device: 'JS' }).realize()
    const [f] = kernels(y.sum())
    const t = new OptState(f!.ast)
    const n = t.sizes().length
    t.apply({ op: 'GROUP', axis: n - 1, arg: 64 })
    assert.match(t.check({ op: 'GROUP', axis: n - 2, arg: 64 })!, /already split/)
  })
})

describe('buffers per kernel (KernelLimits.maxBuffers)', () => {
  const inputs = (n: number) =>
    Array.from({ length: n }, (_, i) => Tensor.full([8, 16], i, { device: 'JS' }).contiguous().realize())
  const kernelsOf = (t: Tensor, limit: number) =>
    createSchedule([t.uop], undefined, () => ({ maxBuffers: limit })).items.filter(
      (i): i is KernelItem => i.kind === 'kernel',
    )

  test('a fused kernel over more buffers than the limit is split into kernels within it', () => {
    const xs = inputs(12)
    const sum = xs.slice(1).reduce((a, x) => a.add(x.mul(2)), xs[0]!)
    assert.equal(kernelsOf(sum, 100).length, 1)
    for (const limit of [3, 4, 8]) {
      const ks = kernelsOf(sum, limit)
      assert.ok(ks.length > 1, `limit ${limit}`)
      for (const k of ks) assert.ok(k.bufs.length <= limit, `limit ${limit}: a kernel binds ${k.bufs.length}`)
    }
    // with a reduce fused in (row sums of the products of pairs)
    const dots = xs
      .slice(2)
      .reduce((a, x, i) => a.add(x.mul(xs[i]!)), xs[0]!.mul(xs[1]!))
      .sum(-1)
    for (const k of kernelsOf(dots, 4)) assert.ok(k.bufs.length <= 4)
  })

  test('a kernel that cannot be split is an error naming the device and the limit', () => {
    const xs = inputs(3)
    assert.throws(() => kernelsOf(xs[0]!.add(xs[1]!).add(xs[2]!), 2), /device JS allows 2 per kernel/)
  })
})

describe('workgroup-memory tiles (WORKGROUP, STAGE)', () => {
  const matmul = () => kernels(rand([32, 48]).matmul(rand([48, 40])))[0]!
  const tiled: Opt[] = [
    { op: 'UPCAST', axis: 1, arg: 4 },
    { op: 'UPCAST', axis: 0, arg: 4 },
    { op: 'WORKGROUP', axis: 1, arg: 2 },
    { op: 'WORKGROUP', axis: 0, arg: 4 },
    { op: 'STAGE', axis: 2, arg: 8 },
  ]

  test('both matmul operands are copied into workgroup memory per k-step and read there', () => {
    const src = renderKernel(matmul().ast, wgsl, tiled).src
    // A: 4 rows of invocations x 4 upcast rows x 8 deep; B: 8 deep x 2 x 4 columns
    assert.match(src, /var<workgroup> lm0: array<f32, 128>;/)
    assert.match(src, /var<workgroup> lm1: array<f32, 64>;/)
    assert.match(src, /@workgroup_size\(8\)/)
    // a barrier before the copies (the last step's readers) and one after them, inside the k loop
    const loop = src.slice(src.indexOf('for (var'))
    assert.equal(loop.match(/workgroupBarrier\(\)/g)!.length, 2)
    // the inner loop reads only workgroup memory
    const inner = loop.slice(loop.indexOf('for (var', 1))
    assert.doesNotMatch(inner.slice(0, inner.indexOf('}')), /\bb[12]\[/)
  })

  test('STAGE needs a WORKGROUP; a workgroup is not also a GROUP; BEAM offers both on a GPU target', () => {
    const k = matmul()
    const s = new OptState(k.ast)
    assert.match(s.check({ op: 'STAGE', axis: 2, arg: 8 })!, /WORKGROUP first/)
    s.apply({ op: 'WORKGROUP', axis: 0, arg: 4 })
    assert.match(s.check({ op: 'GROUP', axis: 2, arg: 16 })!, /after WORKGROUP/)
    assert.match(s.check({ op: 'STAGE', axis: 2, arg: 5 })!, /not divisible/)
    s.apply({ op: 'STAGE', axis: 2, arg: 8 })
    assert.match(s.check({ op: 'STAGE', axis: 3, arg: 2 })!, /one STAGE/)
    const first = candidateActions(k.ast, [], false, wgsl.target.gpu)
    assert.ok(first.some((o) => o.op === 'WORKGROUP'))
    const next = candidateActions(k.ast, [{ op: 'WORKGROUP', axis: 0, arg: 4 }], false, wgsl.target.gpu)
    assert.ok(next.some((o) => o.op === 'STAGE'))
  })
})
