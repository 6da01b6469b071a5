// Q4_0 decode matvec over int8 x with and without the lanes' offsets (nn/quant_matvec.ts
// `laneOffsets`: the quantizer's -8 x sum(x) per lane instead of the C kernel's second dot
// product per block), alternated in one process: process CPU per call, so run it on one thread
// (OMP_NUM_THREADS=1: the kernel's work whatever the machine's load). Shapes: LLaMA-3.2-1B's
// gate/up (8192 x 2048) and down (2048 x 8192). Each call builds and realizes the matvec (the
// same JS work on both sides). Also checks both give the same bits.
//   OMP_NUM_THREADS=1 node --import tsx bench/quant_lane_offsets.ts [rounds] [calls]
import { nn, Tensor } from '../src/index.ts'
import { ggmlTypeByName } from '../src/nn/gguf_quant.ts'
import { type QuantizedRows, quantizeRows, quantMatvec } from '../src/nn/quant_matvec.ts'

const rounds = Number(process.argv[2] ?? 5)
const calls = Number(process.argv[3] ?? 20)
const type = ggmlTypeByName('Q4_0')!
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

for (const [N, K] of [
  [8192, 2048],
  [2048, 8192],
] as const) {
  Tensor.manualSeed(0)
  const f = nn.ggufParse(await nn.ggufSerialize({ tensors: { w: Tensor.randn([N, K]).mul(0.05) } }, 'Q4_0'))
  const raw = f.blocks!.w!.realize()
  const x = Tensor.randn([1, K]).realize()
  const plain = quantizeRows(x, 'Q4_0', 8)
  const lanes = quantizeRows(x, 'Q4_0', 8, false, true)
  Tensor.realize(plain.q, plain.scale, lanes.q, lanes.scale, lanes.laneOffset!)
  const run = (xq: QuantizedRows): number => {
    const c0 = process.cpuUsage()
    for (let i = 0; i < calls; i++) quantMatvec(xq, raw, type, N).realize().dispose()
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / 1e3 / calls
  }
  const a = await quantMatvec(plain, raw, type, N).data()
  const b = await quantMatvec(lanes, raw, type, N).data()
  const same = a.every((v, i) => Object.is(v, b[i]))
  run(plain)
  run(lanes)
  const tp: number[] = []
  const tl: number[] = []
  for (let r = 0; r < rounds; r++) {
    tp.push(run(plain))
    tl.push(run(lanes))
  }
  const mp = median(tp)
  const ml = median(tl)
  console.log(
    `Q4_0 ${N}x${K}: second dot product ${mp.toFixed(3)} ms CPU/call, lane offsets ${ml.toFixed(3)} ms (${((1 - ml / mp) * 100).toFixed(1)}% less; rounds ${tp.map((t) => t.toFixed(2)).join(' ')} | ${tl.map((t) => t.toFixed(2)).join(' ')}); same bits: ${same}`,
  )
}
