// Prefill cost and memory of the `npm run bench -- llm` model in one process, for A/B runs of two
// trees on a busy machine (compare process CPU time, not wall time):
//   node --expose-gc --import tsx bench/llm_prefill.ts [Q4_0|Q8_0|F16] [--tokens 512] [--kv f16]
// Loads the model (maxContext 2048, as bench/llm.ts), runs the same prompt twice and prints per
// prompt the wall and process CPU time, RSS, peak RSS and the host allocator's counters (native
// mappings reused, freshly mapped, and sent to plain ArrayBuffers by its limit); then, after forced
// collections, what is left mapped (the prompt's garbage, if its memory went down).
import { benchModel } from './llm.ts'

const mb = (b: number): string => (b / 1e6).toFixed(0)

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const type = (['Q4_0', 'Q8_0', 'F16'] as const).find((t) => argv.includes(t)) ?? 'Q4_0'
  const at = argv.indexOf('--tokens')
  const T = at >= 0 ? Number(argv[at + 1]) : 512
  const kvAt = argv.indexOf('--kv')
  const kvDtype = kvAt >= 0 ? (argv[kvAt + 1] as 'f32' | 'f16') : undefined
  const path = await benchModel(type)
  const { llm } = await import('../src/index.ts')
  const { hostMemory } = await import('../src/runtime/host_memory.ts')
  const report = (what: string): void => {
    // the CPU device created the process's allocator already; the loader is never called here
    const h = hostMemory(() => {
      throw new Error('no host memory')
    })
    const r = process.memoryUsage()
    const peak = (process.resourceUsage().maxRSS * 1024) / 1e6 // (KiB -> MB)
    const host = h
      ? ` | host mapped ${mb(h.mapped)} MB, cached ${mb(h.cached)} MB, ${JSON.stringify(h.counts)}`
      : ''
    console.log(`${what}: RSS ${mb(r.rss)} MB, peak RSS ${peak.toFixed(0)} MB${host}`)
  }
  const m = await llm.load(path, { maxContext: 2048, ...(kvDtype && { kvDtype }) })
  report(`${type} loaded`)
  const tokens = Array.from({ length: T }, (_, i) => 300 + ((i * 7919) % 100000))
  for (let i = 0; i < 2; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await m.runner.step(tokens, 0)
    const c = process.cpuUsage(c0)
    const cpu = (c.user + c.system) / 1e3
    report(`prefill ${T} #${i + 1}: wall ${(performance.now() - t0).toFixed(0)} ms, CPU ${cpu.toFixed(0)} ms`)
  }
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; gc && i < 3; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
  if (gc) report('after collections')
}

main()
