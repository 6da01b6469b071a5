// The MNIST examples run as a user runs them (node against dist/, importing 'tsgrad'), with few
// steps: they must keep working as the API changes. `npm test` builds dist/ first.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const cwd = mkdtempSync(join(tmpdir(), 'tsgrad-examples-'))
after(() => rmSync(cwd, { recursive: true, force: true }))

function runExample(name: string, env: Record<string, string>): { out: string; acc: number } {
  assert.ok(
    existsSync(join(root, 'dist/index.js')),
    'dist/ is not built: run `npm run build` (npm test does)',
  )
  const r = spawnSync(process.execPath, [join(root, 'examples', name)], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  assert.equal(r.status, 0, `${name} failed:\n${r.stdout}\n${r.stderr}`)
  const m = r.stdout.match(/test accuracy ([\d.]+)%/)
  assert.ok(m, `${name} printed no accuracy:\n${r.stdout}`)
  return { out: r.stdout, acc: Number(m[1]) }
}

test('examples/mnist_mlp.js learns in 40 steps', () => {
  const { out, acc } = runExample('mnist_mlp.js', { STEPS: '40', BS: '64' })
  assert.match(out, /^step 1 {2}loss [\d.]+/m)
  assert.ok(acc > 80, `accuracy ${acc}%`)
})

test('examples/mnist_cnn.js trains, evaluates and saves', () => {
  const { out } = runExample('mnist_cnn.js', { STEPS: '3', BS: '16', EVAL: '300' })
  assert.match(out, /saved mnist_cnn_example\.safetensors/)
  assert.ok(existsSync(join(cwd, 'mnist_cnn_example.safetensors')))
})
