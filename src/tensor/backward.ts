// backward(): the autograd entry point. It differentiates the graph behind a tensor with respect
// to every live parameter (tensor marked `requiresGrad`) it reaches and accumulates the lazy
// gradients into `p.grad`; the gradients of one call form a GradGroup (realized together).
import { computeGradients } from '../gradient.js'
import { fmtShape, shapeEq, TsgradError } from '../helpers.js'
import * as G from '../uop/graph.js'
import { Ops, type UOp } from '../uop/ops.js'
import { substituteAll, toposort } from '../uop/rewrite.js'
import { internally } from './composite.js'
import { GradGroup } from './grad_group.js'
import { markedGradTensors, paramViewOf, Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    backward(gradient?: Tensor): void
  }
}

Tensor.prototype.backward = function (gradient?: Tensor): void {
  if (this.isDisposed) throw this.disposedError('backward')
  if (!gradient && this.numel() !== 1)
    throw new TsgradError(
      `backward: gradient can be implicitly created only for scalar outputs; this tensor has shape ${fmtShape(this.shape)} (pass a gradient)`,
    )
  if (gradient && !shapeEq(gradient.shape, this.shape))
    throw new TsgradError(
      `backward: gradient shape ${fmtShape(gradient.shape)} does not match ${fmtShape(this.shape)}`,
    )
  // use current (possibly realized) nodes so parameters match their handles
  const root = this.uop
  // (every source: the gradient inputs of CUSTOM_GRAD nodes hold parameters too)
  const allSrc = (u: UOp): readonly UOp[] => u.src
  const nodes = new Set(toposort([root], (u) => u.op === Ops.BUFFER, allSrc))
  const params = markedGradTensors().filter((t) => t._requiresGrad)
  // a parameter realized after the graph was built: match its old lazy node through the engine
  const realizedMap = new Map<UOp, UOp>()
  for (const n of nodes) {
    const v = paramViewOf(n)
    if (v) realizedMap.set(n, v)
  }
  const graph = realizedMap.size ? substituteAll(root, realizedMap, allSrc).get(root)! : root
  const targets = new Set(params.map((p) => p.uop))
  const seed = gradient ? gradient.cast(this.dtype).uop : G.constNode(1, this.dtype, this.device, this.shape)
  // (the tensors custom gradients make while the graphs are built are internal)
  const grads = internally(() => computeGradients(graph, seed, targets))
  if (grads.size === 0)
    throw new TsgradError('backward: no tensor in this graph requires a gradient (set requiresGrad: true)')
  const group = new GradGroup()
  for (const p of params) {
    const g = grads.get(p.uop)
    if (!g) continue
    const gt = new Tensor(g)
    gt.builtAt = this.valueAt
    gt.trackLazy()
    const old = Tensor.gradUnread(p)
    const sum = old ? new Tensor(G.aluNode(Ops.ADD, old.uop, g)) : gt
    p.grad = sum
    if (old?.gradGroup) group.absorb(old.gradGroup, old)
    group.add(sum)
  }
}
