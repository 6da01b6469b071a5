// Writing big float16/bfloat16 tensors keeps the JS heap small: the conversion is a loop into a
// typed array (Uint16Array.from(x, map) gathered all values into a heap list first, and a
// LLaMA-sized embedding, 128256 x 2048, ran the heap out of memory). Run under a 64 MB heap limit.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'

test('ggufSerialize of a 16M-element tensor as F16 and BF16 fits a 64 MB JS heap', () => {
  const script = `
    const { nn, Tensor } = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)})
    const w = Tensor.ones([4096, 4096]).mul(0.5)
    for (const type of ['F16', 'BF16']) {
      const bytes = await nn.ggufSerialize({ tensors: { w } }, type)
      const t = nn.ggufParse(bytes).tensors.w
      const v = await t.shrink([[4095, 4096], [4090, 4096]]).data()
      if (bytes.length < 2 * 4096 * 4096 || [...v].some((x) => x !== 0.5)) throw new Error(type + ' wrong')
    }
    console.log('ok')`
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: 120e3,
      env: { ...process.env, DEVICE: process.env.DEVICE ?? '' },
    },
  )
  assert.equal(
    r.status,
    0,
    r.stderr
      .split('\n')
      .filter((l) => /Error|heap/.test(l))
      .slice(0, 3)
      .join('\n'),
  )
  assert.match(r.stdout, /ok/)
})
