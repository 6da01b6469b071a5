// Trace files: VIZ=-1 writes a directory that validates against the schema; corrupt files fail
// with errors naming file and field; `tsgrad viz --text` prints it; the server serves only the
// trace files, on loopback, and can be started and stopped programmatically.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { readTrace } from '../../src/viz/io.ts'
import { PassReplay } from '../../src/viz/replay.ts'
import { TRACE_FORMAT, TRACE_VERSION } from '../../src/viz/schema.ts'
import { serveTrace } from '../../src/viz/server.ts'
import { traceText } from '../../src/viz/text.ts'
import { TraceFormatError, validateIndex, validateKernel, validatePass } from '../../src/viz/validate.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
let dir = ''

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DEVICE: 'JS', ...env },
    timeout: 60_000,
  })

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsgrad-viz-files-'))
  const r = run([join(here, 'tiny_model.ts')], { VIZ: '-1', VIZ_DIR: dir })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /VIZ: trace written to /)
})

test('VIZ=-1 writes a trace that validates and replays', () => {
  const t = readTrace(dir)
  assert.equal(t.index.format, TRACE_FORMAT)
  assert.equal(t.index.version, TRACE_VERSION)
  assert.ok(t.index.passes.length > 0 && t.index.kernels.length > 0 && t.index.schedules.length > 0)
  assert.ok(t.profile.launches.length >= t.index.kernels.length)
  for (const p of t.passes) assert.equal(new PassReplay(p).rootAfter(p.steps.length), p.out)
})

test('bad VIZ values and bad trace files give clear errors', () => {
  const bad = run(['-e', "import('./src/index.ts')"], { VIZ: '2' })
  assert.notEqual(bad.status, 0)
  assert.match(bad.stderr, /VIZ=2: expected 1 .* or -1/)

  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))
  assert.throws(
    () => validateIndex({ ...index, version: 99 }),
    /index\.json: version: unsupported version 99/,
  )
  assert.throws(
    () =>
      validateIndex({ ...index, passes: [{ ...index.passes[0], group: { kind: 'kernel', id: 10_000 } }] }),
    /passes\[0\]\.group\.id: no kernel 10000/,
  )
  const pass = JSON.parse(readFileSync(join(dir, 'passes', '0.json'), 'utf8'))
  assert.throws(() => validatePass({ ...pass, out: -5 }, 'passes/0.json'), TraceFormatError)
  assert.throws(
    () => validatePass({ ...pass, nodes: [{ id: 1, op: 'ADD', dtype: 'int32', src: [2] }] }, 'passes/0.json'),
    /passes\/0\.json: nodes\[0\]\.src: source 2 is not an earlier node/,
  )
  const kernel = JSON.parse(readFileSync(join(dir, 'kernels', '0.json'), 'utf8'))
  assert.throws(
    () => validateKernel({ ...kernel, steps: [{ kind: 'pass', name: 'x', pass: 1e6 }] }, 'kernels/0.json', 3),
    /kernels\/0\.json: steps\[0\]\.pass: no pass 1000000/,
  )
  const broken = mkdtempSync(join(tmpdir(), 'tsgrad-viz-broken-'))
  cpSync(dir, broken, { recursive: true })
  writeFileSync(join(broken, 'profile.json'), '{"launches": [')
  assert.throws(() => readTrace(broken), /profile\.json: not JSON/)
  assert.throws(() => readTrace(tmpdir()), /no index\.json here/)
})

test('tsgrad viz --text prints passes and timeline; bad arguments are reported', () => {
  const t = readTrace(dir)
  const lines = traceText(t)
  assert.ok(lines.includes('PASSES') && lines.includes('TIMELINE') && lines.includes('MEMORY'))
  const r = run(['src/cli.ts', 'viz', dir, '--text'])
  assert.equal(r.status, 0, r.stderr)
  for (const k of t.index.kernels) assert.ok(r.stdout.includes(k.name))
  assert.match(r.stdout, /symbolic +schedule 0/)
  const missing = run(['src/cli.ts', 'viz', join(dir, 'nope')])
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /no index\.json here/)
  const port = run(['src/cli.ts', 'viz', dir, '--port', 'x'])
  assert.match(port.stderr, /--port needs a port number/)
})

function get(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => {
        body += d.toString()
      })
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', fail)
    req.end()
  })
}

test('the server binds to loopback and serves only the trace files', async () => {
  writeFileSync(join(dir, 'secret.json'), '{"not": "a trace file"}')
  const srv = await serveTrace({ dir, port: 0 })
  try {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    assert.equal((await get(srv.url)).status, 200)
    const js = await get(`${srv.url}app.js`)
    assert.equal(js.status, 200)
    assert.ok(
      js.body.length > 1000 &&
        !/https?:\/\/(?!127\.0\.0\.1)[a-z]/i.test(js.body.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')),
      'no remote URLs in the UI',
    )
    const idx = await get(`${srv.url}trace/index.json`)
    assert.equal(idx.status, 200)
    assert.equal(JSON.parse(idx.body).format, TRACE_FORMAT)
    assert.equal((await get(`${srv.url}trace/passes/0.json`)).status, 200)
    for (const p of [
      'trace/secret.json',
      'trace/../package.json',
      'trace/%2e%2e/package.json',
      'trace/passes/..%2f..%2fpackage.json',
      'package.json',
      'trace/%E0%A4%A',
    ])
      assert.equal((await get(`${srv.url}${p}`)).status, p.endsWith('%A') ? 400 : 404, p)
    assert.equal((await get(`${srv.url}trace/index.json`, 'POST')).status, 405)
  } finally {
    await srv.close()
  }
  await assert.rejects(get(srv.url), /ECONNREFUSED/)
})
