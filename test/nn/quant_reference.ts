// Shared by the integer matvec / matmul tests (not a test file itself): random Q8_0 / Q4_0 weights
// and the float64 product with the bound the int8 / int16 rounding of x allows.
import assert from 'node:assert/strict'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { nn, Tensor } from '../../src/index.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'

export async function quantWeights(type: 'Q8_0' | 'Q4_0', N: number, K: number) {
  Tensor.manualSeed(11)
  const f = nn.ggufParse(await nn.ggufSerialize({ tensors: { w: Tensor.randn([N, K]).mul(0.1) } }, type))
  return { raw: f.blocks!.w!, w: Array.from(await f.tensors.w!.data()) }
}

/** y = x W^T in float64, and per output the bound on |y_int - y|: the rounding of x plus float32 sums. */
export function quantReference(
  bits: 8 | 16,
  x: number[],
  R: number,
  w: number[],
  N: number,
  K: number,
): { y: number[]; tol: number[] } {
  const y: number[] = []
  const tol: number[] = []
  for (let r = 0; r < R; r++)
    for (let n = 0; n < N; n++) {
      let s = 0
      let round = 0
      let mag = 0
      for (let b = 0; b < K / 32; b++) {
        let amax = 0
        let wsum = 0
        for (let j = 0; j < 32; j++) {
          const k = b * 32 + j
          amax = Math.max(amax, Math.abs(x[r * K + k]!))
          wsum += Math.abs(w[n * K + k]!)
          s += x[r * K + k]! * w[n * K + k]!
          mag += Math.abs(x[r * K + k]! * w[n * K + k]!)
        }
        // |x - q * scale| <= scale / 2 (scale = amax / 127 or / 32767, itself rounded to float32)
        round += (amax / (bits === 8 ? 127 : 32767)) * 0.5 * (1 + 1e-6) * wsum
      }
      y.push(s)
      tol.push(round + 4e-6 * mag)
    }
  return { y, tol }
}

/**
 * The C source of the one kernel `y` schedules into, from its function `fn` on, rendered with the
 * heuristics' opts, which must be none but THREAD (the kernel's form is the renderer's, not a tile).
 */
export function soleKernelBody(y: Tensor, fn: string): string {
  const ks = scheduleFor([y.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  assert.equal(ks.length, 1)
  const r = new CRenderer()
  const opts = handOpts(ks[0]!.ast, r.target)
  assert.deepEqual(
    opts.filter((o) => o.op !== 'THREAD'),
    [],
  )
  const src = renderKernel(ks[0]!.ast, r, opts).src
  return src.slice(src.lastIndexOf(` ${fn}`))
}
