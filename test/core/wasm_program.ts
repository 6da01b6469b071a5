// The linear program of the kernel realizing a tensor on WASM, optimized as the device would:
// what the WASM renderer tests render and inspect.
import { decompositions } from '../../src/codegen/decompose.ts'
import { expandRanges } from '../../src/codegen/expand.ts'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { linearize } from '../../src/codegen/linearize.ts'
import { narrowIndexMath } from '../../src/codegen/narrow.ts'
import { applyOpts } from '../../src/codegen/opts.ts'
import { reuseRowValues } from '../../src/codegen/reuse.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import type { Tensor } from '../../src/index.ts'
import type { WasmRenderer } from '../../src/renderer/wasm.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { graphRewrite } from '../../src/uop/rewrite.ts'
import { symbolic } from '../../src/uop/symbolic.ts'

/** The linear program of the (last) kernel realizing `t` on WASM, as codegen/kernel.ts's renderKernel makes it. */
export function wasmProgram(t: Tensor, r: WasmRenderer) {
  const items = scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  const it = items.at(-1)!
  const pm = decompositions(r.supports).concat(symbolic)
  const optimized = reuseRowValues(applyOpts(it.ast, handOpts(it.ast, r.target)))
  return linearize(narrowIndexMath(graphRewrite(expandRanges(optimized), pm)))
}
