// Cold start on the CPU device: the core C prelude for kernels without intrinsics, the full one
// precompiled once per toolchain when a kernel needs it (runtime/cpu_pch.ts),
// and quick first builds by tcc with gcc's build swapped in when ready (runtime/cpu_quick.ts).
// Each case runs in a child process with an empty kernel cache of its own.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { hasCPU } from '../helpers.ts'

const hasTcc = spawnSync('tcc', ['-v']).status === 0
const root = mkdtempSync(join(tmpdir(), 'tsgrad-cold-test-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

const src = join(import.meta.dirname, '../../src')
/** Runs `body` (an async function body with Tensor, quick = cpu_quick.ts in scope); returns its JSON output. */
function child(body: string, env: Record<string, string> = {}): { out: unknown; dir: string } {
  const dir = join(root, `cache${dirs++}`)
  const script = `
    const { Tensor } = await import(${JSON.stringify(`${src}/index.ts`)})
    const quick = await import(${JSON.stringify(`${src}/runtime/cpu_quick.ts`)})
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
    const out = await (async () => { ${body} })()
    console.log(JSON.stringify(out))`
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: {
      ...process.env,
      NODE_TEST_CONTEXT: undefined,
      DEVICE: 'CPU',
      CACHELEVEL: '1',
      QUICK_COMPILE: '1',
      TSGRAD_CACHE_DIR: dir,
      ...env,
    },
    encoding: 'utf8',
    timeout: 300_000,
  })
  assert.equal(r.status, 0, `child failed:\n${r.stderr.slice(-3000)}`)
  return { out: JSON.parse(r.stdout.trim().split('\n').at(-1)!), dir }
}

/**
 * x * 3 + 1 on 0..n-1 and the quick-build counters, after waiting for the background builds. The
 * values are exact integers, so tcc's build and gcc's give the same bits (with or without a fused
 * multiply-add) and the checks hold whenever the swap comes; on general floats they differ until it
 * (a multiply-add, a row sum, a softmax: 30%, 89% and 86% of the elements in the last bits), which
 * is why quick builds are opt-in and no other test turns them on.
 */
const affine = `
  const x = Tensor.arange(1000).float().realize()
  const f = () => x.mul(3).add(1)
  const first = Array.from(await f().data())
  const before = { ...quick.quickStats, pending: quick.pendingBuilds() }
  // (gcc runs niced: on a loaded machine it may take minutes; the child's limit is 300 s)
  const end = Date.now() + 240_000
  while (Date.now() < end && quick.pendingBuilds() > 0) { await sleep(100); await f().data() }
  await sleep(10)
  const later = Array.from(await f().data())
  return { first, later, before, after: { ...quick.quickStats, pending: quick.pendingBuilds() } }`

const want = Array.from({ length: 1000 }, (_, i) => i * 3 + 1)

describe('cold start', { skip: !hasCPU && 'no C compiler' }, () => {
  test('the toolchain probe compiles once when the first flags work, and falls back in order', async () => {
    const { probeFlags } = await import('../../src/runtime/cpu_toolchain.ts')
    const tried: string[][] = []
    const all = probeFlags((f) => tried.push(f) > 0)
    assert.equal(tried.length, 1, 'one compiler run')
    assert.ok(all.includes('-fopenmp') && all.includes('-lmvec') && all.includes('-lm'), all.join(' '))
    tried.length = 0
    const noOpenMP = probeFlags((f) => tried.push(f) > 0 && !f.includes('-fopenmp'))
    assert.ok(!noOpenMP.includes('-fopenmp') && noOpenMP.includes('-lmvec'), noOpenMP.join(' '))
    assert.equal(tried.length, 3)
    const noMvec = probeFlags((f) => !f.includes('-lmvec'))
    assert.ok(noMvec.includes('-fopenmp') && !noMvec.includes('-lmvec') && noMvec.includes('-lm'))
    assert.deepEqual(
      probeFlags(() => false),
      [],
    )
  })

  test('kernels without intrinsics build with the core prelude; the full one is precompiled once, when a kernel needs it', () => {
    // x * 3 + 1 needs no intrinsic helper (renderer/c_prelude.ts): no precompiled header is built
    // for it (~0.9 s of gcc before a cold start's first kernel); exp over a long vector calls
    // tg_expv (vscalefps on AVX-512), which is in the full prelude only
    const body = `
      const { readdirSync } = await import('node:fs')
      const pch = () => { try { return readdirSync(process.env.TSGRAD_CACHE_DIR + '/pch') } catch { return [] } }
      const x = Tensor.arange(1000).float().realize()
      const first = Array.from(await x.mul(3).add(1).data())
      const before = pch()
      const y = Tensor.arange(4096).float().realize()
      const e = Array.from(await y.mul(0.001).exp().data())
      const e2 = Array.from(await y.mul(0.002).exp().data())
      return { first, before, after: pch(), e: [e[0], e[1000], e[4095], e2[4095]] }`
    const { out } = child(body, { QUICK_COMPILE: '0' })
    const o = out as { first: number[]; before: string[]; after: string[]; e: number[] }
    assert.deepEqual(o.first, want)
    assert.deepEqual(o.before, [], 'no precompiled header for a kernel without intrinsics')
    const pch = o.after.sort()
    assert.equal(pch.filter((f) => f.endsWith('.h.gch')).length, 1, pch.join(' '))
    assert.equal(pch.filter((f) => f.endsWith('.h')).length, 1, pch.join(' '))
    assert.equal(pch.filter((f) => f.endsWith('.tmp')).length, 0, pch.join(' '))
    const wantE = [1, Math.exp(1), Math.exp(4.095), Math.exp(8.19)]
    for (const [i, v] of o.e.entries())
      assert.ok(Math.abs(v - wantE[i]!) < 2e-6 * wantE[i]!, `${v} vs ${wantE[i]}`)
  })

  test('a kernel picks the full prelude exactly when it names an intrinsic helper', async () => {
    const { PRELUDE, PRELUDE_CORE, preludeFor } = await import('../../src/renderer/c_prelude.ts')
    assert.ok(PRELUDE.startsWith(PRELUDE_CORE) && !PRELUDE_CORE.includes('immintrin'))
    const call = (f: string) => `void k(float* b0) { b0[0] = ${f}(b0[1]); }`
    // helpers on intrinsics: vector exp, narrow loads, F16C scalar, float16 runs, the int8 dots
    for (const f of [
      'tg_expv',
      'tg_exp2v',
      'tg_clampv',
      'tg_ldu8',
      'tg_ldi16',
      'tg_h2f1',
      'tg_ldh16',
      'tg_q2dp',
      'tg_cdp',
      '_mm512_abs_ps',
    ])
      assert.equal(preludeFor(call(f)), PRELUDE, f)
    // the core's own helpers (tg_expf's comment names tg_expv: comments do not count)
    for (const f of ['tg_expf', 'tg_erff', 'tg_vf', 'tg_h2fv', 'tg_h2f', 'fmax_nanf', 'f2i32'])
      assert.equal(preludeFor(call(f)), PRELUDE_CORE, f)
  })

  test('a small kernel runs from its quick build first, then from gcc’s, with the same values', {
    skip: !hasTcc && 'tcc not installed',
  }, () => {
    const { out, dir } = child(affine)
    const o = out as {
      first: number[]
      later: number[]
      before: { quickBuilds: number; pending: number }
      after: { swaps: number; pending: number }
    }
    assert.deepEqual(o.first, want)
    assert.deepEqual(o.later, want)
    assert.ok(o.before.quickBuilds >= 1, JSON.stringify(o.before))
    assert.ok(o.before.pending >= 1, 'the full build runs in the background')
    assert.equal(o.after.pending, 0)
    assert.ok(o.after.swaps >= 1, JSON.stringify(o.after))
    // gcc's build went into the disk cache (a warm start needs no quick build); no temporaries left
    const cpu = readdirSync(join(dir, 'cpu'))
    assert.ok(cpu.filter((f) => f.endsWith('.so.json')).length >= 1, cpu.join(' '))
    assert.equal(cpu.filter((f) => /\.tmp|\.done|\.failed|\.c$/.test(f)).length, 0, cpu.join(' '))
  })

  test('a heavy kernel (over 2^24 FLOPs) waits for gcc instead of running tcc’s code', {
    skip: !hasTcc && 'tcc not installed',
  }, () => {
    const body = `
      const a = Tensor.rand([1 << 23]).realize()
      const s0 = quick.quickStats.quickBuilds
      await a.mul(2).add(1).exp().data()
      return { heavy: quick.quickStats.quickBuilds - s0 }`
    assert.equal((child(body).out as { heavy: number }).heavy, 0)
  })

  test('a source tcc rejects (float16 math) is built by gcc at once', {
    skip: !hasTcc && 'tcc not installed',
  }, () => {
    const body = `
      const x = Tensor.arange(16).cast('float16').realize()
      return Array.from(await x.mul(2).add(1).cast('float32').data())`
    assert.deepEqual(
      child(body).out,
      Array.from({ length: 16 }, (_, i) => 2 * i + 1),
    )
  })

  test('without tcc (QUICK_CC names no compiler) or by default, kernels build with gcc as before', () => {
    for (const env of [{ QUICK_CC: '/nonexistent/tcc' }, { QUICK_COMPILE: '' }]) {
      const { out } = child(affine, env)
      const o = out as { first: number[]; before: { quickBuilds: number } }
      assert.deepEqual(o.first, want)
      assert.equal(o.before.quickBuilds, 0)
    }
  })

  test('background builds still running at exit are killed and leave no files', {
    skip: !hasTcc && 'tcc not installed',
  }, () => {
    const body = `
      const xs = Array.from({ length: 6 }, (_, i) => Tensor.arange(100 + i).float().realize())
      for (const [i, x] of xs.entries()) await x.mul(i + 2).exp().data()
      return quick.pendingBuilds()`
    const { out, dir } = child(body)
    assert.ok((out as number) > 0, 'builds were pending at exit')
    const left = readdirSync(join(dir, 'cpu')).filter((f) => /\.tmp|\.done|\.failed|\.c$/.test(f))
    assert.deepEqual(left, [])
  })
})
