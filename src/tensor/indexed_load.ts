// The front end's one data-dependent load: a GATHER node (uop/ops.ts), lowered by rangeify into a
// load whose index is the loaded index value. embedding, gather and `get` with tensor indices are
// built on it; its gradient is a scatter-add (uop/graph.ts gatherBackward).
import * as G from '../uop/graph.js'
import { Tensor } from './tensor.js'

/**
 * out[p] = x[p with p[axis] = index[p]], 0 where index[p] is outside 0..n-1 (n = x.shape[axis]).
 * `index` is an integer tensor of x's rank whose shape equals x's except along `axis`; callers
 * validate (this is not public API).
 */
export function indexedLoad(x: Tensor, index: Tensor, axis: number): Tensor {
  return Tensor.fromUOp(G.gatherNode(x.uop, index.uop, axis), x, index)
}
