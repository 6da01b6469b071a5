// GGUF files (llama.cpp's model format), versions 2 and 3, little-endian:
//   "GGUF" magic, uint32 version, uint64 tensor count, uint64 metadata count,
//   metadata: (string key, uint32 value type, value)*, tensor infos: (string name, uint32 n_dims,
//   uint64 dims[n_dims] (fastest-varying first), uint32 GGML type, uint64 offset)*,
//   padding to `general.alignment` (default 32), then the data section (offsets relative to it).
// Strings are uint64 length + UTF-8 bytes; arrays are uint32 element type + uint64 count + elements.
//
// Every count, length, size and offset is checked against the bytes the file has left before
// anything is allocated or read, so a corrupt or truncated file is a TsgradError naming the key or
// tensor, never a huge allocation or an out-of-bounds read. The header is read through a small
// window; each tensor's bytes are read (a file read at its offset, or a copy out of the given
// bytes) straight into its device buffer. Quantized tensors stay in their block bytes: see
// ./gguf_quant.ts for the dequantization graphs.
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'
import { TsgradError } from '../helpers.js'
import { nodeBuiltins } from '../runtime/node.js'
import { dequantize, GGML_TYPES, GGML_UNSUPPORTED, type GGMLType, ggmlTypeByName } from './gguf_quant.js'

/** GGUF metadata value types, by their id in the file. */
export const GGUF_VALUE_TYPES = [
  'UINT8',
  'INT8',
  'UINT16',
  'INT16',
  'UINT32',
  'INT32',
  'FLOAT32',
  'BOOL',
  'STRING',
  'ARRAY',
  'UINT64',
  'INT64',
  'FLOAT64',
] as const
export type GGUFValueType = (typeof GGUF_VALUE_TYPES)[number]

/**
 * A metadata value: numbers for 8/16/32-bit integers and floats, bigint for 64-bit integers,
 * boolean, string; arrays of numbers as typed arrays (BigInt64Array/BigUint64Array for 64-bit),
 * of booleans and strings as plain arrays, of arrays as plain arrays of those.
 */
export type GGUFValue =
  | number
  | bigint
  | boolean
  | string
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GGUFValue[]

export interface GGUFTensorInfo {
  name: string
  /** GGML type name: F32, F16, BF16, Q8_0, Q4_0, ... */
  type: string
  /** logical (row-major) shape: the file's dimensions reversed */
  shape: number[]
  /** offset in the data section */
  offset: number
  nbytes: number
}

export interface GGUFHeader {
  version: number
  alignment: number
  /** key -> value (null prototype) */
  metadata: Record<string, GGUFValue>
  /** key -> type: the value type name, 'ARRAY[<element type>]' for arrays (null prototype) */
  metadataTypes: Record<string, string>
  tensorInfos: GGUFTensorInfo[]
  /** byte offset of the data section in the file */
  dataStart: number
}

export interface GGUFFile extends GGUFHeader {
  /** name -> Tensor (null prototype); quantized types read as float32, F16/BF16 stay 16-bit */
  tensors: Record<string, Tensor>
  /** name -> the block bytes (uint8) under each quantized tensor's lazy dequantization (null prototype) */
  blocks?: Record<string, Tensor>
}

/** Random access to the bytes of a file or an array. */
interface ByteSource {
  readonly size: number
  /** fill `dst` with the bytes at `pos` (the caller checked that they exist) */
  read(pos: number, dst: Uint8Array): void
}

const bytesSource = (bytes: Uint8Array): ByteSource => ({
  size: bytes.length,
  read: (pos, dst) => dst.set(bytes.subarray(pos, pos + dst.length)),
})

function fail(msg: string): never {
  throw new TsgradError(`gguf: ${msg}`)
}

const MAX_DIMS = 4
const MAX_NESTING = 16
const WINDOW = 1 << 20

/** Cursor over a ByteSource through a window of at most max(WINDOW, one item) bytes. */
class HeaderReader {
  pos = 0
  private buf = new Uint8Array(0)
  private view = new DataView(this.buf.buffer)
  private bufStart = 0
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true })

  constructor(private readonly src: ByteSource) {}

  get left(): number {
    return this.src.size - this.pos
  }

  /** The byte offset in `view` of `n` bytes at the cursor (advanced past them). */
  private take(n: number, what: () => string): number {
    if (n > this.left)
      fail(`file truncated: ${what()} needs ${n} bytes at offset ${this.pos}, the file has ${this.left} left`)
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(this.src.size - this.pos, Math.max(n, WINDOW))
      this.buf = new Uint8Array(len)
      this.src.read(this.pos, this.buf)
      this.view = new DataView(this.buf.buffer)
      this.bufStart = this.pos
    }
    const at = this.pos - this.bufStart
    this.pos += n
    return at
  }
  bytes(n: number, what: () => string): Uint8Array {
    const at = this.take(n, what)
    return this.buf.subarray(at, at + n)
  }
  // take() first: it may move the window and replace `view`
  u32(what: () => string): number {
    const at = this.take(4, what)
    return this.view.getUint32(at, true)
  }
  u64(what: () => string): bigint {
    const at = this.take(8, what)
    return this.view.getBigUint64(at, true)
  }
  /** a uint64 count or size that must fit a JS number */
  size(what: () => string): number {
    const v = this.u64(what)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what()} is ${v}, larger than any file`)
    return Number(v)
  }
  string(what: () => string): string {
    const n = this.size(() => `${what()} length`)
    if (n > this.left)
      fail(`${what()}: string length ${n} at offset ${this.pos - 8} exceeds the ${this.left} bytes left`)
    try {
      return this.utf8.decode(this.bytes(n, what))
    } catch {
      return fail(`${what()} is not valid UTF-8`)
    }
  }
  /** one scalar of value type `t` (not STRING/ARRAY) */
  scalar(t: number, what: () => string): number | bigint | boolean {
    const at = this.take(SCALAR_SIZE[t]!, what)
    const v = this.view
    switch (t) {
      case 0:
        return v.getUint8(at)
      case 1:
        return v.getInt8(at)
      case 2:
        return v.getUint16(at, true)
      case 3:
        return v.getInt16(at, true)
      case 4:
        return v.getUint32(at, true)
      case 5:
        return v.getInt32(at, true)
      case 6:
        return v.getFloat32(at, true)
      case 7: {
        const b = v.getUint8(at)
        if (b > 1) fail(`${what()}: bool value ${b} is neither 0 nor 1`)
        return b === 1
      }
      case 10:
        return v.getBigUint64(at, true)
      case 11:
        return v.getBigInt64(at, true)
      default:
        return v.getFloat64(at, true)
    }
  }
}

/** Bytes per scalar of each value type (STRING/ARRAY: their smallest encoding, for count bounds). */
const SCALAR_SIZE: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  8: 8,
  9: 12,
  10: 8,
  11: 8,
  12: 8,
}
type TypedCtor = new (n: number) => Exclude<GGUFValue, number | bigint | boolean | string | unknown[]>
const TYPED: Record<number, TypedCtor> = {
  0: Uint8Array,
  1: Int8Array,
  2: Uint16Array,
  3: Int16Array,
  4: Uint32Array,
  5: Int32Array,
  6: Float32Array,
  10: BigUint64Array,
  11: BigInt64Array,
  12: Float64Array,
}

function valueType(r: HeaderReader, what: () => string): number {
  const t = r.u32(() => `${what()} value type`)
  if (t >= GGUF_VALUE_TYPES.length)
    fail(`${what()} has unknown value type ${t} (known: 0..${GGUF_VALUE_TYPES.length - 1})`)
  return t
}

/** A value of type `t`; its type name goes to `types` (arrays: ARRAY[elem]). */
function readValue(r: HeaderReader, t: number, what: () => string, depth: number): [GGUFValue, string] {
  if (t === 8) return [r.string(what), 'STRING']
  if (t !== 9) return [r.scalar(t, what), GGUF_VALUE_TYPES[t]!]
  if (depth >= MAX_NESTING) fail(`${what()}: arrays nested deeper than ${MAX_NESTING}`)
  const et = valueType(r, () => `${what()} array element`)
  const n = r.size(() => `${what()} array count`)
  if (n * SCALAR_SIZE[et]! > r.left)
    fail(`${what()}: array of ${n} ${GGUF_VALUE_TYPES[et]} cannot fit in the ${r.left} bytes left`)
  const type = `ARRAY[${GGUF_VALUE_TYPES[et]}]`
  const Ctor = TYPED[et]
  if (Ctor) {
    const out = new Ctor(n) as unknown as { [i: number]: number | bigint }
    for (let i = 0; i < n; i++) out[i] = r.scalar(et, what) as number | bigint
    return [out as GGUFValue, type]
  }
  const out: GGUFValue[] = []
  for (let i = 0; i < n; i++) out.push(readValue(r, et, () => `${what()}[${i}]`, depth + 1)[0])
  return [out, type]
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a

function parseHeader(src: ByteSource): GGUFHeader {
  const r = new HeaderReader(src)
  if (src.size < 4) fail(`file is ${src.size} bytes, too short for the GGUF magic`)
  const magic = r.bytes(4, () => 'magic')
  if (String.fromCharCode(...magic) !== 'GGUF')
    fail(`not a GGUF file: magic is ${JSON.stringify(String.fromCharCode(...magic))}, expected "GGUF"`)
  const version = r.u32(() => 'version')
  if (version !== 2 && version !== 3) {
    const swapped =
      ((version & 0xff) << 24) |
      (((version >>> 8) & 0xff) << 16) |
      (((version >>> 16) & 0xff) << 8) |
      (version >>> 24)
    if (swapped === 2 || swapped === 3)
      fail(`big-endian GGUF files are not supported (version ${swapped} stored big-endian)`)
    fail(`version ${version} is not supported (supported: 2, 3)`)
  }
  const nTensors = r.size(() => 'tensor count')
  const nKV = r.size(() => 'metadata count')
  // the smallest metadata entry is 13 bytes (empty key, type, one byte), a tensor info 24
  if (nKV * 13 + nTensors * 24 > r.left)
    fail(`${nKV} metadata entries and ${nTensors} tensors cannot fit in the ${r.left} bytes left`)
  const metadata = Object.create(null) as Record<string, GGUFValue>
  const metadataTypes = Object.create(null) as Record<string, string>
  for (let i = 0; i < nKV; i++) {
    const key = r.string(() => `metadata entry ${i} key`)
    if (key in metadata) fail(`metadata key '${key}' appears twice`)
    const what = () => `metadata key '${key}'`
    const [v, type] = readValue(r, valueType(r, what), what, 0)
    metadata[key] = v
    metadataTypes[key] = type
  }
  let alignment = 32
  if ('general.alignment' in metadata) {
    const a = metadata['general.alignment']
    if (metadataTypes['general.alignment'] !== 'UINT32')
      fail(`metadata key 'general.alignment' must be UINT32, got ${metadataTypes['general.alignment']}`)
    if (typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0)
      fail(`metadata key 'general.alignment' is ${a}, expected a power of two`)
    alignment = a
  }
  const tensorInfos: GGUFTensorInfo[] = []
  const names = new Set<string>()
  const types: GGMLType[] = []
  for (let i = 0; i < nTensors; i++) {
    const name = r.string(() => `tensor ${i} name`)
    if (names.has(name)) fail(`tensor name '${name}' appears twice`)
    names.add(name)
    const what = () => `tensor '${name}'`
    const nDims = r.u32(() => `${what()} dimension count`)
    if (nDims > MAX_DIMS) fail(`${what()} has ${nDims} dimensions, at most ${MAX_DIMS} are allowed`)
    const dims: number[] = []
    for (let d = 0; d < nDims; d++) dims.push(r.size(() => `${what()} dimension ${d}`))
    const typeId = r.u32(() => `${what()} type`)
    const type = GGML_TYPES.get(typeId)
    if (!type) {
      const known = GGML_UNSUPPORTED[typeId]
      const supported = [...GGML_TYPES.values()].map((t) => t.name).join(', ')
      fail(
        `${what()} has ${known ? `type ${known}, which is not supported` : `unknown type id ${typeId}`} (supported: ${supported})`,
      )
    }
    const offset = r.size(() => `${what()} offset`)
    if (type.blockSize > 1 && (dims[0] ?? 1) % type.blockSize !== 0)
      fail(
        `${what()}: ${type.name} needs the first dimension to be a multiple of ${type.blockSize}, got dimensions [${dims}]`,
      )
    let numel = 1
    for (const d of dims) numel *= d
    if (!Number.isSafeInteger(numel)) fail(`${what()}: dimensions [${dims}] are too large`)
    const nbytes = (numel / type.blockSize) * type.typeSize
    if (offset % alignment !== 0)
      fail(`${what()}: offset ${offset} is not a multiple of the alignment ${alignment}`)
    tensorInfos.push({ name, type: type.name, shape: dims.reverse(), offset, nbytes })
    types.push(type)
  }
  const dataStart = alignUp(r.pos, alignment)
  const dataSize = Math.max(0, src.size - dataStart)
  const byOffset = [...tensorInfos].sort((a, b) => a.offset - b.offset || a.nbytes - b.nbytes)
  let prev: GGUFTensorInfo | undefined
  for (const t of byOffset) {
    if (t.offset + t.nbytes > dataSize)
      fail(
        `tensor '${t.name}' (${t.type} [${t.shape}], ${t.nbytes} bytes at offset ${t.offset}) goes past the end of the ${dataSize}-byte data section: the file is truncated or corrupt`,
      )
    if (prev && t.nbytes > 0 && t.offset < prev.offset + prev.nbytes)
      fail(
        `tensor '${t.name}' at offset ${t.offset} overlaps tensor '${prev.name}' (bytes ${prev.offset}..${prev.offset + prev.nbytes})`,
      )
    if (t.nbytes > 0) prev = t
  }
  return { version, alignment, metadata, metadataTypes, tensorInfos, dataStart }
}

/** Parse and validate the header of GGUF bytes (reads no tensor data). */
export function ggufParseHeader(bytes: Uint8Array): GGUFHeader {
  if (!(bytes instanceof Uint8Array)) fail('ggufParseHeader: expected a Uint8Array')
  return parseHeader(bytesSource(bytes))
}

export interface GGUFLoadOptions {
  device?: string
}
const LOAD_OPTS: KeySet<GGUFLoadOptions> = { device: true }

function loadTensors(
  src: ByteSource,
  header: GGUFHeader,
  opts: GGUFLoadOptions,
): Pick<GGUFFile, 'tensors' | 'blocks'> {
  const where = opts.device !== undefined ? { device: opts.device } : {}
  const out = Object.create(null) as Record<string, Tensor>
  const blocks = Object.create(null) as Record<string, Tensor>
  for (const info of header.tensorInfos) {
    const type = ggmlTypeByName(info.type)!
    const pos = header.dataStart + info.offset
    const fill = (dst: Uint8Array): void => src.read(pos, dst)
    if (info.nbytes === 0)
      out[info.name] = Tensor.zeros(info.shape, { dtype: type.dtype ?? 'float32', ...where })
    else if (type.dtype) out[info.name] = Tensor.fromBytes(info.shape, type.dtype, fill, where)
    else {
      blocks[info.name] = Tensor.fromBytes([info.nbytes], 'uint8', fill, where)
      out[info.name] = dequantize(type, blocks[info.name]!, info.shape)
    }
  }
  return { tensors: out, blocks }
}

/** Parse GGUF bytes into { metadata, tensors, ... } (the whole header is validated first). */
export function ggufParse(bytes: Uint8Array, opts: GGUFLoadOptions = {}): GGUFFile {
  checkOptions('ggufParse', opts, LOAD_OPTS)
  if (!(bytes instanceof Uint8Array)) fail('ggufParse: expected a Uint8Array')
  const src = bytesSource(bytes)
  const header = parseHeader(src)
  return { ...header, ...loadTensors(src, header, opts) }
}

/**
 * Read a .gguf file (Node only). The header is read through a 1 MB window and each tensor's bytes
 * by a file read into its own buffer, so memory stays near the file size.
 */
export function ggufLoad(path: string, opts: GGUFLoadOptions = {}): Promise<GGUFFile> {
  checkOptions('ggufLoad', opts, LOAD_OPTS)
  return (async () => {
    const fs = nodeBuiltins()?.fs
    if (!fs) fail('ggufLoad needs Node.js (use ggufParse on the file bytes elsewhere)')
    const fd = fs.openSync(path, 'r')
    try {
      const size = fs.fstatSync(fd).size
      const src: ByteSource = {
        size,
        read: (pos, dst) => {
          for (let done = 0; done < dst.length; ) {
            const n = fs.readSync(fd, dst, done, dst.length - done, pos + done)
            if (n === 0)
              fail(`${path}: the file ended at ${pos + done} while reading (it changed while loading?)`)
            done += n
          }
        },
      }
      const header = parseHeader(src)
      return { ...header, ...loadTensors(src, header, opts) }
    } finally {
      fs.closeSync(fd)
    }
  })()
}
