// The kernel optimizer: Opt lists are deterministic, validated, keep results unchanged, the
// heuristics pick a register tile for matmul, and BEAM search returns a valid, cached Opt list.
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { applyOpts, fmtOpts, type Opt, OptState } from '../../src/codegen/opts.ts'
import { beamSearch, beamStats, candidateActions } from '../../src/engine/beam.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { dequantize, ggmlTypeByName, quantizeQ4_0 } from '../../src/nn/gguf_quant.ts'
import { Buffer } from '../../src/runtime/buffer.ts'
import { Device } from '../../src/runtime/device.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { allclose, hasCPU } from '../helpers.ts'

/** The single kernel that realizing `t` runs (its inputs realized first). */
function kernelOf(t: Tensor): KernelItem {
  const items = scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  assert.equal(items.length, 1, 'expected one kernel')
  return items[0]!
}

/** The one kernel of `t`'s schedule that reduces. */
function reduceKernelOf(t: Tensor): KernelItem {
  const items = scheduleFor([t.uop]).items.filter(
    (i): i is KernelItem => i.kind === 'kernel' && toposort([i.ast]).some((u) => u.op === Ops.REDUCE),
  )
  assert.equal(items.length, 1, 'expected one reducing kernel')
  return items[0]!
}

/** Run `item` on `device` with `opts`; returns the output values. */
function runWith(item: KernelItem, device: string, opts: readonly Opt[]): number[] {
  const dev = Device.get(device)
  const r = renderKernel(item.ast, dev.renderer, opts)
  const prog = dev.runtime(dev.compiler.compile(r.src, r.name), r.name)
  const bufs = item.bufs.map((b) => (b.existing as Buffer | undefined) ?? new Buffer(device, b.size, b.dtype))
  void prog(bufs.map((b) => b.raw))
  return Array.from(bufs[0]!.copyout() as Float32Array)
}

function cases(device: string): [string, KernelItem][] {
  const r = (shape: number[]) => Tensor.rand(shape, { device }).realize()
  return [
    ['matmul 12x20 @ 20x24', kernelOf(r([12, 20]).matmul(r([20, 24])))],
    ['sum over the contiguous axis', kernelOf(r([8, 32]).sum(1))],
    ['sum over a strided axis', kernelOf(r([16, 24]).sum(0))],
    ['max over the last axis', kernelOf(r([6, 16]).max(1))],
    ['elementwise', kernelOf(r([4, 6, 8]).exp().add(1))],
  ]
}

describe('Opt lists', () => {
  test('the same Opt list gives the same source; a bad Opt is a clear error', () => {
    const [, mm] = cases('JS')[0]!
    const opts: Opt[] = [
      { op: 'UPCAST', axis: 1, arg: 4 },
      { op: 'UNROLL', axis: 2, arg: 5 },
      { op: 'SWAP', axis: 0, arg: 1 },
    ]
    const cpuLike = Device.get('JS').renderer
    assert.equal(renderKernel(mm.ast, cpuLike, opts).src, renderKernel(mm.ast, cpuLike, opts).src)
    assert.notEqual(renderKernel(mm.ast, cpuLike, opts).src, renderKernel(mm.ast, cpuLike, []).src)
    assert.throws(() => applyOpts(mm.ast, [{ op: 'UPCAST', axis: 1, arg: 7 }]), /not divisible by 7/)
    assert.throws(() => applyOpts(mm.ast, [{ op: 'UNROLL', axis: 0, arg: 2 }]), /UNROLL needs a reduce axis/)
    assert.throws(() => applyOpts(mm.ast, [{ op: 'UPCAST', axis: 9, arg: 2 }]), /axis 9 out of range/)
  })

  test('every single Opt and a few chains keep results unchanged (JS device)', () => {
    for (const [name, item] of cases('JS')) {
      const ref = runWith(item, 'JS', [])
      for (const a of candidateActions(item.ast, [], true)) {
        allclose(runWith(item, 'JS', [a]), ref, { label: `${name} ${a.op}(${a.axis},${a.arg})` })
        for (const b of candidateActions(item.ast, [a], true).slice(0, 3)) {
          allclose(runWith(item, 'JS', [a, b]), ref, {
            label: `${name} ${a.op} then ${b.op}(${b.axis},${b.arg})`,
          })
        }
      }
    }
  })

  test('heuristics and their opts keep results unchanged on CPU', { skip: !hasCPU }, () => {
    for (const [name, item] of cases('CPU')) {
      const ref = runWith(item, 'CPU', [])
      const opts = handOpts(item.ast, Device.get('CPU').renderer.target)
      allclose(runWith(item, 'CPU', opts), ref, { label: `${name} heuristics` })
      for (const a of candidateActions(item.ast, [], true).slice(0, 6))
        allclose(runWith(item, 'CPU', [a]), ref, { label: `${name} ${a.op}(${a.axis},${a.arg})` })
    }
  })

  test('a residual add after the matmul keeps the panel order (an LLM down projection was 16x slower)', () => {
    // the epilogue's load varies along both output axes; only the reduce's operands decide whether
    // B is read in panels. Without SWAP every row block streamed all of B from memory (a 96x8192 @
    // 8192x2048 product with a residual: 245 ms against 15 ms for the same bytes without one).
    const a = Tensor.rand([96, 512]).realize()
    const b = Tensor.rand([512, 256]).realize()
    const res = Tensor.rand([96, 256]).realize()
    const target = { threads: true, vectorWidth: 16, registers: 24 }
    const plain = handOpts(reduceKernelOf(a.matmul(b)).ast, target).map((o) => o.op)
    const withResidual = handOpts(reduceKernelOf(a.matmul(b).add(res)).ast, target).map((o) => o.op)
    assert.ok(plain.includes('SWAP'))
    assert.deepEqual(withResidual, plain)
  })

  test('matmul gets a register tile (UPCAST both output axes), panel order and threads on CPU', () => {
    const a = Tensor.rand([256, 256]).realize()
    const item = reduceKernelOf(a.matmul(a)) // after the copy of B to panels
    const target = { threads: true, vectorWidth: 16, registers: 24 }
    const opts = handOpts(item.ast, target)
    assert.deepEqual(
      opts.map((o) => o.op),
      ['UPCAST', 'UPCAST', 'SWAP', 'THREAD'],
    )
    assert.deepEqual(
      opts.filter((o) => o.op === 'UPCAST').map((o) => o.arg),
      [32, 8],
    )
  })
})

describe('unpacking quantized blocks', () => {
  test('Q4_0 weights dequantized into matmul panels: k upcast by a block, values unchanged', () => {
    // per element, the block's scale (two byte loads and a float16 conversion), its index math
    // and the nibble plane select ran once per weight element (~50 ms of CPU per 64 MB panel, now ~30)
    // large enough for the CPU to pack B (2^25 multiply-adds, renderer/c.ts)
    const [M, N, K] = [1024, 128, 256]
    const raw = new Tensor(quantizeQ4_0(Float32Array.from({ length: N * K }, (_, i) => Math.sin(i))), {
      dtype: 'uint8',
    }).realize()
    const w = dequantize(ggmlTypeByName('Q4_0')!, raw, [N, K])
    const x = Tensor.rand([M, K]).realize()
    const items = scheduleFor([x.matmul(w.T).uop]).items.filter(
      (i): i is KernelItem => i.kind === 'kernel' && !toposort([i.ast]).some((u) => u.op === Ops.REDUCE),
    )
    assert.equal(items.length, 1, 'one kernel unpacks the panels')
    const target = { threads: true, vectorWidth: 16, registers: 24 }
    const opts = handOpts(items[0]!.ast, target)
    assert.deepEqual(
      opts.filter((o) => o.op === 'UPCAST').map((o) => o.arg),
      [32],
      fmtOpts(opts),
    )
    // the product (panels unpacked with these opts) against one from the weights dequantized as
    // a plain (N, K) copy, whose blocks run along its innermost axis (no upcast)
    const wf = w.contiguous().dataSync() as Float32Array
    const xs = x.dataSync() as Float32Array
    const ref = new Float32Array(M * N)
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0
        for (let k = 0; k < K; k++) acc += xs[m * K + k]! * wf[n * K + k]!
        ref[m * N + n] = acc
      }
    allclose(x.matmul(w.T).dataSync() as Float32Array, ref, { label: 'x @ w.T' })
  })
})

describe('CHAIN', () => {
  test("a convolution's 3x3 window becomes straight-line steps inside the channel loop", () => {
    const x = Tensor.rand([2, 16, 16, 16]).realize()
    const w = Tensor.rand([32, 16, 3, 3]).realize()
    const item = reduceKernelOf(x.conv2d(w, { padding: 1 }))
    const target = { threads: true, vectorWidth: 16, registers: 24 }
    const opts = handOpts(item.ast, target)
    const chained = opts.filter((o) => o.op === 'CHAIN')
    assert.deepEqual(
      chained.map((o) => o.arg),
      [3, 3],
    )
    // one accumulator per output of the tile, each updated 9 times per channel
    const src = renderKernel(item.ast, Device.get('JS').renderer, opts).src
    const tile = opts.filter((o) => o.op === 'UPCAST').reduce((a, o) => a * o.arg, 1)
    assert.equal((src.match(/let acc\d+ = /g) ?? []).length, tile)
    assert.equal((src.match(/(acc\d+) = Math\.fround\(\1 \+ /g) ?? []).length, tile * 9)
  })

  test('CHAIN keeps results: conv windows, a sum, a max, and CHAIN with UNROLL (JS and CPU)', () => {
    const x = Tensor.rand([2, 8, 8, 8]).realize()
    const w = Tensor.rand([8, 8, 3, 3]).realize()
    const graphs: [string, Tensor][] = [
      ['conv', x.conv2d(w, { padding: 1 })],
      ['sum', x.reshape([16, 64]).sum(1)],
      ['max', x.reshape([16, 64]).max(1)],
    ]
    for (const [name, t] of graphs) {
      const item = reduceKernelOf(t)
      const s = new OptState(item.ast)
      // the longest reduce axis (a conv's channels, 8) whole, halved, and after an UNROLL; a
      // conv's window axes (3) whole, together
      const reduces = s
        .sizes()
        .map((n, i) => [n, i] as const)
        .filter(([, i]) => i >= s.outputAxes)
        .sort((a, b) => b[0] - a[0])
      const [n, axis] = reduces[0]!
      const window: Opt[] = reduces.slice(1).map(([k, a]) => ({ op: 'CHAIN', axis: a, arg: k }))
      const lists: Opt[][] = [
        [{ op: 'CHAIN', axis, arg: n }],
        [{ op: 'CHAIN', axis, arg: n / 2 }],
        [
          { op: 'UNROLL', axis, arg: 2 },
          { op: 'CHAIN', axis, arg: n / 4 },
        ],
        ...(window.length ? [window] : []),
      ]
      for (const device of hasCPU ? ['JS', 'CPU'] : ['JS']) {
        const ref = runWith(item, device, [])
        for (const opts of lists)
          allclose(runWith(item, device, opts), ref, { label: `${name} ${fmtOpts(opts)}` })
      }
    }
  })
})

describe('BEAM search', { skip: !hasCPU }, () => {
  test('returns a valid Opt list, caches it on disk and reuses it', () => {
    const prev = process.env.TSGRAD_CACHE_DIR
    process.env.TSGRAD_CACHE_DIR = mkdtempSync(join(tmpdir(), 'tsgrad-beam-'))
    process.env.BEAM_TIMEOUT = '20'
    try {
      const item = kernelOf(Tensor.rand([32, 64], { device: 'CPU' }).realize().sum(1))
      const before = beamStats.timed
      const opts = beamSearch('CPU', item.ast, 2)
      assert.ok(beamStats.timed > before + 2, 'the search timed several candidates')
      applyOpts(item.ast, opts) // valid
      const ref = runWith(item, 'CPU', [])
      allclose(runWith(item, 'CPU', opts), ref, { label: 'beam winner' })
      assert.equal(readdirSync(join(process.env.TSGRAD_CACHE_DIR, 'beam')).length, 1, 'one cached result')
      const timed = beamStats.timed
      const hits = beamStats.cacheHits
      assert.deepEqual(beamSearch('CPU', item.ast, 2), opts)
      assert.equal(beamStats.timed, timed, 'no candidate timed on the second search')
      assert.equal(beamStats.cacheHits, hits + 1)
    } finally {
      if (prev === undefined) delete process.env.TSGRAD_CACHE_DIR
      else process.env.TSGRAD_CACHE_DIR = prev
      delete process.env.BEAM_TIMEOUT
    }
  })
})
