// Grouped builds on the CPU device (runtime/cpu_groups.ts): a schedule's new kernels compile as one
// library per core, each kernel under its own renamed entry point, found again through the disk
// cache's member records by a later process. Each case runs in a child process with a cache of its
// own (CACHELEVEL=1, QUICK_COMPILE off).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { hasCPU } from '../helpers.ts'

const root = mkdtempSync(join(tmpdir(), 'tsgrad-groups-test-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => join(root, `cache${dirs++}`)

const src = join(import.meta.dirname, '../../src')
/** Runs `body` (an async function body with Tensor and stats in scope) in a child using cache `dir`. */
function child(body: string, dir: string): unknown {
  const script = `
    const { Tensor } = await import(${JSON.stringify(`${src}/index.ts`)})
    const { stats } = await import(${JSON.stringify(`${src}/engine/realize.ts`)})
    const out = await (async () => { ${body} })()
    console.log(JSON.stringify(out))`
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: {
      ...process.env,
      NODE_TEST_CONTEXT: undefined,
      DEVICE: 'CPU',
      CACHELEVEL: '1',
      QUICK_COMPILE: '0',
      TSGRAD_CACHE_DIR: dir,
    },
    encoding: 'utf8',
    timeout: 300_000,
  })
  assert.equal(r.status, 0, `child failed:\n${r.stderr.slice(-3000)}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
}

// One schedule of several kernels: two reduces of the same shape (the same name, r_..., with
// different sources), an elementwise kernel, and a cat of 40 inputs (more parameters than the FFI
// takes: the kernel's `_packed` entry point is renamed with it).
const body = `
  const x = new Tensor(Array.from({ length: 64 }, (_, i) => (i % 13) - 6), { shape: [8, 8] }).realize()
  const parts = Array.from({ length: 40 }, (_, i) => new Tensor(Array.from({ length: 8 }, (_, c) => (((i % 8) * 8 + c) % 13) - 6)))
  const s = x.sum(1), m = x.max(1), e = x.mul(2).add(1).exp2(), c = Tensor.cat(parts.map((p) => p.add(1)), 0).sum()
  Tensor.realize(s, m, e, c)
  return { s: Array.from(await s.data()), m: Array.from(await m.data()), e: Array.from(await e.data()),
           c: Array.from(await c.data()), compiled: stats.kernelsCompiled }`

const rows = Array.from({ length: 8 }, (_, r) => Array.from({ length: 8 }, (_, c) => ((r * 8 + c) % 13) - 6))
const want = {
  s: rows.map((r) => r.reduce((a, b) => a + b, 0)),
  m: rows.map((r) => Math.max(...r)),
  e: rows.flat().map((v) => 2 ** (2 * v + 1)),
  c: [
    Array.from({ length: 40 }, (_, i) => rows[i % 8]!.reduce((a, b) => a + b + 1, 0)).reduce(
      (a, b) => a + b,
      0,
    ),
  ],
}
const values = (o: unknown) => {
  const { compiled: _, ...v } = o as Record<string, unknown>
  return v
}

const files = (dir: string, ns: string): string[] => {
  try {
    return readdirSync(join(dir, ns))
  } catch {
    return []
  }
}

test('planGroups: a second group only for work well above a compiler process’s own cost', async () => {
  const { planGroups } = await import('../../src/runtime/cpu_groups.ts')
  const kernels = (n: number, chars: number) =>
    Array.from({ length: n }, (_, i) => ({ i, text: 'x'.repeat(chars) }))
  // eight parameter initializers (~1 KB of C each): one unit
  assert.equal(planGroups(kernels(8, 1000), 2).length, 1)
  // twenty 20 KB tiles: one per core, balanced, members in order inside each group
  const big = planGroups(kernels(20, 20_000), 2)
  assert.deepEqual(
    big.map((g) => g.length),
    [10, 10],
  )
  for (const g of big)
    assert.deepEqual(
      g,
      [...g].sort((a, b) => a.i - b.i),
    )
  assert.equal(planGroups(kernels(20, 20_000), 1).length, 1)
})

test('background full tiers queued while the cores are busy share a build process', async () => {
  const { queueGroupMember } = await import('../../src/runtime/cpu_background_groups.ts')
  const { pendingBuilds } = await import('../../src/runtime/cpu_quick.ts')
  const cores = availableParallelism()
  const jobs: string[][] = []
  const stored: string[][] = []
  const dir = mkdtempSync(join(root, 'bg-'))
  // each "compile" sleeps a little and writes its library; the members' names are the unit's text
  const builder = {
    toolchainKey: 'test',
    job: (group: string, members: readonly { name: string }[]) => {
      jobs.push(members.map((m) => m.name))
      const out = join(dir, `${group}.so`)
      return {
        argv: ['sh', '-c', `sleep 0.3; echo ok > '${out}'`],
        src: members.map((m) => m.name).join(' '),
        out,
      }
    },
    store: (_group: string, built: string, members: readonly { name: string }[]) => {
      stored.push(members.map((m) => m.name))
      return built
    },
  }
  const n = cores + 6
  const builds = Array.from({ length: n }, (_, i) =>
    queueGroupMember(builder, {
      key: `${i}`.padStart(32, '0'),
      name: `k${i}`,
      text: 'x'.repeat(100),
      prelude: 'p',
    }),
  )
  // the first requests found a core each and started alone; the rest waited and share one process
  assert.equal(new Set(builds).size, cores + 1)
  const end = performance.now() + 60_000
  while (builds.some((b) => b.pending) && performance.now() < end) {
    for (const b of builds) b.poll()
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.ok(
    builds.every((b) => b.poll() !== undefined),
    'every member has its library',
  )
  assert.equal(pendingBuilds(), 0)
  assert.deepEqual(jobs.flat().sort(), Array.from({ length: n }, (_, i) => `k${i}`).sort())
  assert.deepEqual(
    stored.at(-1),
    Array.from({ length: 6 }, (_, i) => `k${cores + i}`),
  )
})

/** Whether this process may start real-time children (`chrt -f`: root or CAP_SYS_NICE). */
const canRealtime = spawnSync('chrt', ['-f', '1', 'true']).status === 0

test('a background build runs niced and out of a real-time policy its parent runs under', {
  skip: !canRealtime && 'chrt -f is not permitted here',
}, () => {
  // under `chrt -f` (how cold-start timings are taken) children inherit SCHED_FIFO, where nice
  // does nothing: the background gcc then took a core from the step's own work
  const dir = mkdtempSync(join(root, 'policy-'))
  const out = join(dir, 'lib.so')
  const script = `
      const { BackgroundBuild, enqueueBuild } = await import(${JSON.stringify(`${src}/runtime/cpu_quick.ts`)})
      // the "compiler" writes its own policy (field 41 of /proc/self/stat) and nice value (19)
      const b = new BackgroundBuild(
        () => ({ argv: ['sh', '-c', "cut -d' ' -f19,41 /proc/self/stat > ${out}"], src: '', out: ${JSON.stringify(out)} }),
        (built) => built,
      )
      enqueueBuild(b)
      const end = Date.now() + 60_000
      while (b.pending && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
      const { readFileSync } = await import('node:fs')
      console.log(JSON.stringify(readFileSync(b.poll(), 'utf8').trim().split(' ').map(Number)))`
  const r = spawnSync(
    'chrt',
    ['-f', '1', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    {
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
      encoding: 'utf8',
      timeout: 120_000,
    },
  )
  assert.equal(r.status, 0, `child failed:\n${r.stderr.slice(-3000)}`)
  const [nice, policy] = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as [number, number]
  assert.equal(nice, 10)
  // 3: SCHED_BATCH (1 would be SCHED_FIFO, inherited from the parent)
  assert.equal(policy, 3)
})

describe('grouped builds', { skip: !hasCPU && 'no C compiler' }, () => {
  test('a schedule’s new small kernels build as one library and compute right', () => {
    const dir = freshDir()
    const out = child(body, dir) as { compiled: number }
    assert.deepEqual(values(out), want)
    const libs = files(dir, 'cpu').filter((f) => f.endsWith('.so'))
    const members = files(dir, 'cpu-group').filter((f) => f.endsWith('.json'))
    assert.ok(out.compiled >= 4, `kernels compiled: ${out.compiled}`)
    // one schedule of four small kernels: one library (a second compiler process would cost ~0.2 s
    // of gcc CPU for ~0.05 s of their work)
    assert.equal(members.length, 4, members.join(' '))
    assert.equal(libs.length, 1, libs.join(' '))
    assert.deepEqual(
      files(dir, 'cpu').filter((f) => /\.tmp|\.c$/.test(f)),
      [],
    )
  })

  test('a later process loads the kernels from the group libraries without compiling', () => {
    const dir = freshDir()
    child(body, dir)
    const before = files(dir, 'cpu').sort()
    const again = child(body, dir)
    assert.deepEqual(values(again), want)
    assert.deepEqual(files(dir, 'cpu').sort(), before, 'nothing new was built')
  })

  test('a schedule of more than 24 new kernels: an early chunk starts while the rest render', () => {
    const dir = freshDir()
    // 30 kernels, one per length (constants would be lifted into arguments: shapes make sources differ)
    const out = child(
      `const ys = Array.from({ length: 30 }, (_, k) => Tensor.arange(8 + k).float().mul(0.5).exp2().sum())
       Tensor.realize(...ys)
       const got = []
       for (const y of ys) got.push((await y.data())[0])
       return { got, compiled: stats.kernelsCompiled }`,
      dir,
    ) as { got: number[]; compiled: number }
    out.got.forEach((g, k) => {
      const want = Array.from({ length: 8 + k }, (_, i) => 2 ** (i / 2)).reduce((a, b) => a + b, 0)
      assert.ok(Math.abs(g - want) < 1e-4 * want, `${k}: ${g} vs ${want}`)
    })
    const members = files(dir, 'cpu-group').filter((f) => f.endsWith('.json'))
    const libs = files(dir, 'cpu').filter((f) => f.endsWith('.so'))
    assert.equal(members.length, 30)
    // the first 24 kernels started early, the 6 rendered after them at the end; each compiler
    // process costs ~0.2 s of gcc CPU, and these small kernels' work is not worth a second one
    assert.equal(libs.length, 2, libs.join(' '))
    assert.deepEqual(
      files(dir, 'cpu').filter((f) => /\.tmp|\.c$|\.end$/.test(f)),
      [],
    )
  })

  test('a member record that does not fit its kernel is a miss: the kernel is rebuilt', () => {
    const dir = freshDir()
    child(body, dir)
    const recs = files(dir, 'cpu-group').filter((f) => f.endsWith('.json'))
    // point every record at a symbol that is not in the library, or garble it
    recs.forEach((f, i) => {
      const p = join(dir, 'cpu-group', f)
      const rec = JSON.parse(readFileSync(p, 'utf8'))
      writeFileSync(p, i % 2 ? '{not json' : JSON.stringify({ ...rec, group: 'x'.repeat(32) }), {
        mode: 0o600,
      })
    })
    assert.deepEqual(values(child(body, dir)), want)
  })
})
