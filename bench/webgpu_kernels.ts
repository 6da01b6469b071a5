// Where a WEBGPU schedule spends its time: every kernel of one case timed alone on the GPU
// (`timeKernel`: timestamps where the adapter has them, best of 3, on scratch buffers), with the
// heuristics' opts or, for the kernels whose name starts with OPTS_KERNEL (default r_512), the Opt
// list in OPTS (JSON). On lavapipe the timestamps are wall time of its CPU threads: on a loaded
// machine compare only within one process.
//   node --import tsx bench/webgpu_kernels.ts mlp|softmax|matmul512|matmul1024
//   OPTS='[{"op":"UPCAST","axis":1,"arg":8},...]' node --import tsx bench/webgpu_kernels.ts matmul512
import { handOpts } from '../src/codegen/heuristics.ts'
import { kernelName, renderKernel } from '../src/codegen/kernel.ts'
import { float32Bits, isConstVar } from '../src/codegen/lift_consts.ts'
import { fmtOpts, type Opt } from '../src/codegen/opts.ts'
import { scheduleFor } from '../src/engine/realize.ts'
import { Device, nn, optim, Tensor } from '../src/index.ts'
import { startWebGPU } from '../src/runtime/webgpu.ts'

await startWebGPU()
const device = 'WEBGPU'
const dev = Device.get(device)
const which = process.argv[2] ?? 'mlp'

/** the tensors one call of the case realizes */
function build(): Tensor[] {
  if (which === 'mlp') {
    const prev = Device.DEFAULT
    Device.DEFAULT = device
    const layers = [new nn.Linear(784, 512), new nn.Linear(512, 512), new nn.Linear(512, 10)]
    Device.DEFAULT = prev
    const opt = new optim.SGD(nn.getParameters(layers), { lr: 0.01 })
    const xs = Tensor.rand([512, 784], { device }).realize()
    const ys = new Tensor(
      Int32Array.from({ length: 512 }, (_, i) => i % 10),
      { shape: [512], device },
    ).realize()
    const [l1, l2, l3] = layers as [nn.Linear, nn.Linear, nn.Linear]
    Tensor.training = true
    opt.zeroGrad()
    const loss = l3.call(l2.call(l1.call(xs).relu()).relu()).sparseCategoricalCrossentropy(ys)
    loss.backward()
    const step = opt.scheduleStep()
    Tensor.training = false
    return [loss, ...step]
  }
  if (which === 'softmax') return [Tensor.rand([4096, 4096], { device }).realize().softmax(-1)]
  const n = Number(which.replace('matmul', ''))
  if (!which.startsWith('matmul') || !Number.isInteger(n) || n < 1)
    throw new Error(`case ${which}: expected mlp, softmax or matmulN`)
  return [
    Tensor.rand([n, n], { device })
      .realize()
      .matmul(Tensor.rand([n, n], { device }).realize()),
  ]
}

const forced = process.env.OPTS ? (JSON.parse(process.env.OPTS) as Opt[]) : undefined
const forcedPrefix = process.env.OPTS_KERNEL ?? 'r_512'
let total = 0
for (const it of scheduleFor(build().map((t) => t.uop)).items) {
  if (it.kind !== 'kernel') continue
  const opts =
    forced && kernelName(it.ast).startsWith(forcedPrefix) ? forced : handOpts(it.ast, dev.renderer.target)
  const r = renderKernel(it.ast, dev.renderer, opts)
  // (symbolic sizes at their largest, lifted constants at 1.0, as BEAM times them)
  const vals = r.vars.map((v) => (isConstVar(v) ? float32Bits(1) : v.vmax))
  const bufs = it.bufs.map((b) => dev.allocator.alloc(b.size, b.dtype))
  const artifact = dev.compiler.compile(r.src, r.name)
  const ms = await dev.timeKernel!(artifact, r.name, bufs, vals.length ? vals : undefined, 3)
  total += ms
  console.log(`${r.name.padEnd(24)} ${ms.toFixed(2).padStart(9)} ms  ${fmtOpts(opts)}`)
  for (const b of bufs) dev.allocator.free(b)
}
console.log(`total ${total.toFixed(1)} ms`)
process.exit(0)
