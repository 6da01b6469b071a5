// Chat templates against fixtures rendered by the models' own Jinja templates
// (scripts/gen_chat_template_fixtures.py -> test/fixtures/chat_templates.json).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TsgradError } from '../../src/index.ts'
import {
  chatTemplateByName,
  chatTemplateFromGGUF,
  chatTemplateFromHF,
  chatTemplateFromText,
  llama3Template,
} from '../../src/llm/chat_template.ts'
import type { ChatMessage, ChatTemplate } from '../../src/llm/types.ts'
import { type ChatFixtureCase, chatFixtures, lenmlFiles } from './tokenizer_corpus.ts'

function check(t: ChatTemplate, c: ChatFixtureCase): void {
  const what = `${c.family} '${c.name}' addGenerationPrompt=${c.addGenerationPrompt}`
  if (c.text === null) {
    assert.throws(
      () => t.apply(c.messages, { addGenerationPrompt: c.addGenerationPrompt }),
      TsgradError,
      what,
    )
    return
  }
  assert.equal(t.apply(c.messages, { addGenerationPrompt: c.addGenerationPrompt }), c.text, what)
}

test('chat templates: recognised from the templates and render exactly what Jinja renders', () => {
  const byFamily = {
    llama3: chatTemplateFromHF(lenmlFiles('llama3').config),
    chatml: chatTemplateFromHF(lenmlFiles('qwen3').config),
    llama2: chatTemplateFromText(chatFixtures.templates.llama2),
    // the fixture's strftime_now is 2026-03-05
    llama32: llama3Template({ today: () => new Date(2026, 2, 5, 12) }),
  }
  assert.equal(byFamily.llama3?.name, 'llama3')
  assert.equal(byFamily.chatml?.name, 'chatml')
  assert.equal(byFamily.llama2?.name, 'llama2')
  for (const c of chatFixtures.cases) check(byFamily[c.family] as ChatTemplate, c)
  assert.ok(chatFixtures.cases.length >= 40)
})

test('chat templates by name: plain ChatML equals Qwen3 unless an assistant turn follows the last user turn', () => {
  for (const c of chatFixtures.cases) {
    const last = c.messages[c.messages.length - 1]
    if (c.family === 'llama32' || (c.family === 'chatml' && last.role === 'assistant')) continue
    check(chatTemplateByName(c.family), c)
  }
  assert.throws(() => chatTemplateByName('vicuna'), /unknown template 'vicuna'/)
})

test('chat templates from GGUF metadata: by the template text, else by the vocabulary', () => {
  assert.equal(
    chatTemplateFromGGUF({ 'tokenizer.chat_template': chatFixtures.templates.llama3 })?.name,
    'llama3',
  )
  assert.equal(
    chatTemplateFromGGUF({ 'tokenizer.chat_template': chatFixtures.templates.chatml })?.name,
    'chatml',
  )
  assert.equal(
    chatTemplateFromGGUF({ 'tokenizer.chat_template': chatFixtures.templates.llama2 })?.name,
    'llama2',
  )
  assert.equal(chatTemplateFromGGUF({ 'tokenizer.chat_template': '{{ messages }}' }), undefined)
  // LLaMA-3.2: today's date; LLaMA-3.1 (no strftime_now): the template's fixed date
  const l32 = chatTemplateFromGGUF({
    'tokenizer.chat_template': chatFixtures.templates.llama32,
  }) as ChatTemplate
  const d = new Date()
  const today = `${String(d.getDate()).padStart(2, '0')} ${d.toLocaleString('en-US', { month: 'short' })} ${d.getFullYear()}`
  assert.ok(l32.apply([{ role: 'user', content: 'x' }]).includes(`Today Date: ${today}\n\n`))
  const l31 = chatTemplateFromText(
    chatFixtures.templates.llama32.replace(
      /\{%- if strftime_now is defined %\}[\s\S]*?\{%- else %\}/,
      '{%- if true %}',
    ),
  ) as ChatTemplate
  assert.ok(l31.apply([{ role: 'user', content: 'x' }]).includes('Today Date: 26 Jul 2024\n\n'))
  assert.equal(
    chatTemplateFromGGUF({ 'tokenizer.ggml.tokens': ['a', '<|start_header_id|>', '<|eot_id|>'] })?.name,
    'llama3',
  )
  assert.equal(
    chatTemplateFromGGUF({ 'tokenizer.ggml.tokens': ['<|im_start|>', '<|im_end|>'] })?.name,
    'chatml',
  )
  assert.equal(chatTemplateFromGGUF({ 'tokenizer.ggml.tokens': ['<s>', '</s>'] }), undefined)
  assert.equal(chatTemplateFromGGUF({}), undefined)
  // a tokenizer_config without a template: by its added tokens
  const { chat_template: _, ...qwenNoTemplate } = lenmlFiles('qwen3').config
  assert.equal(chatTemplateFromHF(qwenNoTemplate)?.name, 'chatml')
  assert.equal(chatTemplateFromHF({}), undefined)
  assert.throws(
    () => chatTemplateFromGGUF({ 'tokenizer.chat_template': 3 }),
    /'tokenizer.chat_template' must be a string/,
  )
  // a Qwen2.5-style default system prompt is taken from the template
  const qwen25 =
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
  const t = chatTemplateFromText(qwen25) as ChatTemplate
  assert.equal(
    t.apply([{ role: 'user', content: 'hi' }]),
    '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  )
})

test('chat templates: bad messages and options are TsgradErrors', () => {
  const t = chatTemplateByName('llama3')
  assert.throws(
    () => t.apply([{ role: 'wizard', content: 'x' } as unknown as ChatMessage]),
    /messages\[0\] must be/,
  )
  assert.throws(
    () => t.apply([{ role: 'user', content: 3 } as unknown as ChatMessage]),
    /messages\[0\] must be/,
  )
  assert.throws(() => t.apply('hi' as unknown as ChatMessage[]), /expected an array of messages/)
  assert.throws(
    () => t.apply([], { addGenerationPromt: true } as never),
    /unknown option 'addGenerationPromt'/,
  )
})
