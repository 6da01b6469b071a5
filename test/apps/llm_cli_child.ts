// Runs `tsgrad llm` (runLLMCli) in a child process for test/apps/llm_cli.test.ts with test models in
// place of the file loaders: `--model scripted` continues any prompt with a fixed text,
// `--model endless` writes 'a' until stopped, `--model chat-echo` answers "turn N" (N = the <|im_start|> tokens it has seen), `--model tiny` is
// the random-weight TinyLlama; any other path goes to the real `llm.load`.
import { runLLMCli } from '../../src/apps/llm/cli.ts'
import { createLLM } from '../../src/llm/llm.ts'
import { load } from '../../src/llm/load.ts'
import {
  ByteTokenizer,
  ChatMLTemplate,
  IM_END,
  IM_START,
  ScriptedRunner,
  TINY_CFG,
  tinyParts,
} from '../llm/helpers.ts'

export const SCRIPTED_TEXT = 'Hello, world! ✓ done'

const testLoad: typeof load = async (path, opts = {}) => {
  const tokenizer = new ByteTokenizer()
  const template = new ChatMLTemplate()
  const bytes = (s: string) => [...new TextEncoder().encode(s)]
  if (path === 'scripted') {
    let promptEnd = -1
    const text = bytes(SCRIPTED_TEXT)
    const runner = new ScriptedRunner((pos, held) => {
      if (promptEnd < 0 || pos <= promptEnd) promptEnd = held.length
      const i = pos - promptEnd
      return i < text.length ? text[i]! : tokenizer.eos
    }, opts.maxContext ?? 256)
    return createLLM({ runner, tokenizer, template })
  }
  if (path === 'chat-echo') {
    const runner = new ScriptedRunner((_pos, held) => {
      const last = held.lastIndexOf(IM_START)
      const reply = bytes(`turn ${held.filter((t) => t === IM_START).length}`)
      const done = held.length - (last + 1 + 'assistant\n'.length)
      return done < reply.length ? reply[done]! : IM_END
    }, opts.maxContext ?? 512)
    return createLLM({ runner, tokenizer, template })
  }
  if (path === 'endless')
    return createLLM({ runner: new ScriptedRunner(() => 97, 1 << 20), tokenizer, template })
  if (path === 'tiny')
    return createLLM(tinyParts({ ...TINY_CFG, maxLen: opts.maxContext ?? TINY_CFG.maxLen }))
  return load(path, opts)
}

process.exitCode = await runLLMCli(process.argv.slice(2), {
  load: testLoad,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
})
