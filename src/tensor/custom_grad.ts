// Custom gradients on tensors: the result carries its backward function in the graph (a
// CUSTOM_GRAD node, gradient.ts), so no table keyed by node is needed.
import { customGradNode } from '../gradient.js'
import { Tensor } from './tensor.js'

/** Gradients of `inputs` from the gradient `g` of `out` (undefined: no gradient for that input). */
export type TensorBackward = (g: Tensor, inputs: readonly Tensor[], out: Tensor) => (Tensor | undefined)[]

/**
 * `out` (computed from `inputs`) whose gradient is `backward` instead of the rules of the ops it is
 * built from. Where no gradient can flow (no input requires one, or inside `Tensor.noGrad`), `out`
 * itself: graphs that only compute values carry no backward functions.
 */
export function withCustomGrad(out: Tensor, inputs: readonly Tensor[], backward: TensorBackward): Tensor {
  if (!out.requiresGrad || !inputs.some((x) => x.requiresGrad)) return out
  const node = customGradNode(
    out.uop,
    inputs.map((x) => x.uop),
    (g, ins, o) =>
      backward(
        new Tensor(g),
        ins.map((i) => new Tensor(i)),
        new Tensor(o),
      ).map((t) => t?.uop),
  )
  return Tensor.fromUOp(node, out, ...inputs)
}
