// Chat templates: the prompt text the models' own Jinja templates render (Hugging Face's
// `apply_chat_template`), for LLaMA-3, ChatML (Qwen) and LLaMA-2, written out in code and checked
// against fixtures rendered by the real templates (scripts/gen_chat_template_fixtures.py).
//
// BOS is part of the text where the template puts it (LLaMA-3: once at the start; LLaMA-2: before
// every [INST]), exactly as the Jinja template renders it. Encode the text with
// `{ addBos: false }` (special tokens parsed): the ids then equal
// `apply_chat_template(..., tokenize=True)`, which tokenizes without adding special tokens.
import { TsgradError } from '../helpers.js'
import type { GGUFValue } from '../nn/gguf.js'
import { checkOptions, type KeySet } from '../options.js'
import { hfChatTemplateText } from './tokenizer_hf.js'
import type { ChatMessage, ChatTemplate } from './types.js'

type ApplyOptions = { addGenerationPrompt?: boolean }
const APPLY_KEYS: KeySet<ApplyOptions> = { addGenerationPrompt: true }
const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

// Python's str.strip() whitespace (what Jinja's `trim` and `.strip()` remove); JavaScript's trim()
// differs (it removes U+FEFF and keeps U+001C..U+001F and U+0085)
const PY_WS =
  '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]'
const PY_STRIP = new RegExp(`^${PY_WS}+|${PY_WS}+$`, 'g')
const pyStrip = (s: string): string => s.replace(PY_STRIP, '')
const stripChar = (s: string, ch: string, side: 'l' | 'r' | 'both'): string => {
  let a = 0
  let b = s.length
  if (side !== 'r') while (a < b && s[a] === ch) a++
  if (side !== 'l') while (b > a && s[b - 1] === ch) b--
  return s.slice(a, b)
}

function checked(name: string, messages: readonly ChatMessage[], opts: ApplyOptions | undefined): boolean {
  checkOptions(`chatTemplate(${name}).apply`, opts, APPLY_KEYS)
  if (!Array.isArray(messages))
    throw new TsgradError(`chatTemplate(${name}).apply: expected an array of messages`)
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || !ROLES.has(m.role) || typeof m.content !== 'string')
      throw new TsgradError(
        `chatTemplate(${name}).apply: messages[${i}] must be { role: 'system' | 'user' | 'assistant' | 'tool', content: string }`,
      )
  })
  return opts?.addGenerationPrompt ?? true
}

export interface Llama3Options {
  /**
   * LLaMA-3.1+ templates: every prompt starts with a system turn 'Cutting Knowledge Date: December
   * 2023\nToday Date: <date>\n\n<system message>'. The date is a fixed string (3.1: '26 Jul 2024') or
   * a function giving the current date (3.2+, rendered 'DD Mon YYYY' as strftime's '%d %b %Y').
   */
  today?: string | (() => Date)
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const strftimeDate = (d: Date): string =>
  `${String(d.getDate()).padStart(2, '0')} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`

/** Meta-Llama-3 Instruct: header, trimmed content, <|eot_id|> per message; BOS first. */
export function llama3Template(o: Llama3Options = {}): ChatTemplate {
  checkOptions('llama3Template', o, { today: true } satisfies KeySet<Llama3Options>)
  const { today } = o
  if (today !== undefined && typeof today !== 'string' && typeof today !== 'function')
    throw new TsgradError('llama3Template: today must be a date string or a function returning a Date')
  const turn = (role: string, content: string): string =>
    `<|start_header_id|>${role}<|end_header_id|>\n\n${content}<|eot_id|>`
  return {
    name: 'llama3',
    apply(messages, opts) {
      const gen = checked('llama3', messages, opts)
      let out = '<|begin_of_text|>'
      let rest = messages
      if (today !== undefined) {
        const date = typeof today === 'string' ? today : strftimeDate(today())
        const system = messages[0]?.role === 'system' ? pyStrip(messages[0].content) : ''
        if (messages[0]?.role === 'system') rest = messages.slice(1)
        out += turn('system', `Cutting Knowledge Date: December 2023\nToday Date: ${date}\n\n${system}`)
      }
      // 3.1+ send tool results as 'ipython' turns holding the JSON of the text
      for (const m of rest)
        out +=
          today !== undefined && m.role === 'tool'
            ? turn('ipython', JSON.stringify(m.content))
            : turn(m.role, pyStrip(m.content))
      return gen ? `${out}<|start_header_id|>assistant<|end_header_id|>\n\n` : out
    },
  }
}
const llama3 = llama3Template()

/** Llama-2-chat: `<s>[INST] <<SYS>>...<</SYS>> user [/INST] assistant </s>`; roles must alternate. */
const llama2: ChatTemplate = {
  name: 'llama2',
  apply(messages, opts) {
    // the template has no generation prompt: the text always ends where the assistant's turn begins
    checked('llama2', messages, opts)
    const system = messages[0]?.role === 'system' ? messages[0].content : undefined
    const turns = system === undefined ? messages : messages.slice(1)
    let out = ''
    turns.forEach((m, i) => {
      if ((m.role === 'user') !== (i % 2 === 0))
        throw new TsgradError(
          `chatTemplate(llama2).apply: conversation roles must alternate user/assistant/user/assistant/... (message ${i + (system === undefined ? 0 : 1)} is '${m.role}')`,
        )
      const content =
        i === 0 && system !== undefined ? `<<SYS>>\n${system}\n<</SYS>>\n\n${m.content}` : m.content
      if (m.role === 'user') out += `<s>[INST] ${pyStrip(content)} [/INST]`
      else if (m.role === 'assistant') out += ` ${pyStrip(content)} </s>`
    })
    return out
  },
}

export interface ChatMLOptions {
  /** Qwen3: assistant turns after the last user query carry a `<think>` block; earlier ones lose theirs */
  thinking?: boolean
  /** a system prompt used when the messages have none (Qwen2 / Qwen2.5 templates have one) */
  defaultSystem?: string
}

/** ChatML (Qwen2/2.5/3): `<|im_start|>role\ncontent<|im_end|>\n`; tool results wrapped as a user turn. */
export function chatmlTemplate(o: ChatMLOptions = {}): ChatTemplate {
  checkOptions('chatmlTemplate', o, { thinking: true, defaultSystem: true } satisfies KeySet<ChatMLOptions>)
  return {
    name: 'chatml',
    apply(messages, opts) {
      const gen = checked('chatml', messages, opts)
      let out = ''
      if (messages[0]?.role === 'system') out += `<|im_start|>system\n${messages[0].content}<|im_end|>\n`
      else if (o.defaultSystem !== undefined) out += `<|im_start|>system\n${o.defaultSystem}<|im_end|>\n`
      // the last user message that is not a wrapped tool response
      let lastQuery = messages.length - 1
      for (let i = messages.length - 1; i >= 0; i--) {
        const c = messages[i].content
        if (
          messages[i].role === 'user' &&
          !(c.startsWith('<tool_response>') && c.endsWith('</tool_response>'))
        ) {
          lastQuery = i
          break
        }
      }
      messages.forEach((m, i) => {
        if (m.role === 'user' || (m.role === 'system' && i > 0))
          out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`
        else if (m.role === 'assistant') {
          let content = m.content
          if (!o.thinking) out += `<|im_start|>assistant\n${content}`
          else {
            let reasoning = ''
            if (content.includes('</think>')) {
              const parts = content.split('</think>')
              content = stripChar(parts[parts.length - 1], '\n', 'l')
              const before = stripChar(parts[0], '\n', 'r').split('<think>')
              reasoning = stripChar(before[before.length - 1], '\n', 'l')
            }
            if (i > lastQuery && (i === messages.length - 1 || reasoning))
              out += `<|im_start|>assistant\n<think>\n${stripChar(reasoning, '\n', 'both')}\n</think>\n\n${stripChar(content, '\n', 'l')}`
            else out += `<|im_start|>assistant\n${content}`
          }
          out += '<|im_end|>\n'
        } else if (m.role === 'tool') {
          if (i === 0 || messages[i - 1].role !== 'tool') out += '<|im_start|>user'
          out += `\n<tool_response>\n${m.content}\n</tool_response>`
          if (i === messages.length - 1 || messages[i + 1].role !== 'tool') out += '<|im_end|>\n'
        }
      })
      return gen ? `${out}<|im_start|>assistant\n` : out
    },
  }
}

/** The template of a family by name: 'llama3', 'chatml' (plain ChatML), 'llama2'. */
export function chatTemplateByName(name: string): ChatTemplate {
  if (name === 'llama3') return llama3
  if (name === 'llama2') return llama2
  if (name === 'chatml') return chatmlTemplate()
  throw new TsgradError(`chatTemplateByName: unknown template '${name}'; known: llama3, chatml, llama2`)
}

/**
 * The template whose Jinja source `text` is, recognised by its markers; undefined for an unknown
 * one. With no text, the vocabulary decides (`tokens`: LLaMA-3's header tokens, or ChatML's).
 */
export function chatTemplateFromText(
  text: string | undefined,
  tokens?: readonly string[],
): ChatTemplate | undefined {
  if (text === undefined) {
    if (!tokens) return undefined
    const has = new Set(tokens)
    if (has.has('<|start_header_id|>') && has.has('<|eot_id|>')) return llama3
    if (has.has('<|im_start|>') && has.has('<|im_end|>')) return chatmlTemplate()
    return undefined
  }
  if (text.includes('<|start_header_id|>')) {
    if (!text.includes('Cutting Knowledge Date')) return llama3
    // 3.2+: today's date where the template can ask for it (strftime_now); 3.1: its fixed default
    if (text.includes('strftime_now')) return llama3Template({ today: () => new Date() })
    const fixed = /set date_string = "([^"]*)"/.exec(text)
    return fixed ? llama3Template({ today: fixed[1] }) : undefined
  }
  if (text.includes('<|im_start|>')) {
    // Qwen2/2.5 put a default system prompt in the template: '<|im_start|>system\nYou are ...<|im_end|>\n'
    const def = /'<\|im_start\|>system\\n([^'{}]*?)<\|im_end\|>\\n'/.exec(text)
    return chatmlTemplate({ thinking: text.includes('</think>'), defaultSystem: def?.[1] })
  }
  // LLaMA-2-chat; Mistral's [INST] templates (no <<SYS>>) put spaces and BOS differently
  if (text.includes('[INST]') && text.includes('<<SYS>>')) return llama2
  return undefined
}

/** The template a GGUF file's metadata names (`tokenizer.chat_template`, else its vocabulary). */
export function chatTemplateFromGGUF(metadata: Record<string, GGUFValue>): ChatTemplate | undefined {
  const text = metadata['tokenizer.chat_template']
  if (text !== undefined && typeof text !== 'string')
    throw new TsgradError(
      `chatTemplateFromGGUF: metadata key 'tokenizer.chat_template' must be a string, got ${typeof text}`,
    )
  const tokens = metadata['tokenizer.ggml.tokens']
  return chatTemplateFromText(
    text,
    Array.isArray(tokens) ? (tokens.filter((t) => typeof t === 'string') as string[]) : undefined,
  )
}

/** The template a Hugging Face tokenizer_config.json names (`chat_template`, else its added tokens). */
export function chatTemplateFromHF(tokenizerConfig: unknown): ChatTemplate | undefined {
  const text = hfChatTemplateText(tokenizerConfig)
  const added = (tokenizerConfig as { added_tokens_decoder?: unknown } | null)?.added_tokens_decoder
  const tokens =
    added !== null && typeof added === 'object'
      ? Object.values(added as Record<string, unknown>).flatMap((t) =>
          t !== null && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string'
            ? [(t as { content: string }).content]
            : [],
        )
      : undefined
  return chatTemplateFromText(text, tokens)
}
