// The per-kernel codegen pipeline: AST -> (opts) -> decompositions -> linearize -> source.
import { DEBUG } from '../helpers.js'
import { Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { fmtSint, kernelVars } from '../uop/sint.js'
import { graphRewrite, type PatternMatcher, toposort } from '../uop/rewrite.js'
import { symbolic } from '../uop/symbolic.js'
import { viz } from '../trace.js'
import type { Renderer } from '../renderer/renderer.js'
import { decompositions } from './decompose.js'
import { expandRanges } from './expand.js'
import { summationShape } from './first_tier.js'
import { linearize } from './linearize.js'
import { narrowIndexMath } from './narrow.js'
import { applyOpts, type Opt } from './opts.js'
import { reuseRowValues } from './reuse.js'

export interface RenderedKernel {
  name: string
  src: string
  /** number of buffer parameters */
  nbufs: number
  /** the variables (DEFINE_VAR) the kernel takes before its buffers, in order (kernelVars) */
  vars: UOp[]
  /** the same program rendered by the `quick` renderer, when one was given (on demand: a kernel
   * already built needs none) */
  quickSrc?: () => string
  /** on a target that keeps large tiles' sums in order: what decides its summation order
   * (codegen/first_tier.ts summationShape) */
  sums?: string
}

const decompCache = new WeakMap<Renderer, PatternMatcher<unknown>>()

/**
 * Kernel name: E_ (elementwise) or r_ (has a reduce), or a custom kernel's own name (the SINK's
 * arg, Tensor.customKernel), then the loop sizes.
 */
export function kernelName(ast: UOp): string {
  const topo = toposort([ast])
  const ranges = topo.filter((u) => u.op === Ops.RANGE)
  ranges.sort((a, b) => (a.arg as RangeArg).id - (b.arg as RangeArg).id)
  const hasReduce = topo.some((u) => u.op === Ops.REDUCE)
  const dims = ranges.map((r) => fmtSint(r.src[0]!).replace(/[^A-Za-z0-9]+/g, ''))
  const prefix = typeof ast.arg === 'string' ? ast.arg : hasReduce ? 'r' : 'E'
  return `${prefix}_${dims.length ? dims.join('_') : '1'}`
}

/**
 * `quick`: a second renderer of the same target (the CPU device's quick compile) renders the same
 * lowered program too, so the two builds of a kernel compute the same thing.
 */
export function renderKernel(
  ast: UOp,
  renderer: Renderer,
  opts: readonly Opt[] = [],
  quick?: Renderer,
): RenderedKernel {
  let pm = decompCache.get(renderer)
  if (!pm) decompCache.set(renderer, (pm = decompositions(renderer.supports).concat(symbolic)))
  const optimized = applyOpts(ast, opts)
  viz?.codegenStep('apply_opts', optimized)
  // (a GPU computes each element in its own invocation: a row stored and read back by others
  // races, so there only a grouped row, each invocation reading back its own elements)
  const reused = reuseRowValues(optimized, renderer.target.gpu !== undefined)
  if (reused !== optimized) viz?.codegenStep('reuse_row_values', reused)
  const expanded = expandRanges(reused)
  viz?.codegenStep('expand', expanded)
  const lowered = graphRewrite(expanded, pm, undefined, `decompose_${renderer.name}`)
  const narrowed = narrowIndexMath(lowered)
  if (narrowed !== lowered) viz?.codegenStep('narrow_index_math', narrowed)
  const prog = linearize(narrowed)
  viz?.linearized(prog.uops)
  const name = kernelName(ast)
  const src = renderer.render(name, prog)
  if (DEBUG() >= 5) for (const u of prog.uops) console.log(`  ${u.toString()}`)
  const nbufs = new Set(prog.uops.filter((u) => u.op === Ops.DEFINE_GLOBAL).map((u) => u.arg)).size
  const out: RenderedKernel = { name, src, nbufs, vars: kernelVars(prog.uops) }
  if (quick) out.quickSrc = () => quick.render(name, prog)
  const ordered = renderer.target.orderedAccs
  if (ordered !== undefined) out.sums = summationShape(prog.uops, ordered)
  return out
}
