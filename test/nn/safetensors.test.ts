import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { dtypes, nn, Tensor } from '../../src/index.ts'

/** Build a safetensors file by hand: header JSON (object or raw text), data bytes. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header))
  const out = new Uint8Array(8 + h.length + data.length)
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true)
  out.set(h, 8)
  out.set(data, 8 + h.length)
  return out
}
const f32bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer)

async function raw(t: Tensor): Promise<unknown[]> {
  return Array.from((await t.data()) as ArrayLike<unknown>)
}

describe('f16 / bf16 bit helpers (round to nearest even)', () => {
  test('float16', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0, 0x0000],
      [-0, 0x8000],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // tie at the top rounds up to inf
      [1e6, 0x7c00],
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie -> even (0)
      [1.5 * 2 ** -25, 0x0001],
      [2 ** -14 - 2 ** -25, 0x0400], // tie between 0x3ff and 0x400 -> even
      [1 + 2 ** -11, 0x3c00], // tie -> even
      [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01],
      [0.1, 0x2e66],
    ]
    for (const [v, bits] of cases) assert.equal(nn.f32ToF16(v), bits, `f32ToF16(${v})`)
    assert.equal(nn.f32ToF16(Number.NaN) & 0x7c00, 0x7c00)
    assert.notEqual(nn.f32ToF16(Number.NaN) & 0x3ff, 0)
    assert.equal(nn.f16ToF32(0x3555), 0.333251953125)
    assert.equal(nn.f16ToF32(0x0001), 2 ** -24)
    assert.equal(nn.f16ToF32(0xfbff), -65504)
    assert.equal(nn.f16ToF32(0x7c00), Number.POSITIVE_INFINITY)
    assert.ok(Number.isNaN(nn.f16ToF32(0x7e00)))
    for (let b = 0; b < 0x10000; b += 7) {
      if ((b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0) continue
      assert.equal(nn.f32ToF16(nn.f16ToF32(b)), b, `bits ${b} round trip`)
    }
  })

  test('bfloat16', () => {
    assert.equal(nn.f32ToBF16(1), 0x3f80)
    assert.equal(nn.f32ToBF16(1 + 2 ** -8), 0x3f80) // tie -> even
    assert.equal(nn.f32ToBF16(1 + 3 * 2 ** -8), 0x3f82) // tie -> even (up)
    assert.equal(nn.f32ToBF16(1 + 2 ** -8 + 2 ** -12), 0x3f81)
    assert.equal(nn.f32ToBF16(Number.NEGATIVE_INFINITY), 0xff80)
    assert.equal(nn.f32ToBF16(3.4028234663852886e38), 0x7f80)
    assert.equal(nn.f32ToBF16(Number.NaN) & 0x7fc0, 0x7fc0)
    assert.equal(nn.bf16ToF32(0x4049), 3.140625)
    assert.equal(nn.bf16ToF32(0xc000), -2)
    for (let b = 0; b < 0x10000; b += 5) {
      if ((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0) continue
      assert.equal(nn.f32ToBF16(nn.bf16ToF32(b)), b, `bits ${b} round trip`)
    }
  })
})

describe('safetensors round trip', () => {
  const cases: [string, () => Tensor, string][] = [
    [
      'float32',
      () => new Tensor([1.5, -2.25, 3.4028234663852886e38, 1e-40, 0, -0.1], { shape: [2, 3] }),
      'F32',
    ],
    [
      'float16',
      () => new Tensor([1, -2.5, 65504, 2 ** -24, 0.1, 1000.5], { shape: [3, 2], dtype: dtypes.float16 }),
      'F16',
    ],
    [
      'bfloat16',
      () => new Tensor([1, -2.5, 3.140625, 1e30, 0.1, -7], { shape: [6], dtype: dtypes.bfloat16 }),
      'BF16',
    ],
    [
      'float64',
      () => new Tensor([Math.PI, -1e300, 5e-324, 1 / 3], { shape: [2, 2], dtype: dtypes.float64 }),
      'F64',
    ],
    ['int8', () => new Tensor([-128, 127, 0, 5], { dtype: dtypes.int8 }), 'I8'],
    ['int16', () => new Tensor([-32768, 32767, -1, 300], { dtype: dtypes.int16 }), 'I16'],
    [
      'int32',
      () => new Tensor([-(2 ** 31), 2 ** 31 - 1, 7, -7], { shape: [2, 1, 2], dtype: dtypes.int32 }),
      'I32',
    ],
    [
      'int64',
      () =>
        new Tensor(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 42n]), {
          shape: [3],
          dtype: dtypes.int64,
        }),
      'I64',
    ],
    ['uint8', () => new Tensor([0, 255, 128], { dtype: dtypes.uint8 }), 'U8'],
    ['uint16', () => new Tensor([0, 65535, 1234], { dtype: dtypes.uint16 }), 'U16'],
    ['uint32', () => new Tensor([0, 4294967295, 1e9], { dtype: dtypes.uint32 }), 'U32'],
    ['bool', () => new Tensor([true, false, true, true], { shape: [2, 2], dtype: dtypes.bool }), 'BOOL'],
    ['scalar float32', () => new Tensor(2.5), 'F32'],
  ]
  for (const [name, make, code] of cases) {
    test(name, async () => {
      const t = make()
      const bytes = await nn.safeSerialize({ t })
      const h = nn.safeParseHeader(bytes)
      assert.equal(h.tensors[0]!.dtype, code)
      assert.deepEqual(h.tensors[0]!.shape, t.shape)
      const back = nn.safeDeserialize(bytes).t!
      assert.equal(back.dtype, t.dtype)
      assert.deepEqual(back.shape, t.shape)
      assert.deepEqual(await raw(back), await raw(t))
    })
  }

  test('many tensors of mixed dtypes with metadata; exact on-disk layout', async () => {
    const dict = {
      a: new Tensor([1, 2], { dtype: dtypes.float32 }),
      'layers.0.weight': new Tensor([1, 0.5], { dtype: dtypes.float16 }),
      c: new Tensor([3], { dtype: dtypes.int32 }),
    }
    const bytes = await nn.safeSerialize(dict, { format: 'pt' })
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))
    assert.equal(n % 8, 0, 'header padded to a multiple of 8')
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))
    assert.deepEqual(header, {
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      'layers.0.weight': { dtype: 'F16', shape: [2], data_offsets: [8, 12] },
      c: { dtype: 'I32', shape: [1], data_offsets: [12, 16] },
    })
    const data = bytes.subarray(8 + n)
    assert.deepEqual(Array.from(data), [
      ...f32bytes([1, 2]),
      0x00,
      0x3c,
      0x00,
      0x38, // f16 1.0, 0.5 little-endian
      3,
      0,
      0,
      0,
    ])
    assert.deepEqual(nn.safeParseHeader(bytes).metadata, { format: 'pt' })
    const back = nn.safeDeserialize(bytes)
    assert.deepEqual(Object.keys(back), ['a', 'layers.0.weight', 'c'])
    assert.deepEqual(await raw(back['layers.0.weight']!), [1, 0.5])
  })

  test('reads a hand-written file whose header order differs from the data order', async () => {
    const data = new Uint8Array([
      ...new Uint8Array(new BigInt64Array([5n, -6n]).buffer),
      ...f32bytes([0.25, -4]),
    ])
    const file = build(
      {
        weight: { dtype: 'F32', shape: [1, 2], data_offsets: [16, 24] },
        __metadata__: { source: 'hand' },
        idx: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
      },
      data,
    )
    const d = nn.safeDeserialize(file)
    assert.deepEqual(await raw(d.weight!), [0.25, -4])
    assert.deepEqual(d.weight!.shape, [1, 2])
    assert.deepEqual(await raw(d.idx!), [5n, -6n])
    assert.equal(d.idx!.dtype, dtypes.int64)
  })

  test('a state dict through safeSave / safeLoad into a fresh model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-safe-'))
    after(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'model.safetensors')
    const a = { fc: new nn.Linear(3, 2), bn: new nn.BatchNorm(2) }
    await nn.safeSave(nn.getStateDict(a), path, { note: 'test' })
    assert.deepEqual(nn.safeParseHeader(new Uint8Array(readFileSync(path))).metadata, { note: 'test' })
    const b = { fc: new nn.Linear(3, 2), bn: new nn.BatchNorm(2) }
    nn.loadStateDict(b, await nn.safeLoad(path))
    assert.deepEqual(await raw(b.fc.weight), await raw(a.fc.weight))
    assert.deepEqual(await raw(b.fc.bias!), await raw(a.fc.bias!))
    assert.deepEqual(await raw(b.bn.numBatchesTracked!), [0])
  })
})

describe('safetensors reader rejects corrupt files with a clear error', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['file shorter than 8 bytes', () => new Uint8Array(5), /5 bytes, too short for the 8-byte header length/],
    [
      'header length past the end',
      () => build(ok, f32bytes([1, 2]), 1000n),
      /header length 1000 is larger than/,
    ],
    [
      'huge header length (2^63)',
      () => build(ok, f32bytes([1, 2]), 2n ** 63n),
      /header length \d+ is larger than/,
    ],
    [
      'truncated data section',
      () => build(ok, f32bytes([1, 2])).slice(0, -3),
      /tensor 'a'.*past the end of the 5-byte data section/,
    ],
    [
      'truncated header',
      () => build(ok, f32bytes([1, 2])).slice(0, 20),
      /header length \d+ is larger than the 12 bytes/,
    ],
    ['invalid JSON', () => build('{"a": {"dtype": "F32",', f32bytes([1, 2])), /header is not valid JSON/],
    ['JSON that is not an object', () => build('[1, 2]'), /header JSON is not an object/],
    ['invalid UTF-8', () => build('', new Uint8Array([0xff, 0xfe, 0xfd]), 3n), /not valid UTF-8/],
    [
      'overlapping offsets',
      () =>
        build(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          },
          new Uint8Array(12),
        ),
      /tensor 'b' data_offsets \[4, 12\] overlap tensor 'a' \[0, 8\]/,
    ],
    [
      'offsets out of range',
      () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(8)),
      /tensor 'a': data_offsets \[8, 16\] go past the end of the 8-byte data section/,
    ],
    [
      'gap between tensors',
      () =>
        build(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
          },
          new Uint8Array(20),
        ),
      /tensor 'b' data_offsets \[12, 20\] leave a gap/,
    ],
    [
      'byte size does not match the shape',
      () => build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /tensor 'a': data_offsets \[0, 8\] hold 8 bytes but F32 shape \[3\] needs 12/,
    ],
    [
      'unknown dtype',
      () => build({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
      /tensor 'w': unknown or unsupported dtype 'F8_E4M3'/,
    ],
    [
      'missing dtype',
      () => build({ w: { shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /tensor 'w': missing or non-string dtype/,
    ],
    [
      'negative shape',
      () => build({ w: { dtype: 'U8', shape: [-2], data_offsets: [0, 2] } }, new Uint8Array(2)),
      /tensor 'w': shape must be an array of non-negative integers/,
    ],
    [
      'begin after end',
      () => build({ w: { dtype: 'U8', shape: [0], data_offsets: [2, 0] } }, new Uint8Array(2)),
      /tensor 'w': data_offsets must be \[begin, end\]/,
    ],
    [
      'fractional offset',
      () => build({ w: { dtype: 'U8', shape: [2], data_offsets: [0, 2.5] } }, new Uint8Array(3)),
      /tensor 'w': data_offsets must be/,
    ],
    ['entry is not an object', () => build({ w: [1, 2, 3] }), /tensor 'w': entry is not an object/],
    [
      'trailing bytes after the data',
      () => build(ok, new Uint8Array(12)),
      /the data section is 12 bytes but the tensors cover 8/,
    ],
    [
      'metadata with a non-string value',
      () => build({ __metadata__: { epoch: 3 }, ...ok }, f32bytes([1, 2])),
      /__metadata__ value for 'epoch' is not a string/,
    ],
  ]
  for (const [name, make, re] of cases) {
    test(name, () => {
      const bytes = make()
      assert.throws(() => nn.safeParseHeader(bytes), re)
      assert.throws(
        () => nn.safeDeserialize(bytes),
        (e: unknown) => e instanceof Error && re.test(e.message),
      )
    })
  }

  test('a valid hand-built file is accepted (control)', async () => {
    const d = nn.safeDeserialize(build(ok, f32bytes([1, 2])))
    assert.deepEqual(await raw(d.a!), [1, 2])
  })

  test('writer refuses non-string metadata and the reserved name', async () => {
    await assert.rejects(nn.safeSerialize({ __metadata__: new Tensor([1]) }), /reserved/)
    await assert.rejects(
      nn.safeSerialize({ a: new Tensor([1]) }, { n: 3 as unknown as string }),
      /metadata value/,
    )
  })

  test('safeLoad of a missing file rejects', async () => {
    await assert.rejects(nn.safeLoad(join(tmpdir(), 'definitely-missing-tsgrad.safetensors')), /ENOENT/)
  })
})
