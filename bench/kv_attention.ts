// One attention layer over a KV cache at the LLaMA-3.2-1B shape of `npm run bench -- llm` (32 query
// heads, 8 kv heads, head size 64, cache of 2048): a 512-token prefill and jitted one-token decode
// steps at position 512, with an f32 and an f16 cache alternated within the process, in process
// CPU time (a busy machine's wall time says little):
//   node --expose-gc --import tsx bench/kv_attention.ts [--rounds 5] [--prefill 512] [--decode 32]
import { Tensor, Variable } from '../src/index.ts'
import { KVCache } from '../src/nn/kv_cache.ts'
import { jit } from '../src/tensor/jit.ts'

const argv = process.argv.slice(2)
const arg = (name: string, d: number): number => {
  const at = argv.indexOf(name)
  return at >= 0 ? Number(argv[at + 1]) : d
}
const ROUNDS = arg('--rounds', 5)
const T = arg('--prefill', 512)
const STEPS = arg('--decode', 32)
const [H, HKV, D, MAX] = [32, 8, 64, 2048]
const cpuMs = (): number => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1e3
}

interface Side {
  prefill(): void
  decode(): void
}

function side(dtype: 'float32' | 'float16'): Side {
  Tensor.manualSeed(1)
  const cache = new KVCache(1, HKV, MAX, D, { dtype })
  const f32 = (t: Tensor) => (t.dtype.name === 'float32' ? t : t.cast('float32'))
  const q = Tensor.randn([1, H, T, D]).realize()
  const k = Tensor.randn([1, HKV, T, D]).realize()
  const v = Tensor.randn([1, HKV, T, D]).realize()
  const q1 = Tensor.randn([1, H, 1, D]).realize()
  const k1 = Tensor.randn([1, HKV, 1, D]).realize()
  const v1 = Tensor.randn([1, HKV, 1, D]).realize()
  const pos = Variable('start_pos', 0, MAX - 1)
  const step = jit((qq: Tensor, kk: Tensor, vv: Tensor, sp: ReturnType<typeof pos.bind>) => {
    const [keys, values] = cache.update(kk, vv, sp).map(f32) as [Tensor, Tensor]
    return qq.scaledDotProductAttention(keys, values).realize()
  })
  let p = T
  return {
    prefill() {
      const [keys, values] = cache.update(k, v, 0).map(f32) as [Tensor, Tensor]
      q.scaledDotProductAttention(keys, values, { isCausal: true, causalAlign: 'bottomRight' })
        .realize()
        .dispose()
      p = T
    },
    decode() {
      for (let i = 0; i < STEPS; i++) step(q1, k1, v1, pos.bind(p++))
    },
  }
}

const sides = { f32: side('float32'), f16: side('float16') }
const acc: Record<string, { prefill: number[]; decode: number[] }> = {
  f32: { prefill: [], decode: [] },
  f16: { prefill: [], decode: [] },
}
const gc = (globalThis as { gc?: () => void }).gc
for (let r = -1; r < ROUNDS; r++) {
  // round -1 compiles (and warms the jit)
  for (const name of r % 2 ? (['f32', 'f16'] as const) : (['f16', 'f32'] as const)) {
    const s = sides[name]
    gc?.()
    let c0 = cpuMs()
    s.prefill()
    const pre = cpuMs() - c0
    c0 = cpuMs()
    s.decode()
    const dec = (cpuMs() - c0) / STEPS
    if (r >= 0) {
      acc[name]!.prefill.push(pre)
      acc[name]!.decode.push(dec)
    }
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
for (const name of ['f32', 'f16'] as const)
  console.log(
    `${name} cache: prefill ${T} ${med(acc[name]!.prefill).toFixed(1)} ms CPU, decode step at ${T}..${T + STEPS} ${med(acc[name]!.decode).toFixed(3)} ms CPU (medians of ${ROUNDS})`,
  )
console.log(
  `f16 / f32: prefill ${(med(acc.f16!.prefill) / med(acc.f32!.prefill)).toFixed(2)}x, decode ${(med(acc.f16!.decode) / med(acc.f32!.decode)).toFixed(2)}x`,
)
