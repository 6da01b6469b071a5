// One side of `bench/llm.ts` in a process of its own: tsgrad (`llm.load` of the built package,
// dist/, as a user runs it) or llama.cpp (node-llama-cpp). Plain JavaScript run by plain `node`,
// so the peak RSS it reports is the side's own, without the TypeScript loader the bench's parent
// runs under (tsx and esbuild: 54 MB of the 1444 MB tsgrad peak measured before).
//   node bench/llm_child.mjs tsgrad|llama.cpp <model.gguf> --threads N [--trace-memory]
// --trace-memory prints the RSS after each stage on stderr (and, for tsgrad, the host allocator's
// mapped and cached bytes): where the peak comes from.
// Prints `RESULT {json}` (bench/llm.ts's SideResult) on stdout, progress on stderr.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The bench model's vocabulary (bench/llm.ts LLAMA_1B_SHAPE.vocab). */
const VOCAB = 128256

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

function argmax(x) {
  let best = 0
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i
  return best
}

/** Random prompt tokens past the specials and byte tokens (a fixed stream: both sides see the same). */
export function promptTokens(n, seed, vocab) {
  let s = seed >>> 0
  const out = []
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out.push(259 + (s % (vocab - 259)))
  }
  return out
}

/**
 * Decode tokens/s at context 128 and 1024 (median per token), prefill of a 512-token prompt and its
 * time to first token (second run: kernels compiled). `side`: prompt(tokens) evaluates a fresh
 * sequence and returns its first greedy token, next(token) one more step.
 */
async function measure(side, vocab, trace = () => {}) {
  const time = async (f) => {
    const t0 = performance.now()
    const r = await f()
    return [performance.now() - t0, r]
  }
  const log = (what, ms) => process.stderr.write(`    ${what}: ${(ms / 1e3).toFixed(2)} s\n`)
  const p512 = promptTokens(512, 1, vocab)
  trace('loaded')
  log('prefill 512, warm-up', (await time(() => side.prompt(p512)))[0])
  trace('prefill 512 (warm-up)')
  const [ttftMs] = await time(() => side.prompt(p512))
  log('prefill 512', ttftMs)
  trace('prefill 512')
  const decodeAt = async (ctx, n) => {
    const [pms, first] = await time(() => side.prompt(promptTokens(ctx, ctx, vocab)))
    log(`prefill ${ctx}`, pms)
    trace(`prefill ${ctx}`)
    let tok = first
    const ts = []
    for (let i = 0; i < n + 2; i++) {
      const [ms, t] = await time(() => side.next(tok))
      tok = t
      if (i >= 2) ts.push(ms)
    }
    log(`decode at ${ctx}, median per token`, median(ts))
    trace(`decode at ${ctx}`)
    return 1000 / median(ts)
  }
  const decode128TokS = await decodeAt(128, 24)
  const decode1024TokS = await decodeAt(1024, 12)
  return { prefillTokS: (512 / ttftMs) * 1000, ttftMs, decode128TokS, decode1024TokS }
}

export async function llamaCppSide(path, threads, prefix) {
  const entry = join(prefix, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')
  const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href)
  const t0 = performance.now()
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    progressLogs: false,
    skipDownload: true,
    maxThreads: threads,
    logLevel: LlamaLogLevel.error,
  })
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
  const context = await model.createContext({ contextSize: 2048, batchSize: 512, threads, sequences: 1 })
  const seq = context.getSequence()
  const loadMs = performance.now() - t0
  let gen
  const side = {
    async prompt(tokens) {
      await gen?.return()
      await seq.clearHistory()
      gen = seq.evaluate(tokens, { temperature: 0 })
      return (await gen.next()).value
    },
    async next() {
      // the generator feeds back the token it yielded last
      return (await gen.next()).value
    },
    async close() {
      await gen?.return()
      await context.dispose()
      await model.dispose()
      await llama.dispose()
    },
  }
  return [side, loadMs]
}

export async function tsgradSide(path, kvDtype) {
  const { llm: lib } = await import('../dist/index.js')
  const t0 = performance.now()
  const llm = await lib.load(path, { maxContext: 2048, ...(kvDtype && { kvDtype }) })
  const loadMs = performance.now() - t0
  let pos = 0
  const side = {
    async prompt(tokens) {
      // in chunks of 512, as llama.cpp's batch; the last chunk's logits are the last token's
      let logits = new Float32Array()
      for (let i = 0; i < tokens.length; i += 512) logits = await llm.runner.step(tokens.slice(i, i + 512), i)
      pos = tokens.length
      return argmax(logits)
    },
    async next(token) {
      return argmax(await llm.runner.step([token], pos++))
    },
    async close() {},
  }
  return [side, loadMs]
}

/**
 * A stage's RSS, peak RSS and (tsgrad) the host allocator's mapped / cached bytes, on stderr. With
 * TRACE_MEMORY_DETAIL=1 also what the RSS is made of: /proc/self/smaps_rollup's anonymous, huge and
 * file pages, V8's heap and external bytes, malloc's heap in use and free (mallinfo2), and the CPU
 * storage pool's bytes.
 */
async function memoryTrace(which) {
  const host =
    which === 'tsgrad' ? (await import('../dist/runtime/host_memory.js')).hostMemory(() => null) : null
  const mb = (b) => (b / 1e6).toFixed(0)
  const detail = process.env.TRACE_MEMORY_DETAIL === '1' ? await memoryDetail(which, mb) : () => ''
  return (stage) => {
    const peak = process.resourceUsage().maxRSS * 1024
    const h = host ? `, host mapped ${mb(host.mapped)} cached ${mb(host.cached)}` : ''
    process.stderr.write(
      `    [memory] ${stage}: RSS ${mb(process.memoryUsage().rss)} MB, peak ${mb(peak)}${h}${detail()}\n`,
    )
  }
}

/** glibc's mallinfo2() through koffi: the malloc heap's size, bytes in use and free */
export function mallinfo2Reader() {
  const koffi = createRequire(import.meta.url)('koffi')
  const fields = [
    'arena',
    'ordblks',
    'smblks',
    'hblks',
    'hblkhd',
    'usmblks',
    'fsmblks',
    'uordblks',
    'fordblks',
    'keepcost',
  ]
  const Info = koffi.struct('mallinfo2_t', Object.fromEntries(fields.map((f) => [f, 'size_t'])))
  return koffi.load('libc.so.6').func('mallinfo2', Info, [])
}

/** /proc/self/smaps_rollup's fields in bytes */
export function smapsBytes() {
  const kb = {}
  for (const line of readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line)
    if (m) kb[m[1]] = Number(m[2]) * 1024
  }
  return kb
}

async function memoryDetail(which, mb) {
  const mallinfo2 = mallinfo2Reader()
  const storage = which === 'tsgrad' ? (await import('../dist/runtime/cpu.js')).cpuStorage : null
  const smaps = smapsBytes
  return () => {
    const s = smaps()
    const m = mallinfo2()
    const u = process.memoryUsage()
    return (
      `\n      smaps anon ${mb(s.Anonymous)} (huge ${mb(s.AnonHugePages)}) file ${mb(s.Rss - s.Anonymous)};` +
      ` V8 heap ${mb(u.heapUsed)}/${mb(u.heapTotal)} external ${mb(u.external)} arrayBuffers ${mb(u.arrayBuffers)};` +
      ` malloc heap ${mb(m.arena)} in use ${mb(m.uordblks)} free ${mb(m.fordblks)} top ${mb(m.keepcost)} mmapped ${mb(m.hblkhd)}` +
      (storage ? `; storage pool ${mb(storage.pooled)}` : '')
    )
  }
}

// run as a script (bench/llm.ts's child); bench/llm_decode.ts imports the sides
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const [which, path] = args
  const threads = Number(args[args.indexOf('--threads') + 1])
  const kvAt = args.indexOf('--kv')
  const [side, loadMs] =
    which === 'tsgrad'
      ? await tsgradSide(path, kvAt >= 0 ? args[kvAt + 1] : undefined)
      : await llamaCppSide(path, threads, process.env.LLAMA_CPP_PREFIX)
  const m = await measure(side, VOCAB, args.includes('--trace-memory') ? await memoryTrace(which) : undefined)
  await side.close()
  // maxRSS is in KiB: MB (1e6 bytes) like the file size it is compared with (MiB read 4.6% low)
  const res = { side: which, loadMs, ...m, peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6 }
  console.log(`RESULT ${JSON.stringify(res)}`)
  process.exit(0)
}
