// GGUF writer (version 3): metadata of every value type, tensors as F32, F16, BF16, Q8_0, Q4_0
// (quantized with llama.cpp's reference rounding, ./gguf_quant.ts) or the integer/F64 types of
// their dtype. Tensor data is aligned to `general.alignment` (32 unless the metadata says
// otherwise) as llama.cpp requires; the file is written under a temporary name and renamed.
import { f32ToBf16Bits, f32ToF16Bits } from '../dtype.js'
import { Tensor } from '../tensor/index.js'
import { TsgradError } from '../helpers.js'
import { nodeBuiltins, writeFileAtomic } from '../runtime/node.js'
import { GGUF_VALUE_TYPES, type GGUFValue } from './gguf.js'
import { ggmlTypeByName, type GGMLType, quantizeQ4_0, quantizeQ8_0 } from './gguf_quant.js'

export interface GGUFWriteInput {
  metadata?: Record<string, GGUFValue>
  /**
   * key -> value type ('UINT32', 'FLOAT32', 'ARRAY[STRING]', ...), as ggufLoad returns them. Keys
   * left out get one from the value: string STRING, boolean BOOL, bigint INT64, integer number
   * UINT32 (INT32 when negative, INT64 beyond 32 bits), other number FLOAT32, typed arrays their
   * element type. llama.cpp checks the types of the keys it reads, so give them for those.
   */
  metadataTypes?: Record<string, string>
  tensors: Record<string, Tensor> | ReadonlyMap<string, Tensor>
}

/** The GGML types a tensor can be written as. */
export type GGUFWriteType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'I8' | 'I16' | 'I32' | 'I64' | 'F64'
const WRITABLE = new Set<string>(['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'I8', 'I16', 'I32', 'I64', 'F64'])

function fail(msg: string): never {
  throw new TsgradError(`ggufSave: ${msg}`)
}

const TYPE_ID = new Map<string, number>(GGUF_VALUE_TYPES.map((t, i) => [t, i]))

/** Little-endian byte sink. */
class Sink {
  parts: Uint8Array[] = []
  length = 0
  private scratch = new DataView(new ArrayBuffer(8))
  bytes(b: Uint8Array): void {
    this.parts.push(b)
    this.length += b.length
  }
  private fixed(n: number, set: (v: DataView) => void): void {
    set(this.scratch)
    this.bytes(new Uint8Array(this.scratch.buffer.slice(0, n)))
  }
  u32(v: number): void {
    this.fixed(4, (d) => d.setUint32(0, v, true))
  }
  u64(v: number | bigint): void {
    this.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true))
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s)
    this.u64(b.length)
    this.bytes(b)
  }
  scalar(type: string, v: unknown, key: string): void {
    const num = (): number => {
      if (typeof v !== 'number' && typeof v !== 'bigint')
        fail(`metadata '${key}': ${type} needs a number, got ${typeof v}`)
      return Number(v)
    }
    const int = (lo: number, hi: number): number => {
      const n = num()
      if (!Number.isInteger(n) || n < lo || n > hi)
        fail(`metadata '${key}': ${n} is not a ${type} (${lo}..${hi})`)
      return n
    }
    const big = (signed: boolean): bigint => {
      if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v)))
        fail(`metadata '${key}': ${type} needs a bigint or a safe integer, got ${String(v)}`)
      const b = BigInt(v as number | bigint)
      const ok = signed ? BigInt.asIntN(64, b) === b : BigInt.asUintN(64, b) === b
      if (!ok) fail(`metadata '${key}': ${b} is out of range for ${type}`)
      return b
    }
    switch (type) {
      case 'UINT8':
        this.fixed(1, (d) => d.setUint8(0, int(0, 255)))
        return
      case 'INT8':
        this.fixed(1, (d) => d.setInt8(0, int(-128, 127)))
        return
      case 'UINT16':
        this.fixed(2, (d) => d.setUint16(0, int(0, 0xffff), true))
        return
      case 'INT16':
        this.fixed(2, (d) => d.setInt16(0, int(-0x8000, 0x7fff), true))
        return
      case 'UINT32':
        this.fixed(4, (d) => d.setUint32(0, int(0, 0xffffffff), true))
        return
      case 'INT32':
        this.fixed(4, (d) => d.setInt32(0, int(-0x80000000, 0x7fffffff), true))
        return
      case 'FLOAT32':
        this.fixed(4, (d) => d.setFloat32(0, num(), true))
        return
      case 'FLOAT64':
        this.fixed(8, (d) => d.setFloat64(0, num(), true))
        return
      case 'UINT64':
        this.fixed(8, (d) => d.setBigUint64(0, big(false), true))
        return
      case 'INT64':
        this.fixed(8, (d) => d.setBigInt64(0, big(true), true))
        return
      case 'BOOL':
        if (typeof v !== 'boolean') fail(`metadata '${key}': BOOL needs a boolean, got ${typeof v}`)
        this.fixed(1, (d) => d.setUint8(0, v ? 1 : 0))
        return
      case 'STRING':
        if (typeof v !== 'string') fail(`metadata '${key}': STRING needs a string, got ${typeof v}`)
        this.string(v)
        return
    }
    fail(`metadata '${key}': unknown value type '${type}'`)
  }
}

const TYPED_NAMES: [new (...a: never[]) => unknown, string][] = [
  [Uint8Array, 'UINT8'],
  [Int8Array, 'INT8'],
  [Uint16Array, 'UINT16'],
  [Int16Array, 'INT16'],
  [Uint32Array, 'UINT32'],
  [Int32Array, 'INT32'],
  [Float32Array, 'FLOAT32'],
  [Float64Array, 'FLOAT64'],
  [BigUint64Array, 'UINT64'],
  [BigInt64Array, 'INT64'],
]

/** The value type of `v` when none is given (see GGUFWriteInput.metadataTypes). */
function inferType(v: unknown, key: string): string {
  if (typeof v === 'string') return 'STRING'
  if (typeof v === 'boolean') return 'BOOL'
  if (typeof v === 'bigint') return v < 0n || v <= 0x7fffffffffffffffn ? 'INT64' : 'UINT64'
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return 'FLOAT32'
    if (v >= 0 && v <= 0xffffffff) return 'UINT32'
    return v >= -0x80000000 && v < 0 ? 'INT32' : 'INT64'
  }
  for (const [C, name] of TYPED_NAMES) if (v instanceof C) return `ARRAY[${name}]`
  if (Array.isArray(v)) return `ARRAY[${v.length ? inferType(v[0], key) : 'INT32'}]`
  return fail(`metadata '${key}': cannot store a value of type ${typeof v}`)
}

function writeValue(s: Sink, type: string, v: unknown, key: string, depth: number): void {
  const m = /^ARRAY\[(.*)\]$/.exec(type)
  if (!m) {
    s.u32(TYPE_ID.get(type) ?? fail(`metadata '${key}': unknown value type '${type}'`))
    s.scalar(type, v, key)
    return
  }
  if (depth > 16) fail(`metadata '${key}': arrays nested deeper than 16`)
  const elem = m[1]!
  const items = ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<unknown>) : v
  if (!Array.isArray(items)) fail(`metadata '${key}': ${type} needs an array, got ${typeof v}`)
  s.u32(TYPE_ID.get('ARRAY')!)
  const nested = elem.startsWith('ARRAY')
  s.u32(TYPE_ID.get(nested ? 'ARRAY' : elem) ?? fail(`metadata '${key}': unknown value type '${elem}'`))
  s.u64(items.length)
  for (const [i, x] of items.entries()) {
    if (!nested) {
      s.scalar(elem, x, `${key}[${i}]`)
      continue
    }
    // each nested array carries its own element type
    const inner = new Sink()
    writeValue(inner, inferType(x, key), x, `${key}[${i}]`, depth + 1)
    const all = inner.parts.slice(1) // the nested value's leading ARRAY type id is implied
    for (const p of all) s.bytes(p)
  }
}

async function tensorBytes(name: string, t: Tensor, type: GGMLType): Promise<Uint8Array> {
  const ne0 = t.shape.length ? t.shape[t.shape.length - 1]! : 1
  if (type.blockSize > 1 && ne0 % type.blockSize !== 0)
    fail(
      `tensor '${name}' (shape [${t.shape}]): ${type.name} needs the last dimension to be a multiple of ${type.blockSize}`,
    )
  const asBytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  switch (type.name) {
    case 'F32':
    case 'F16':
    case 'BF16':
    case 'Q8_0':
    case 'Q4_0': {
      const x = (await t.cast('float32').data()) as Float32Array
      if (type.name === 'F32') return asBytes(x)
      if (type.name === 'Q8_0') return quantizeQ8_0(x)
      if (type.name === 'Q4_0') return quantizeQ4_0(x)
      const conv = type.name === 'F16' ? f32ToF16Bits : f32ToBf16Bits
      // a loop, not Uint16Array.from(x, conv): that gathers every value into a heap list first
      // (a 128256 x 2048 embedding ran the JS heap out of memory)
      const h = new Uint16Array(x.length)
      for (let i = 0; i < x.length; i++) h[i] = conv(x[i]!)
      return asBytes(h)
    }
  }
  const dt = type.dtype!
  if (t.dtype.name !== dt)
    fail(`tensor '${name}' is ${t.dtype.name}; ${type.name} stores ${dt} (cast it first)`)
  return asBytes((await t.data()) as ArrayBufferView)
}

function defaultType(t: Tensor): string {
  const byDtype: Record<string, string> = {
    float16: 'F16',
    bfloat16: 'BF16',
    float64: 'F64',
    int8: 'I8',
    int16: 'I16',
    int32: 'I32',
    int64: 'I64',
  }
  return byDtype[t.dtype.name] ?? 'F32'
}

/**
 * GGUF bytes of `input`. `types` is one type for every tensor or name -> type (others: F32 for
 * float32, F16/BF16/F64/I8/I16/I32/I64 for those dtypes).
 */
export async function ggufSerialize(
  input: GGUFWriteInput,
  types?: GGUFWriteType | Record<string, GGUFWriteType>,
): Promise<Uint8Array> {
  if (input === null || typeof input !== 'object' || input.tensors === undefined)
    fail('expected { metadata?, metadataTypes?, tensors }')
  const metadata = input.metadata ?? {}
  const mtypes = input.metadataTypes ?? {}
  const entries: [string, Tensor][] =
    input.tensors instanceof Map
      ? [...input.tensors]
      : Object.entries(input.tensors as Record<string, Tensor>)
  let alignment = 32
  if (Object.hasOwn(metadata, 'general.alignment')) {
    const a = metadata['general.alignment']
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0)
      fail(`general.alignment must be a power of two, got ${String(a)}`)
    if (Object.hasOwn(mtypes, 'general.alignment') && mtypes['general.alignment'] !== 'UINT32')
      fail(`general.alignment must be UINT32, got ${mtypes['general.alignment']}`)
    alignment = a
  }
  const head = new Sink()
  head.bytes(new TextEncoder().encode('GGUF'))
  head.u32(3)
  head.u64(entries.length)
  const keys = Object.keys(metadata)
  head.u64(keys.length)
  for (const key of keys) {
    const v = metadata[key]
    const type = Object.hasOwn(mtypes, key)
      ? mtypes[key]!
      : key === 'general.alignment'
        ? 'UINT32'
        : inferType(v, key)
    head.string(key)
    writeValue(head, type, v, key, 0)
  }
  const datas: Uint8Array[] = []
  let offset = 0
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) fail(`value for '${name}' is not a Tensor`)
    const tn = typeof types === 'string' ? types : (types?.[name] ?? defaultType(t))
    if (!WRITABLE.has(tn))
      fail(`tensor '${name}': cannot write type '${tn}' (writable: ${[...WRITABLE].join(', ')})`)
    if (t.ndim > 4) fail(`tensor '${name}' has ${t.ndim} dimensions, GGUF allows at most 4`)
    const type = ggmlTypeByName(tn)!
    const data = await tensorBytes(name, t, type)
    head.string(name)
    head.u32(t.ndim)
    for (const d of [...t.shape].reverse()) head.u64(d)
    head.u32(type.id)
    head.u64(offset)
    datas.push(data)
    offset += Math.ceil(data.length / alignment) * alignment
  }
  const dataStart = Math.ceil(head.length / alignment) * alignment
  const out = new Uint8Array(dataStart + offset)
  let p = 0
  for (const part of head.parts) {
    out.set(part, p)
    p += part.length
  }
  p = dataStart
  for (const d of datas) {
    out.set(d, p)
    p += Math.ceil(d.length / alignment) * alignment
  }
  return out
}

/** Write a .gguf file atomically (temporary file + rename; Node only). */
export async function ggufSave(
  path: string,
  input: GGUFWriteInput,
  types?: GGUFWriteType | Record<string, GGUFWriteType>,
): Promise<void> {
  const bytes = await ggufSerialize(input, types)
  if (!nodeBuiltins()) fail('needs Node.js (use ggufSerialize elsewhere)')
  await writeFileAtomic(path, bytes, 'ggufSave')
}
