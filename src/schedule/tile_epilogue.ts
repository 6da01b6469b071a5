// Products whose epilogue a device's register tile cannot take. On the CPU (C renderer) a
// matmul-like kernel is a register tile that gcc's SLP vectorizer turns into vector code starting
// from the stores of its outputs, back through the epilogue to the accumulators and the reduce
// loop. An epilogue op it cannot vectorize (relu's NaN-keeping max, a select, a compare, exp, erf:
// their branches or calls) stops that walk, and the whole tile, reduce loop included, stays scalar:
// x @ W.T + b then relu, sigmoid or gelu (8x128x256 by 256x1024) took 100-130 ms of CPU against
// 15 ms for the product alone, and 15-25 ms as the product plus a separate elementwise kernel. So
// on such a device (renderer `limits.tileEpilogueOps`) the product is realized first and its
// epilogue runs as its own (vectorized) kernel, one more pass over the output.
import type { TileEpilogueLimit } from '../renderer/target.js'
import { ALU, MOVEMENT, Ops, type UOp } from '../uop/ops.js'

const numel = (u: UOp): number => {
  let n = 1
  for (const d of u.shape ?? []) {
    if (typeof d !== 'number') return Number.POSITIVE_INFINITY
    n *= d
  }
  return n
}

/** Whether `u` (an operand of a product) is read through a broadcast: a view with an EXPAND. */
function broadcastOperand(u: UOp): boolean {
  let v = u
  while (v.op === Ops.CAST) v = v.src[0]!
  for (; MOVEMENT.has(v.op); v = v.src[0]!)
    if (v.op === Ops.EXPAND && numel(v) > numel(v.src[0]!)) return true
  return false
}

/** Whether `r` is a sum of products of two broadcast operands (a matmul-like reduce) of >= minWork. */
function isTiledProduct(r: UOp, minWork: number): boolean {
  if ((r.arg as [string, number[]])[0] !== 'ADD') return false
  let body = r.src[0]!
  if (body.op === Ops.CAST) body = body.src[0]!
  return (
    body.op === Ops.MUL &&
    numel(body) >= minWork &&
    broadcastOperand(body.src[0]!) &&
    broadcastOperand(body.src[1]!)
  )
}

/**
 * The products the kernel of `region` computes (reached from its root through elementwise and
 * movement ops) when its epilogue (the region outside reduces) holds an op outside `limit.ops`:
 * each should be realized first. Any such op counts, also one on a side path (the gelu
 * derivative of a saved pre-activation that multiplies a gradient's product): the vectorizer
 * walks every operand of the stored value. `isBoundary`: the kernel's inputs.
 */
export function tileEpilogueSplits(
  region: UOp,
  isBoundary: (u: UOp) => boolean,
  limit: TileEpilogueLimit,
): UOp[] {
  const products: UOp[] = []
  let broken = false
  const seen = new Set<UOp>()
  const stack = [region]
  while (stack.length) {
    const u = stack.pop()!
    if ((u !== region && isBoundary(u)) || u.op === Ops.CONST || u.op === Ops.BUFFER || seen.has(u)) continue
    seen.add(u)
    if (u.op === Ops.REDUCE_AXIS) {
      if (u !== region && isTiledProduct(u, limit.minWork)) products.push(u)
    } else if (ALU.has(u.op)) {
      broken ||= !limit.ops.has(u.op)
      stack.push(...u.src)
    } else if (MOVEMENT.has(u.op) || u.op === Ops.DETACH) stack.push(u.src[0]!)
  }
  return broken ? products : []
}
