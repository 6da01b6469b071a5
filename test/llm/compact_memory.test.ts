// An LLM process may keep its host memory compact: with TSGRAD_COMPACT_MEMORY=1, llm.load switches the
// CPU device to plain ArrayBuffers from glibc's malloc as configured by default (runtime/cpu.ts
// compactHostMemory); by default it keeps the tuned memory, whose huge pages decode faster.
// The plain path's native mappings, heap blocks and kept free heap (trim threshold 256 MiB), all
// advised for huge pages, held 116 MB more at the peak of a LLaMA-1B Q4_0 bench run (file 699 MB).
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'
import { llm, Tensor } from '../../src/index.ts'
import type { Buffer } from '../../src/runtime/buffer.ts'
import { cpuStorage } from '../../src/runtime/cpu.ts'
import { CpuStorage } from '../../src/runtime/cpu_storage.ts'
import { type HeapBuffers, heapBuffers } from '../../src/runtime/heap_buffers.ts'
import { hostMemory } from '../../src/runtime/host_memory.ts'
import { mallocTuned } from '../../src/runtime/malloc_tuning.ts'
import { hasCPU } from '../helpers.ts'
import { LLM_FIXTURES } from './fixtures.ts'

const MiB = 2 ** 20
type K = Parameters<typeof hostMemory>[0] extends () => infer R ? R : never
const koffi = () => createRequire(import.meta.url)('koffi') as K
const skip = !(hasCPU && process.platform === 'linux') && 'needs the CPU device on Linux'

test('preferPlainBuffers: large buffers are plain ArrayBuffers, neither native mappings nor heap blocks', {
  skip,
}, () => {
  const mem = hostMemory(koffi)
  const heap = heapBuffers(koffi as never, true) as HeapBuffers | null
  assert.ok(mem, 'native host memory on Linux')
  const storage = new CpuStorage(
    (ab) => koffi().address(ab),
    () => mem,
    () => heap,
  )
  const dtype = Tensor.randn([1]).dtype
  const before = storage.alloc(MiB, dtype)
  assert.ok(mem.owns(before.buffer as ArrayBuffer), 'a 4 MiB buffer is a native mapping before')
  storage.preferPlainBuffers()
  const blocks = heap?.counts.blocks ?? 0
  for (const elements of [MiB, 4 * MiB]) {
    const a = storage.alloc(elements, dtype)
    assert.ok(!mem.owns(a.buffer as ArrayBuffer), `${elements * 4} bytes: not native`)
    assert.ok(!storage.needsFree(a))
    assert.ok(!mem.owns(storage.copyOut(a).buffer as ArrayBuffer), 'a copy out: not native')
  }
  assert.equal(heap?.counts.blocks ?? 0, blocks, 'no heap blocks')
})

// (before the opt-in test: compaction is process-wide and for good)
test('by default llm.load keeps the tuned host memory (its weights in huge pages decode faster)', {
  skip,
}, async () => {
  const prev = process.env.TSGRAD_COMPACT_MEMORY
  delete process.env.TSGRAD_COMPACT_MEMORY
  try {
    void Tensor.zeros([1], { device: 'CPU' }).realize() // the CPU device up: malloc tuned
    const tuned = mallocTuned()
    await llm.load(join(LLM_FIXTURES, 'llama_q4_0.gguf'))
    assert.equal(mallocTuned(), tuned)
    assert.equal(mallocTuned(), process.env.TSGRAD_MALLOC_TUNING !== '0')
  } finally {
    if (prev !== undefined) process.env.TSGRAD_COMPACT_MEMORY = prev
  }
})

test('with TSGRAD_COMPACT_MEMORY=1 llm.load leaves malloc untuned and the CPU device on plain buffers', {
  skip,
}, async () => {
  process.env.TSGRAD_COMPACT_MEMORY = '1'
  const m = await llm.load(join(LLM_FIXTURES, 'llama_q4_0.gguf'))
  assert.equal(mallocTuned(), false)
  const mem = hostMemory(koffi)
  const t = Tensor.zeros([4 * MiB], { device: 'CPU' })
    .contiguous()
    .realize()
  const raw = (t.uop.contiguousBase!.arg as Buffer).raw as Float32Array
  assert.ok(!mem?.owns(raw.buffer as ArrayBuffer), 'a 16 MB buffer after llm.load is not a native mapping')
  assert.ok(!cpuStorage.needsFree(raw))
  assert.ok((await m.logits(m.tokenizer.encode('hi'))).every(Number.isFinite))
})
