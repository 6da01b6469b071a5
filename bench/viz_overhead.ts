// VIZ overhead: the same realize-heavy loop on (a) this source with VIZ unset (hooks present, null),
// (b) a copy of the source with every VIZ hook stripped (a build without hooks), (c) VIZ=-1
// recording. Runs alternate in fresh processes; each reports its best µs per realize, and the best of
// all runs of a variant is compared.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')

/** A copy of src/ without the VIZ hook lines (under bench/, so node_modules resolves). */
function strippedSource(): string {
  const dir = join(root, 'bench', '.viz-nohooks')
  rmSync(dir, { recursive: true, force: true })
  cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true })
  const edits: [string, [RegExp, string][]][] = [
    [
      'engine/realize.ts',
      [
        [/^\s*viz\?\..*\n/gm, ''],
        [/debug >= 2 \|\| viz \?/, 'debug >= 2 ?'],
        [/viz \? now\(\) : 0/, '0'],
        [/viz !== null/, 'false'],
        [/^\s*if \(viz\) return\n/m, ''],
      ],
    ],
    ['codegen/kernel.ts', [[/^\s*(if \([^)]*\) )?viz\?\..*\n/gm, '']]],
    ['runtime/buffer.ts', [[/^\s*viz\?\..*\n/gm, '']]],
    ['index.ts', [[/^import '\.\/viz\/enable\.js'\n/m, '']]],
  ]
  for (const [file, subs] of edits) {
    const p = join(dir, 'src', file)
    let s = readFileSync(p, 'utf8')
    for (const [re, by] of subs) s = s.replace(re, by)
    s = s.replace(/^import \{ viz \} from '\.\.\/trace\.js'\n/m, '')
    if (/\bviz\b/.test(s)) throw new Error(`bench: ${file} still mentions viz after stripping`)
    writeFileSync(p, s)
  }
  return join(dir, 'src')
}

function once(srcDir: string, n: number, env: Record<string, string> = {}): number {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'bench', 'viz_loop.ts'), srcDir, String(n)],
    {
      encoding: 'utf8',
      env: { ...process.env, VIZ: '', ...env },
    },
  )
  if (r.status !== 0) throw new Error(`viz bench child failed: ${r.stderr}`)
  return Number(r.stdout.trim().split('\n').pop())
}

// the machine is shared and noisy: compare the best run of each (noise only ever adds time)
const best = (xs: number[]) => Math.min(...xs)

export function vizOverhead(rounds = 8, n = 1000): { off: number; stripped: number; recording: number } {
  const stripped = strippedSource()
  const here = join(root, 'src')
  const vizDir = mkdtempSync(join(tmpdir(), 'tsgrad-viz-bench-'))
  const a: number[] = []
  const b: number[] = []
  const c: number[] = []
  try {
    for (let i = 0; i < rounds; i++) {
      a.push(once(here, n))
      b.push(once(stripped, n))
    }
    c.push(once(here, Math.floor(n / 4), { VIZ: '-1', VIZ_DIR: vizDir }))
  } finally {
    rmSync(join(root, 'bench', '.viz-nohooks'), { recursive: true, force: true })
    rmSync(vizDir, { recursive: true, force: true })
  }
  console.log(`  VIZ unset, hooks present: ${a.map((x) => x.toFixed(1)).join(' ')} µs/realize`)
  console.log(`  hooks stripped:          ${b.map((x) => x.toFixed(1)).join(' ')} µs/realize`)
  return { off: best(a), stripped: best(b), recording: c[0]! }
}
