// Kernels within a device's limit on the buffers one kernel binds (WebGPU: 8 to 16 storage buffers
// per shader stage, renderer/target.ts KernelLimits). A fused kernel that reads more buffers than
// that (an optimizer step over many parameters, a long sum of tensors) would be rejected by the
// adapter: the scheduler realizes a part of it first, chosen here, and tries again.
import { ALU, Ops, type UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'

/**
 * The node of a kernel's region to realize so that the kernel binds fewer buffers: among the
 * elementwise and reduce nodes that read at least two buffers and whose own kernel fits (`limit`
 * buffers with its output), the one after which the kernel reads fewest buffers (ties: the larger
 * part, fewer kernels later). Undefined when there is none (the caller reports the kernel).
 * `region`: the kernel's value; `isBoundary`: its inputs (buffers and realized nodes).
 */
export function bufferLimitSplit(
  region: UOp,
  isBoundary: (u: UOp) => boolean,
  limit: number,
): UOp | undefined {
  const stop = (u: UOp): boolean => isBoundary(u) || u.op === Ops.CONST
  const topo = toposort([region], stop)
  // the inputs each node reads (bit sets would be faster; these kernels are rare and small)
  const reads = new Map<UOp, Set<UOp>>()
  for (const u of topo) {
    if (u.op === Ops.CONST) reads.set(u, new Set())
    else if (isBoundary(u)) reads.set(u, new Set([u]))
    else {
      const s = new Set<UOp>()
      for (const x of u.src) for (const b of reads.get(x) ?? []) s.add(b)
      reads.set(u, s)
    }
  }
  // (a cut that leaves as many inputs still makes progress: the next cut inside the smaller region
  // finds buffers the first one read, shared with it, now read only there; the region shrinks each
  // time, and kernels of one op, 2 or 3 inputs, always fit)
  let best: UOp | undefined
  let bestLeft = Number.POSITIVE_INFINITY
  let bestSize = 0
  for (const u of topo) {
    if (u === region || !(ALU.has(u.op) || u.op === Ops.REDUCE_AXIS) || !u.shape) continue
    const size = reads.get(u)!.size
    if (size < 2 || size + 1 > limit) continue
    // the kernel's inputs with u realized: u, and what the rest of the region still reads
    const left = inputsWith(region, u, stop).size
    if (left < bestLeft || (left === bestLeft && size > bestSize)) {
      best = u
      bestLeft = left
      bestSize = size
    }
  }
  return best
}

function inputsWith(region: UOp, cut: UOp, stop: (u: UOp) => boolean): Set<UOp> {
  const out = new Set<UOp>()
  for (const u of toposort([region], (x) => x === cut || stop(x)))
    if (u === cut || (stop(u) && u.op !== Ops.CONST)) out.add(u)
  return out
}
