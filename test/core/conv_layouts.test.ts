// Pass `layouts` for convolutions (schedule/conv_layouts.ts): conv2d builds plain window x weight
// products (tensor/conv.ts), and the copies that lay them out come from the device's LayoutTarget.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { type LayoutTarget, PANELS_32 } from '../../src/renderer/target.ts'
import { Device } from '../../src/runtime/device.ts'
import { applyLayouts } from '../../src/schedule/layouts.ts'
import { scheduleTopo } from '../../src/schedule/schedule.ts'
import { Ops, type UOp } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'

/** The shapes of the copies the pass adds for `roots` on a target, sorted. */
function copies(roots: UOp[], t: LayoutTarget | undefined): string[] {
  const laid = applyLayouts(roots, scheduleTopo(roots), () => t)
  const before = new Set(toposort(roots))
  return toposort([...laid.roots])
    .filter((u) => u.op === Ops.CONTIGUOUS && !before.has(u))
    .map((u) => u.shape!.join('x'))
    .sort()
}

/** The reduces of the laid-out graph of `roots`, as `shape/axes`. */
function reduces(roots: UOp[], t: LayoutTarget): string[] {
  const laid = applyLayouts(roots, scheduleTopo(roots), () => t)
  return toposort([...laid.roots])
    .filter((u) => u.op === Ops.REDUCE_AXIS)
    .map((u) => `${u.src[0]!.shape!.join('x')}/${(u.arg as [string, number[]])[1].join(',')}`)
    .sort()
}

/** The gradients of x and w for a realized output gradient (no forward in their graphs). */
const grads = (x: Tensor, w: Tensor, pads: number): UOp[] => {
  const y = x.conv2d(w, { padding: pads })
  y.mul(Tensor.rand(y.shape).realize()).sum().backward()
  return [x.grad?.uop, w.grad!.uop].filter((u): u is UOp => u !== undefined)
}

describe('pass layouts: convolutions', () => {
  test('conv2d and its gradients are plain graphs: no copies in the front end', () => {
    const x = Tensor.rand([2, 8, 5, 16], { requiresGrad: true }).realize()
    const w = Tensor.rand([4, 8, 3, 3], { requiresGrad: true }).realize()
    const y = x.conv2d(w, { padding: 1 })
    const [dx, dw] = grads(x, w, 1)
    for (const u of toposort([y.uop, dx!, dw!])) assert.notEqual(u.op, Ops.CONTIGUOUS)
  })

  test('direct: the padded input is copied and the product stays NCHW', () => {
    const x = Tensor.rand([2, 8, 5, 16]).realize()
    const w = Tensor.rand([4, 8, 3, 3]).realize()
    assert.deepEqual(copies([x.conv2d(w, { padding: 1 }).uop], PANELS_32), ['2x8x7x18'])
    // unpadded, the input is its own buffer: nothing to copy
    const wide = Tensor.rand([2, 8, 5, 18]).realize()
    assert.deepEqual(copies([wide.conv2d(w).uop], PANELS_32), [])
  })

  test('channels-last: the weight to (KH, KW, C, O) and the output (N, OH, OW, O)', () => {
    const x = Tensor.rand([2, 3, 9, 9]).realize()
    const w = Tensor.rand([4, 3, 3, 3]).realize()
    assert.deepEqual(copies([x.conv2d(w, { padding: 1 }).uop], PANELS_32), ['2x9x9x4', '3x3x3x4'])
  })

  test('under noGrad (a DETACH after every op on a parameter) the layouts are the same', () => {
    // an evaluation's graph: the second conv reads the first's output through DETACHs; its views
    // lost their layouts (MNIST's evaluation compiled 9 kernels of its own instead of 4)
    const x = Tensor.rand([2, 3, 11, 11]).realize()
    const w1 = Tensor.rand([4, 3, 3, 3], { requiresGrad: true }).realize()
    const w2 = Tensor.rand([5, 4, 3, 3], { requiresGrad: true }).realize()
    const y = x.conv2d(w1).relu().conv2d(w2, { padding: 1 })
    const z = Tensor.noGrad(() => x.conv2d(w1).relu().conv2d(w2, { padding: 1 }))
    const want = ['2x9x9x4', '2x9x9x5', '3x3x3x4', '3x3x4x5']
    assert.deepEqual(copies([y.uop], PANELS_32), want)
    assert.ok(toposort([z.uop]).some((u) => u.op === Ops.DETACH))
    assert.deepEqual(copies([z.uop], PANELS_32), want)
  })

  test("the target decides: the width and channel thresholds are the renderer's", () => {
    const x = Tensor.rand([2, 8, 5, 16]).realize()
    const w = Tensor.rand([4, 8, 3, 3]).realize()
    const y = x.conv2d(w, { padding: 1 }).uop
    const channelsLast = ['2x5x16x4', '3x3x8x4']
    assert.deepEqual(copies([y], { ...PANELS_32, convDirectWidth: 0 }), channelsLast)
    assert.deepEqual(copies([y], { ...PANELS_32, convDirectWidth: 16 }), channelsLast)
    assert.deepEqual(copies([y], { ...PANELS_32, convDirectMinChannels: 16 }), channelsLast)
    assert.deepEqual(copies([y], { ...PANELS_32, convDirectWidth: 4 }), ['2x8x7x18'])
    assert.deepEqual(copies([y], undefined), [])
  })

  test('backward: one channels-last padded gradient copy serves dx and dW', () => {
    const x = Tensor.rand([2, 3, 9, 9], { requiresGrad: true }).realize()
    const w = Tensor.rand([4, 3, 3, 3], { requiresGrad: true }).realize()
    // the gradient (2, 4, 9, 9) padded by K-1-p = 1: (2, 11, 11, 4); the flipped weight (3, 3, 4, 3)
    assert.deepEqual(copies(grads(x, w, 1), PANELS_32), ['2x11x11x4', '3x3x4x3'])
    // dx is computed channels-last (N, H, W, C) even where the forward's width would go direct
    const x2 = Tensor.rand([2, 8, 5, 16], { requiresGrad: true }).realize()
    const w2 = Tensor.rand([8, 8, 3, 3], { requiresGrad: true }).realize()
    assert.deepEqual(copies(grads(x2, w2, 1), PANELS_32), ['2x7x18x8', '3x3x8x8'])
  })

  test('the weight gradient is summed over batch groups of the target size', () => {
    const x = Tensor.rand([4, 3, 9, 9]).realize()
    const w = Tensor.rand([4, 3, 3, 3], { requiresGrad: true }).realize()
    const [dw] = grads(x, w, 1)
    // 4 images of 81 positions: one group at 8K positions per group, four at 81
    assert.deepEqual(reduces([dw!], PANELS_32), ['1x4x9x9x3x3x3x4/1,2,3'])
    assert.deepEqual(reduces([dw!], { ...PANELS_32, convGradGroupPositions: 81 }), [
      '4x1x9x9x3x3x3x4/1,2,3',
      '4x3x3x3x4/0',
    ])
  })

  test('every form computes what the loops compute (the JS renderer given each target)', async () => {
    const js = Device.get('JS').renderer as { layout: LayoutTarget }
    const saved = js.layout
    const targets: LayoutTarget[] = [
      PANELS_32,
      { ...PANELS_32, convDirectWidth: 0, convGradGroupPositions: 1 },
      { ...PANELS_32, convDirectWidth: 4, convDirectMinChannels: 1, convGradGroupPositions: 200 },
    ]
    const pads = [1, 0, 2, 1] as const
    try {
      for (const [i, t] of targets.entries()) {
        js.layout = t
        // a different width per target: schedules are cached by graph structure, not by target
        const [N, C, H, W, O, K] = [3, 4, 6, 15 + 8 * i, 5, 3]
        const OH = H + pads[0] + pads[1] - K + 1
        const OW = W + pads[2] + pads[3] - K + 1
        const x = Tensor.randn([N, C, H, W], { device: 'JS', requiresGrad: true }).realize()
        const w = Tensor.randn([O, C, K, K], { device: 'JS', requiresGrad: true }).realize()
        const g = Tensor.randn([N, O, OH, OW], { device: 'JS' }).realize()
        const y = x.conv2d(w, { padding: pads })
        y.mul(g).sum().backward()
        const [xv, wv, gv, yv, dxv, dwv] = await Promise.all(
          [x, w, g, y, x.grad!, w.grad!].map((z) => z.data()),
        )
        const [ey, edx, edw] = [
          new Float64Array(yv.length),
          new Float64Array(dxv.length),
          new Float64Array(dwv.length),
        ]
        for (let n = 0; n < N; n++)
          for (let o = 0; o < O; o++)
            for (let oy = 0; oy < OH; oy++)
              for (let ox = 0; ox < OW; ox++) {
                const yi = ((n * O + o) * OH + oy) * OW + ox
                for (let c = 0; c < C; c++)
                  for (let ky = 0; ky < K; ky++)
                    for (let kx = 0; kx < K; kx++) {
                      const [iy, ix] = [oy + ky - pads[0], ox + kx - pads[2]]
                      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue
                      const [xi, wi] = [((n * C + c) * H + iy) * W + ix, ((o * C + c) * K + ky) * K + kx]
                      ey[yi]! += xv[xi]! * wv[wi]!
                      edx[xi]! += gv[yi]! * wv[wi]!
                      edw[wi]! += gv[yi]! * xv[xi]!
                    }
              }
        for (const [name, got, want] of [
          ['y', yv, ey],
          ['dx', dxv, edx],
          ['dW', dwv, edw],
        ] as const)
          want.forEach((v, j) => {
            assert.ok(
              Math.abs(got[j]! - v) < 1e-3 * (1 + Math.abs(v)),
              `target ${i}: ${name}[${j}] ${got[j]} != ${v}`,
            )
          })
      }
    } finally {
      js.layout = saved
    }
  })
})
