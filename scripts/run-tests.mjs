// Runs every test/**/*.test.ts with node's built-in runner (TypeScript through tsx).
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function find(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}
const filter = process.argv.slice(2)
const files = find('test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort()
const runOn = (list, env) =>
  spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--test', '--test-concurrency=2', ...list], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  }).status ?? 1
// everything on the default device (CPU where a C compiler works), then the op suite again on the
// JS reference device and on the WASM device, so every backend passes the same fixtures. All runs
// always happen (a failure in one must not hide one in another); the exit status fails if any failed.
const runs = [{ name: `${files.length} files on the default device`, status: runOn(files, {}) }]
if (filter.length === 0 && !process.env.DEVICE) {
  const ops = files.filter((f) => f.includes('test/ops'))
  console.log('# op suite on the JS device')
  runs.push({ name: `op suite (${ops.length} files) on the JS device`, status: runOn(ops, { DEVICE: 'JS' }) })
  console.log('# op suite on the WASM device')
  runs.push({
    name: `op suite (${ops.length} files) on the WASM device`,
    status: runOn(ops, { DEVICE: 'WASM' }),
  })
}
// the op suite and the random-graph cross-checks on WEBGPU, where the device starts (in CI it must:
// .ci/run installs a software Vulkan driver and sets TSGRAD_REQUIRE_WEBGPU, so a failed start fails)
if (filter.length === 0 && !process.env.DEVICE) {
  const probe = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./src/runtime/webgpu.ts').then((m) => m.startWebGPU()).then(() => process.exit(0), (e) => { console.log(e.message); process.exit(1) })",
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
  const gpu = files.filter((f) => f.includes('test/ops') || f.includes('cross_backend'))
  if (probe.status === 0 || process.env.TSGRAD_REQUIRE_WEBGPU) {
    console.log('# op suite and cross-backend checks on the WEBGPU device')
    runs.push({ name: `${gpu.length} files on the WEBGPU device`, status: runOn(gpu, { DEVICE: 'WEBGPU' }) })
  } else console.log(`# WEBGPU pass skipped: ${(probe.stdout || probe.stderr || '').trim()}`)
}
for (const r of runs) console.log(`# ${r.status === 0 ? 'passed' : `FAILED (exit ${r.status})`}: ${r.name}`)
process.exit(runs.some((r) => r.status !== 0) ? 1 : 0)
