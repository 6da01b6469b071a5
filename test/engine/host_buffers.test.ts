// The CPU device's large buffers are native mappings in a size-class cache (runtime/host_memory.ts):
// reused warm, never unmapped while a view of them is reachable, and bounded in a loop that never
// disposes its results.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { Buffer } from '../../src/runtime/buffer.ts'
import { HostMemory, hostMemory, NATIVE_MIN_BYTES, sizeClass } from '../../src/runtime/host_memory.ts'
import { cpuStorage } from '../../src/runtime/cpu.ts'
import { RECYCLE_TURN_LIMIT } from '../../src/runtime/cpu_storage.ts'
import { settle } from '../soak/workloads.ts'
import { hasCPU } from '../helpers.ts'

const MiB = 2 ** 20
type K = Parameters<typeof hostMemory>[0] extends () => infer R ? R : never
const koffi = () => createRequire(import.meta.url)('koffi') as K
const native = () => hostMemory(koffi)
const skip =
  (!hasCPU || process.platform !== 'linux' || !globalThis.gc) &&
  'needs the CPU device on Linux and --expose-gc'

/** A private allocator over the real libc with its own limit (the process's one is left alone). */
function privateMemory(limit: number, cacheLimit?: number, hardLimit?: number): HostMemory {
  const k = koffi()
  const lib = k.load('libc.so.6')
  const f = (d: string) => lib.func(d) as never
  return new HostMemory(
    {
      mmap: f('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
      munmap: f('int munmap(void *addr, size_t len)'),
      madvise: f('int madvise(void *addr, size_t len, int advice)'),
    },
    (p, len) => k.view(p, len),
    limit,
    cacheLimit,
    hardLimit,
  )
}

describe('size classes', () => {
  test('at most 25% over, whole pages, whole huge pages from 2 MiB', () => {
    for (const b of [1, 4095, 4097, 100_000, MiB, MiB + 1, 3 * MiB + 7, 64 * MiB, 64 * MiB + 1, 1e9]) {
      const c = sizeClass(b)
      assert.ok(c >= b, `${b} -> ${c}`)
      assert.ok(c <= Math.max(b * 1.25, 4096) + (c >= 2 * MiB ? 2 * MiB : 4096), `${b} -> ${c}`)
      assert.equal(c % (c >= 2 * MiB ? 2 * MiB : 4096), 0)
    }
    assert.equal(sizeClass(64 * MiB), 64 * MiB)
    assert.equal(sizeClass(64 * MiB + 1), 80 * MiB)
  })
})

describe('native output buffers', { skip }, () => {
  test('a large CPU buffer is native memory, a small one and a JS one are plain ArrayBuffers', () => {
    const mem = native()
    assert.ok(mem, 'native host memory is available on Linux')
    const big = new Buffer('CPU', NATIVE_MIN_BYTES / 4, Tensor.randn([1]).dtype)
    assert.ok(mem.owns((big.raw as Float32Array).buffer as ArrayBuffer))
    const small = new Buffer('CPU', 1000, big.dtype)
    assert.ok(!mem.owns((small.raw as Float32Array).buffer as ArrayBuffer))
    const js = new Buffer('JS', NATIVE_MIN_BYTES, big.dtype)
    assert.ok(!mem.owns((js.raw as Float32Array).buffer as ArrayBuffer))
    for (const b of [big, small, js]) b.dispose()
  })

  test('a disposed result goes back to the cache and the next result of its class reuses it', async () => {
    const mem = native()!
    const x = Tensor.randn([1 << 20]).realize() // 4 MiB
    const y = x.add(1).realize()
    const ab = (y.uop.contiguousBase!.arg as Buffer).raw as Float32Array
    const expect = Array.from((await y.data()).subarray(0, 4))
    y.dispose()
    const reused = mem.counts.reused
    const z = x.mul(2).realize()
    assert.equal(mem.counts.reused, reused + 1)
    assert.equal(((z.uop.contiguousBase!.arg as Buffer).raw as Float32Array).buffer, ab.buffer)
    const xs = await x.data()
    assert.deepEqual(
      Array.from((await z.data()).subarray(0, 4)),
      Array.from(xs.subarray(0, 4), (v) => Math.fround(v * 2)),
    )
    assert.deepEqual(
      expect,
      Array.from(xs.subarray(0, 4), (v) => Math.fround(v + 1)),
    )
  })

  test('data() is a copy: a reused buffer does not change values read before', async () => {
    const x = Tensor.full([1 << 19], 3).realize()
    const y = x.add(1)
    const read = await y.data()
    const storage = ((y.uop.contiguousBase!.arg as Buffer).raw as Float32Array).buffer
    assert.notEqual(read.buffer, storage)
    y.dispose()
    const z = x.mul(10).realize() // same class: y's storage
    assert.equal(((z.uop.contiguousBase!.arg as Buffer).raw as Float32Array).buffer, storage)
    await z.data()
    assert.ok(read.every((v) => v === 4))
  })

  test('a mapping is reused or unmapped only after every view of it is unreachable', async () => {
    const mem = privateMemory(64 * MiB, 4 * MiB)
    const take = () => new Float32Array(mem.alloc(4 * MiB)!)
    let a: Float32Array | undefined = take()
    let b: Float32Array | undefined = take()
    a.fill(7)
    b.fill(8)
    assert.equal(mem.mapped, 8 * MiB)
    await settle()
    // both still reachable: neither mapping went anywhere (reading unmapped memory would crash)
    assert.equal(mem.mapped, 8 * MiB)
    assert.equal(mem.cached, 0)
    assert.ok(a.every((v) => v === 7) && b.every((v) => v === 8))
    a = undefined
    b = undefined
    await settle()
    // one comes back to the cache (its limit: 4 MiB), the other is unmapped
    assert.equal(mem.cached, 4 * MiB)
    assert.equal(mem.mapped, 4 * MiB)
    const reused = mem.counts.reused
    take()
    assert.equal(mem.counts.reused, reused + 1)
  })

  test('mapped memory stays under the limit; past it allocations fall back to plain ArrayBuffers', () => {
    const mem = privateMemory(16 * MiB)
    const held: ArrayBuffer[] = []
    for (let i = 0; i < 8; i++) {
      const ab = mem.alloc(4 * MiB)
      if (ab) held.push(ab)
    }
    assert.equal(held.length, 4)
    assert.equal(mem.mapped, 16 * MiB)
    assert.equal(mem.counts.overLimit, 4)
    for (const ab of held) mem.release(ab)
    assert.equal(mem.cached, 8 * MiB, 'the cache keeps at most half the limit')
    assert.ok(mem.alloc(4 * MiB)) // a cached one
  })

  test('the first mapping of a turn is granted whatever its size; later ones only within the turn limit', async () => {
    // a model's 64 MiB weight realized on its own still gets a mapping (huge pages, unmapped when
    // dropped); a loop's outputs past the limit go to heap blocks the GC gives back in the loop
    const mem = privateMemory(16 * MiB, 8 * MiB, 1024 * MiB)
    await new Promise((r) => setImmediate(r))
    const big = mem.alloc(64 * MiB)
    assert.ok(big, 'first mapping of the turn')
    assert.equal(mem.alloc(4 * MiB), undefined, 'past the turn limit')
    await new Promise((r) => setImmediate(r))
    const again = mem.alloc(64 * MiB)
    assert.ok(again, 'first mapping of the next turn')
    for (const ab of [big, again]) mem.release(ab)
  })

  test('what stays mapped across turns of the event loop counts against the hard limit only', async () => {
    // a model's weights, loaded before: with the turn budget spent by them, every later large
    // buffer was a fresh zero-filled ArrayBuffer (an LLM prefill's 64 MB temporaries)
    const mem = privateMemory(16 * MiB, 8 * MiB, 32 * MiB)
    const held: ArrayBuffer[] = []
    const take = () => {
      const ab = mem.alloc(4 * MiB)
      if (ab) held.push(ab)
      return ab
    }
    for (let i = 0; i < 4; i++) assert.ok(take())
    assert.equal(take(), undefined, 'the turn budget (16 MiB) is spent')
    await new Promise((r) => setImmediate(r))
    for (let i = 0; i < 4; i++) assert.ok(take(), `after a turn: allocation ${i + 1}`)
    assert.equal(mem.mapped, 32 * MiB)
    await new Promise((r) => setImmediate(r))
    assert.equal(take(), undefined, 'the hard limit (32 MiB) holds across turns')
    for (const ab of held) mem.release(ab)
  })

  test('3,000 un-disposed results read with await data() keep RSS and mapped memory bounded', async () => {
    // 6 GiB of results and 6 GiB of copies; what stays mapped is what dies between two collections
    const mem = native()!
    const x = Tensor.randn([1 << 19]).realize() // 2 MiB results
    for (let i = 0; i < 100; i++) await x.add(1).data()
    await settle()
    const rss0 = process.memoryUsage().rss
    let mappedMax = 0
    for (let i = 0; i < 3000; i++) {
      await x.add(1).data()
      mappedMax = Math.max(mappedMax, mem.mapped)
    }
    const grew = (process.memoryUsage().rss - rss0) / MiB
    assert.ok(grew < 512, `RSS grew by ${grew.toFixed(0)} MiB`)
    assert.ok(mappedMax < 512 * MiB, `mapped up to ${(mappedMax / MiB).toFixed(0)} MiB`)
    assert.ok(mem.counts.reused > 5000, `only ${mem.counts.reused} allocations reused a mapping`)
  })
})

describe('small CPU buffers share slabs', { skip }, () => {
  const f32 = Tensor.randn([1]).dtype
  const raw = (n: number) => new Buffer('CPU', n, f32).raw as Float32Array
  const address = (a: Float32Array) => Number(koffi().address(a.buffer as ArrayBuffer)) + a.byteOffset

  test('consecutive small buffers are 64-byte aligned views of one ArrayBuffer', () => {
    const a = raw(1000)
    const b = raw(3)
    const c = raw(1000)
    assert.equal(a.buffer, b.buffer)
    assert.equal(b.buffer, c.buffer)
    for (const x of [a, b, c]) assert.equal(address(x) % 64, 0)
    // disjoint: writing one leaves the others alone
    a.fill(1)
    b.fill(2)
    c.fill(3)
    assert.deepEqual([a[999], b[0], b[2], c[0]], [1, 2, 2, 3])
    // a buffer past the slab limit is its own ArrayBuffer
    assert.notEqual(raw(1 << 13).buffer, raw(1 << 13).buffer)
  })

  test('a loop of 20,000 un-disposed small ops keeps array-buffer memory bounded', async () => {
    const x = Tensor.rand([1000]).realize()
    let y = x
    for (let i = 0; i < 500; i++) y = y.add(0.5).realize()
    await settle()
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 20_000; i++) {
      y = y.mul(0.999).realize()
      if (i % 1000 === 0) await y.data()
    }
    await settle()
    const grown = process.memoryUsage().arrayBuffers - before
    // 20,000 results of 4 KB are 80 MB: what is left must be a few slabs, not the results
    assert.ok(grown < 4 * MiB, `array buffers grew by ${(grown / MiB).toFixed(1)} MiB`)
  })
})

describe('medium buffers come back when their Buffer is collected', { skip }, () => {
  const f32 = Tensor.randn([1]).dtype
  const storageOf = (b: Buffer): ArrayBuffer => (b.raw as Float32Array).buffer as ArrayBuffer

  test('an un-disposed buffer of 16 KiB to 2 MiB is reused warm after the GC found it unreachable', async () => {
    await settle()
    // a length no other test uses, so the pool's list of it holds only this test's storage
    let b: Buffer | undefined = new Buffer('CPU', 65_537, f32)
    const ab = storageOf(b)
    b = undefined
    await settle()
    // reused: the same storage, no new ArrayBuffer (no zero fill, no new V8 external memory)
    const c = new Buffer('CPU', 65_537, f32)
    assert.equal(storageOf(c), ab)
    // while a Buffer is reachable its storage is not handed out again
    const d = new Buffer('CPU', 65_537, f32)
    await settle()
    assert.notEqual(storageOf(d), storageOf(c))
  })

  test('a synchronous loop hands out at most RECYCLE_TURN_LIMIT of recycled storage, then collectable storage', async () => {
    await settle()
    const n = 65_539
    const count = Math.ceil(RECYCLE_TURN_LIMIT / (n * 4)) + 4
    const raws: Float32Array[] = []
    for (let i = 0; i < count; i++) raws.push(new Buffer('CPU', n, f32).raw as Float32Array)
    const recycled = raws.filter((r) => cpuStorage.needsFree(r)).length
    assert.ok(recycled > 0 && recycled < count, `${recycled} of ${count} recycled`)
    assert.ok(recycled * n * 4 <= RECYCLE_TURN_LIMIT)
  })

  test('results of a plain loop with recycled outputs stay correct and reads made before do not change', async () => {
    const a = Tensor.rand([128, 128]).realize()
    const b = Tensor.rand([128, 128]).realize()
    const ref = await a.matmul(b).data()
    const first = await a.matmul(b).add(1).data()
    const before = cpuStorage.counts.pooled
    for (let i = 0; i < 600; i++) {
      const y = await (i % 2 ? a.matmul(b) : a.matmul(b).add(1)).data()
      if (i % 50 === 0) assert.ok(Math.abs(y[777]! - ref[777]! - (i % 2 ? 0 : 1)) < 1e-3, `call ${i}`)
    }
    assert.ok(cpuStorage.counts.pooled > before, 'outputs were taken from the pool')
    assert.deepEqual(Array.from(first), Array.from(await a.matmul(b).add(1).data()))
  })
})
