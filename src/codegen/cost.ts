// Static cost estimate of a kernel (for DEBUG=2 lines: GFLOP/s and GB/s).
import { ALU, Ops, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'

export interface KernelCost {
  flops: number
  /** bytes read and written, each buffer counted once, at most the elements the kernel touches */
  bytes: number
  /** sizes of the output (global) ranges */
  globalSize: number[]
}

export function estimateCost(ast: UOp, bufBytes: readonly number[]): KernelCost {
  const topo = toposort([ast])
  const iters = new Map<UOp, number>()
  const ranges = new Map<UOp, Set<UOp>>()
  let flops = 0
  // elements accessed per buffer (a write into a view of a KV cache touches the view, not the cache)
  const touched = new Map<number, number>()
  for (const u of topo) {
    const rs = new Set<UOp>()
    if (u.op === Ops.RANGE) rs.add(u)
    for (const s of u.src) for (const r of ranges.get(s)!) rs.add(r)
    if (u.op === Ops.REDUCE) for (const r of u.src.slice(1)) rs.delete(r)
    ranges.set(u, rs)
    let n = 1
    for (const r of rs) n *= r.src[0]!.vmax
    iters.set(u, n)
    if (ALU.has(u.op) && !u.dtype.isInt && !u.dtype.isBool) flops += n
    if (u.op === Ops.REDUCE) flops += n * u.src.slice(1).reduce((a, r) => a * r.src[0]!.vmax, 1)
    if ((u.op === Ops.LOAD || u.op === Ops.STORE) && u.src[0]!.op === Ops.DEFINE_GLOBAL) {
      const i = u.src[0]!.arg as number
      touched.set(i, (touched.get(i) ?? 0) + n * u.src[0]!.dtype.itemsize)
    }
  }
  const bytes = bufBytes.reduce((a, b, i) => a + Math.min(b, touched.get(i) ?? b), 0)
  const globalSize = topo
    .filter((u) => u.op === Ops.RANGE && (u.arg as { kind: string }).kind === 'global')
    .map((u) => u.src[0]!.vmax)
  return { flops, bytes, globalSize }
}
