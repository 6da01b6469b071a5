// `tsgrad llm --serve` end to end: the CLI serves a real tiny model (a committed GGUF fixture of the
// PyTorch-checked Qwen2 family, ChatML template) and the official openai client gets, greedily, the
// same text the library generates in this process.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { llm } from '../../src/index.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const MODEL = join(root, 'test', 'fixtures', 'llm', 'qwen2_f16.gguf')
const messages = [{ role: 'user' as const, content: 'Say something.' }]
let url = ''
let child: ReturnType<typeof spawn> | undefined

before(async () => {
  child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      join(root, 'src', 'cli.ts'),
      'llm',
      '--model',
      MODEL,
      '--serve',
      '--port',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`no URL from the server in 60 s; stderr: ${err}`)),
      60_000,
    )
    child!.stdout!.on('data', (d) => {
      out += d
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    child!.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)))
  })
})

after(async () => {
  if (!child || child.exitCode !== null) return
  const exited = new Promise((r) => child!.once('exit', r))
  child.kill('SIGINT') // closes the server and exits 0
  await exited
})

test('chat completion (greedy) over HTTP equals the library generation', async () => {
  const m = await llm.load(MODEL)
  let expected = ''
  const gen = m.generate(messages, { temperature: 0, maxTokens: 12 })
  let r = await gen.next()
  while (!r.done) {
    expected += r.value
    r = await gen.next()
  }
  const stats = r.value
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none' })
  const res = await client.chat.completions.create({
    model: 'qwen2_f16',
    messages,
    temperature: 0,
    max_tokens: 12,
  })
  assert.equal(res.choices[0]!.message.content, expected)
  assert.equal(res.usage!.prompt_tokens, stats.promptTokens)
  assert.equal(res.usage!.completion_tokens, stats.completionTokens)
  // streamed: the same text in pieces
  const stream = await client.chat.completions.create({
    model: 'qwen2_f16',
    messages,
    temperature: 0,
    max_tokens: 12,
    stream: true,
  })
  let streamed = ''
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? ''
  assert.equal(streamed, expected)
})

test('a prompt longer than the context is a 400 that says so, and the server keeps serving', async () => {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'x', prompt: 'word '.repeat(2000), max_tokens: 4 }),
  })
  assert.equal(res.status, 400)
  const body = (await res.json()) as { error: { message: string } }
  assert.match(body.error.message, /context|tokens/)
  const ok = await fetch(`${url}/v1/models`)
  assert.equal(ok.status, 200)
})
