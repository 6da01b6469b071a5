// The VIZ server answers only requests addressed to itself on loopback (a page using DNS
// rebinding sends its own Host) and serves only regular files inside the trace directory, never
// through a symlink. Requests go to 127.0.0.1 only.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { serveTrace, type VizServer } from '../../src/viz/server.ts'

const root = mkdtempSync(join(tmpdir(), 'tsgrad-viz-sec-'))
const dir = join(root, 'trace')
const outside = join(root, 'outside')
let srv: VizServer

before(async () => {
  mkdirSync(join(dir, 'passes'), { recursive: true })
  mkdirSync(outside)
  writeFileSync(join(outside, 'secret.json'), '{"secret":true}')
  writeFileSync(join(outside, '0.json'), '{"secret":"dir"}')
  writeFileSync(join(dir, 'index.json'), '{"ok":"index"}')
  writeFileSync(join(dir, 'passes', '0.json'), '{"ok":"pass"}')
  symlinkSync(join(outside, 'secret.json'), join(dir, 'passes', '1.json')) // file symlink out
  symlinkSync(join(dir, 'index.json'), join(dir, 'passes', '2.json')) // even one that stays inside
  symlinkSync(outside, join(dir, 'kernels')) // directory symlink out
  mkdirSync(join(dir, 'passes', '3.json')) // not a regular file
  srv = await serveTrace({ dir, port: 0 })
})
after(async () => {
  await srv?.close()
  rmSync(root, { recursive: true, force: true })
})

function get(path: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const headers = host === undefined ? {} : { host }
    const req = request({ host: '127.0.0.1', port: srv.port, path, headers }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', fail)
    req.end()
  })
}

describe('VIZ server security', () => {
  test('serves its own loopback names: 127.0.0.1, localhost and [::1] with its port', async () => {
    for (const host of [
      `127.0.0.1:${srv.port}`,
      `localhost:${srv.port}`,
      `LOCALHOST:${srv.port}`,
      `[::1]:${srv.port}`,
    ]) {
      const r = await get('/trace/index.json', host)
      assert.equal(r.status, 200, host)
      assert.equal(r.body, '{"ok":"index"}')
    }
  })

  test('any other Host is refused (DNS rebinding), for the UI and for trace files', async () => {
    for (const host of [
      'evil.example',
      `evil.example:${srv.port}`,
      `127.0.0.1:${srv.port + 1}`,
      '127.0.0.1',
      `localhost.evil.example:${srv.port}`,
    ]) {
      for (const path of ['/', '/app.js', '/trace/index.json']) {
        const r = await get(path, host)
        assert.equal(r.status, 403, `${host} ${path}`)
        assert.doesNotMatch(r.body, /ok|secret|<html/)
      }
    }
  })

  test('a request without a Host header is refused', async () => {
    const reply = await new Promise<string>((ok, fail) => {
      const sock = connect(srv.port, '127.0.0.1', () => sock.end('GET /trace/index.json HTTP/1.0\r\n\r\n'))
      let got = ''
      sock.on('data', (d) => (got += d))
      sock.on('end', () => ok(got))
      sock.on('error', fail)
    })
    assert.match(reply, /^HTTP\/1\.[01] 403 /)
    assert.doesNotMatch(reply, /"ok"/)
  })

  test('regular files inside the directory are served; symlinks and directories are not', async () => {
    const host = `127.0.0.1:${srv.port}`
    assert.equal((await get('/trace/passes/0.json', host)).body, '{"ok":"pass"}')
    for (const path of [
      '/trace/passes/1.json',
      '/trace/passes/2.json',
      '/trace/kernels/0.json',
      '/trace/passes/3.json',
    ]) {
      const r = await get(path, host)
      assert.equal(r.status, 404, path)
      assert.doesNotMatch(r.body, /secret|ok/, path)
    }
    for (const path of [
      '/trace/../outside/secret.json',
      '/trace/%2e%2e/outside/secret.json',
      '/trace/passes/..%2f..%2foutside%2fsecret.json',
    ])
      assert.equal((await get(path, host)).status, 404, path)
  })
})
