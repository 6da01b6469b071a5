// Storage a synchronous loop gets back without the event loop turning: FinalizationRegistry
// callbacks wait for a turn, so a loop of `f(x).realize()` that never awaits can reuse only memory
// the garbage collector frees by itself (runtime/heap_buffers.ts, runtime/buffer.ts).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { Buffer } from '../../src/runtime/buffer.ts'
import { createRequire } from 'node:module'
import { heapBuffers } from '../../src/runtime/heap_buffers.ts'
import { hostMemory } from '../../src/runtime/host_memory.ts'
import { mallocTuned } from '../../src/runtime/malloc_tuning.ts'
import { settle } from '../soak/workloads.ts'
import { hasCPU } from '../helpers.ts'

const MiB = 2 ** 20
type Gc = (o?: { type: 'minor' | 'major'; execution?: 'sync' }) => void
const gc = globalThis.gc as Gc | undefined
const f32 = Tensor.randn([1]).dtype
type K = Parameters<typeof heapBuffers>[0] & Parameters<typeof hostMemory>[0]
const koffi = (): K => () => createRequire(import.meta.url)('koffi')
const native = () => hostMemory(koffi())

describe('storage a synchronous loop gets back', { skip: !gc && 'needs --expose-gc' }, () => {
  test('a dropped collectable buffer is freed by a young-generation collection, not only a full one', () => {
    // V8's scavenges keep every FinalizationRegistry target alive: with the Buffer itself registered,
    // its storage waited for a full mark-compact (every 64 MB of external memory)
    gc!()
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 16; i++) void new Buffer('JS', MiB / 4, f32).raw // 1 MiB each, dropped
    gc!({ type: 'minor', execution: 'sync' })
    gc!({ type: 'minor', execution: 'sync' }) // (finishes the first one's sweep of array buffers)
    const left = process.memoryUsage().arrayBuffers - before
    assert.ok(left < 4 * MiB, `${(left / MiB).toFixed(1)} MiB of 16 dropped MiB still allocated`)
  })

  test('a loop that never yields reuses warm heap memory for its large outputs', {
    skip: (!hasCPU || process.platform !== 'linux') && 'needs the CPU device on Linux',
  }, async () => {
    const x = Tensor.randn([1 << 20]).realize() // 4 MiB outputs
    x.add(1).realize()
    await settle()
    const mem = native()
    const fault = () => process.resourceUsage().minorPageFault
    let [faults, mapped] = [0, 0]
    for (let i = 0; i < 48; i++) {
      const [f0, m0] = [fault(), mem?.counts.mapped ?? 0]
      x.add(i).realize() // dropped at once, never disposed
      if (i < 24) continue
      faults += fault() - f0
      mapped += (mem?.counts.mapped ?? 0) - m0
    }
    // a fresh mapping (2 huge-page faults) never comes back within the loop; a fresh heap block
    // faults 1,024 pages
    assert.equal(mapped, 0, 'fresh mappings in the last 24 calls')
    assert.ok(faults < 24 * 64, `${faults} minor faults in the last 24 calls`)
    const y = x.add(7).realize()
    const [xs, ys] = [await x.data(), await y.data()]
    for (const i of [0, 12345, (1 << 20) - 1]) assert.equal(ys[i], Math.fround(xs[i]! + 7))
  })

  test('outputs smaller than a huge page do not fault every 4 KiB page of a fresh mapping per call', {
    skip: (!hasCPU || process.platform !== 'linux') && 'needs the CPU device on Linux',
  }, async () => {
    // matmul 512's 1 MiB output: a fresh mapping per call (nothing comes back inside the loop) cost
    // 256 faults of ~17 us on the reference VM, 4.3 ms against a 1.5 ms call; heap blocks share huge pages
    const x = Tensor.randn([1 << 18]).realize() // 1 MiB outputs
    x.add(1).realize()
    await settle()
    const fault = () => process.resourceUsage().minorPageFault
    const mem = native()
    const [f0, m0] = [fault(), mem?.counts.mapped ?? 0]
    const calls = 12
    for (let i = 0; i < calls; i++) x.add(i).realize() // dropped at once, never disposed
    const faults = fault() - f0
    assert.equal((mem?.counts.mapped ?? 0) - m0, 0, 'fresh mappings')
    assert.ok(
      faults < calls * 64,
      `${faults} minor faults in ${calls} calls (a fresh 4 KiB-page output: 256 each)`,
    )
  })

  test('the heap past its highest block is faulted in ahead, off the thread of the loop', {
    skip: (!hasCPU || process.platform !== 'linux') && 'needs the CPU device on Linux',
  }, async () => {
    // memory the process never had costs ~5 ms per 2 MiB huge page on first touch on the reference
    // VM: matmul 256's plain loop paid it every eighth call, matmul 512's every second
    void new Buffer('CPU', 1 << 14, f32).raw // the device is up: malloc tuned
    const k = koffi()
    const heap = heapBuffers(k, mallocTuned())!
    const raw = createRequire(import.meta.url)('koffi')
    const libc = raw.load('libc.so.6')
    const mincore = libc.func('int mincore(void *addr, size_t len, _Out_ uint8_t *vec)')
    const sbrk = libc.func('intptr_t sbrk(intptr_t increment)')
    const info = libc.func(
      `${raw.struct('mallinfo2_ahead', Object.fromEntries(['arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost'].map((f) => [f, 'size_t']))).name} mallinfo2()`,
    )
    // larger than all the free heap: it lands at the top, and the memory past it is new
    const bytes = Math.ceil((Number(info().fordblks) + 4 * MiB) / MiB) * MiB
    const block = heap.alloc(bytes)
    const end = BigInt(raw.address(block)) + BigInt(bytes)
    const from = (end / 4096n + 1n) * 4096n
    const len = Math.min(Number(BigInt(sbrk(0)) - from), 8 * MiB)
    assert.ok(len > 0, 'heap room past the block')
    const vec = new Uint8Array(len / 4096)
    const resident = () => (mincore(from, len, vec) === 0 ? vec.filter((v) => v & 1).length : -1)
    const t0 = Date.now()
    // (the kernel may take back a few zero pages of a huge page nothing wrote: THP's shrinker)
    const enough = Math.ceil(vec.length * 0.9)
    while (resident() < enough && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 20))
      heap.alloc(1 << 16) // a later block sends the next request once the one out is over
    }
    const got = resident()
    assert.ok(got >= enough, `${got} of ${vec.length} pages resident past the block (nothing touched them)`)
    assert.ok(heap.counts.populated > 0)
    void block
  })

  test('a heap block past the mmap threshold is on the heap, and a scavenge gives it back to malloc', {
    skip: (!hasCPU || process.platform !== 'linux') && 'needs the CPU device on Linux',
  }, () => {
    void new Buffer('CPU', 1 << 14, f32).raw // the device is up: malloc tuned
    const k = koffi()
    const heap = heapBuffers(k, mallocTuned())
    assert.ok(heap, 'heap blocks on Linux with glibc')
    const raw = createRequire(import.meta.url)('koffi')
    const libc = raw.load('libc.so.6')
    const fields = [
      'arena',
      'ordblks',
      'smblks',
      'hblks',
      'hblkhd',
      'usmblks',
      'fsmblks',
      'uordblks',
      'fordblks',
      'keepcost',
    ]
    const info = libc.func(
      `${raw.struct('mallinfo2', Object.fromEntries(fields.map((f) => [f, 'size_t']))).name} mallinfo2()`,
    )
    const stat = (f: 'uordblks' | 'hblkhd' | 'fordblks') =>
      Number((info() as Record<string, number | bigint>)[f])
    // larger than all the free heap (so no free chunk can serve it) and past the 2 MiB threshold:
    // malloc would mmap it as a chunk of its own and unmap it when freed. (Where the block lands is
    // not checked against the heap top: when sbrk cannot grow the heap, malloc extends it with an
    // mmap of its own, still heap memory that it keeps when freed.)
    const bytes = Math.ceil((stat('fordblks') + 8 * MiB) / MiB) * MiB
    const chunkMaps = stat('hblkhd')
    let ab: ArrayBuffer | undefined = heap.alloc(bytes)
    assert.equal(ab.byteLength, bytes)
    assert.ok(stat('hblkhd') - chunkMaps < bytes, 'on the heap, not an mmapped chunk')
    const before = stat('uordblks')
    ab = undefined
    gc!({ type: 'minor', execution: 'sync' })
    gc!({ type: 'minor', execution: 'sync' }) // (finishes the first one's sweep of array buffers)
    const freed = before - stat('uordblks')
    // (a few KiB of other allocations may land between the two readings)
    assert.ok(
      freed >= bytes - 256 * 1024,
      `malloc got back ${(freed / MiB).toFixed(3)} of ${bytes / MiB} MiB`,
    )
  })
})
