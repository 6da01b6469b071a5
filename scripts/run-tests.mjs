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
// JS reference device so both backends pass the same fixtures
let status = runOn(files, {})
if (filter.length === 0 && !process.env.DEVICE) {
  console.log('# op suite on the JS device')
  status ||= runOn(
    files.filter((f) => f.includes('test/ops')),
    { DEVICE: 'JS' },
  )
}
process.exit(status)
