// The on-disk kernel cache is untrusted and optional: a truncated or garbage library, a record
// that does not match, corrupt JSON, a directory others can write, a read-only directory or a
// file where the directory should be never crash or fail a computation. Each scenario runs in a
// child process: mapping a truncated library kills the process with SIGBUS.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hasCPU } from '../helpers.ts'

const index = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'index.ts')
// two kernels (a fused elementwise one and a reduce), so a bad directory is met more than once
const script = `
import { Tensor } from ${JSON.stringify(index)}
const x = new Tensor([1, 2, 3, 4], { device: 'CPU' })
const a = await x.mul(3).add(1.5).data()
const b = await x.reshape([2, 2]).sum(1).data()
console.log(JSON.stringify([...a, ...b]))
`
const EXPECTED = JSON.stringify([4.5, 7.5, 10.5, 13.5, 3, 7])

const root = mkdtempSync(join(tmpdir(), 'tsgrad-diskcache-test-'))
after(() => {
  chmodSync(root, 0o700)
  rmSync(root, { recursive: true, force: true })
})
let dirs = 0
const freshDir = (): string => join(root, `cache${dirs++}`)

const childArgs = ['--import', 'tsx', '--input-type=module', '-e', script]
const childEnv = (dir: string, extra: Record<string, string> = {}) => ({
  ...process.env,
  NODE_TEST_CONTEXT: undefined,
  DEVICE: 'CPU',
  CACHELEVEL: '1',
  TSGRAD_CACHE_DIR: dir,
  ...extra,
})

function runChild(dir: string, extra: Record<string, string> = {}): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, childArgs, {
    env: childEnv(dir, extra),
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(r.signal, null, `child killed by ${r.signal}\n${r.stderr}`)
  assert.equal(r.status, 0, `child failed:\n${r.stderr.slice(-3000)}`)
  assert.equal(r.stdout.trim(), EXPECTED)
  return { stdout: r.stdout, stderr: r.stderr }
}

const cacheWarnings = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => l.startsWith('tsgrad: disk cache'))
const libsIn = (dir: string): string[] =>
  readdirSync(join(dir, 'cpu'))
    .filter((f) => f.endsWith('.so'))
    .map((f) => join(dir, 'cpu', f))

/** The library matches its record (key from the name, size, sha256). */
function matchesRecord(lib: string): boolean {
  const rec = JSON.parse(readFileSync(`${lib}.json`, 'utf8'))
  const bytes = readFileSync(lib)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  return `${rec.key}.so` === basename(lib) && rec.size === bytes.length && rec.sha256 === sha256
}

/** A cache directory filled by one run. */
function filledCache(): { dir: string; libs: string[] } {
  const dir = freshDir()
  assert.deepEqual(cacheWarnings(runChild(dir).stderr), [])
  const libs = libsIn(dir)
  assert.equal(libs.length, 2, 'one library per kernel')
  return { dir, libs }
}

describe('disk cache', { skip: !hasCPU, concurrency: 2 }, () => {
  test('a new cache is private: directories 0700, entries 0600, each library with its record', () => {
    const { dir, libs } = filledCache()
    for (const d of [dir, join(dir, 'cpu'), join(dir, 'toolchain')])
      assert.equal(statSync(d).mode & 0o777, 0o700, d)
    for (const lib of libs) {
      assert.equal(statSync(lib).mode & 0o777, 0o600, lib)
      assert.ok(matchesRecord(lib), lib)
    }
    assert.deepEqual(
      readdirSync(join(dir, 'cpu')).filter((f) => !/^[0-9a-f]{32}\.so(\.json)?$/.test(f)),
      [],
      'no temporary files left behind',
    )
    // a second process uses the libraries as they are
    const inodes = libs.map((l) => statSync(l).ino)
    runChild(dir)
    assert.deepEqual(
      libs.map((l) => statSync(l).ino),
      inodes,
    )
  })

  test('truncated or garbage libraries and mismatched records are rebuilt, never mapped', () => {
    const { dir, libs } = filledCache()
    const [a, b] = libs as [string, string]
    const sizes = libs.map((l) => statSync(l).size)
    // a truncated library killed the process with SIGBUS; garbage was a permanent load error
    writeFileSync(a, readFileSync(a).subarray(0, 1000))
    let seed = 1
    const junk = Buffer.alloc(sizes[1]!)
    for (let i = 0; i < junk.length; i++) junk[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24
    writeFileSync(b, junk)
    runChild(dir)
    assert.deepEqual(
      libs.map((l) => statSync(l).size),
      sizes,
      'rebuilt in full',
    )
    for (const lib of libs)
      assert.ok(matchesRecord(lib) && readFileSync(lib).subarray(1, 4).toString() === 'ELF', lib)
    // swap the libraries with a's record (it names a's key, not b's); b without a record
    const [ba, bb] = [readFileSync(a), readFileSync(b)]
    writeFileSync(a, bb)
    writeFileSync(`${a}.json`, readFileSync(`${b}.json`))
    writeFileSync(b, ba)
    rmSync(`${b}.json`)
    runChild(dir)
    for (const lib of libs) assert.ok(matchesRecord(lib), lib)
    assert.equal(statSync(a).size, ba.length, 'rebuilt')
  })

  test('corrupt toolchain and BEAM entries are ignored and rewritten', () => {
    const dir = freshDir()
    const env = { BEAM: '1', BEAM_TIMEOUT: '1' }
    runChild(dir, env)
    const jsons = ['toolchain', 'beam'].flatMap((ns) =>
      readdirSync(join(dir, ns)).map((f) => join(dir, ns, f)),
    )
    assert.ok(jsons.length >= 2, `toolchain and beam entries: ${jsons}`)
    for (const f of jsons) writeFileSync(f, '{"not json')
    runChild(dir, env)
    for (const f of jsons) assert.doesNotThrow(() => JSON.parse(readFileSync(f, 'utf8')), f)
  })

  test('a directory others can write is not used, even with entries that verify', () => {
    const { dir, libs } = filledCache()
    // plant garbage with matching records: only the ownership check keeps it from dlopen
    for (const lib of libs) {
      const junk = Buffer.from('garbage that is not a shared library'.repeat(10))
      writeFileSync(lib, junk)
      const rec = JSON.parse(readFileSync(`${lib}.json`, 'utf8'))
      const sha256 = spawnSync('sha256sum', [lib], { encoding: 'utf8' }).stdout.split(' ')[0]
      writeFileSync(`${lib}.json`, JSON.stringify({ key: rec.key, size: junk.length, sha256 }))
    }
    chmodSync(dir, 0o777)
    const { stderr } = runChild(dir)
    const warnings = cacheWarnings(stderr)
    assert.equal(warnings.length, 1, `one warning:\n${stderr}`)
    assert.match(warnings[0]!, /writable by group or others \(mode 777/)
    for (const lib of libs) assert.match(readFileSync(lib, 'utf8'), /^garbage/, 'left alone')
    // the same for a namespace directory
    chmodSync(dir, 0o700)
    chmodSync(join(dir, 'cpu'), 0o775)
    assert.match(cacheWarnings(runChild(dir).stderr).join('\n'), /cpu is writable by group or others/)
    // and for a directory owned by another user (only root can hand one over)
    if (process.getuid?.() === 0) {
      chmodSync(join(dir, 'cpu'), 0o700)
      chownSync(dir, 65534, 65534)
      assert.match(cacheWarnings(runChild(dir).stderr).join('\n'), /owned by uid 65534, not by this user/)
    }
  })

  test('a read-only or uncreatable directory: one warning, no cache (raw EROFS/ENOENT before)', () => {
    let dir: string
    if (process.getuid?.() === 0) {
      dir = '/proc/self' // root writes anywhere; mkdir under /proc fails even for root
    } else {
      dir = freshDir()
      mkdirSync(dir, { mode: 0o500 }) // private but read-only: nothing can be created in it
    }
    const w = cacheWarnings(runChild(dir).stderr)
    assert.equal(w.length, 1, w.join('\n'))
    const w2 = cacheWarnings(runChild('/proc/no-such-dir/tsgrad').stderr)
    assert.equal(w2.length, 1, w2.join('\n'))
    assert.match(w2[0]!, /ENOENT/)
  })

  test('a file where the directory should be: one warning, no cache (raw ENOTDIR before)', () => {
    const file = join(root, `file${dirs++}`)
    writeFileSync(file, 'not a directory')
    const w = cacheWarnings(runChild(file).stderr)
    assert.equal(w.length, 1, w.join('\n'))
    assert.match(w[0]!, /not a directory/)
    assert.equal(readFileSync(file, 'utf8'), 'not a directory')
  })

  test('two processes filling one cache at once both succeed and leave it consistent', async () => {
    const dir = freshDir()
    const one = () =>
      new Promise<string>((ok) => {
        const c = spawn(process.execPath, childArgs, { env: childEnv(dir) })
        let out = ''
        c.stdout.on('data', (d) => (out += d))
        c.on('close', (code) => ok(`${code}:${out.trim()}`))
      })
    const results = await Promise.all([one(), one()])
    assert.deepEqual(results, [`0:${EXPECTED}`, `0:${EXPECTED}`])
    const { stderr } = runChild(dir)
    assert.deepEqual(cacheWarnings(stderr), [])
    for (const lib of libsIn(dir))
      assert.equal(JSON.parse(readFileSync(`${lib}.json`, 'utf8')).size, statSync(lib).size)
  })
})
