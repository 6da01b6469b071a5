// Opt lists for an F16 decode matvec y = x (1, K) @ W^T, W (N, K) float16, timed alternated in one
// process on the CPU device: the heuristics' list first, then each list given as JSON. The weights
// are copies that together exceed any L3 (each call reads the next), so the matvec streams them
// from DRAM as in a model; all threads always (the thread choice is switched off). Also checks
// every list gives the same bits. STATIC_TOO=1: each list also with its thread loops' dynamic
// schedule replaced by a static one (when the renderer emits one). SHOW=1: the sources.
// DTYPE=bfloat16: bfloat16 weights.
//   chrt -f 10 node --import tsx bench/matvec_opts.ts 2048x8192 '[[{"op":"SPLIT","axis":1,"arg":16},{"op":"THREAD","axis":0,"arg":0}]]'
import { Tensor } from '../src/index.ts'
import { scheduleFor } from '../src/engine/realize.ts'
import { handOpts } from '../src/codegen/heuristics.ts'
import { renderKernel } from '../src/codegen/kernel.ts'
import { fmtOpts, type Opt } from '../src/codegen/opts.ts'
import { Device } from '../src/runtime/device.ts'
import { ThreadChoice } from '../src/runtime/thread_choice.ts'
// all threads, always (the thread choice would follow the machine's load)
ThreadChoice.prototype.next = function (this: ThreadChoice) {
  return this.maxThreads
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const [N, K] = (process.argv[2] ?? '2048x8192').split('x').map(Number) as [number, number]
const extra: Opt[][] = JSON.parse(process.argv[3] ?? '[]')
Tensor.manualSeed(0)
const w = Tensor.randn([N, K])
  .mul(0.05)
  .cast((process.env.DTYPE ?? 'float16') as 'float16' | 'bfloat16')
  .realize()
const x = Tensor.randn([1, K]).realize()
const y = x.matmul(w.T)
const it = scheduleFor([y.uop]).items.find((i) => i.kind === 'kernel')!
const dev = Device.get('CPU')
const base = handOpts(it.ast, dev.renderer.target)
const wbits = new Uint16Array(N * K)
for (let i = 0; i < wbits.length; i++) wbits[i] = 0x2000 + (((i * 2654435761) >>> 20) % 0x1000)
const xs = new Float32Array(K).map((_, i) => Math.sin(i))
// copies of the weights that together exceed any L3 (each call reads the next): DRAM-bound as in a model
const copies = Math.max(2, Math.ceil(512e6 / (N * K * 2)))
const ws = Array.from({ length: copies }, (_, c) => (c === 0 ? wbits : wbits.slice()))
const bufs = [new Float32Array(N), wbits, xs]
let next = 0
const cands = [base, ...extra]
const labels: string[] = []
const progs = cands.flatMap((opts) => {
  const r = renderKernel(it.ast, dev.renderer, opts)
  if (process.env.SHOW) console.log(r.src.slice(r.src.indexOf(`void ${r.name}`)))
  labels.push(fmtOpts(opts))
  const out = [dev.runtime(dev.compiler.compile(r.src, r.name), r.name)]
  if (process.env.STATIC_TOO) {
    labels.push(`${fmtOpts(opts)} static`)
    const src = r.src.replace(/schedule\(dynamic, \d+\)/, 'schedule(static)')
    out.push(dev.runtime(dev.compiler.compile(src, r.name), r.name))
  }
  return out
})
const t = progs.map(() => [] as number[])
for (let r = 0; r < 80; r++)
  progs.forEach((p, i) => {
    bufs[1] = ws[next++ % copies]!
    const t0 = performance.now()
    p(bufs as never)
    t[i]!.push(performance.now() - t0)
  })
const outs = progs.map((p) => {
  const o = new Float32Array(N)
  p([o, wbits, xs] as never)
  return o
})
console.log(
  'same bits as the first:',
  outs.map((o) => o.every((v, i) => Object.is(v, outs[0]![i]))).join(' '),
)
labels.forEach((o, i) => {
  const m = med(t[i]!.slice(10))
  console.log(
    `${N}x${K} ${o.padEnd(60)} ${(m * 1e3).toFixed(0)} us ${((N * K * 2) / m / 1e6).toFixed(1)} GB/s`,
  )
})
