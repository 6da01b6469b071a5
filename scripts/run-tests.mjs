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
const r = spawnSync(
  process.execPath,
  ['--expose-gc', '--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  {
    stdio: 'inherit',
  },
)
process.exit(r.status ?? 1)
