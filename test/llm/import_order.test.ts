// Modules below the package index load on their own: nn/* imported the index, so importing
// src/llm (which reaches nn/gguf_write.ts first) crashed with "Cannot access 'GGUF_VALUE_TYPES'
// before initialization" (bench/llm.ts did, through src/llm/load.ts).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

test('src/llm/load.ts and src/nn/gguf_write.ts import without the package index first', () => {
  for (const file of ['src/llm/load.ts', 'src/nn/gguf_write.ts', 'src/nn/index.ts']) {
    const url = pathToFileURL(join(root, file)).href
    const r = spawnSync(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), '-e', `await import(${JSON.stringify(url)})`],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    )
    assert.equal(r.status, 0, `${file}: ${r.stderr}`)
  }
})
