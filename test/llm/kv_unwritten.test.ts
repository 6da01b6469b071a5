// The KV cache is allocated unwritten (no zero fill: on host memory its untouched pages stay out of
// the resident set, 67 MB of a LLaMA-1B f16 cache of 2048 positions right after the load). That is
// only sound if no step reads a position before some step wrote it: here every position of every
// layer's cache starts as NaN, and the logits of a prompt and of decode steps after it must be the
// same as a model whose cache starts as zeros.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'
import { stats } from '../../src/engine/realize.ts'
import { nn, Tensor } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import type { KVCache } from '../../src/nn/kv_cache.ts'
import type { ModelRunner } from '../../src/llm/types.ts'
import type { Buffer } from '../../src/runtime/buffer.ts'
import { hasCPU } from '../helpers.ts'
import { LLM_FIXTURES, reference } from './fixtures.ts'

const fill = (m: ModelRunner, value: number): void => {
  const caches = (m as unknown as { caches: KVCache[] }).caches
  assert.ok(caches.length > 0)
  for (const c of caches)
    for (const t of [c.k, c.v]) t.assign(Tensor.full(t.shape, value, { dtype: t.dtype })).realize()
}

for (const name of ['llama_q4_0', 'llama3_f32'])
  test(`${name}: no step reads a cache position it has not written (NaN-filled cache, same logits)`, async () => {
    const ref = reference(name)
    const file = await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`))
    const zeros = loadGGUFModel(file)
    const nans = loadGGUFModel(file)
    fill(zeros, 0)
    fill(nans, Number.NaN)
    const prompt = ref.prompt.slice(0, Math.max(2, ref.prompt.length - 2))
    const a = await nans.step(prompt, 0)
    assert.deepEqual(a, await zeros.step(prompt, 0), 'prompt')
    assert.ok(a.every(Number.isFinite))
    for (let i = 0; i < 3; i++) {
      const pos = prompt.length + i
      const d = await nans.step([ref.prompt[i]!], pos)
      assert.deepEqual(d, await zeros.step([ref.prompt[i]!], pos), `decode at ${pos}`)
      assert.ok(d.every(Number.isFinite), `decode at ${pos}: finite`)
    }
  })

test('a KV cache is allocated without writing it (no fill, no kernel)', () => {
  const before = { ...stats }
  const c = new nn.KVCache(1, 2, 64, 8, { dtype: 'float16' })
  assert.equal(stats.kernelsRun, before.kernelsRun)
  assert.equal(stats.fills, before.fills)
  assert.deepEqual(c.k.shape, [1, 2, 64, 8])
  assert.equal(c.v.dtype.name, 'float16')
})

/** /proc/self/smaps' mappings overlapping [start, start + len): their VmFlags and resident bytes there. */
function mappingsOver(start: bigint, len: number): { flags: string[]; rssKiB: number }[] {
  const end = start + BigInt(len)
  const out: { flags: string[]; rssKiB: number }[] = []
  let cur: { flags: string[]; rssKiB: number } | undefined
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line)
    if (range) {
      const lo = BigInt(`0x${range[1]}`)
      const hi = BigInt(`0x${range[2]}`)
      cur = lo < end && hi > start ? { flags: [], rssKiB: 0 } : undefined
      if (cur) out.push(cur)
    } else if (cur && line.startsWith('Rss:')) cur.rssKiB = Number(line.split(/\s+/)[1])
    else if (cur && line.startsWith('VmFlags:')) cur.flags = line.split(/\s+/).slice(1)
  }
  return out
}

test("a KV cache is in small pages: a prompt's first position makes kilobytes resident, not a 2 MiB huge page", {
  skip: !(hasCPU && process.platform === 'linux') && 'needs the CPU device on Linux',
}, () => {
  // 8 heads x 2048 positions x 64 halves: 2 MiB per buffer, a whole huge page where advised
  const c = new nn.KVCache(1, 8, 2048, 64, { dtype: 'float16', device: 'CPU' })
  const raw = (c.k.uop.contiguousBase!.arg as Buffer).raw as Uint16Array
  const koffi = createRequire(import.meta.url)('koffi') as { address(ab: ArrayBuffer): bigint }
  const start = koffi.address(raw.buffer as ArrayBuffer) + BigInt(raw.byteOffset)
  const x = Tensor.ones([1, 8, 1, 64])
  const [keys] = c.update(x, x, 0)
  keys.realize()
  // the whole pages inside the buffer: advised against huge pages (VmFlags nh)
  const inner = mappingsOver(start + 4096n, raw.byteLength - 8192)
  assert.ok(inner.length > 0)
  for (const m of inner) assert.ok(m.flags.includes('nh'), `VmFlags ${m.flags.join(' ')} lack nh`)
  // one position of 8 heads: 8 pages of 4 KiB (and the buffer's partial pages at its ends)
  const rss = inner.reduce((a, m) => a + m.rssKiB, 0)
  assert.ok(rss <= 64, `${rss} KiB resident after one position`)
})
