// GGUF reading and writing against gguf-py fixtures (scripts/gen_gguf_fixtures.py): every tensor
// type bit-exact against gguf.quants.dequantize, metadata of every value type, v2/v3, alignment,
// our Q8_0/Q4_0 quantizers byte-exact against gguf-py's, save/load round trips, corrupt files,
// and the fusion of dequantization into a matvec.
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { handOpts } from '../../src/codegen/heuristics.ts'
import { renderKernel } from '../../src/codegen/kernel.ts'
import { CRenderer } from '../../src/renderer/c.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { nn, Tensor, TsgradError } from '../../src/index.ts'
import { quantizeQ4_0, quantizeQ8_0 } from '../../src/nn/gguf_quant.ts'

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gguf')
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, name)))
const json = (name: string) => JSON.parse(readFileSync(join(FIX, name), 'utf8'))

interface Expected {
  type: string
  shape: number[]
  bits: number[]
}

async function bitsOf(t: Tensor): Promise<number[]> {
  const f = (await t.cast('float32').data()) as Float32Array
  return Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length))
}

function assertBits(got: number[], want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`)
  const bad = got.findIndex((b, i) => b !== want[i])
  if (bad >= 0) {
    const f = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0]
    assert.fail(
      `${what}: element ${bad} is ${f(got[bad]!)} (0x${got[bad]!.toString(16)}), expected ${f(want[bad]!)} (0x${want[bad]!.toString(16)})`,
    )
  }
}

const STORED_DTYPE: Record<string, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }

describe('gguf: every tensor type matches gguf-py dequantization bit for bit', () => {
  const expected = json('types.json') as Record<string, Expected>
  const file = nn.ggufParse(fixture('types.gguf'))
  for (const [name, e] of Object.entries(expected)) {
    test(`${e.type} (${name}, shape [${e.shape}])`, async () => {
      const info = file.tensorInfos.find((i) => i.name === name)!
      assert.equal(info.type, e.type)
      const t = file.tensors[name]!
      assert.deepEqual(t.shape, e.shape)
      assert.equal(t.dtype.name, STORED_DTYPE[e.type] ?? 'float32')
      assertBits(await bitsOf(t), e.bits, name)
    })
  }
  test('ggufLoad reads the file the same way (file reads at offsets)', async () => {
    const f = await nn.ggufLoad(join(FIX, 'types.gguf'))
    assert.deepEqual(Object.keys(f.tensors), Object.keys(expected))
    for (const name of ['q4_k', 'q8_0_3d', 'f16'])
      assertBits(await bitsOf(f.tensors[name]!), expected[name]!.bits, name)
    assert.equal(f.metadata['test.seed'], 16)
  })
  test('a quantized tensor stays uint8 blocks in memory (a lazy graph over one buffer)', () => {
    // a fresh parse: reading a tensor's data realizes it (it then holds its float values)
    const t = nn.ggufParse(fixture('types.gguf')).tensors.q4_k!
    const { items } = scheduleFor([t.uop])
    const kernels = items.filter((i) => i.kind === 'kernel')
    assert.equal(kernels.length, 1)
    const inputs = kernels[0]!.bufs.slice(1)
    assert.deepEqual(
      inputs.map((b) => [b.dtype.name, b.size]),
      [['uint8', 3 * 144]],
    )
  })
})

function decode(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decode)
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, string | number>
    if ('f32bits' in o) return new Float32Array(new Uint32Array([o.f32bits as number]).buffer)[0]
    if ('f64' in o) return Number(o.f64)
    if ('bigint' in o) return BigInt(o.bigint as string)
  }
  return v
}
const TYPED: Record<string, (xs: never[]) => unknown> = {
  UINT8: (x) => Uint8Array.from(x),
  INT8: (x) => Int8Array.from(x),
  UINT16: (x) => Uint16Array.from(x),
  INT16: (x) => Int16Array.from(x),
  UINT32: (x) => Uint32Array.from(x),
  INT32: (x) => Int32Array.from(x),
  FLOAT32: (x) => Float32Array.from(x),
  FLOAT64: (x) => Float64Array.from(x),
  UINT64: (x) => BigUint64Array.from(x),
  INT64: (x) => BigInt64Array.from(x),
}

describe('gguf: metadata of every value type, versions, alignment', () => {
  const want = json('meta.json')
  for (const file of ['meta.gguf', 'meta_v2.gguf']) {
    test(`${file}: values and types`, async () => {
      const f = nn.ggufParse(fixture(file))
      assert.equal(f.version, file === 'meta.gguf' ? 3 : 2)
      assert.equal(f.alignment, 64)
      assert.equal(f.dataStart, want.dataStart)
      assert.equal(f.metadata['general.architecture'], 'tsgrad-test')
      for (const [key, { type, value }] of Object.entries(
        want.metadata as Record<string, { type: string; value: unknown }>,
      )) {
        assert.equal(f.metadataTypes[key], type, key)
        const elem = /^ARRAY\[(.*)\]$/.exec(type)?.[1]
        const expected = elem && TYPED[elem] ? TYPED[elem](decode(value) as never[]) : decode(value)
        assert.deepEqual(f.metadata[key], expected, key)
      }
      for (const [name, e] of Object.entries(want.tensors as Record<string, Expected>)) {
        assert.deepEqual(f.tensors[name]!.shape, e.shape)
        assertBits(await bitsOf(f.tensors[name]!), e.bits, name)
      }
    })
  }
  test('the metadata dict has a null prototype (keys from files are plain keys)', () => {
    const f = nn.ggufParse(fixture('meta.gguf'))
    assert.equal(Object.getPrototypeOf(f.metadata), null)
    assert.equal(Object.getPrototypeOf(f.tensors), null)
  })
  test('a big-endian file is rejected with a clear error', () => {
    assert.throws(
      () => nn.ggufParse(fixture('meta_be.gguf')),
      (e: Error) => e instanceof TsgradError && /big-endian/.test(e.message),
    )
  })
})

describe('gguf: our quantizers match gguf-py byte for byte', () => {
  const cases = json('quant.json') as Record<string, { x: number[]; Q8_0: string; Q4_0: string }>
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
  for (const [name, c] of Object.entries(cases)) {
    const x = new Float32Array(new Uint32Array(c.x).buffer)
    test(`Q8_0 ${name}`, () => assert.equal(hex(quantizeQ8_0(x)), c.Q8_0))
    test(`Q4_0 ${name}`, () => assert.equal(hex(quantizeQ4_0(x)), c.Q4_0))
  }
})

describe('gguf: save', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgrad-gguf-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('re-serializing meta.gguf gives the same bytes as gguf-py wrote', async () => {
    const bytes = fixture('meta.gguf')
    const f = nn.ggufParse(bytes)
    const out = await nn.ggufSerialize(f, { w: 'F32', q: 'Q8_0' })
    assert.equal(Buffer.from(out).toString('hex'), Buffer.from(bytes).toString('hex'))
  })

  test('round trip F32 / F16 / Q8_0 / Q4_0 through a file, atomically', async () => {
    const x = Tensor.randn([4, 64]).realize()
    const xs = (await x.data()) as Float32Array
    const path = join(dir, 'model.gguf')
    const input = {
      metadata: {
        'general.architecture': 'llama',
        'llama.block_count': 2,
        'rope.base': 10000,
        tokens: ['a', 'b'],
      },
      metadataTypes: { 'rope.base': 'FLOAT32' },
      tensors: { a: x, b: x, c: x, d: x, n: Tensor.arange(6, undefined, 1, { dtype: 'int32' }) },
    }
    await nn.ggufSave(path, input, { a: 'F32', b: 'F16', c: 'Q8_0', d: 'Q4_0' })
    assert.deepEqual(readdirSync(dir), ['model.gguf'])
    const f = await nn.ggufLoad(path)
    assert.deepEqual(Object.fromEntries(Object.entries(f.metadataTypes)), {
      'general.architecture': 'STRING',
      'llama.block_count': 'UINT32',
      'rope.base': 'FLOAT32',
      tokens: 'ARRAY[STRING]',
    })
    assert.deepEqual(f.metadata.tokens, ['a', 'b'])
    assert.deepEqual(
      f.tensorInfos.map((i) => i.type),
      ['F32', 'F16', 'Q8_0', 'Q4_0', 'I32'],
    )
    assert.deepEqual(await f.tensors.a!.data(), xs)
    const half = (await x.cast('float16').cast('float32').data()) as Float32Array
    assert.deepEqual(await f.tensors.b!.float().data(), half)
    // quantized values are the reference dequantization of the reference quantization
    for (const [name, q, step, tol] of [
      ['c', quantizeQ8_0(xs), 127, 0.51],
      ['d', quantizeQ4_0(xs), 8, 1.01],
    ] as const) {
      const got = (await f.tensors[name]!.data()) as Float32Array
      for (let b = 0; b < 8; b++) {
        const amax = Math.max(...xs.subarray(b * 32, b * 32 + 32).map(Math.abs))
        for (let j = 0; j < 32; j++)
          assert.ok(
            Math.abs(got[b * 32 + j]! - xs[b * 32 + j]!) <= (amax / step) * tol + 1e-3 * amax,
            `${name}[${b * 32 + j}]`,
          )
      }
      assert.equal(q.length, (name === 'c' ? 34 : 18) * 8)
    }
    assert.deepEqual(Array.from((await f.tensors.n!.data()) as Int32Array), [0, 1, 2, 3, 4, 5])
  })

  test('errors: a quantized last dimension not a multiple of 32, an unwritable type', async () => {
    await assert.rejects(nn.ggufSerialize({ tensors: { w: Tensor.ones([2, 3]) } }, 'Q8_0'), /multiple of 32/)
    await assert.rejects(
      nn.ggufSerialize({ tensors: { w: Tensor.ones([32]) } }, 'Q6_K' as never),
      /cannot write type 'Q6_K'/,
    )
  })
})

// ---- corrupt files ----------------------------------------------------------------------------

/** A GGUF file by hand: kv as raw encoded entries, tensors as (name, dims, type, offset). */
function build(opts: {
  version?: number
  kv?: Uint8Array[]
  tensors?: { name: string; dims: (number | bigint)[]; type: number; offset: number | bigint }[]
  data?: number
  nKV?: bigint
  nTensors?: bigint
}): Uint8Array {
  const parts: number[] = []
  const u32 = (v: number) => {
    const b = new DataView(new ArrayBuffer(4))
    b.setUint32(0, v, true)
    parts.push(...new Uint8Array(b.buffer))
  }
  const u64 = (v: number | bigint) => {
    const b = new DataView(new ArrayBuffer(8))
    b.setBigUint64(0, BigInt(v), true)
    parts.push(...new Uint8Array(b.buffer))
  }
  const str = (s: string) => {
    const b = new TextEncoder().encode(s)
    u64(b.length)
    parts.push(...b)
  }
  parts.push(...new TextEncoder().encode('GGUF'))
  u32(opts.version ?? 3)
  const tensors = opts.tensors ?? []
  u64(opts.nTensors ?? BigInt(tensors.length))
  u64(opts.nKV ?? BigInt((opts.kv ?? []).length))
  for (const kv of opts.kv ?? []) parts.push(...kv)
  for (const t of tensors) {
    str(t.name)
    u32(t.dims.length)
    for (const d of t.dims) u64(d)
    u32(t.type)
    u64(t.offset)
  }
  while (parts.length % 32) parts.push(0)
  for (let i = 0; i < (opts.data ?? 0); i++) parts.push(i & 255)
  return new Uint8Array(parts)
}
/** A metadata entry: key, type id, value bytes. */
function kv(key: string, type: number, value: number[]): Uint8Array {
  const k = new TextEncoder().encode(key)
  const b = new Uint8Array(8 + k.length + 4 + value.length)
  const v = new DataView(b.buffer)
  v.setBigUint64(0, BigInt(k.length), true)
  b.set(k, 8)
  v.setUint32(8 + k.length, type, true)
  b.set(value, 12 + k.length)
  return b
}
const le = (v: number | bigint, n: number): number[] => {
  const b = new DataView(new ArrayBuffer(8))
  b.setBigUint64(0, BigInt(v), true)
  return [...new Uint8Array(b.buffer).subarray(0, n)]
}

describe('gguf: corrupt files are clear TsgradErrors', () => {
  const badKey = kv('?', 0, [1])
  badKey[8] = 0xff
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /too short for the GGUF magic/],
    ['wrong magic', new TextEncoder().encode('GGML\x03\0\0\0'), /not a GGUF file/],
    ['version 1', build({ version: 1 }), /version 1 is not supported/],
    ['version 4', build({ version: 4 }), /version 4 is not supported/],
    [
      'header cut short',
      build({}).subarray(0, 12),
      /file truncated: tensor count needs 8 bytes at offset 8, the file has 4 left/,
    ],
    [
      'huge tensor count',
      build({ nTensors: 1n << 40n }),
      /1099511627776 tensors cannot fit in the \d+ bytes left/,
    ],
    [
      'tensor count beyond 2^53',
      build({ nTensors: 1n << 60n }),
      /tensor count is 1152921504606846976, larger than any file/,
    ],
    [
      'huge key length',
      build({ kv: [new Uint8Array(le(1n << 50n, 8))], nKV: 1n, data: 64 }),
      /metadata entry 0 key: string length 1125899906842624 .* exceeds/,
    ],
    ['unknown value type', build({ kv: [kv('k', 13, [0])] }), /metadata key 'k' has unknown value type 13/],
    [
      'array too long for the file',
      build({ kv: [kv('arr', 9, [...le(6, 4), ...le(1e9, 8)])] }),
      /metadata key 'arr': array of 1000000000 FLOAT32 cannot fit/,
    ],
    [
      'string value cut',
      build({ kv: [kv('s', 8, [...le(100, 8), 65])] }),
      /metadata key 's': string length 100/,
    ],
    ['bool not 0/1', build({ kv: [kv('b', 7, [2])] }), /metadata key 'b': bool value 2 is neither 0 nor 1/],
    ['invalid UTF-8 key', build({ kv: [badKey] }), /metadata entry 0 key is not valid UTF-8/],
    ['duplicate key', build({ kv: [kv('a', 0, [1]), kv('a', 0, [2])] }), /metadata key 'a' appears twice/],
    [
      'alignment not a power of two',
      build({ kv: [kv('general.alignment', 4, le(48, 4))] }),
      /'general.alignment' is 48, expected a power of two/,
    ],
    [
      'alignment of the wrong type',
      build({ kv: [kv('general.alignment', 5, le(32, 4))] }),
      /'general.alignment' must be UINT32, got INT32/,
    ],
    [
      'nested arrays too deep',
      build({ kv: [kv('n', 9, Array.from({ length: 20 }, () => [...le(9, 4), ...le(1, 8)]).flat())] }),
      /nested deeper than 16/,
    ],
    [
      '5 dimensions',
      build({ tensors: [{ name: 't', dims: [1, 1, 1, 1, 1], type: 0, offset: 0 }], data: 32 }),
      /tensor 't' has 5 dimensions, at most 4/,
    ],
    [
      'unknown type',
      build({ tensors: [{ name: 't', dims: [4], type: 77, offset: 0 }], data: 32 }),
      /tensor 't' has unknown type id 77/,
    ],
    [
      'unsupported type',
      build({ tensors: [{ name: 't', dims: [256], type: 10, offset: 0 }], data: 256 }),
      /tensor 't' has type Q2_K, which is not supported/,
    ],
    [
      'block size',
      build({ tensors: [{ name: 'q', dims: [48, 2], type: 8, offset: 0 }], data: 256 }),
      /tensor 'q': Q8_0 needs the first dimension to be a multiple of 32, got dimensions \[48,2\]/,
    ],
    [
      'data past the end',
      build({ tensors: [{ name: 'w', dims: [64, 64], type: 0, offset: 0 }], data: 1000 }),
      /tensor 'w' \(F32 \[64,64\], 16384 bytes at offset 0\) goes past the end of the 1000-byte data section/,
    ],
    [
      'a gigabyte tensor in a small file',
      build({ tensors: [{ name: 'w', dims: [1 << 15, 1 << 15], type: 0, offset: 0 }], data: 64 }),
      /tensor 'w' .* goes past the end/,
    ],
    [
      'dimensions overflow',
      build({ tensors: [{ name: 'w', dims: [1n << 40n, 1n << 40n], type: 0, offset: 0 }], data: 64 }),
      /tensor 'w': dimensions \[1099511627776,1099511627776\] are too large/,
    ],
    [
      'misaligned offset',
      build({ tensors: [{ name: 'w', dims: [4], type: 0, offset: 4 }], data: 64 }),
      /tensor 'w': offset 4 is not a multiple of the alignment 32/,
    ],
    [
      'overlap',
      build({
        tensors: [
          { name: 'a', dims: [16], type: 0, offset: 0 },
          { name: 'b', dims: [4], type: 0, offset: 32 },
        ],
        data: 128,
      }),
      /tensor 'b' at offset 32 overlaps tensor 'a' \(bytes 0..64\)/,
    ],
    [
      'duplicate tensor',
      build({
        tensors: [
          { name: 'a', dims: [4], type: 0, offset: 0 },
          { name: 'a', dims: [4], type: 0, offset: 32 },
        ],
        data: 64,
      }),
      /tensor name 'a' appears twice/,
    ],
    [
      'tensor info cut',
      build({ tensors: [{ name: 'a'.repeat(30), dims: [4], type: 0, offset: 0 }] }).subarray(0, 70),
      /file truncated: tensor 'a{30}' dimension 0 needs 8 bytes at offset 66, the file has 4 left/,
    ],
  ]
  for (const [name, bytes, re] of cases) {
    test(name, () => {
      assert.throws(
        () => nn.ggufParse(bytes),
        (e: Error) => {
          assert.ok(e instanceof TsgradError, `${e.name}: ${e.message}`)
          assert.match(e.message, re)
          return true
        },
      )
    })
  }
  test('a valid hand-made file parses (the builder itself is right)', async () => {
    const f = nn.ggufParse(build({ tensors: [{ name: 'w', dims: [4, 2], type: 0, offset: 0 }], data: 32 }))
    assert.deepEqual(f.tensors.w!.shape, [2, 4])
  })
  test('a truncated fixture names the tensor that runs past the end', () => {
    const b = fixture('types.gguf')
    assert.throws(() => nn.ggufParse(b.subarray(0, b.length - 100)), /tensor 'q6_k' .* goes past the end/)
  })
})

describe('gguf: dequantization fuses into the consuming matmul', () => {
  // big enough (N x K >= 2^16) that the scheduler would realize a broadcast per-block scale
  const [N, K] = [256, 512]
  /** A file with one (N, K) tensor of `type` made of random blocks whose f16 fields are small. */
  function randomBlocks(typeId: number, blockBytes: number, blockSize: number, f16At: number[]): Uint8Array {
    const nbytes = ((N * K) / blockSize) * blockBytes
    const file = build({ tensors: [{ name: 'w', dims: [K, N], type: typeId, offset: 0 }], data: nbytes })
    const data = file.subarray(file.length - nbytes)
    let s = 7
    for (let i = 0; i < nbytes; i++) data[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24
    for (let b = 0; b < nbytes / blockBytes; b++)
      for (const o of f16At) {
        data[b * blockBytes + o] = b & 0xff
        data[b * blockBytes + o + 1] = 0x20 + (b % 8) // about 0.01
      }
    return file
  }
  // the reduce over K is split into a loop over blocks and loops within them (the innermost over
  // contiguous bytes: it vectorizes, and the scales are read once per block); F16's into steps of
  // one vector (a float32 sum kept in vector lanes)
  const serialize = (type: 'Q8_0' | 'Q4_0' | 'F16') => () =>
    nn.ggufSerialize({ tensors: { w: Tensor.randn([N, K]) } }, type)
  const cases: [string, () => Promise<Uint8Array>, number, number[]][] = [
    ['Q8_0', serialize('Q8_0'), (N * K * 34) / 32, [32, 16]],
    ['Q4_0', serialize('Q4_0'), (N * K * 18) / 32, [32, 16]],
    ['F16', serialize('F16'), N * K, [16]],
    ['Q5_1', async () => randomBlocks(7, 24, 32, [0, 2]), (N * K * 24) / 32, [32, 16, 8]],
    ['Q4_K', async () => randomBlocks(12, 144, 256, [0, 2]), (N * K * 144) / 256, [256, 64, 32, 16]],
    ['Q6_K', async () => randomBlocks(14, 210, 256, [208]), (N * K * 210) / 256, [256, 128, 64, 32, 16]],
  ]
  const cpu = { threads: true, vectorWidth: 16, registers: 24, simdReduce: true }
  for (const [type, make, weightElems, splits] of cases) {
    test(`x @ W.T with W in ${type} is one kernel reading the raw weights (no float copy of W)`, async () => {
      const f = nn.ggufParse(await make())
      assert.equal(f.tensorInfos[0]!.type, type)
      const W = f.tensors.w!
      const x = Tensor.randn([1, K]).realize()
      const y = x.matmul(W.T)
      const kernels = scheduleFor([y.uop]).items.filter((i) => i.kind === 'kernel')
      assert.equal(kernels.length, 1, `${kernels.length} kernels`)
      const sizes = kernels[0]!.bufs.map((b) => `${b.dtype.name} x ${b.size}`)
      const raw = type === 'F16' ? `float16 x ${weightElems}` : `uint8 x ${weightElems}`
      assert.deepEqual(sizes.sort(), [`float32 x ${K}`, `float32 x ${N}`, raw].sort())
      const opts = handOpts(kernels[0]!.ast, cpu)
      assert.deepEqual(
        opts.filter((o) => o.op === 'SPLIT').map((o) => o.arg),
        splits,
      )
      const ref = (await x.matmul(W.contiguous().realize().T).data()) as Float32Array
      const got = (await y.data()) as Float32Array
      for (let i = 0; i < N; i++)
        assert.ok(
          Math.abs(got[i]! - ref[i]!) <= 1e-4 * (1 + Math.abs(ref[i]!)),
          `y[${i}] ${got[i]} vs ${ref[i]}`,
        )
    })
  }
  test('C: the Q8_0 matvec keeps one partial sum per lane across blocks; a matmul tile keeps its registers', async () => {
    const f = nn.ggufParse(await serialize('Q8_0')())
    // (x realized: random numbers read through a broadcast are realized on their own, see schedule.ts)
    const y = Tensor.randn([1, K]).realize().matmul(f.tensors.w!.T)
    const [k] = scheduleFor([y.uop]).items.filter((i) => i.kind === 'kernel')
    const r = new CRenderer()
    const src = renderKernel(k!.ast, r, handOpts(k!.ast, r.target)).src
    assert.match(src, /float acc0_l\[16\] = \{0\.0f\};/)
    // per lane, as scalars or as one vector of lanes (the explicit vector loops)
    assert.match(
      src,
      /acc0_l\[r\d+\] = acc0_l\[r\d+\] \+|\*\(\w+\*\)\(acc0_l \+ r\d+\) = \*\(\w+\*\)\(acc0_l \+ r\d+\) \+/,
    )
    assert.doesNotMatch(src, /omp simd reduction/)
    const mm = Tensor.randn([64, 64])
      .realize()
      .matmul(Tensor.randn([64, 64]).realize())
    const [km] = scheduleFor([mm.uop]).items.filter((i) => i.kind === 'kernel')
    assert.doesNotMatch(renderKernel(km!.ast, r, handOpts(km!.ast, r.target)).src, /_l\[/)
  })
})
