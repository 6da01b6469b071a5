// Tensor.bitcast (the same bits read as another dtype) and Tensor.fromBytes (storage filled with
// raw little-endian bytes), the two pieces GGUF's quantized tensors are built from.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { deviceLacks } from '../helpers.ts'
import { f16BitsToF32, Tensor, TsgradError } from '../../src/index.ts'

describe('bitcast', () => {
  test('uint8 -> int8 reads the two complement', async () => {
    const t = new Tensor(new Uint8Array([0, 1, 127, 128, 200, 255]))
    assert.deepEqual(Array.from((await t.bitcast('int8').data()) as Int8Array), [0, 1, 127, -128, -56, -1])
  })
  test('uint16 -> float16 and float32 <-> int32 inside fused kernels', async () => {
    const h = new Tensor(new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001]))
    assert.deepEqual(Array.from((await h.bitcast('float16').float().data()) as Float32Array), [
      1,
      -2,
      Infinity,
      2 ** -24,
    ])
    const f = new Tensor(new Float32Array([1, -0, 0.5]))
    const bits = (await f.mul(2).bitcast('int32').add(1).data()) as Int32Array
    assert.deepEqual(Array.from(bits), [0x40000001, -0x80000000 + 1, 0x3f800001])
    assert.deepEqual(
      Array.from((await new Tensor(new Int32Array([0x3f800000])).bitcast('float32').data()) as Float32Array),
      [1],
    )
  })
  test('sizes must match; bool, bfloat16 and 64-bit types are refused', {
    skip: deviceLacks('int64', 'bfloat16'),
  }, () => {
    for (const [from, to] of [
      ['uint8', 'int16'],
      ['bool', 'uint8'],
      ['uint16', 'bfloat16'],
      ['int64', 'float64'],
    ] as const)
      assert.throws(
        () => Tensor.zeros([2], { dtype: from }).bitcast(to),
        (e: Error) =>
          e instanceof TsgradError &&
          new RegExp(`bitcast: cannot reinterpret ${from} \\(shape \\[2\\]\\) as ${to}`).test(e.message),
      )
  })
})

describe('fromBytes', () => {
  test('float32 and float16 storage from raw bytes', async () => {
    const f = new Float32Array([1.5, -2, 3, 4, 5, 6])
    const t = Tensor.fromBytes([2, 3], 'float32', (dst) => dst.set(new Uint8Array(f.buffer)))
    assert.deepEqual(t.shape, [2, 3])
    assert.deepEqual(await t.data(), f)
    const h = Tensor.fromBytes([2], 'float16', (dst) => dst.set([0x00, 0x3c, 0x00, 0xc0]))
    assert.equal(h.dtype.name, 'float16')
    assert.deepEqual(Array.from((await h.data()) as Float32Array), [1, -2])
  })
  test('the fill sees exactly the storage size', () => {
    let seen = -1
    Tensor.fromBytes([3, 5], 'int16', (dst) => {
      seen = dst.length
    })
    assert.equal(seen, 30)
  })
  test('bad arguments', () => {
    assert.throws(() => Tensor.fromBytes([2], 'float32', 5 as never), /fromBytes: fill must be a function/)
    assert.throws(() => Tensor.fromBytes([-1], 'float32', () => {}), TsgradError)
    assert.throws(() => Tensor.fromBytes([2], 'float32', () => {}, { dtype: 'x' } as never), TsgradError)
  })
})

describe('float16 -> float32 casts in kernels', () => {
  test('every one of the 65536 bit patterns converts exactly (subnormals, -0, inf, NaN)', async () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i)
    const h = Tensor.fromBytes([65536], 'float16', (dst) => dst.set(new Uint8Array(bits.buffer)))
    const got = (await h.float().mul(1).data()) as Float32Array
    const gotBits = new Uint32Array(got.buffer, got.byteOffset, got.length)
    const want = new Float32Array(1)
    const wantBits = new Uint32Array(want.buffer)
    for (let i = 0; i < 65536; i++) {
      want[0] = f16BitsToF32(i)
      if (Number.isNaN(want[0]!)) assert.ok(Number.isNaN(got[i]!), `0x${i.toString(16)}: ${got[i]}`)
      else assert.equal(gotBits[i], wantBits[0], `0x${i.toString(16)}: ${got[i]} vs ${want[0]}`)
    }
  })
})
