// Activation checkpointing (torch.utils.checkpoint): the block's output carries a CUSTOM_GRAD whose
// backward runs the block again, so the gradient graph does not read the forward's intermediates.
//
// In a lazy graph a recomputation built from the same input nodes would be the SAME nodes as the
// forward (UOps are shared), and the scheduler would keep those intermediates alive for backward
// anyway. The backward therefore recomputes from copies of the inputs (`clone()`: CONTIGUOUS nodes
// with their own tags), which makes every recomputed node new: the forward's intermediates die in
// the forward, the recomputed ones are made where backward needs them. Parameters the block reads
// (found in its graph, as backward() finds them) are inputs of the CUSTOM_GRAD too, so their
// gradients flow through the recomputation.
import { computeGradients } from '../gradient.js'
import { TsgradError } from '../helpers.js'
import { rng } from './create.js'
import { withCustomGrad } from './custom_grad.js'
import { Ops } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'
import { markedGradTensors, Tensor } from './tensor.js'

/**
 * The tensors that require gradients (set with `requiresGrad`: parameters) whose current node is
 * in the graph of `t` above the nodes of `stopAt`, in the order they were marked: the targets
 * `backward()` would find there (passed to the CUSTOM_GRAD node).
 */
function gradLeavesOf(t: Tensor, stopAt: readonly Tensor[]): Tensor[] {
  const stop = new Set(stopAt.map((x) => x.uop))
  const nodes = new Set(
    toposort(
      [t.uop],
      (u) => u.op === Ops.BUFFER || stop.has(u),
      (u) => u.src,
    ),
  )
  return markedGradTensors().filter((p) => p.requiresGrad && !p.isDisposed && nodes.has(p.uop))
}

/**
 * `fn(...inputs)` whose intermediates are not kept for backward: the backward pass runs `fn`
 * again (on copies of the inputs) and differentiates that. Gradients reach the inputs and every
 * parameter `fn` reads. Random ops inside `fn` draw the same numbers when recomputed, under the
 * same `Tensor.training`. Where no gradient is needed (`Tensor.noGrad`, nothing requires one) it
 * is `fn(...inputs)`.
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  if (typeof fn !== 'function')
    throw new TsgradError(`checkpoint: expected a function as the first argument, got ${typeof fn}`)
  inputs.forEach((x, i) => {
    if (!(x instanceof Tensor))
      throw new TsgradError(`checkpoint: input ${i} must be a Tensor, got ${x === null ? 'null' : typeof x}`)
  })
  const training = Tensor.training
  const counter = rng.counter
  const out = fn(...inputs)
  if (!(out instanceof Tensor))
    throw new TsgradError(
      `checkpoint: the function must return a Tensor, got ${out === null ? 'null' : typeof out}`,
    )
  if (!out.requiresGrad) return out
  // the parameters read by the block itself (not those inside its inputs' graphs: theirs flow
  // through the inputs' gradients)
  const params = gradLeavesOf(out, inputs).filter((p) => !inputs.includes(p))
  const n = inputs.length
  return withCustomGrad(out, [...inputs, ...params], (g, ins) => {
    // detached copies: new nodes (see above), and the gradient stops at them
    const xs = ins.slice(0, n).map((x) => x.detach().clone())
    const saved = { training: Tensor.training, counter: rng.counter }
    Tensor.training = training
    rng.counter = counter
    let y: Tensor
    try {
      y = fn(...xs)
    } finally {
      Tensor.training = saved.training
      rng.counter = saved.counter
    }
    const targets = [...xs.map((x) => x.uop), ...params.map((p) => p.uop)]
    const grads = computeGradients(y.uop, g.uop, new Set(targets))
    return targets.map((u) => {
      const gu = grads.get(u)
      return gu ? new Tensor(gu) : undefined
    })
  })
}
