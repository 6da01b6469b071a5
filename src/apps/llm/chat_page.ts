// The chat page the LLM server serves at `/`: one self-contained HTML document (inline CSS and
// script, no CDN, no framework). It keeps the conversation in memory, streams each reply from
// /v1/chat/completions (fetch + server-sent-event parsing), shows tokens/s and time to first token,
// and has a stop button. Every text goes into the DOM through textContent, never as HTML.
// The script is plain ES2020 inside a TypeScript string: no template literals in it.

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,sans-serif;background:#f6f6f4;color:#1b1b1b;display:flex;flex-direction:column;height:100vh}
header{padding:8px 14px;background:#23272e;color:#eee;display:flex;gap:12px;align-items:center}
header h1{font-size:16px;margin:0;font-weight:600}
header .model{opacity:.75;font-family:ui-monospace,monospace;font-size:13px}
header .spacer{flex:1}
header label{font-size:12px;opacity:.85}
header input{width:64px;margin-left:4px}
#log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px}
.msg{max-width:52rem;padding:8px 12px;border-radius:8px;white-space:pre-wrap;word-wrap:break-word}
.msg.user{align-self:flex-end;background:#d7e8ff}
.msg.assistant{align-self:flex-start;background:#fff;border:1px solid #ddd}
.msg.system{align-self:center;background:#eee;font-size:13px}
.msg.error{align-self:center;background:#ffe1e1;color:#8a1010}
.msg .note{display:block;font-size:12px;opacity:.6;margin-top:4px}
footer{padding:10px 14px;background:#fff;border-top:1px solid #ddd}
#stats{font-size:12px;color:#555;min-height:1.2em;margin-bottom:6px;font-family:ui-monospace,monospace}
form{display:flex;gap:8px}
textarea{flex:1;resize:vertical;min-height:2.6em;max-height:40vh;font:inherit;padding:6px 8px}
button{font:inherit;padding:6px 14px}
`

const SCRIPT = `
(function () {
  'use strict'
  var conversation = []
  var controller = null
  var log = document.getElementById('log')
  var input = document.getElementById('input')
  var send = document.getElementById('send')
  var stop = document.getElementById('stop')
  var clear = document.getElementById('clear')
  var stats = document.getElementById('stats')
  var form = document.getElementById('form')

  function setState(s) {
    document.body.setAttribute('data-state', s)
    send.disabled = s !== 'idle'
    stop.disabled = s !== 'streaming'
  }

  function bubble(role, text) {
    var div = document.createElement('div')
    div.className = 'msg ' + role
    var body = document.createElement('span')
    body.className = 'text'
    body.textContent = text
    div.appendChild(body)
    log.appendChild(div)
    log.scrollTop = log.scrollHeight
    return div
  }

  function note(div, text) {
    var n = document.createElement('span')
    n.className = 'note'
    n.textContent = text
    div.appendChild(n)
  }

  function numberField(id) {
    var v = document.getElementById(id).value.trim()
    return v === '' ? undefined : Number(v)
  }

  fetch('/v1/models').then(function (r) { return r.json() }).then(function (j) {
    if (j && j.data && j.data[0]) document.getElementById('model').textContent = j.data[0].id
  }).catch(function () {})

  // server-sent events: 'data: <json>' lines, events separated by a blank line
  function handleEvent(data, st) {
    if (data === '[DONE]') return
    var j = JSON.parse(data)
    if (j.error) throw new Error(j.error.message)
    if (j.usage) st.usage = j.usage
    var c = j.choices && j.choices[0]
    if (!c) return
    if (c.delta && typeof c.delta.content === 'string' && c.delta.content !== '') {
      if (st.first === 0) st.first = performance.now()
      st.last = performance.now()
      st.pieces++
      st.text += c.delta.content
      st.node.textContent = st.text
      log.scrollTop = log.scrollHeight
    }
    if (c.finish_reason) st.finish = c.finish_reason
  }

  function showStats(st) {
    var n = st.usage ? st.usage.completion_tokens : st.pieces
    var parts = [n + ' tokens']
    if (st.first) parts.push('first token ' + Math.round(st.first - st.start) + ' ms')
    if (n > 1 && st.last > st.first) parts.push(((n - 1) / ((st.last - st.first) / 1000)).toFixed(1) + ' tokens/s')
    if (st.usage) parts.push('prompt ' + st.usage.prompt_tokens + ' tokens')
    if (st.finish) parts.push('finish: ' + st.finish)
    stats.textContent = parts.join(' \\u00b7 ')
    stats.setAttribute('data-tokens', String(n))
  }

  async function ask(text) {
    conversation.push({ role: 'user', content: text })
    bubble('user', text)
    var div = bubble('assistant', '')
    var st = { node: div.querySelector('.text'), text: '', pieces: 0, start: performance.now(), first: 0, last: 0, usage: null, finish: null }
    controller = new AbortController()
    setState('streaming')
    stats.textContent = 'waiting\\u2026'
    var failed = null
    var body = { messages: conversation, stream: true, stream_options: { include_usage: true } }
    var temperature = numberField('temperature')
    var maxTokens = numberField('max-tokens')
    if (temperature !== undefined) body.temperature = temperature
    if (maxTokens !== undefined) body.max_tokens = maxTokens
    try {
      var res = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      if (!res.ok) {
        var msg = res.status + ' ' + res.statusText
        try { msg = (await res.json()).error.message } catch (e) {}
        throw new Error(msg)
      }
      var reader = res.body.getReader()
      var decoder = new TextDecoder()
      var buf = ''
      for (;;) {
        var r = await reader.read()
        if (r.done) break
        buf += decoder.decode(r.value, { stream: true })
        var cut
        while ((cut = buf.indexOf('\\n\\n')) >= 0) {
          var event = buf.slice(0, cut)
          buf = buf.slice(cut + 2)
          event.split('\\n').forEach(function (line) {
            if (line.indexOf('data: ') === 0) handleEvent(line.slice(6), st)
          })
        }
        showStats(st)
      }
      showStats(st)
    } catch (e) {
      failed = e
    }
    if (failed && failed.name === 'AbortError') {
      note(div, '(stopped)')
      showStats(st)
    } else if (failed) {
      if (st.text === '') log.removeChild(div)
      bubble('error', String(failed.message || failed))
      stats.textContent = ''
    }
    // a reply, even a stopped one, stays in the conversation as the model said it; a turn
    // that got no text at all is taken back, so the next message does not follow it
    if (st.text !== '' || !failed) conversation.push({ role: 'assistant', content: st.text })
    else conversation.pop()
    controller = null
    setState('idle')
    input.focus()
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault()
    var text = input.value
    if (text.trim() === '' || controller) return
    input.value = ''
    ask(text)
  })
  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault()
      form.requestSubmit()
    }
  })
  stop.addEventListener('click', function () { if (controller) controller.abort() })
  clear.addEventListener('click', function () {
    if (controller) controller.abort()
    conversation = []
    log.textContent = ''
    stats.textContent = ''
  })
  setState('idle')
  document.body.setAttribute('data-ready', '1')
  input.focus()
})()
`

export const CHAT_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tsgrad chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body data-state="loading">
<header><h1>tsgrad chat</h1><span class="model" id="model"></span><span class="spacer"></span>
<label>temperature<input id="temperature" type="number" min="0" max="2" step="0.1" placeholder="0.8"></label>
<label>max tokens<input id="max-tokens" type="number" min="1" step="1" placeholder="auto"></label>
<button id="clear" type="button">New chat</button></header>
<main id="log" aria-live="polite"></main>
<footer><div id="stats"></div>
<form id="form"><textarea id="input" rows="2" placeholder="Message (Enter sends, Shift+Enter: new line)"></textarea>
<button id="send" type="submit">Send</button><button id="stop" type="button" disabled>Stop</button></form></footer>
<script>${SCRIPT}</script>
</body></html>
`
