// Syntax highlighting for generated kernel source (C and JavaScript): a small tokenizer that wraps
// comments, strings, numbers, keywords, types and preprocessor lines in spans. Returns HTML.
const KEYWORDS = new Set(
  'if else for while do return break continue switch case default const let var function new typeof static inline restrict void struct sizeof goto extern unsigned signed'.split(
    ' ',
  ),
)
const TYPES = new Set(
  'int float double char bool half long short size_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t Float32Array Float64Array Int32Array Uint32Array Int8Array Uint8Array Int16Array Uint16Array BigInt64Array Math'.split(
    ' ',
  ),
)

export const escapeHtml = (t: string): string =>
  t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const TOKEN =
  /(\/\/[^\n]*|\/\*[\s\S]*?\*\/)|(^[ \t]*#[^\n]*)|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|(\b(?:0x[0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?)[fFuUlL]*\b)|([A-Za-z_$][\w$]*)/gm

/** Highlighted HTML for `src`; plain text stays escaped. */
export function highlight(src: string): string {
  let out = ''
  let last = 0
  for (const m of src.matchAll(TOKEN)) {
    const i = m.index ?? 0
    out += escapeHtml(src.slice(last, i))
    const t = escapeHtml(m[0])
    let cls = ''
    if (m[1]) cls = 'c'
    else if (m[2]) cls = 'pp'
    else if (m[3]) cls = 's'
    else if (m[4]) cls = 'n'
    else if (KEYWORDS.has(m[0])) cls = 'k'
    else if (TYPES.has(m[0])) cls = 't'
    out += cls ? `<span class="${cls}">${t}</span>` : t
    last = i + m[0].length
  }
  return out + escapeHtml(src.slice(last))
}
