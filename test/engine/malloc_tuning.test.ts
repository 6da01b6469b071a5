// The CPU device keeps freed medium buffers' memory mapped (runtime/malloc_tuning.ts): a plain loop's
// fresh 256 KiB outputs page-faulted and were zero filled by the kernel at every call otherwise.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { mallocSettings, mallocTuned } from '../../src/runtime/malloc_tuning.ts'
import { hasCPU } from '../helpers.ts'

describe('malloc tuning for the CPU device', () => {
  test('mmap threshold 2 MiB, trim threshold 256 MiB, top pad 64 MiB, unless the user set one or turned it off', () => {
    const env = (vars: Record<string, string>) => (n: string) => vars[n] ?? ''
    assert.deepEqual(
      mallocSettings(env({})).map((s) => s.value),
      [2 << 20, 256 << 20, 64 << 20],
    )
    assert.deepEqual(mallocSettings(env({ MALLOC_TOP_PAD_: '0' })), [])
    assert.deepEqual(mallocSettings(env({ MALLOC_TRIM_THRESHOLD_: '131072' })), [])
    assert.deepEqual(mallocSettings(env({ MALLOC_MMAP_THRESHOLD_: '65536' })), [])
    assert.deepEqual(mallocSettings(env({ TSGRAD_MALLOC_TUNING: '0' })), [])
  })

  test('applied when the CPU device starts (Linux, glibc)', {
    skip: (!hasCPU || process.platform !== 'linux') && 'no CPU device on Linux',
  }, async () => {
    assert.deepEqual([...(await new Tensor([1, 2], { device: 'CPU' }).add(1).data())], [2, 3])
    const userTuned =
      process.env.MALLOC_TRIM_THRESHOLD_ ||
      process.env.MALLOC_MMAP_THRESHOLD_ ||
      process.env.TSGRAD_MALLOC_TUNING === '0'
    assert.equal(mallocTuned(), !userTuned)
  })
})
