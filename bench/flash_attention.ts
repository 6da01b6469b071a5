// Flash attention (custom kernels, O(T) extra memory) against the unfused attention built from
// tensor ops (softmax(q k^T * scale) v, which realizes the T x T scores), forward only, on the plain
// user path: median of single calls (`await out.data()`, outputs not disposed) after warm-up, and
// the peak of device memory in use during one call above what was in use before it.
//   node --import tsx bench/flash_attention.ts [T ...]     (default: 1024 2048 4096; B=1, H=8, D=64)
// CAUSAL=1 masks as PyTorch's is_causal.
import { Tensor } from '../src/index.ts'
import { memory } from '../src/runtime/buffer.ts'
import { flashAttention } from '../src/tensor/flash_attention.ts'

const lengths = process.argv.slice(2).map(Number)
const [B, H, D] = [1, 8, 64]
const causal = process.env.CAUSAL === '1'
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

function unfused(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const T = q.shape[2]!
  let s = q.matmul(k.transpose(-1, -2)).mul(1 / Math.sqrt(D))
  if (causal) s = Tensor.ones([T, T]).tril().eq(1).where(s, Number.NEGATIVE_INFINITY)
  return s.softmax(-1).matmul(v)
}

async function measure(f: () => Tensor, n: number): Promise<{ ms: number; peakMiB: number }> {
  for (let i = 0; i < 2; i++) await f().data()
  const ts: number[] = []
  let peak = 0
  for (let i = 0; i < n; i++) {
    const base = memory.inUse
    memory.peak = base
    const t0 = performance.now()
    await f().data()
    ts.push(performance.now() - t0)
    peak = Math.max(peak, memory.peak - base)
  }
  return { ms: median(ts), peakMiB: peak / 2 ** 20 }
}

for (const T of lengths.length ? lengths : [1024, 2048, 4096]) {
  Tensor.manualSeed(0)
  const [q, k, v] = [0, 1, 2].map(() => Tensor.randn([B, H, T, D]).realize()) as [Tensor, Tensor, Tensor]
  const n = T >= 4096 ? 3 : 5
  const flash = await measure(() => flashAttention(q, k, v, { causal }), n)
  const plain = await measure(() => unfused(q, k, v), n)
  console.log(
    `attention B=${B} H=${H} T=${T} D=${D}${causal ? ' causal' : ''} | flash ${flash.ms.toFixed(1)} ms, peak +${flash.peakMiB.toFixed(1)} MiB | unfused ${plain.ms.toFixed(1)} ms, peak +${plain.peakMiB.toFixed(1)} MiB | flash/unfused time ${(flash.ms / plain.ms).toFixed(2)}`,
  )
}
