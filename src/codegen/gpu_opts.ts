// GPU heuristics (targets with `OptTarget.gpu`): which reduces are split across a workgroup.
//
// A GPU runs one invocation per output element (renderer/wgsl.ts). A reduce with few outputs and a
// long axis (a full sum, the rows of a wide softmax) then runs long serial loops on a few
// invocations while the rest of the GPU idles: GROUP splits its longest axis (and the kernel's
// other reduces) across a workgroup just large enough to fill the GPU (GROUP_FILL, a power of two
// dividing the axis, at most the device's maximum size), whose partial values are combined in
// workgroup memory. Kernels with many outputs already fill the GPU and keep the
// CPU-style register tiles (heuristics.ts, without the cache-panel order and threads).
import { Ops, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'
import { isConstVar } from './lift_consts.js'
import { type Opt, OptState, reduceInputRanges } from './opts.js'

import type { GPULimits } from '../renderer/target.js'

export type { GPULimits }

/** Outputs up to this many get a GROUP reduce (more already give every core invocations). */
const GROUP_MAX_OUTPUTS = 4096
/**
 * ...and up to this many when no load is contiguous along the reduce (a column sum: a bias
 * gradient). There neighbouring invocations of a group read one column at rows far apart, while
 * one invocation per output reads neighbouring columns: a 512 x 512 column sum on lavapipe took
 * 6-21 ms grouped, 0.4-2.8 ms not.
 */
const GROUP_MAX_OUTPUTS_STRIDED = 128
/** Reduce axes shorter than this stay serial loops. */
const GROUP_MIN_REDUCE = 256
/** Smallest workgroup worth its barriers. */
const GROUP_MIN = 16
/**
 * Invocations a grouped kernel aims for: the workgroup is the smallest that gives this many with
 * the outputs (at most the device's largest). Larger workgroups add barrier steps, and a software
 * adapter pays per workgroup barrier: a 4096 x 4096 softmax in Chromium (SwiftShader) took 0.98 s
 * with 16 invocations a row, 1.3 s with 32, 1.4 s with 64, 8.9 s with 256.
 */
const GROUP_FILL = 1 << 16

/** Elementwise kernels with at least this many outputs compute a few neighbours per invocation. */
const UPCAST_MIN_OUTPUTS = 1 << 16
/** Outputs per invocation of a large elementwise kernel. */
const ELEMENTWISE_UPCAST = 4

/**
 * UPCAST of the output axis the store is contiguous along, for a large elementwise kernel: an
 * invocation's fixed cost dominates one load-op-store (on lavapipe x * y + 1 over 16M floats
 * took 2.7x less CPU time with 4 per invocation), and neighbouring invocations still touch
 * neighbouring 16-byte blocks.
 */
export function elementwiseUpcast(s: OptState, storeStrides: readonly number[] | undefined): Opt | undefined {
  const sizes = s.sizes()
  if (!storeStrides || sizes.length !== s.outputAxes) return undefined
  if (sizes.reduce((a, b) => a * b, 1) < UPCAST_MIN_OUTPUTS) return undefined
  const axis = storeStrides.findIndex((st, i) => st === 1 && sizes[i]! % ELEMENTWISE_UPCAST === 0)
  if (axis < 0) return undefined
  const o: Opt = { op: 'UPCAST', axis, arg: ELEMENTWISE_UPCAST }
  return s.check(o) === undefined ? o : undefined
}

/**
 * GROUP of the longest reduce axis (then of every other reduce axis the same workgroup can split;
 * `contiguous(axis)`: some load reads neighbouring elements along it),
 * and LOCAL of the innermost output axis the reduces do not
 * depend on (so a fused row reduce runs once per row's workgroup; one LOCAL per kernel); none
 * where it does not pay or cannot apply (that axis not divisible by the group size).
 */
export function groupReduce(
  ast: UOp,
  gpu: GPULimits,
  contiguous: (axis: number) => boolean,
): Opt[] | undefined {
  const g = groupOpt(ast, gpu, contiguous)
  if (!g) return undefined
  const s = new OptState(ast)
  const deps = reduceInputRanges(ast)
  const opts: Opt[] = [g]
  s.apply(g)
  // the kernel's other reduces split across the same workgroup (softmax's row max and its sum):
  // a reduce left serial runs whole in every invocation of the workgroup, k times the work
  for (let a = s.outputAxes; a < s.sizes().length; a++) {
    const o: Opt = { op: 'GROUP', axis: a, arg: g.arg }
    if (s.check(o) !== undefined) continue
    s.apply(o)
    opts.push(o)
  }
  // later axes first: LOCAL removes its axis from the list
  for (let a = s.outputAxes - 1; a >= 0; a--) {
    if (deps.has(s.axes[a]!) || s.sizes()[a]! < 2) continue
    if (s.sizes()[a]! % g.arg !== 0) return undefined
    opts.push({ op: 'LOCAL', axis: a, arg: g.arg })
    break
  }
  return opts
}

function groupOpt(ast: UOp, gpu: GPULimits, contiguous: (axis: number) => boolean): Opt | undefined {
  const topo = toposort([ast])
  // a workgroup barrier needs uniform control flow: loop bounds from a variable are not
  if (topo.some((u) => u.op === Ops.DEFINE_VAR && !isConstVar(u))) return undefined
  const reduces = topo.filter((u) => u.op === Ops.REDUCE)
  if (!reduces.length || reduces.some((r) => r.dtype.isBool || r.dtype.itemsize > 4)) return undefined
  const s = new OptState(ast)
  const sizes = s.sizes()
  const nOut = s.outputAxes
  // the workgroups: the output points the reduces depend on
  const deps = reduceInputRanges(ast)
  const outputs = sizes.slice(0, nOut).reduce((a, n, i) => (deps.has(s.axes[i]!) ? a * n : a), 1)
  if (outputs > GROUP_MAX_OUTPUTS) return undefined
  const bytesPerAcc = 4 * reduces.length
  const want = Math.min(
    gpu.maxWorkgroup,
    Math.max(GROUP_MIN, 2 ** Math.ceil(Math.log2(GROUP_FILL / outputs))),
  )
  let best: Opt | undefined
  for (let a = nOut; a < sizes.length; a++) {
    if (sizes[a]! < GROUP_MIN_REDUCE) continue
    if (!contiguous(a) && outputs > GROUP_MAX_OUTPUTS_STRIDED) continue
    let k = 1
    while (k * 2 <= want && k * 2 * bytesPerAcc <= gpu.localMemory && sizes[a]! % (k * 2) === 0) k *= 2
    if (k < GROUP_MIN) continue
    const o: Opt = { op: 'GROUP', axis: a, arg: k }
    if (s.check(o) === undefined && (!best || sizes[a]! > sizes[best.axis]!)) best = o
  }
  return best
}
