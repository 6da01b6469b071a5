// The C renderer's register tiles (matmul-like kernels): their epilogue stores come after all of
// the epilogue's loads (renderer/c.ts storesLast). Interleaved, gcc could not move a residual add's
// loads above the stores of the lanes before them (the buffers lose `restrict` in the OpenMP
// outlined function) and its SLP vectorizer left the whole tile scalar.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { Device } from '../../src/runtime/device.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'

describe('C register tiles', () => {
  test("a product plus a residual stores its outputs after the epilogue's loads", () => {
    const x = Tensor.rand([64, 128]).realize()
    const w = Tensor.rand([128, 64]).realize()
    const res = Tensor.rand([64, 64]).realize()
    const items = scheduleFor([x.matmul(w).add(res).uop]).items.filter(
      (i): i is KernelItem => i.kind === 'kernel',
    )
    assert.equal(items.length, 1)
    const r = Device.get('CPU').renderer
    const src = renderKernel(items[0]!.ast, r, handOpts(items[0]!.ast, r.target)).src
    const body = src.slice(src.lastIndexOf('void r_'))
    assert.ok(body.includes('TG_FMAF'), 'a register tile')
    const firstStore = body.search(/b0\[[^\]]*\] = /)
    const loads = [...body.matchAll(/= b[1-9]\d*\[/g)].map((m) => m.index!)
    assert.ok(firstStore > 0 && loads.length > 0)
    assert.ok(Math.max(...loads) < firstStore, 'a load after the first store')
  })
})
