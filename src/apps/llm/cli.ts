// `tsgrad llm`: continue a prompt (stdout gets only the generated text; status goes to stderr so the
// output can be piped), chat interactively, benchmark prefill and decode, or serve the model.
import { basename } from 'node:path'
import * as readline from 'node:readline'
import type { Readable, Writable } from 'node:stream'
// the package index registers the devices (the app is a user of the library, like the MNIST one)
import { llm } from '../../index.js'
import { LLM_USAGE, type LLMCliOptions, parseLLMArgs, UsageError } from './args.js'

type ChatMessage = llm.ChatMessage
type GenerateOptions = llm.GenerateOptions
type GenerationStats = llm.GenerationStats
type LLM = llm.LLM

/** What the CLI talks to: the model loader and the standard streams (tests pass their own). */
export interface LLMCliIO {
  load: typeof llm.load
  stdin: Readable
  stdout: Writable
  stderr: Writable
}

const defaultIO = (): LLMCliIO => ({
  load: llm.load,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
})

function samplingOf(o: LLMCliOptions): GenerateOptions {
  const g: GenerateOptions = {}
  if (o.maxTokens !== undefined) g.maxTokens = o.maxTokens
  if (o.temperature !== undefined) g.temperature = o.temperature
  if (o.topK !== undefined) g.topK = o.topK
  if (o.topP !== undefined) g.topP = o.topP
  if (o.minP !== undefined) g.minP = o.minP
  if (o.repeatPenalty !== undefined) g.repetitionPenalty = o.repeatPenalty
  if (o.seed !== undefined) g.seed = o.seed
  return g
}

const fmt = (x: number, digits = 2): string => x.toFixed(digits)

function statsLine(s: GenerationStats): string {
  const rate = s.completionTokens > 1 ? ((s.completionTokens - 1) / s.decodeMs) * 1000 : 0
  return (
    `[${s.promptTokens} prompt tokens, ${s.completionTokens} generated (${s.finishReason}); ` +
    `first token ${fmt(s.prefillMs, 0)} ms, decode ${fmt(rate, 1)} tokens/s]`
  )
}

/** Write the pieces of a generation to `out` as they come; returns the text and the stats. */
async function stream(
  gen: AsyncGenerator<string, GenerationStats>,
  out: Writable,
): Promise<{ text: string; stats: GenerationStats }> {
  let text = ''
  for (;;) {
    const r = await gen.next()
    if (r.done) return { text, stats: r.value }
    text += r.value
    out.write(r.value)
  }
}

/**
 * `--benchmark N`: a prefill of N tokens, then N decode steps after it, each timed after a warm-up
 * run of the same shapes (the first runs compile kernels). Weights are read once per step: decode
 * GB/s is weightBytes x tokens/s; prefill GB/s is weightBytes over the prefill's time.
 */
async function benchmark(m: LLM, n: number, io: LLMCliIO): Promise<number> {
  const runner = m.runner
  if (2 * n > runner.maxContext) {
    io.stderr.write(
      `tsgrad llm: --benchmark ${n} needs a context of ${2 * n} tokens, the model has ${runner.maxContext} (see --max-context)\n`,
    )
    return 2
  }
  const V = m.config.vocabSize
  const ids = Array.from({ length: n }, (_, i) => (i * 7919 + 13) % V)
  io.stderr.write('warming up (compiling kernels)...\n')
  await runner.step(ids, 0)
  for (let i = 0; i < Math.min(3, n); i++) await runner.step([ids[i]!], n + i)
  let t = performance.now()
  await runner.step(ids, 0)
  const prefillMs = performance.now() - t
  t = performance.now()
  for (let i = 0; i < n; i++) await runner.step([ids[i]!], n + i)
  const decodeMs = performance.now() - t
  const gb = runner.weightBytes / 1e9
  const line = (what: string, ms: number, perStepGB: number) =>
    `${what.padEnd(8)} ${String(n).padStart(5)} tokens  ${fmt(ms / n, 3).padStart(9)} ms/token  ` +
    `${fmt((n / ms) * 1000, 1).padStart(9)} tokens/s  ${fmt(perStepGB / (ms / 1000), 3).padStart(8)} GB/s`
  io.stdout.write(`model weights read per step: ${fmt(gb * 1000, 1)} MB\n`)
  io.stdout.write(`${line('prefill', prefillMs, gb)}\n`)
  io.stdout.write(`${line('decode', decodeMs, gb * n)}\n`)
  return 0
}

/** The interactive chat: one reply per line of input, the conversation kept as history. */
async function interactive(m: LLM, o: LLMCliOptions, io: LLMCliIO): Promise<number> {
  const tty = (io.stdin as { isTTY?: boolean }).isTTY === true
  const rl = readline.createInterface({ input: io.stdin, output: io.stderr, terminal: tty })
  const history: ChatMessage[] = o.system !== undefined ? [{ role: 'system', content: o.system }] : []
  if (!m.template)
    io.stderr.write('(this model has no chat template: each line is continued as plain text)\n')
  io.stderr.write('chat: Ctrl-C stops a reply, Ctrl-D or /exit quits\n')
  let current: AbortController | undefined
  // Ctrl-C stops the reply at its next token; a second one while it is still running (a long
  // prefill) or one at the prompt quits
  const onInterrupt = () => {
    if (current && !current.signal.aborted) current.abort()
    else if (current) process.exit(130)
    else rl.close()
  }
  rl.on('SIGINT', onInterrupt)
  process.on('SIGINT', onInterrupt)
  const lines = rl[Symbol.asyncIterator]()
  try {
    for (;;) {
      rl.setPrompt('> ')
      rl.prompt()
      const next = await lines.next()
      if (next.done) break
      const line = next.value.trim()
      if (line === '/exit' || line === '/quit') break
      if (line === '') continue
      current = new AbortController()
      const opts = { ...samplingOf(o), signal: current.signal }
      let input: string | ChatMessage[]
      if (m.template) {
        history.push({ role: 'user', content: line })
        input = history
      } else input = line
      try {
        const { text, stats } = await stream(m.generate(input, opts), io.stdout)
        io.stdout.write('\n')
        if (m.template) history.push({ role: 'assistant', content: text })
        io.stderr.write(`${statsLine(stats)}\n`)
      } catch (e) {
        if (m.template) history.pop()
        io.stderr.write(`tsgrad llm: ${(e as Error).message}\n`)
      } finally {
        current = undefined
      }
    }
  } finally {
    process.off('SIGINT', onInterrupt)
    rl.close()
  }
  io.stderr.write('\n')
  return 0
}

/** `--serve`: the OpenAI-compatible server until Ctrl-C (or SIGTERM) closes it. */
async function serve(m: LLM, o: LLMCliOptions, io: LLMCliIO): Promise<number> {
  const { serveLLM } = await import('./server.js')
  const opts = {
    host: o.host,
    port: o.port,
    modelName: basename(o.model).replace(/\.gguf$/i, ''),
    log: (line: string) => io.stderr.write(`${line}\n`),
  }
  const srv = await serveLLM(m, opts)
  const base = srv.url.replace(/\/$/, '')
  io.stderr.write(`serving ${opts.modelName}: chat page ${base}/, OpenAI API ${base}/v1 (Ctrl-C to stop)\n`)
  // the URL also goes to stdout alone on its line, for scripts that start a server on port 0
  io.stdout.write(`${base}\n`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await srv.close()
  return 0
}

/** Run `tsgrad llm` with argv (after `llm`); resolves to the exit code. */
export async function runLLMCli(argv: readonly string[], io: LLMCliIO = defaultIO()): Promise<number> {
  let o: LLMCliOptions | 'help'
  try {
    o = parseLLMArgs(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    io.stderr.write(`tsgrad llm: ${e.message}\nrun 'tsgrad llm --help' for the options\n`)
    return 2
  }
  if (o === 'help') {
    io.stdout.write(`${LLM_USAGE}\n`)
    return 0
  }
  let m: LLM
  try {
    const t = performance.now()
    io.stderr.write(`loading ${o.model}...\n`)
    const opts: { maxContext?: number; dtype?: string; threads?: number } = {}
    if (o.maxContext !== undefined) opts.maxContext = o.maxContext
    if (o.dtype !== undefined) opts.dtype = o.dtype
    if (o.threads !== undefined) opts.threads = o.threads
    m = await io.load(o.model, opts)
    const c = m.config
    io.stderr.write(
      `loaded ${c.arch} (${c.layers} layers, dim ${c.dim}, vocabulary ${c.vocabSize}, context ${m.runner.maxContext}) in ${fmt((performance.now() - t) / 1000, 1)} s\n`,
    )
  } catch (e) {
    io.stderr.write(`tsgrad llm: ${(e as Error).message}\n`)
    return 1
  }
  try {
    if (o.benchmark !== undefined) return await benchmark(m, o.benchmark, io)
    if (o.serve) return await serve(m, o, io)
    if (o.prompt === undefined) return await interactive(m, o, io)
    let input: string | ChatMessage[] = o.prompt
    if (o.chat) {
      input = o.system !== undefined ? [{ role: 'system', content: o.system }] : []
      input.push({ role: 'user', content: o.prompt })
    }
    const ac = new AbortController()
    const stop = () => (ac.signal.aborted ? process.exit(130) : ac.abort())
    process.on('SIGINT', stop)
    try {
      const { stats } = await stream(m.generate(input, { ...samplingOf(o), signal: ac.signal }), io.stdout)
      if ((io.stdout as { isTTY?: boolean }).isTTY) io.stdout.write('\n')
      io.stderr.write(`\n${statsLine(stats)}\n`)
    } finally {
      process.off('SIGINT', stop)
    }
    return 0
  } catch (e) {
    io.stderr.write(`tsgrad llm: ${(e as Error).message}\n`)
    return 1
  }
}
