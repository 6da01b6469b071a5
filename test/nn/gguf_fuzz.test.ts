// Fuzzing the GGUF reader: thousands of seeded mutations of the valid fixtures (byte flips, runs of
// random bytes, 32/64-bit fields set to edge values at random offsets, truncations, extensions,
// cut-and-splice). Every case must either parse into a consistent result or throw a TsgradError
// (never a TypeError/RangeError from deep inside, a crash, a hang or a huge allocation), and the
// whole run has a time bound.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { nn, TsgradError } from '../../src/index.ts'

/** mulberry32: a small deterministic PRNG. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

const FIX = join(import.meta.dirname, '..', 'fixtures', 'gguf')
const SEEDS = ['types.gguf', 'meta.gguf'].map((f) => new Uint8Array(readFileSync(join(FIX, f))))
const EDGE = [
  0n,
  1n,
  2n,
  3n,
  4n,
  7n,
  8n,
  9n,
  12n,
  13n,
  31n,
  32n,
  33n,
  255n,
  256n,
  0x7fffffffn,
  0xffffffffn,
  1n << 32n,
  1n << 40n,
  (1n << 53n) - 1n,
  1n << 53n,
  1n << 63n,
  (1n << 64n) - 1n,
]

function mutate(src: Uint8Array, r: (n: number) => number): Uint8Array {
  let b = src.slice()
  const rounds = 1 + r(3)
  for (let k = 0; k < rounds; k++) {
    // mutations aim at the header (where the structure is) four times out of five
    const span = r(5) === 0 ? b.length : Math.min(b.length, 400)
    const at = r(Math.max(1, span))
    switch (r(6)) {
      case 0:
        b[at] = r(256)
        break
      case 1:
        for (let i = at; i < Math.min(b.length, at + 1 + r(16)); i++) b[i] = r(256)
        break
      case 2:
      case 3: {
        const v = EDGE[r(EDGE.length)]!
        const width = r(2) ? 4 : 8
        const dv = new DataView(b.buffer)
        if (at + width <= b.length) {
          if (width === 4) dv.setUint32(at, Number(v & 0xffffffffn), true)
          else dv.setBigUint64(at, v, true)
        }
        break
      }
      case 4:
        b = b.subarray(0, r(b.length + 1)).slice()
        break
      default: {
        // splice: drop or duplicate a run of bytes
        const len = 1 + r(24)
        const cut = r(2) ? b.subarray(at, at + len) : new Uint8Array(0)
        const out = new Uint8Array(b.length - (cut.length ? 0 : Math.min(len, b.length - at)) + cut.length)
        if (cut.length) {
          out.set(b.subarray(0, at))
          out.set(cut, at)
          out.set(b.subarray(at), at + cut.length)
        } else {
          out.set(b.subarray(0, at))
          out.set(b.subarray(Math.min(b.length, at + len)), at)
        }
        b = out
      }
    }
  }
  return b
}

test('mutated GGUF files parse consistently or throw TsgradError', () => {
  const r = rng(16)
  const deadline = Date.now() + 20_000
  let parsed = 0
  let rejected = 0
  let n = 0
  for (; n < 4000 && Date.now() < deadline; n++) {
    const bytes = mutate(SEEDS[n % SEEDS.length]!, r)
    const t0 = Date.now()
    try {
      const f = nn.ggufParse(bytes)
      parsed++
      for (const info of f.tensorInfos) {
        assert.ok(
          f.dataStart + info.offset + info.nbytes <= bytes.length,
          `case ${n}: '${info.name}' past the end`,
        )
        assert.deepEqual(f.tensors[info.name]!.shape, info.shape, `case ${n}: '${info.name}' shape`)
      }
    } catch (e) {
      if (!(e instanceof TsgradError))
        assert.fail(`case ${n}: ${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`)
      assert.match(e.message, /^gguf: /)
      rejected++
    }
    assert.ok(Date.now() - t0 < 2000, `case ${n} took ${Date.now() - t0} ms`)
  }
  assert.ok(n >= 1000, `only ${n} cases ran in the time bound`)
  // both outcomes happen: the mutations reach past the first checks
  assert.ok(parsed > 50 && rejected > 50, `parsed ${parsed}, rejected ${rejected}`)
})
