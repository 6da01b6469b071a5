// `npm test` builds dist/ first when any source file is newer than the last build.
import { execSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function newest(dir) {
  let t = 0
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const s = statSync(p)
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs)
  }
  return t
}
const stamp = 'dist/index.js'
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newest('src')) {
  execSync('npm run build --silent', { stdio: 'inherit' })
}
