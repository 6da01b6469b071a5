// Fuzzing the file readers: thousands of deterministic random mutations of valid safetensors,
// IDX and gzipped IDX files (byte flips, truncations, extensions, header-length edits, JSON field
// and structure edits, dims edits). Each case must either read or throw an Error of ours that
// says what is wrong (never a TypeError/RangeError from deep inside, a crash or a hang), take
// bounded time, and the whole run must leave memory where it was.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { dtypes, nn, Tensor } from '../../src/index.ts'

/** mulberry32: a small deterministic PRNG. */
function rng(seed: number): {
  int(n: number): number
  pick<T>(xs: readonly T[]): T
  chance(p: number): boolean
} {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  }
}
type Rng = ReturnType<typeof rng>

const INTERESTING: unknown[] = [
  -1,
  0,
  1,
  2,
  3,
  4,
  7,
  8,
  12,
  16,
  255,
  256,
  65535,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  -0,
  0.5,
  -(2 ** 31),
  null,
  true,
  '1',
  'F32',
  '',
  [],
  {},
  [1, 2],
  [0, 0],
  [2 ** 40, 1],
  ['a'],
]
const DTYPES = [
  'F32',
  'F16',
  'BF16',
  'F64',
  'I8',
  'I16',
  'I32',
  'I64',
  'U8',
  'U16',
  'U32',
  'BOOL',
  'U64',
  'F8_E4M3',
  'f32',
  '__proto__',
  'toString',
  '',
]

function mutateBytes(r: Rng, b: Uint8Array, from = 0): Uint8Array {
  const out = b.slice()
  const flips = 1 + r.int(8)
  for (let i = 0; i < flips && out.length > from; i++) {
    const at = from + r.int(out.length - from)
    out[at] = r.chance(0.5) ? r.int(256) : out[at]! ^ (1 << r.int(8))
  }
  return out
}
const truncate = (r: Rng, b: Uint8Array): Uint8Array => b.slice(0, r.int(b.length))
function extend(r: Rng, b: Uint8Array): Uint8Array {
  const extra = new Uint8Array(1 + r.int(64)).map(() => r.int(256))
  const out = new Uint8Array(b.length + extra.length)
  out.set(b)
  out.set(extra, b.length)
  return out
}

// ---- safetensors -----------------------------------------------------------------------------

function withHeader(text: string, data: Uint8Array, len?: bigint): Uint8Array {
  const h = new TextEncoder().encode(text)
  const out = new Uint8Array(8 + h.length + data.length)
  new DataView(out.buffer).setBigUint64(0, len ?? BigInt(h.length), true)
  out.set(h, 8)
  out.set(data, 8 + h.length)
  return out
}

function splitSafetensors(b: Uint8Array): { text: string; data: Uint8Array } {
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true))
  return { text: new TextDecoder().decode(b.subarray(8, 8 + n)), data: b.subarray(8 + n) }
}

/** h[k] = v as an own property, even for k = '__proto__' */
const setOwn = (h: object, k: string, v: unknown): void => {
  Object.defineProperty(h, k, { value: v, enumerable: true, writable: true, configurable: true })
}

function jsonEdit(r: Rng, valid: Uint8Array): Uint8Array {
  const { text, data } = splitSafetensors(valid)
  const h = JSON.parse(text) as Record<string, Record<string, unknown>>
  const edits = r.chance(0.5) ? 1 : 1 + r.int(3)
  for (let e = 0; e < edits; e++) {
    const names = Object.keys(h).filter(
      (k) => k !== '__metadata__' && h[k] !== null && typeof h[k] === 'object',
    )
    if (names.length === 0) break
    const name = r.pick(names)
    const entry = h[name]!
    switch (r.int(10)) {
      case 0:
        entry.dtype = r.pick(DTYPES)
        break
      case 1:
        entry.shape = r.chance(0.5)
          ? r.pick(INTERESTING)
          : Array.from({ length: r.int(5) }, () => r.pick(INTERESTING))
        break
      case 2: {
        const offs = Array.isArray(entry.data_offsets) ? [...entry.data_offsets] : [0, 0]
        offs[r.int(2)] = r.chance(0.5) ? (r.pick(INTERESTING) as number) : offs[r.int(2)]! + r.int(9) - 4
        entry.data_offsets = r.chance(0.9) ? offs : r.pick(INTERESTING)
        break
      }
      case 3:
        delete entry[r.pick(['dtype', 'shape', 'data_offsets'])]
        break
      case 4:
        setOwn(
          h,
          r.pick(['__proto__', 'constructor', name, `${name}x`, '__metadata__']),
          r.chance(0.5) ? { ...entry } : r.pick(INTERESTING),
        )
        break
      case 5:
        delete h[name]
        break
      case 6:
        h.__metadata__ = r.pick([{ a: 'b' }, { a: 1 }, [], 'x', null, { __proto__: 'y' }]) as Record<
          string,
          unknown
        >
        break
      case 7:
        entry.extra = r.pick(INTERESTING)
        break
      case 8: {
        // rename (names that are Object.prototype properties included)
        const to = r.pick([
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          '',
          'a.b',
          '\u00e9',
          '"',
        ])
        delete h[name]
        setOwn(h, to, entry)
        break
      }
      default:
        entry.shape = Array.isArray(entry.shape)
          ? [...entry.shape].reverse().concat(r.chance(0.5) ? [1] : [])
          : [1]
    }
  }
  let t = JSON.stringify(h)
  if (r.chance(0.2)) t = t.replace(/"(\w+)":/, '"$1":{"dup":1},"$1":') // a repeated name
  return withHeader(t, data)
}

/** Random edits of the header text itself: structure characters, escapes, whitespace. */
function textEdit(r: Rng, valid: Uint8Array): Uint8Array {
  const { text, data } = splitSafetensors(valid)
  let t = text
  const edits = 1 + r.int(4)
  for (let e = 0; e < edits; e++) {
    const at = r.int(t.length + 1)
    const what = r.pick([
      '{',
      '}',
      '[',
      ']',
      '"',
      ':',
      ',',
      '\\',
      '\\"',
      ' ',
      '\n',
      '1e999',
      '-',
      'null',
      '\u00e9',
      '\ud800',
      '\0',
    ])
    t = r.chance(0.6) ? t.slice(0, at) + what + t.slice(at) : t.slice(0, at) + t.slice(at + 1 + r.int(4))
  }
  return withHeader(
    t,
    data,
    r.chance(0.8) ? undefined : BigInt(new TextEncoder().encode(t).length + r.int(9) - 4),
  )
}

function lengthEdit(r: Rng, valid: Uint8Array): Uint8Array {
  const out = valid.slice()
  const dv = new DataView(out.buffer)
  const n = dv.getBigUint64(0, true)
  const choices = [
    n + 1n,
    n - 1n,
    n + 8n,
    0n,
    1n,
    2n,
    BigInt(valid.length),
    BigInt(valid.length - 8),
    2n ** 63n,
    2n ** 64n - 1n,
    100_000_001n,
    BigInt(r.int(2 ** 31)),
  ]
  dv.setBigUint64(0, BigInt.asUintN(64, r.pick(choices)), true)
  return out
}

async function validSafetensors(): Promise<Uint8Array> {
  return nn.safeSerialize(
    {
      w: new Tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]),
      h: new Tensor([1.5, -2], { dtype: dtypes.float16 }),
      b: new Tensor([0.25], { dtype: dtypes.bfloat16 }),
      i: new Tensor(new BigInt64Array([3n, -4n])),
      u: new Tensor([7, 8, 9], { dtype: dtypes.uint8 }),
      m: new Tensor([true, false], { dtype: dtypes.bool }),
      e: Tensor.zeros([0, 3]),
    },
    { format: 'pt' },
  )
}

// ---- IDX -----------------------------------------------------------------------------------

function validIdx(): Uint8Array {
  const dims = [3, 4, 5]
  const out = new Uint8Array(4 + 4 * dims.length + 60)
  out.set([0, 0, 8, dims.length])
  const dv = new DataView(out.buffer)
  for (const [i, d] of dims.entries()) dv.setUint32(4 + 4 * i, d)
  for (let i = 0; i < 60; i++) out[16 + i] = i * 3
  return out
}

function dimsEdit(r: Rng, valid: Uint8Array): Uint8Array {
  const out = valid.slice()
  const dv = new DataView(out.buffer)
  if (r.chance(0.3)) out[3] = r.pick([0, 1, 2, 4, 200, 255])
  else dv.setUint32(4 + 4 * r.int(3), r.pick([0, 1, 2, 6, 2 ** 16, 2 ** 31, 2 ** 32 - 1, r.int(1000)]))
  return out
}

// ---- the runner ------------------------------------------------------------------------------

interface Outcome {
  ok: number
  errors: number
  slowest: number
}

/** Run `cases` of `read`; a throw must be an Error whose message matches `ours`. */
function fuzz(
  name: string,
  cases: number,
  seed: number,
  make: (r: Rng) => Uint8Array,
  read: (b: Uint8Array) => void,
  ours: RegExp,
): Outcome {
  const r = rng(seed)
  const res: Outcome = { ok: 0, errors: 0, slowest: 0 }
  for (let c = 0; c < cases; c++) {
    const input = make(r)
    const t0 = performance.now()
    try {
      read(input)
      res.ok++
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
      const clear = e instanceof Error && e.constructor === Error && ours.test(e.message)
      assert.ok(clear, `${name} case ${c} (seed ${seed}) threw an unclear error: ${msg.slice(0, 300)}`)
      res.errors++
    }
    res.slowest = Math.max(res.slowest, performance.now() - t0)
  }
  return res
}

const CASE_MS = 2000

describe('fuzzing the file readers', () => {
  test('safetensors, IDX and gzipped IDX: mutated files read or fail clearly, in bounded time and memory', async (t) => {
    const st = await validSafetensors()
    const idx = validIdx()
    const gz = new Uint8Array(gzipSync(idx))
    // the unmutated files read
    assert.equal(Object.keys(nn.safeDeserialize(st)).length, 7)
    assert.deepEqual(nn.datasets.parseIdx(nn.datasets.gunzipIdx(gz)).dims, [3, 4, 5])
    globalThis.gc?.()
    const heap0 = process.memoryUsage().heapUsed
    const rss0 = process.memoryUsage().rss

    const headerEnd = 8 + Number(new DataView(st.buffer).getBigUint64(0, true))
    const stMake = (r: Rng): Uint8Array => {
      switch (r.int(6)) {
        case 0:
          return mutateBytes(r, st, r.chance(0.8) ? 0 : headerEnd) // mostly the header
        case 1:
          return truncate(r, st)
        case 2:
          return extend(r, st)
        case 3:
          return lengthEdit(r, st)
        case 4:
          return jsonEdit(r, st)
        default:
          return textEdit(r, st)
      }
    }
    // what reads must be what the header says: every name (`__proto__` too), shape and dtype
    const stRead = (b: Uint8Array): void => {
      const d = nn.safeDeserialize(b)
      const entries = nn.safeParseHeader(b).tensors
      assert.deepEqual(
        Object.keys(d),
        entries.map((e) => e.name),
      )
      for (const e of entries) {
        const t = d[e.name]!
        assert.ok(t instanceof Tensor, e.name)
        assert.deepEqual(t.shape, e.shape, e.name)
      }
    }
    const s = fuzz('safetensors', 4000, 0x5eed, stMake, stRead, /^safetensors: /)

    const idxMake = (r: Rng): Uint8Array =>
      r.pick([
        () => mutateBytes(r, idx),
        () => truncate(r, idx),
        () => extend(r, idx),
        () => dimsEdit(r, idx),
      ])()
    const idxRead = (b: Uint8Array): void => {
      const a = nn.datasets.parseIdx(b, { name: 'fuzz.idx' })
      assert.equal(
        a.data.length,
        a.dims.reduce((x, y) => x * y, 1),
      )
    }
    const i = fuzz('IDX', 2000, 0x1d7, idxMake, idxRead, /^fuzz\.idx: not a valid IDX file: /)

    const gzMake = (r: Rng): Uint8Array =>
      r.pick([
        () => mutateBytes(r, gz),
        () => truncate(r, gz),
        () => extend(r, gz),
        () => new Uint8Array(gzipSync(idxMake(r))), // a valid gzip of a mutated IDX
      ])()
    const gzRead = (b: Uint8Array): void => {
      idxRead(nn.datasets.gunzipIdx(b, 'fuzz.idx'))
    }
    const g = fuzz('IDX.gz', 2000, 0x92, gzMake, gzRead, /^fuzz\.idx: not a valid (gzip|IDX) file/)

    for (const [name, o] of Object.entries({ safetensors: s, idx: i, gz: g })) {
      t.diagnostic(`${name}: ${o.ok} read, ${o.errors} clear errors, slowest ${o.slowest.toFixed(1)} ms`)
      assert.ok(o.errors > o.ok / 4, `${name}: most mutations are caught (${o.ok} read, ${o.errors} errors)`)
      assert.ok(o.slowest < CASE_MS, `${name}: slowest case ${o.slowest.toFixed(0)} ms`)
    }
    assert.ok(s.ok > 50, `some safetensors mutations are still valid files (${s.ok})`)
    globalThis.gc?.()
    const heap = process.memoryUsage().heapUsed - heap0
    const rss = process.memoryUsage().rss - rss0
    t.diagnostic(`heap ${(heap / 2 ** 20).toFixed(1)} MiB, RSS ${(rss / 2 ** 20).toFixed(1)} MiB`)
    assert.ok(heap < 64 << 20, `heap grew by ${(heap / 2 ** 20).toFixed(1)} MiB`)
    assert.ok(rss < 256 << 20, `RSS grew by ${(rss / 2 ** 20).toFixed(1)} MiB`)
  })
})
