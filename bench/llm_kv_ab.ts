// The f32 and f16 KV cache of the `npm run bench -- llm` model A/B in one process (a busy machine's
// wall time says little; process CPU time of alternated rounds does):
//   node --expose-gc --import tsx bench/llm_kv_ab.ts [Q4_0|Q8_0|F16] [--rounds 3] [--tokens 512] [--decode 16]
// Loads the model twice (maxContext 2048, as bench/llm.ts), once per cache type, then per round and
// side (order alternated): a prompt of --tokens from position 0, then --decode one-token steps after
// it; prints the median process CPU per prompt and per decode step, and the f16/f32 ratios.
import { benchModel } from './llm.ts'

const argv = process.argv.slice(2)
const num = (name: string, d: number): number => {
  const at = argv.indexOf(name)
  return at >= 0 ? Number(argv[at + 1]) : d
}
const type = (['Q4_0', 'Q8_0', 'F16'] as const).find((t) => argv.includes(t)) ?? 'Q4_0'
const ROUNDS = num('--rounds', 3)
const T = num('--tokens', 512)
const STEPS = num('--decode', 16)
const cpuMs = (): number => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1e3
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const path = await benchModel(type)
const { llm } = await import('../src/index.ts')
const sides = {
  f32: await llm.load(path, { maxContext: 2048, kvDtype: 'f32' }),
  f16: await llm.load(path, { maxContext: 2048, kvDtype: 'f16' }),
}
const prompt = Array.from({ length: T }, (_, i) => 300 + ((i * 7919) % 100000))
const got = {
  f32: { prompt: [] as number[], decode: [] as number[] },
  f16: { prompt: [] as number[], decode: [] as number[] },
}
const gc = (globalThis as { gc?: () => void }).gc
for (let r = -1; r < ROUNDS; r++) {
  // round -1 compiles the kernels
  for (const name of r % 2 === 0 ? (['f16', 'f32'] as const) : (['f32', 'f16'] as const)) {
    const m = sides[name].runner
    gc?.()
    let c0 = cpuMs()
    await m.step(prompt, 0)
    const p = cpuMs() - c0
    c0 = cpuMs()
    for (let i = 0; i < STEPS; i++) await m.step([300 + i], T + i)
    const d = (cpuMs() - c0) / STEPS
    if (r >= 0) {
      got[name].prompt.push(p)
      got[name].decode.push(d)
    }
    console.log(`round ${r} ${name}: prompt ${T} ${p.toFixed(0)} ms CPU, decode ${d.toFixed(1)} ms CPU/step`)
  }
}
for (const name of ['f32', 'f16'] as const)
  console.log(
    `${type} ${name} cache: prompt ${T} ${med(got[name].prompt).toFixed(0)} ms CPU, decode at ${T}..${T + STEPS} ${med(got[name].decode).toFixed(1)} ms CPU/step (medians of ${ROUNDS})`,
  )
console.log(
  `f16 / f32: prompt ${(med(got.f16.prompt) / med(got.f32.prompt)).toFixed(3)}x, decode ${(med(got.f16.decode) / med(got.f32.decode)).toFixed(3)}x`,
)
process.exit(0)
