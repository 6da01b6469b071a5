// Names and sizes taken from files or users: a tensor named `__proto__` (or `constructor`) is an
// ordinary name, a header with a million entries is read in linear time, a repeated name is an
// error, and a gzipped IDX file cannot decompress to more than its header declares.
import assert from 'node:assert/strict'
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { nn, Tensor } from '../../src/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'tsgrad-untrusted-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A safetensors file with `n` empty F32 tensors (the header alone, ~59 bytes per entry). */
function emptyTensors(n: number, name = (i: number) => `t${i}`): Uint8Array {
  const parts: string[] = []
  for (let i = 0; i < n; i++)
    parts.push(`${JSON.stringify(name(i))}:{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`)
  const h = new TextEncoder().encode(`{${parts.join(',')}}`)
  const out = new Uint8Array(8 + h.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true)
  out.set(h, 8)
  return out
}

describe('safetensors names are data, not properties', () => {
  const NAMES = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__']

  test('a tensor named __proto__ (and other Object.prototype names) survives save and load', async () => {
    const dict: Record<string, Tensor> = Object.create(null)
    NAMES.forEach((n, i) => {
      dict[n] = new Tensor([i, i + 0.5])
    })
    const file = join(dir, 'proto.safetensors')
    await nn.safeSave(dict, file)
    const header = nn.safeParseHeader(new Uint8Array(readFileSync(file)))
    assert.deepEqual(
      header.tensors.map((t) => t.name),
      NAMES,
      'all written (the writer dropped __proto__ before)',
    )
    const back = await nn.safeLoad(file)
    assert.equal(Object.getPrototypeOf(back), null, 'the returned dict has no prototype to replace')
    assert.deepEqual(Object.keys(back), NAMES)
    for (const [i, n] of NAMES.entries()) {
      assert.ok(back[n] instanceof Tensor, n)
      assert.deepEqual(Array.from(await back[n]!.data()), [i, i + 0.5], n)
    }
  })

  test('a Map is accepted as the dict, and metadata keys are kept as written', async () => {
    const m = new Map([['__proto__', new Tensor([7])]])
    const meta = JSON.parse('{"__proto__": "x", "format": "pt"}') as Record<string, string>
    const bytes = await nn.safeSerialize(m, meta)
    const h = nn.safeParseHeader(bytes)
    assert.deepEqual(Object.entries(h.metadata!), [
      ['__proto__', 'x'],
      ['format', 'pt'],
    ])
    const back = new Map(Object.entries(nn.safeDeserialize(bytes)))
    assert.deepEqual(Array.from(await back.get('__proto__')!.data()), [7])
  })

  test('a name given twice is an error (JSON.parse kept the last one)', () => {
    const h = new TextEncoder().encode(
      '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
    )
    const b = new Uint8Array(8 + h.length + 2)
    new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true)
    b.set(h, 8)
    assert.throws(() => nn.safeParseHeader(b), /safetensors: tensor name 'a' appears twice/)
  })
})

describe('safeSave replaces a file atomically', () => {
  test('a second name for the old file (a reader holding it) still sees the old checkpoint, whole', async () => {
    const file = join(dir, 'atomic.safetensors')
    await nn.safeSave({ a: new Tensor([1, 2]) }, file)
    const old = readFileSync(file)
    linkSync(file, `${file}.reader`) // the old inode, as a reader that opened it would see it
    await nn.safeSave({ a: new Tensor([3, 4, 5]) }, file)
    assert.deepEqual(readFileSync(`${file}.reader`), old, 'written in place before')
    assert.deepEqual(Array.from(await (await nn.safeLoad(file)).a!.data()), [3, 4, 5])
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file left',
    )
  })
})

describe('safetensors header size and time', () => {
  test('a header of 400k empty tensors parses in time linear in its size', () => {
    // the reported case (1.7M entries, 99 MB) took 75 s; JSON.parse of one object that large
    // alone is superlinear (17 s at 1.65M entries). Compare 400k entries against 25k.
    const small = emptyTensors(25_000)
    const big = emptyTensors(400_000)
    const time = (b: Uint8Array, n: number): number => {
      const t0 = performance.now()
      assert.equal(nn.safeParseHeader(b).tensors.length, n)
      return performance.now() - t0
    }
    time(small, 25_000) // warm up
    const ts = Math.min(time(small, 25_000), time(small, 25_000))
    const tb = Math.min(time(big, 400_000), time(big, 400_000))
    // 16x the entries: linear is ~16x the time; allow 4x that for GC and a loaded machine (the
    // quadratic case is ~100x slower; one run under load went to 50x)
    assert.ok(
      tb < Math.max(16 * 4 * ts, 1500),
      `25k entries ${ts.toFixed(0)} ms, 400k entries ${tb.toFixed(0)} ms`,
    )
  })

  test('a header over 100 MB is refused before it is decoded', () => {
    const n = 100_000_001
    const b = new Uint8Array(8 + n)
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true)
    assert.throws(() => nn.safeParseHeader(b), /header length 100000001 exceeds the limit of 100000000 bytes/)
  })
})

describe('gzipped IDX files are capped at their declared size', () => {
  test('a gzip bomb (1 GiB of zeros behind a 10-byte header) is an error, without inflating it', () => {
    const header = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 10]) // uint8, dims [10]
    const zeros = gzipSync(new Uint8Array(16 << 20)) // 16 MiB of zeros: ~16 KiB of gzip
    const members = [gzipSync(header), ...Array.from({ length: 64 }, () => zeros)] // gunzip reads them all
    const bomb = new Uint8Array(Buffer.concat(members))
    assert.ok(bomb.length < 2 << 20)
    const rss = process.memoryUsage().rss
    assert.throws(
      () => nn.datasets.gunzipIdx(bomb, 'bomb.gz'),
      /bomb\.gz: not a valid gzip file \(it decompresses to more than the 18 bytes its IDX header declares\)/,
    )
    const grown = process.memoryUsage().rss - rss
    assert.ok(grown < 256 << 20, `RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`)
    // and through mnist(): the first file read is the training images
    const d = join(dir, 'bomb')
    mkdirSync(d)
    writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), bomb)
    assert.throws(() => nn.datasets.mnist({ dir: d }), /train-images-idx3-ubyte\.gz: not a valid gzip file/)
  })

  test('a gzipped file of exactly its declared size reads; one byte short or long is named', () => {
    const idx = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    assert.deepEqual(Array.from(nn.datasets.parseIdx(nn.datasets.gunzipIdx(gzipSync(idx))).data), [7, 8, 9])
    assert.throws(
      () => nn.datasets.parseIdx(nn.datasets.gunzipIdx(gzipSync(idx.subarray(0, 10))), { name: 'short' }),
      /short: not a valid IDX file: truncated/,
    )
    const long = new Uint8Array([...idx, 1])
    assert.throws(() => nn.datasets.gunzipIdx(gzipSync(long), 'long'), /long: .*more than the 11 bytes/)
  })
})
