// Where an LLM's peak memory comes from, layer by layer: runs bench/llm.ts's tsgrad stages (two
// 512-token prompts, 128 + 4 steps, 1024 + 4 steps) on dist/ and samples, after every prompt layer,
// the RSS and what it is made of (smaps, V8, malloc's heap, the host allocator, the CPU storage
// pool). Prints each stage's sample of the highest RSS.
//   OMP_NUM_THREADS=2 node bench/llm_memory_probe.mjs <model.gguf> [--snapshot FILE]
// --snapshot writes a V8 heap snapshot after the last stage (what holds the V8 heap).
import { writeHeapSnapshot } from 'node:v8'
import { mallinfo2Reader, promptTokens, smapsBytes } from './llm_child.mjs'

const [path] = process.argv.slice(2)
const snapAt = process.argv.indexOf('--snapshot')
const { llm: lib } = await import('../dist/index.js')
const { cpuStorage } = await import('../dist/runtime/cpu.js')
const mallinfo2 = mallinfo2Reader()
const mb = (b) => Math.round(b / 1e6)
function sample(where) {
  const kb = smapsBytes()
  const m = mallinfo2()
  const u = process.memoryUsage()
  return {
    where,
    rss: mb(kb.Rss),
    anon: mb(kb.Anonymous),
    huge: mb(kb.AnonHugePages),
    v8: mb(u.heapTotal),
    v8used: mb(u.heapUsed),
    abufs: mb(u.arrayBuffers),
    mallocHeap: mb(m.arena),
    mallocFree: mb(m.fordblks),
    hostMapped: mb(host?.mapped ?? 0),
    hostCached: mb(host?.cached ?? 0),
    pool: mb(cpuStorage.pooled),
  }
}
const fmt = (s) =>
  Object.entries(s)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')

const model = await lib.load(path, { maxContext: 2048 })
// (after the load: the CPU device made it, with its FFI)
const host = (await import('../dist/runtime/host_memory.js')).hostMemory(() => null)
const runner = model.runner
let worst
const proto = Object.getPrototypeOf(runner)
const layer = proto.layer
proto.layer = function (x, i, ...rest) {
  const out = layer.call(this, x, i, ...rest)
  if (x.shape[1] > 1) {
    const s = sample(`layer ${i} T ${x.shape[1]}`)
    if (!worst || s.rss > worst.rss) worst = s
  }
  return out
}
// PROBE_MALLOC=trim,pad: malloc's trim threshold and top pad set after the load, and malloc_trim(0)
if (process.env.PROBE_MALLOC) {
  const libc = koffi.load('libc.so.6')
  const mallopt = libc.func('int mallopt(int, int)')
  const [trim, pad] = process.env.PROBE_MALLOC.split(',').map(Number)
  console.log(
    `mallopt trim ${mallopt(-1, trim)} pad ${mallopt(-2, pad)} malloc_trim ${libc.func('int malloc_trim(size_t)')(0)}`,
  )
}
console.log(fmt(sample('loaded')))
const stage = async (name, f) => {
  worst = undefined
  await f()
  console.log(`${name}: highest after a layer: ${worst ? fmt(worst) : '-'}`)
  console.log(`${name}: after: ${fmt(sample('end'))}`)
}
const prompt = async (tokens) => {
  for (let i = 0; i < tokens.length; i += 512) await runner.step(tokens.slice(i, i + 512), i)
}
const decode = async (from, n) => {
  for (let i = 0; i < n; i++) await runner.step([1000 + i], from + i)
}
await stage('prefill 512 (warm-up)', () => prompt(promptTokens(512, 1, 128256)))
await stage('prefill 512', () => prompt(promptTokens(512, 1, 128256)))
await stage('prefill 128 + 4 steps', async () => {
  await prompt(promptTokens(128, 128, 128256))
  await decode(128, 4)
})
await stage('prefill 1024 + 4 steps', async () => {
  await prompt(promptTokens(1024, 1024, 128256))
  await decode(1024, 4)
})
console.log(`peak RSS ${mb(process.resourceUsage().maxRSS * 1024)} MB`)
if (snapAt > 0) {
  globalThis.gc?.()
  console.log(`snapshot ${writeHeapSnapshot(process.argv[snapAt + 1])}`)
}
process.exit(0)
