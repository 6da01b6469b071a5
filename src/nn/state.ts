// Model state: parameters, state dicts and safetensors files, on the public Tensor API only.
//
// Naming scheme (see also the header of ./layers.ts): a module is any object; getStateDict walks
// its own enumerable properties (in definition order), arrays (by index) and nested objects, and
// names every Tensor it finds by the path of property names as written, joined with '.':
// `model.layers[0].weight` -> `layers.0.weight`, `model.convBlock.norm.running_mean` ->
// `convBlock.norm.running_mean`. As in PyTorch, a key is exactly the attribute path, so a model
// ported from PyTorch keeps its keys when its properties keep the torch attribute names (the
// built-in layers use torch's names). Properties starting with `_` are skipped (private state),
// as are functions, typed arrays, Maps/Sets and cycles back to an enclosing object.
//
// safetensors: 8-byte little-endian header length N, N bytes of UTF-8 JSON
// `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`
// (offsets relative to the data section), then the data section. The writer lays tensors out
// contiguously in the dict's order and pads the header with spaces to a multiple of 8. The
// reader validates every field and every offset before reading any tensor data and throws an
// Error naming the problem (and the tensor) instead of reading out of bounds.
import {
  bf16BitsToF32,
  type DType,
  dtypes,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  checkOptions,
  type KeySet,
  Tensor,
} from '../index.js'

// ---- buffers and pending lazy updates (used by layers and optimizers) ------------------------

const bufferSet = new WeakSet<Tensor>()
const pending = new Set<Tensor>()

/** Mark a state tensor as a non-trainable buffer (left out of getParameters). */
export function markBuffer(t: Tensor): void {
  bufferSet.add(t)
}

export function isBuffer(t: Tensor): boolean {
  return bufferSet.has(t)
}

/** Record tensors that hold a lazy `assign` not realized yet (e.g. BatchNorm running stats). */
export function markPending(...ts: Tensor[]): void {
  for (const t of ts) pending.add(t)
}

export function pendingHas(t: Tensor): boolean {
  return pending.has(t)
}

/** Take (and forget) every pending tensor, for an optimizer step to realize with its params. */
export function takePending(): Tensor[] {
  const r = [...pending]
  pending.clear()
  return r
}

/** Realize the pending updates of these tensors now. */
export function realizePendingOf(ts: Tensor[]): void {
  const due = ts.filter((t) => pending.has(t))
  for (const t of due) pending.delete(t)
  if (due.length > 0) Tensor.realize(...due)
}

// ---- walking modules -----------------------------------------------------------------------

function isWalkable(v: unknown): v is object {
  if (v === null || typeof v !== 'object') return false
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return false
  if (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet) return false
  if (v instanceof Date || v instanceof RegExp || v instanceof Promise) return false
  return true
}

function walk(obj: unknown, prefix: string, out: Map<string, Tensor>, stack: Set<object>): void {
  if (obj instanceof Tensor) {
    if (prefix === '')
      throw new Error('getStateDict: the model itself is a Tensor; pass an object holding it')
    const prev = out.get(prefix)
    if (prev !== undefined && prev !== obj) {
      throw new Error(`getStateDict: two different tensors map to the state-dict key '${prefix}'`)
    }
    out.set(prefix, obj)
    return
  }
  if (!isWalkable(obj) || stack.has(obj)) return
  stack.add(obj)
  const entries: [string, unknown][] = Array.isArray(obj)
    ? obj.map((v, i) => [String(i), v])
    : Object.keys(obj)
        .filter((k) => !k.startsWith('_'))
        .map((k) => [k, (obj as Record<string, unknown>)[k]])
  for (const [k, v] of entries) {
    if (typeof v === 'function') continue
    walk(v, prefix === '' ? k : `${prefix}.${k}`, out, stack)
  }
  stack.delete(obj)
}

/**
 * name -> Tensor for every tensor reachable from `model` (parameters and buffers), in a stable
 * order (property definition order, arrays by index). A tensor shared by two paths appears under
 * both names.
 */
export function getStateDict(model: unknown, prefix = ''): Record<string, Tensor> {
  const out = new Map<string, Tensor>()
  if (model instanceof Tensor) {
    if (prefix === '')
      throw new Error('getStateDict: the model itself is a Tensor; pass an object holding it')
    out.set(prefix, model)
  } else {
    walk(model, prefix, out, new Set())
  }
  return Object.fromEntries(out)
}

/**
 * The trainable tensors of `model`: every tensor of getStateDict that is not a registered buffer
 * (BatchNorm running statistics), deduplicated, in state-dict order.
 */
export function getParameters(model: unknown): Tensor[] {
  const seen = new Set<Tensor>()
  const out: Tensor[] = []
  const sd = model instanceof Tensor ? { p: model } : getStateDict(model)
  for (const t of Object.values(sd)) {
    if (seen.has(t) || bufferSet.has(t)) continue
    seen.add(t)
    out.push(t)
  }
  return out
}

export interface LoadStateDictOptions {
  strict?: boolean
}
const LOAD_STATE_DICT_OPTS: KeySet<LoadStateDictOptions> = { strict: true }

export interface LoadStateDictResult {
  missingKeys: string[]
  unexpectedKeys: string[]
}

/**
 * Copy `dict` into the model's existing tensors (in place, with `assign`, then one realize), so
 * optimizers and other references keep pointing at the same Tensor objects. Values are cast to
 * the target's dtype and moved to its device. strict (default): any missing or unexpected key is
 * an error; a shape mismatch is always an error. All checks run before anything is written.
 */
export function loadStateDict(
  model: unknown,
  dict: Record<string, Tensor>,
  opts: LoadStateDictOptions = {},
): LoadStateDictResult {
  checkOptions('loadStateDict', opts, LOAD_STATE_DICT_OPTS)
  const { strict = true } = opts
  const target = getStateDict(model)
  const missingKeys = Object.keys(target).filter((k) => !(k in dict))
  const unexpectedKeys = Object.keys(dict).filter((k) => !(k in target))
  const mismatches: string[] = []
  for (const [k, t] of Object.entries(target)) {
    const src = dict[k]
    if (src === undefined) continue
    if (!(src instanceof Tensor)) {
      mismatches.push(`'${k}': expected a Tensor, got ${typeof src}`)
    } else if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
      mismatches.push(`'${k}': model has shape [${t.shape}], state dict has [${src.shape}]`)
    }
  }
  const problems: string[] = []
  if (strict && missingKeys.length > 0)
    problems.push(`missing keys: ${missingKeys.map((k) => `'${k}'`).join(', ')}`)
  if (strict && unexpectedKeys.length > 0) {
    problems.push(`unexpected keys: ${unexpectedKeys.map((k) => `'${k}'`).join(', ')}`)
  }
  if (mismatches.length > 0) problems.push(`shape mismatch: ${mismatches.join('; ')}`)
  if (problems.length > 0) throw new Error(`loadStateDict: ${problems.join('. ')}`)

  const written: Tensor[] = []
  const done = new Set<Tensor>()
  Tensor.noGrad(() => {
    for (const [k, t] of Object.entries(target)) {
      let src = dict[k]
      if (src === undefined || done.has(t)) continue
      done.add(t)
      if (src.dtype !== t.dtype) src = src.cast(t.dtype)
      if (src.device !== t.device) src = src.to(t.device)
      t.assign(src)
      pending.delete(t)
      written.push(t)
    }
  })
  if (written.length > 0) Tensor.realize(...written)
  return { missingKeys, unexpectedKeys }
}

// float16 / bfloat16 bit conversions come from the core (round to nearest even)
export {
  bf16BitsToF32 as bf16ToF32,
  f16BitsToF32 as f16ToF32,
  f32ToBf16Bits as f32ToBF16,
  f32ToF16Bits as f32ToF16,
}

// ---- safetensors -----------------------------------------------------------------------------

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

/** Serialize name -> Tensor (plus optional string metadata) to safetensors bytes. */
export async function safeSerialize(
  dict: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const header: Record<string, unknown> = {}
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata value for '${k}' must be a string`)
    }
    header.__metadata__ = metadata
  }
  const parts: Uint8Array[] = []
  let offset = 0
  for (const [name, t] of Object.entries(dict)) {
    if (name === '__metadata__')
      throw new Error(`safetensors: '__metadata__' is reserved and cannot name a tensor`)
    if (!(t instanceof Tensor)) throw new Error(`safetensors: value for '${name}' is not a Tensor`)
    const { code, bytes } = await tensorBytes(name, t)
    header[name] = { dtype: code, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] }
    parts.push(bytes)
    offset += bytes.length
  }
  let json = JSON.stringify(header)
  let hbytes = new TextEncoder().encode(json)
  const pad = (8 - (hbytes.length % 8)) % 8
  if (pad > 0) {
    json += ' '.repeat(pad)
    hbytes = new TextEncoder().encode(json)
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
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    fail('header JSON is not an object')
  const obj = parsed as Record<string, unknown>
  const dataStart = 8 + n
  const dataLen = bytes.length - dataStart
  let metadata: Record<string, string> | undefined
  const tensors: SafetensorsEntry[] = []
  for (const [name, info] of Object.entries(obj)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info))
        fail('__metadata__ is not an object')
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string') fail(`__metadata__ value for '${k}' is not a string`)
      }
      metadata = info as Record<string, string>
      continue
    }
    const where = `tensor '${name}'`
    if (info === null || typeof info !== 'object' || Array.isArray(info))
      fail(`${where}: entry is not an object`)
    const { dtype, shape, data_offsets: offs } = info as Record<string, unknown>
    if (typeof dtype !== 'string') fail(`${where}: missing or non-string dtype`)
    const code = dtype as string
    if (!(code in SAFE_DTYPES)) {
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
  }
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

/** Parse safetensors bytes into name -> Tensor (validating the whole header first). */
export function safeDeserialize(
  bytes: Uint8Array,
  { device }: SafeDeserializeOptions = {},
): Record<string, Tensor> {
  const { tensors, dataStart } = safeParseHeader(bytes)
  const out: Record<string, Tensor> = {}
  for (const t of tensors) {
    const [b, e] = t.dataOffsets
    const data = typedFromBytes(t.dtype, bytes.slice(dataStart + b, dataStart + e))
    const dtype = (dtypes as Record<string, DType>)[SAFE_DTYPES[t.dtype]!]!
    out[t.name] = new Tensor(data as any, {
      shape: t.shape,
      dtype,
      ...(device !== undefined ? { device } : {}),
    })
  }
  return out
}

/** Write name -> Tensor to a .safetensors file (Node only; fs is loaded lazily). */
export async function safeSave(
  dict: Record<string, Tensor>,
  path: string,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = await safeSerialize(dict, metadata)
  const fs = await import('node:fs/promises')
  await fs.writeFile(path, bytes)
}

/** Read a .safetensors file into name -> Tensor (Node only; fs is loaded lazily). */
export async function safeLoad(
  path: string,
  opts: SafeDeserializeOptions = {},
): Promise<Record<string, Tensor>> {
  const fs = await import('node:fs/promises')
  const buf = await fs.readFile(path)
  return safeDeserialize(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), opts)
}
