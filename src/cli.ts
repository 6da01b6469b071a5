#!/usr/bin/env node
// The `tsgrad` command. `tsgrad viz <dir> [--text] [--port N]`: serve a saved VIZ trace, or print it.
// `tsgrad llm --model FILE ...`: generate text, chat, benchmark or serve (src/apps/llm/cli.ts).
// `tsgrad train-llama ...`: train a small LLaMA and export it (src/apps/train_llama/cli.ts).
import { readTrace } from './viz/io.js'
import { serveTrace } from './viz/server.js'
import { traceText } from './viz/text.js'

const USAGE = `usage: tsgrad viz <trace-dir> [--text] [--port N]
  serve a trace written with VIZ=1 or VIZ=-1 (VIZ_DIR=<trace-dir>) on http://127.0.0.1,
  or print its passes and timeline with --text
usage: tsgrad llm --model FILE [--prompt TEXT] [options]
  generate text with a language model, chat with it, or serve it (tsgrad llm --help)
usage: tsgrad train-llama [--preset tiny|small] [--out DIR] [options]
  train a small LLaMA from scratch and export it for tsgrad llm (tsgrad train-llama --help)`

function fail(msg: string): never {
  console.error(`tsgrad: ${msg}`)
  process.exit(2)
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'llm') {
    // loaded only for this command: the LLM app's modules stay out of `tsgrad viz`
    const { runLLMCli } = await import('./apps/llm/cli.js')
    process.exitCode = await runLLMCli(argv.slice(1))
    return
  }
  if (argv[0] === 'train-llama') {
    const { runTrainLlamaCli } = await import('./apps/train_llama/cli.js')
    process.exitCode = await runTrainLlamaCli(argv.slice(1))
    return
  }
  if (argv[0] !== 'viz' || argv.includes('--help') || argv.includes('-h')) {
    if (argv[0] === 'viz' || argv[0] === '--help' || argv[0] === '-h') {
      console.log(USAGE)
      return
    }
    fail(argv.length ? `unknown command ${argv[0]}\n${USAGE}` : USAGE)
  }
  let dir: string | undefined
  let text = false
  let port = 8000
  let explicitPort = false
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--text') text = true
    else if (a === '--port') {
      const v = argv[++i]
      port = Number(v)
      if (v === undefined || !Number.isInteger(port) || port < 0 || port > 65535)
        fail(`--port needs a port number 0..65535, got ${v ?? 'nothing'}`)
      explicitPort = true
    } else if (a.startsWith('-')) fail(`unknown option ${a}\n${USAGE}`)
    else if (dir === undefined) dir = a
    else fail(`one trace directory expected, got ${dir} and ${a}`)
  }
  if (!dir) fail(`no trace directory given\n${USAGE}`)
  let trace: ReturnType<typeof readTrace>
  try {
    trace = readTrace(dir)
  } catch (e) {
    fail((e as Error).message)
  }
  if (text) {
    console.log(traceText(trace).join('\n'))
    return
  }
  const srv = await serveTrace({ dir, port, retries: explicitPort ? 0 : 10 })
  console.log(`VIZ: serving ${dir} at ${srv.url} (Ctrl-C to stop)`)
}

main(process.argv.slice(2)).catch((e: Error) => fail(e.message))
