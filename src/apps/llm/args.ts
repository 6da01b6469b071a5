// Command-line options of `tsgrad llm`, parsed by hand (no dependency). A bad flag is a UsageError
// whose message names the flag and what it accepts; the CLI prints it and exits with code 2.

import { intArg as int, numArg as num, UsageError } from '../cli_args.js'

export { UsageError }

export interface LLMCliOptions {
  model: string
  /** the text to continue (or, with --chat, the user message); undefined = interactive chat */
  prompt: string | undefined
  maxTokens: number | undefined
  temperature: number | undefined
  topK: number | undefined
  topP: number | undefined
  minP: number | undefined
  repeatPenalty: number | undefined
  seed: number | undefined
  maxContext: number | undefined
  dtype: string | undefined
  threads: number | undefined
  /** wrap --prompt as a user message through the chat template */
  chat: boolean
  system: string | undefined
  /** time a prefill of N tokens and N decode steps */
  benchmark: number | undefined
  serve: boolean
  port: number
  host: string
}

export const LLM_USAGE = `usage: tsgrad llm --model FILE [options]

Generate text with a LLaMA / Qwen / Mixtral-style model from a .gguf file or a Hugging Face folder
(config.json + *.safetensors + tokenizer.json + tokenizer_config.json).

  --model PATH          the model (required)
  --prompt TEXT         continue TEXT and print the continuation to stdout (the prompt is not echoed;
                        status goes to stderr). Without --prompt: an interactive chat (Ctrl-C stops
                        the reply, Ctrl-D or /exit quits)
  --chat                send --prompt as a user message through the model's chat template
  --system TEXT         a system message for --chat and the interactive chat
  --max-tokens N        generate at most N tokens (default: until a stop token or the context is full)
  --temperature X       0 = greedy (default 0.8)
  --top-k N             keep the N most likely tokens, 0 = off (default 40)
  --top-p X             keep the smallest set reaching probability X, 1 = off (default 0.95)
  --min-p X             drop tokens below X times the top probability, 0 = off (default 0.05)
  --repeat-penalty X    penalize the last 64 tokens, 1 = off (default 1)
  --seed N              seed of the sampler (default: random)
  --max-context N       the KV cache's length in tokens (default: the model's, as the loader caps it)
  --dtype TYPE          convert the weights at load (e.g. F16, Q8_0; default: the file's types)
  --threads N           CPU threads for the kernels
  --benchmark N         time a prefill of N tokens and N decode steps: ms/token, tokens/s and GB/s
                        of weights read
  --serve               serve an OpenAI-compatible API and a chat page
  --port P              the server's port (default 8080)
  --host H              the server's address (default 127.0.0.1)
  -h, --help            this text`

const DEFAULTS: Omit<LLMCliOptions, 'model'> = {
  prompt: undefined,
  maxTokens: undefined,
  temperature: undefined,
  topK: undefined,
  topP: undefined,
  minP: undefined,
  repeatPenalty: undefined,
  seed: undefined,
  maxContext: undefined,
  dtype: undefined,
  threads: undefined,
  chat: false,
  system: undefined,
  benchmark: undefined,
  serve: false,
  port: 8080,
  host: '127.0.0.1',
}

/** Parse argv (after `llm`); returns 'help' for -h/--help. */
export function parseLLMArgs(argv: readonly string[]): LLMCliOptions | 'help' {
  const o: Omit<LLMCliOptions, 'model'> & { model?: string } = { ...DEFAULTS }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-h' || arg === '--help') return 'help'
    // --name=value or --name value
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const flag = (): true => {
      if (eq > 0) throw new UsageError(`${name} takes no value`)
      return true
    }
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1)
      const v = argv[++i]
      if (v === undefined || (v.startsWith('--') && v.length > 2))
        throw new UsageError(`${name}: missing value`)
      return v
    }
    switch (name) {
      case '--model':
        o.model = value()
        if (o.model === '') throw new UsageError('--model: empty path')
        break
      case '--prompt':
        o.prompt = value()
        break
      case '--chat':
        o.chat = flag()
        break
      case '--system':
        o.system = value()
        break
      case '--max-tokens':
        o.maxTokens = int(name, value(), 0)
        break
      case '--temperature':
        o.temperature = num(name, value(), (x) => x >= 0, 'a number >= 0 (0 = greedy)')
        break
      case '--top-k':
        o.topK = int(name, value(), 0)
        break
      case '--top-p':
        o.topP = num(name, value(), (x) => x > 0 && x <= 1, 'a number in (0, 1]')
        break
      case '--min-p':
        o.minP = num(name, value(), (x) => x >= 0 && x < 1, 'a number in [0, 1)')
        break
      case '--repeat-penalty':
        o.repeatPenalty = num(name, value(), (x) => x > 0, 'a number > 0 (1 = off)')
        break
      case '--seed':
        o.seed = int(name, value(), 0, 2 ** 32 - 1)
        break
      case '--max-context':
        o.maxContext = int(name, value(), 2)
        break
      case '--dtype':
        o.dtype = value()
        if (!/^[A-Za-z0-9_]+$/.test(o.dtype)) throw new UsageError(`--dtype: not a type name: '${o.dtype}'`)
        break
      case '--threads':
        o.threads = int(name, value(), 1, 4096)
        break
      case '--benchmark':
        o.benchmark = int(name, value(), 1)
        break
      case '--serve':
        o.serve = flag()
        break
      case '--port':
        o.port = int(name, value(), 0, 65535)
        break
      case '--host':
        o.host = value()
        if (o.host === '') throw new UsageError('--host: empty address')
        break
      default:
        throw new UsageError(
          arg.startsWith('-')
            ? `unknown option ${name}`
            : `unexpected argument '${arg}' (put the prompt after --prompt)`,
        )
    }
  }
  if (o.model === undefined) throw new UsageError('--model is required')
  const modes = [
    o.prompt !== undefined && '--prompt',
    o.benchmark !== undefined && '--benchmark',
    o.serve && '--serve',
  ]
  const given = modes.filter((m): m is string => m !== false)
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} cannot be used together`)
  if (o.chat && o.prompt === undefined)
    throw new UsageError('--chat needs --prompt (without it the chat is interactive)')
  if (o.system !== undefined && o.prompt !== undefined && !o.chat)
    throw new UsageError('--system needs --chat (a plain --prompt is continued as is)')
  if (
    o.serve === false &&
    (argv.some((a) => a.startsWith('--port')) || argv.some((a) => a.startsWith('--host')))
  )
    throw new UsageError('--port and --host need --serve')
  return { ...o, model: o.model }
}
