// The GGUF header reader goes through a 1 MB window: a string length (u64) or value type (u32)
// that straddles the window's end must be read from the refilled window. Before the fix the old
// view was read at the new offset, so any vocabulary over 1 MB (every real LLM) could fail.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nn } from '../../src/index.ts'

test('ggufParse: metadata over the 1 MB read window, with a length or type straddling its end', async () => {
  const tokens = Array.from({ length: 120_000 }, (_, i) => `t${i}`)
  // shifting the start by 0..11 bytes puts some u64 string length across the boundary
  for (let k = 0; k < 12; k++) {
    const bytes = await nn.ggufSerialize({
      metadata: { pad: 'a'.repeat(k), 'a.b': tokens, 'c.d': 7 },
      tensors: {},
    })
    const md = nn.ggufParse(bytes).metadata
    assert.deepEqual(md['a.b'], tokens, `shift ${k}`)
    assert.equal(md['c.d'], 7)
  }
  // many small keys: u32 value types land across the boundary too
  const many: Record<string, number> = {}
  for (let i = 0; i < 40_000; i++) many[`key.${i}`] = i
  for (let k = 0; k < 4; k++) {
    const md = nn.ggufParse(
      await nn.ggufSerialize({ metadata: { pad: 'a'.repeat(k), ...many }, tensors: {} }),
    ).metadata
    assert.equal(md['key.39999'], 39999, `shift ${k}`)
  }
})
