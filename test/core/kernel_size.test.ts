// The kernel-size cap: opts that would expand a kernel into more straight-line code than
// MAX_EXPANDED_NODES are refused (by the heuristics and BEAM alike), so no schedule renders a C
// kernel that takes gcc many seconds. The case that hit it: a conv weight gradient whose 8x32
// register tile times two CHAINed 6-long windows rendered 918 KB of C (10 s of gcc).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { MAX_EXPANDED_NODES, OptState } from '../../src/codegen/opts.ts'
import { candidateActions } from '../../src/engine/beam.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'

/** Rendered C source is at most this (the capped conv gradient below renders ~150 KB). */
const MAX_SOURCE_BYTES = 300_000

/** The kernels realizing the weight gradient of a 3x3 conv (64 -> 64 channels) over 6x6 outputs
 * (the MNIST CNN's conv4 at batch 512: the scheduler splits the batch reduce in two). */
function convWeightGradKernels(batch: number): KernelItem[] {
  const x = Tensor.rand([batch, 64, 8, 8], { device: 'JS' }).realize()
  const w = Tensor.rand([64, 64, 3, 3], { device: 'JS', requiresGrad: true }).realize()
  const g = Tensor.rand([batch, 64, 6, 6], { device: 'JS' }).realize()
  x.conv2d(w).mul(g).sum().backward()
  return scheduleFor([w.grad!.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
}

describe('kernel size cap', () => {
  test('the conv weight gradient that rendered 918 KB of C stays under the cap', () => {
    const c = new CRenderer()
    let largest = 0
    for (const k of convWeightGradKernels(512)) {
      const opts = handOpts(k.ast, c.target)
      const s = new OptState(k.ast)
      for (const o of opts) s.apply(o)
      assert.ok(s.expandedNodes() <= MAX_EXPANDED_NODES, `${s.expandedNodes()} nodes after expansion`)
      const src = renderKernel(k.ast, c, opts).src
      largest = Math.max(largest, src.length)
    }
    assert.ok(largest < MAX_SOURCE_BYTES, `largest kernel source ${largest} bytes`)
    // the tile is still there: the cap drops the expansion that explodes, not the register tile
    assert.ok(largest > 20_000, `largest kernel source ${largest} bytes`)
  })

  test('the attention weight gradient of issue 20 (r_12_1024_32_64_64_64, 921 KB) stays under the cap', () => {
    // a GPT block's q/k/v projection (width 128, 4 heads, 64 tokens, batch 16), its weight
    // gradient scheduled on its own as a per-parameter grad read did before GradGroup
    const [B, T, C, H] = [16, 64, 128, 4]
    Tensor.manualSeed(0)
    const x = Tensor.rand([B, T, C], { device: 'JS' }).realize()
    const w = Tensor.rand([3 * C, C], { device: 'JS', requiresGrad: true }).realize()
    const [q, k, v] = x.matmul(w.T).split(C, 2) as [Tensor, Tensor, Tensor]
    const heads = (z: Tensor) => z.reshape([B, T, H, C / H]).transpose(1, 2)
    heads(q).scaledDotProductAttention(heads(k), heads(v), { isCausal: true }).square().mean().backward()
    const c = new CRenderer()
    const sizes = scheduleFor([w.grad!.uop])
      .items.filter((i): i is KernelItem => i.kind === 'kernel')
      .map((k) => renderKernel(k.ast, c, handOpts(k.ast, c.target)))
    const largest = sizes.reduce((a, r) => (r.src.length > a.src.length ? r : a))
    assert.ok(largest.src.length < MAX_SOURCE_BYTES, `${largest.name}: ${largest.src.length} bytes`)
  })

  test('an opt past the cap is refused with the reason; BEAM does not propose it', () => {
    const x = Tensor.rand([64, 64, 256], { device: 'JS' }).realize()
    const [k] = scheduleFor([x.mul(2).sum(2).uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
    const s = new OptState(k!.ast)
    s.apply({ op: 'UPCAST', axis: 0, arg: 32 })
    s.apply({ op: 'UPCAST', axis: 1, arg: 32 })
    // 1024 accumulators x 16 unrolled steps of the 256-long reduce: far past the cap
    const why = s.check({ op: 'UNROLL', axis: 2, arg: 16 })
    assert.match(why ?? '', /nodes after expansion \(more than 16384/)
    assert.ok(s.expandedNodes(s.axes[2], 16) > MAX_EXPANDED_NODES)
    assert.equal(s.check({ op: 'SPLIT', axis: 2, arg: 16 }), undefined, 'SPLIT makes loops, not copies')
    for (const o of candidateActions(k!.ast, s.applied, true)) {
      const t = new OptState(k!.ast)
      for (const p of [...s.applied, o]) t.apply(p)
      assert.ok(t.expandedNodes() <= MAX_EXPANDED_NODES, `${o.op} ${o.arg}: ${t.expandedNodes()}`)
    }
  })

  test('expandedNodes counts each node once per combination of the expanded ranges it reads', () => {
    const a = Tensor.rand([16, 8], { device: 'JS' }).realize()
    const [k] = scheduleFor([a.add(1).uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
    const s = new OptState(k!.ast)
    const base = s.expandedNodes()
    s.apply({ op: 'UPCAST', axis: 1, arg: 8 })
    // a single-range elementwise kernel: every node but the constants and the outer range is
    // copied 8 times, so the count grows by close to 8x
    const up = s.expandedNodes()
    assert.ok(up > 4 * base && up <= 8 * base, `${base} -> ${up}`)
  })
})
