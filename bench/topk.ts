// topk and multinomial on one LLaMA-3-sized logit row (1, 128256): eager calls and jitted replays,
// best and median of several runs after a warm-up (the machine is shared and noisy).
//   node --import tsx bench/topk.ts [k...]        (DEVICE=JS for the JS device)
import { Device, jit, Tensor } from '../src/index.ts'

const V = 128256
const ks = process.argv.slice(2).map(Number)
const RUNS = 15

function stats(fn: () => void): string {
  fn()
  fn()
  const ts: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    fn()
    ts.push(performance.now() - t0)
  }
  ts.sort((a, b) => a - b)
  return `best ${ts[0]!.toFixed(2)} ms, median ${ts[RUNS >> 1]!.toFixed(2)} ms`
}

Tensor.manualSeed(0)
const x = Tensor.randn([1, V]).realize()
const probs = x.softmax(-1).realize()
console.log(`device ${Device.DEFAULT}, row (1, ${V})`)
for (const k of ks.length ? ks : [1, 10, 50, 100]) {
  const eager = () => {
    const [v, i] = x.topk(k)
    Tensor.realize(v, i)
  }
  const step = jit((t: Tensor) => t.topk(k))
  const jitted = () => {
    const [v, i] = step(x)
    Tensor.realize(v, i)
  }
  console.log(`topk k=${k}: eager ${stats(eager)}; jit ${stats(jitted)}`)
}
const draw = jit((p: Tensor) => p.multinomial(1, { replacement: true }))
console.log(`multinomial 1 sample with replacement, jit: ${stats(() => draw(probs).realize())}`)
const draw50 = jit((p: Tensor) => p.multinomial(50))
console.log(`multinomial 50 samples without replacement, jit: ${stats(() => draw50(probs).realize())}`)
