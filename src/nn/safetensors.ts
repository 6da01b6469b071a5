// safetensors files: 8-byte little-endian header length N, N bytes of UTF-8 JSON
// `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`
// (offsets relative to the data section), then the data section. The writer lays tensors out
// contiguously in the dict's order and pads the header with spaces to a multiple of 8. The
// reader validates every field and every offset before reading any tensor data and throws an
// Error naming the problem (and the tensor) instead of reading out of bounds.
//
// Names come from files and users, so they never become properties of a plain object (a tensor
// named `__proto__` would replace its prototype): dicts read here have a null prototype. The
// header is read in time linear in its size (at most 100 MB, as in the reference implementation):
// the top-level object is split into entries by a scanner and each entry parsed on its own
// (JSON.parse of one object with 1.7M keys took 17 s), and overlaps are found by sorting once.
import { bf16BitsToF32, type DType, dtypes, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../dtype.js'
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'
import { nodeBuiltins, writeFileAtomic } from '../runtime/node.js'

const SAFE_DTYPES: Record<string, string> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I8: 'int8',
  I16: 'int16',
  I32: 'int32',
  I64: 'int64',
  U8: 'uint8',
  U16: 'uint16',
  U32: 'uint32',
  BOOL: 'bool',
}
const ITEMSIZE: Record<string, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I8: 1,
  I16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
  U16: 2,
  U32: 4,
  BOOL: 1,
}
const MAX_HEADER = 100_000_000

function safeCode(dt: DType): string {
  for (const [code, name] of Object.entries(SAFE_DTYPES)) if (name === dt.name) return code
  throw new Error(`safetensors: dtype ${dt.name} cannot be stored`)
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Copy of the typed array's bytes in little-endian order. */
function leBytes(arr: ArrayBufferView, itemsize: number): Uint8Array {
  const b = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).slice()
  if (!littleEndian && itemsize > 1) {
    for (let i = 0; i < b.length; i += itemsize) b.subarray(i, i + itemsize).reverse()
  }
  return b
}

async function tensorBytes(name: string, t: Tensor): Promise<{ code: string; bytes: Uint8Array }> {
  const code = safeCode(t.dtype)
  const data = (await t.data()) as ArrayBufferView & ArrayLike<number | bigint>
  const n = t.numel()
  if (data.length !== n) {
    throw new Error(`safetensors: tensor '${name}' gave ${data.length} values for shape [${t.shape}]`)
  }
  if (code === 'F16' || code === 'BF16') {
    const bits = new Uint16Array(n)
    const conv = code === 'F16' ? f32ToF16Bits : f32ToBf16Bits
    for (let i = 0; i < n; i++) bits[i] = conv(data[i] as number)
    return { code, bytes: leBytes(bits, 2) }
  }
  if (code === 'BOOL') {
    const u = new Uint8Array(n)
    for (let i = 0; i < n; i++) u[i] = data[i] ? 1 : 0
    return { code, bytes: u }
  }
  return { code, bytes: leBytes(data, ITEMSIZE[code]!) }
}

/** name -> Tensor as a plain object (own enumerable properties) or a Map. */
export type StateDictLike = Record<string, Tensor> | ReadonlyMap<string, Tensor>

const dictEntries = (dict: StateDictLike): [string, Tensor][] =>
  dict instanceof Map ? [...dict] : Object.entries(dict as Record<string, Tensor>)

/** Serialize name -> Tensor (plus optional string metadata) to safetensors bytes. */
export async function safeSerialize(
  dict: StateDictLike,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  // the header is built as text, entry by entry: names never become object properties
  const fields: string[] = []
  if (metadata !== undefined) {
    const kv: string[] = []
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata value for '${k}' must be a string`)
      kv.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`)
    }
    fields.push(`"__metadata__":{${kv.join(',')}}`)
  }
  const parts: Uint8Array[] = []
  let offset = 0
  for (const [name, t] of dictEntries(dict)) {
    if (typeof name !== 'string')
      throw new Error(`safetensors: tensor names must be strings, got ${typeof name}`)
    if (name === '__metadata__')
      throw new Error(`safetensors: '__metadata__' is reserved and cannot name a tensor`)
    if (!(t instanceof Tensor)) throw new Error(`safetensors: value for '${name}' is not a Tensor`)
    const { code, bytes } = await tensorBytes(name, t)
    const info = { dtype: code, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] }
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`)
    parts.push(bytes)
    offset += bytes.length
  }
  let hbytes = new TextEncoder().encode(`{${fields.join(',')}}`)
  const pad = (8 - (hbytes.length % 8)) % 8
  if (pad > 0) {
    const padded = new Uint8Array(hbytes.length + pad).fill(0x20)
    padded.set(hbytes)
    hbytes = padded
  }
  const out = new Uint8Array(8 + hbytes.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true)
  out.set(hbytes, 8)
  let p = 8 + hbytes.length
  for (const b of parts) {
    out.set(b, p)
    p += b.length
  }
  return out
}

export interface SafetensorsEntry {
  name: string
  dtype: string
  shape: number[]
  dataOffsets: [number, number]
}

export interface SafetensorsHeader {
  tensors: SafetensorsEntry[]
  metadata: Record<string, string> | undefined
  /** byte offset of the data section in the file */
  dataStart: number
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d])

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.has(text.charCodeAt(i))) i++
  return i
}

/** Index just past the JSON string starting at `text[i] === '"'`, or -1 when it never ends. */
function stringEnd(text: string, i: number): number {
  for (let j = text.indexOf('"', i + 1); j >= 0; j = text.indexOf('"', j + 1)) {
    let slashes = 0
    while (text.charCodeAt(j - 1 - slashes) === 0x5c) slashes++
    if (slashes % 2 === 0) return j + 1
  }
  return -1
}

/** Index just past the JSON value starting at `text[i]` (checked later by JSON.parse), or -1. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c === 0x22) return stringEnd(text, i)
  if (c !== 0x7b && c !== 0x5b) {
    // a literal or number: up to the next delimiter
    let j = i
    while (j < text.length && !WS.has(text.charCodeAt(j)) && !',}]'.includes(text[j]!)) j++
    return j
  }
  let depth = 0
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j)
    if (d === 0x22) {
      j = stringEnd(text, j) - 1
      if (j < 0) return -1
    } else if (d === 0x7b || d === 0x5b) depth++
    else if (d === 0x7d || d === 0x5d) {
      if (--depth === 0) return j + 1
    }
  }
  return -1
}

/**
 * The members of the header's top-level JSON object, in order, each value parsed on its own:
 * linear in the header size however many entries it has. A repeated name is an error (JSON.parse
 * would silently keep the last one).
 */
function headerEntries(
  text: string,
  fail: (msg: string) => never,
  onEntry: (name: string, value: unknown) => void,
): void {
  const parse = (from: number, to: number, entry?: string): unknown => {
    try {
      return JSON.parse(text.slice(from, to))
    } catch (e) {
      const what = entry === undefined ? `name at header byte ${from}` : `entry '${entry}'`
      return fail(`header is not valid JSON: ${what} (${(e as Error).message})`)
    }
  }
  const bad = (msg: string): never => fail(`header is not valid JSON: ${msg}`)
  const seen = new Set<string>()
  let i = skipWs(text, 0)
  if (text[i] !== '{') fail('header JSON is not an object')
  i = skipWs(text, i + 1)
  if (text[i] === '}') i++
  else {
    for (;;) {
      if (text[i] !== '"') bad(`expected a name in quotes at header byte ${i}`)
      const kEnd = stringEnd(text, i)
      if (kEnd < 0) bad(`unterminated name at header byte ${i}`)
      const name = parse(i, kEnd) as string
      if (seen.has(name)) fail(`tensor name '${name}' appears twice`)
      seen.add(name)
      i = skipWs(text, kEnd)
      if (text[i] !== ':') bad(`expected ':' after '${name}' at header byte ${i}`)
      i = skipWs(text, i + 1)
      const vEnd = valueEnd(text, i)
      if (vEnd <= i) bad(`entry '${name}' has no complete value`)
      onEntry(name, parse(i, vEnd, name))
      i = skipWs(text, vEnd)
      if (text[i] === '}') {
        i++
        break
      }
      if (text[i] !== ',') bad(`expected ',' or '}' after entry '${name}' at header byte ${i}`)
      i = skipWs(text, i + 1)
    }
  }
  if (skipWs(text, i) !== text.length) bad(`unexpected text after the header object at byte ${i}`)
}

/** Parse and fully validate the header of safetensors bytes (reads no tensor data). */
export function safeParseHeader(bytes: Uint8Array): SafetensorsHeader {
  const fail = (msg: string): never => {
    throw new Error(`safetensors: ${msg}`)
  }
  if (!(bytes instanceof Uint8Array)) fail('expected a Uint8Array')
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`)
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true)
  if (n64 > BigInt(bytes.length - 8)) {
    fail(`header length ${n64} is larger than the ${bytes.length - 8} bytes after the length field`)
  }
  const n = Number(n64)
  if (n > MAX_HEADER) fail(`header length ${n} exceeds the limit of ${MAX_HEADER} bytes`)
  if (n < 2) fail(`header length ${n} is too small for a JSON object`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))
  } catch {
    return fail('header is not valid UTF-8')
  }
  const dataStart = 8 + n
  const dataLen = bytes.length - dataStart
  let metadata: Record<string, string> | undefined
  const tensors: SafetensorsEntry[] = []
  headerEntries(text, fail, (name, info) => {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info))
        fail('__metadata__ is not an object')
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string') fail(`__metadata__ value for '${k}' is not a string`)
      }
      // JSON.parse made every key an own property, `__proto__` included
      metadata = info as Record<string, string>
      return
    }
    const where = `tensor '${name}'`
    if (info === null || typeof info !== 'object' || Array.isArray(info))
      fail(`${where}: entry is not an object`)
    const { dtype, shape, data_offsets: offs } = info as Record<string, unknown>
    if (typeof dtype !== 'string') fail(`${where}: missing or non-string dtype`)
    const code = dtype as string
    if (!Object.hasOwn(SAFE_DTYPES, code)) {
      fail(
        `${where}: unknown or unsupported dtype '${code}' (supported: ${Object.keys(SAFE_DTYPES).join(', ')})`,
      )
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`)
    }
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offs[0] > offs[1]
    ) {
      fail(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offs)}`)
    }
    const [b, e] = offs as [number, number]
    if (e > dataLen)
      fail(`${where}: data_offsets [${b}, ${e}] go past the end of the ${dataLen}-byte data section`)
    const numel = (shape as number[]).reduce((a, d) => a * d, 1)
    const want = numel * ITEMSIZE[code]!
    if (!Number.isSafeInteger(want) || want !== e - b) {
      fail(
        `${where}: data_offsets [${b}, ${e}] hold ${e - b} bytes but ${code} shape [${shape}] needs ${want}`,
      )
    }
    tensors.push({ name, dtype: code, shape: shape as number[], dataOffsets: [b, e] })
  })
  const sorted = [...tensors].sort(
    (x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1],
  )
  let pos = 0
  let prev: SafetensorsEntry | undefined
  for (const t of sorted) {
    const [b, e] = t.dataOffsets
    if (b < pos) {
      fail(
        `tensor '${t.name}' data_offsets [${b}, ${e}] overlap tensor '${prev!.name}' [${prev!.dataOffsets[0]}, ${prev!.dataOffsets[1]}]`,
      )
    }
    if (b > pos) {
      fail(
        `tensor '${t.name}' data_offsets [${b}, ${e}] leave a gap: the previous tensor ends at byte ${pos}`,
      )
    }
    pos = e
    prev = t
  }
  if (pos !== dataLen) fail(`the data section is ${dataLen} bytes but the tensors cover ${pos}`)
  return { tensors, metadata, dataStart }
}

function typedFromBytes(code: string, b: Uint8Array): ArrayBufferView {
  // `b` is a fresh copy (byteOffset 0) so every view is aligned
  const size = ITEMSIZE[code]!
  if (!littleEndian && size > 1) {
    for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse()
  }
  const buf = b.buffer
  const n = b.length / size
  switch (code) {
    case 'F32':
      return new Float32Array(buf, 0, n)
    case 'F64':
      return new Float64Array(buf, 0, n)
    case 'I8':
      return new Int8Array(buf, 0, n)
    case 'I16':
      return new Int16Array(buf, 0, n)
    case 'I32':
      return new Int32Array(buf, 0, n)
    case 'I64':
      return new BigInt64Array(buf, 0, n)
    case 'U8':
      return new Uint8Array(buf, 0, n)
    case 'U16':
      return new Uint16Array(buf, 0, n)
    case 'U32':
      return new Uint32Array(buf, 0, n)
    case 'BOOL': {
      const u = new Uint8Array(buf, 0, n)
      for (let i = 0; i < n; i++) u[i] = u[i] ? 1 : 0
      return u
    }
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(buf, 0, n)
      const f = new Float32Array(n)
      const conv = code === 'F16' ? f16BitsToF32 : bf16BitsToF32
      for (let i = 0; i < n; i++) f[i] = conv(bits[i]!)
      return f
    }
  }
  throw new Error(`safetensors: unsupported dtype '${code}'`)
}

export interface SafeDeserializeOptions {
  device?: string
}
const DESERIALIZE_OPTS: KeySet<SafeDeserializeOptions> = { device: true }

/**
 * Parse safetensors bytes into name -> Tensor (validating the whole header first). The dict has
 * a null prototype, so any name (`__proto__`, `constructor`) is an ordinary key.
 */
export function safeDeserialize(
  bytes: Uint8Array,
  opts: SafeDeserializeOptions = {},
): Record<string, Tensor> {
  checkOptions('safeDeserialize', opts, DESERIALIZE_OPTS)
  const { device } = opts
  const { tensors, dataStart } = safeParseHeader(bytes)
  const out = Object.create(null) as Record<string, Tensor>
  const where = device !== undefined ? { device } : {}
  for (const t of tensors) {
    const [b, e] = t.dataOffsets
    const dtype = (dtypes as Record<string, DType>)[SAFE_DTYPES[t.dtype]!]!
    // an empty tensor needs no buffer (a lazy constant: ~4 us instead of ~25 us and 1.5 KB)
    if (b === e) {
      out[t.name] = Tensor.zeros(t.shape, { dtype, ...where })
      continue
    }
    const data = typedFromBytes(t.dtype, bytes.slice(dataStart + b, dataStart + e))
    out[t.name] = new Tensor(data as any, { shape: t.shape, dtype, ...where })
  }
  return out
}

/**
 * Write name -> Tensor to a .safetensors file (Node only; fs is loaded lazily). The file is
 * written under a temporary name and renamed into place, so a crash or a full disk never leaves
 * a truncated checkpoint where the previous one was, and readers of the old file keep it whole.
 */
export async function safeSave(
  dict: StateDictLike,
  path: string,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = await safeSerialize(dict, metadata)
  await writeFileAtomic(path, bytes, 'safeSave')
}

/** Read a .safetensors file into name -> Tensor (Node only; fs is loaded lazily). */
export function safeLoad(path: string, opts: SafeDeserializeOptions = {}): Promise<Record<string, Tensor>> {
  // checked before the read, so a bad option throws at the call like everywhere else
  checkOptions('safeLoad', opts, DESERIALIZE_OPTS)
  return (async () => {
    const fs = nodeBuiltins()?.fs
    if (!fs)
      throw new Error(
        `safeLoad: reading files needs Node.js (in a browser, fetch the bytes and call safeDeserialize)`,
      )
    const buf = await fs.promises.readFile(path)
    return safeDeserialize(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), opts)
  })()
}
