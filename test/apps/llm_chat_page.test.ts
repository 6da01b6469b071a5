// The LLM server's chat page in real headless Chromium (Debian's `chromium` driven by
// playwright-core) against the scripted model double: a typed message streams its reply into the
// page piece by piece, tokens/s shows, the conversation is kept across turns, markup in messages
// stays text, and the stop button aborts the generation. Screenshots go to a temp directory.
import assert from 'node:assert/strict'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { serveLLM } from '../../src/apps/llm/server.ts'
import { ScriptedLLM } from './scripted_llm.ts'
import { chromium } from '../helpers.ts'

const { path: chromiumPath, skip } = chromium()

test('chat page: streams replies, shows tokens/s, keeps the conversation, text stays text, stop aborts', {
  skip,
  timeout: 120_000,
}, async () => {
  assert.ok(chromiumPath, 'chromium not found: install it (apt-get install chromium) or set CHROMIUM_PATH')
  const llm = new ScriptedLLM({ delayMs: 40, maxContext: 4096 })
  const server = await serveLLM(llm, { modelName: 'scripted-page' })
  const shots = mkdtempSync(join(tmpdir(), 'tsgrad-chat-page-'))
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(server.url)
    await page.waitForSelector('body[data-ready="1"]', { timeout: 20_000 })
    await page.waitForFunction(() => document.getElementById('model')?.textContent === 'scripted-page')

    // first turn: the reply appears piece by piece while the state is 'streaming'
    const words = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight']
    await page.fill('#input', words.join(' '))
    await page.press('#input', 'Enter')
    await page.waitForFunction(() => {
      const t = document.querySelector('.msg.assistant .text')?.textContent ?? ''
      return document.body.dataset.state === 'streaming' && t.length > 0 && t.split(' ').length < 8
    })
    assert.equal(await page.isEnabled('#stop'), true, 'stop is enabled while streaming')
    assert.equal(await page.isEnabled('#send'), false)
    await page.waitForSelector('body[data-state="idle"]', { timeout: 20_000 })
    const reply = [...words].reverse().join(' ')
    assert.equal(await page.textContent('.msg.assistant .text'), reply)
    assert.equal(await page.textContent('.msg.user .text'), words.join(' '))
    const stats = (await page.textContent('#stats')) ?? ''
    assert.match(
      stats,
      /^8 tokens · first token \d+ ms · [\d.]+ tokens\/s · prompt \d+ tokens · finish: stop$/,
    )
    const rate = Number(stats.match(/([\d.]+) tokens\/s/)![1])
    // the double sleeps 40 ms a token (25 tokens/s); chunks the browser gets together can raise it
    assert.ok(rate > 0.5 && rate < 1000, `tokens/s ${rate}`)
    await page.screenshot({ path: join(shots, 'chat-reply.png') })

    // second turn: markup is shown as text, and the whole conversation goes to the server
    const markup = '<img src=x onerror="window.__pwned=1"> <b>bold</b>'
    await page.fill('#input', markup)
    await page.click('#send')
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length === 2)
    await page.waitForSelector('body[data-state="idle"]', { timeout: 20_000 })
    assert.equal(await page.locator('#log img, #log b').count(), 0, 'no element made from message text')
    assert.equal(await page.locator('.msg.user .text').nth(1).textContent(), markup)
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined)
    assert.deepEqual(llm.calls[1]!.input, [
      { role: 'user', content: words.join(' ') },
      { role: 'assistant', content: reply },
      { role: 'user', content: markup },
    ])

    // stop: a long reply is cut off, the generation sees the abort, the page is usable again
    const long = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ')
    await page.fill('#input', long)
    await page.press('#input', 'Enter')
    await page.waitForFunction(() => {
      const all = document.querySelectorAll('.msg.assistant .text')
      return all.length === 3 && (all[2]!.textContent ?? '').split(' ').length >= 3
    })
    const aborted = llm.waitForAbort()
    await page.click('#stop')
    await aborted
    await page.waitForSelector('body[data-state="idle"]')
    assert.equal(await page.locator('.msg.assistant').nth(2).locator('.note').textContent(), '(stopped)')
    assert.equal(llm.calls[2]!.stats?.finishReason, 'abort')
    assert.ok(llm.calls[2]!.pieces.length < 200)
    await page.screenshot({ path: join(shots, 'chat-stopped.png') })
    assert.ok(statSync(join(shots, 'chat-stopped.png')).size > 1000)

    // an error from the server shows as an error message (here: the prompt is over the context)
    await page.fill('#input', Array.from({ length: 5000 }, () => 'z').join(' '))
    await page.click('#send')
    await page.waitForSelector('.msg.error')
    assert.match((await page.textContent('.msg.error')) ?? '', /tokens but the model's context holds 4096/)
    await page.waitForSelector('body[data-state="idle"]')
    assert.deepEqual(errors, [], 'no script errors on the page')
  } finally {
    await browser.close()
    await server.close()
  }
})
