// The browser entry bundles for the browser with no Node built-in on any import path: esbuild
// (platform browser) bundles src/browser.ts, and the package's own `exports` resolved with the
// `browser` condition lead to dist/browser.js, which bundles the same way. A Node-only module that
// creeps onto that path (a static `node:fs` import, koffi, the CPU device, the VIZ server) fails
// here by name.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
/** modules that only make sense in Node (the C device and its helpers, the VIZ server, FFI) */
const NODE_ONLY = [
  /runtime\/cpu[^/]*\.[jt]s$/,
  /runtime\/openmp\.[jt]s$/,
  /runtime\/host_memory\.[jt]s$/,
  /viz\/(server|enable)\.[jt]s$/,
  /node_modules\/(koffi|webgpu)\//,
]

interface Bundle {
  text: string
  inputs: string[]
  /** every import of every bundled module: (importer, specifier) */
  imports: { from: string; path: string; external: boolean }[]
  warnings: string[]
}

async function bundle(opts: esbuild.BuildOptions): Promise<Bundle> {
  const r = await esbuild.build({
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
    ...opts,
  })
  const inputs = Object.keys(r.metafile.inputs)
  const imports = inputs.flatMap((from) =>
    r.metafile.inputs[from]!.imports.map((i) => ({ from, path: i.path, external: i.external === true })),
  )
  return { text: r.outputFiles[0]!.text, inputs, imports, warnings: r.warnings.map((w) => w.text) }
}

function checkBrowserSafe(b: Bundle): void {
  const builtin = b.imports.filter((i) => BUILTINS.has(i.path) || i.path.startsWith('node:'))
  assert.deepEqual(builtin, [], 'Node built-ins imported on the browser path')
  assert.deepEqual(
    b.imports.filter((i) => i.external),
    [],
    'imports esbuild left unresolved',
  )
  const nodeOnly = b.inputs.filter((f) => NODE_ONLY.some((re) => re.test(f)))
  assert.deepEqual(nodeOnly, [], 'Node-only modules in the browser bundle')
  // no CommonJS require and no static import of a built-in survives in the output text
  assert.doesNotMatch(b.text, /\brequire\(\s*["'](node:)?[a-z_]+["']\s*\)/)
  assert.doesNotMatch(b.text, /\bfrom\s*["']node:/)
  assert.doesNotMatch(b.text, /\bimport\(\s*["']node:/)
}

test('src/browser.ts bundles for the browser without Node built-ins or Node-only modules', async () => {
  const b = await bundle({ entryPoints: [join(root, 'src', 'browser.ts')] })
  checkBrowserSafe(b)
  // the devices a browser has are in it; the public API and ready() are exported
  for (const f of [
    'src/runtime/wasm.ts',
    'src/runtime/wasm_threads_web.ts',
    'src/runtime/webgpu.ts',
    'src/runtime/js.ts',
  ])
    assert.ok(b.inputs.includes(f), `${f} missing from the browser bundle`)
  assert.match(b.text, /export\s*\{[^}]*\bready\b/)
  assert.match(b.text, /export\s*\{[^}]*\bTensor\b/)
})

/** Resolve a package `exports` target the way Node and bundlers do: the first key (in order) that
 * is an active condition or `default`, recursively. */
function resolveConditions(target: unknown, active: ReadonlySet<string>): string | undefined {
  if (typeof target === 'string') return target
  if (target === null || typeof target !== 'object') return undefined
  for (const [k, v] of Object.entries(target))
    if (k === 'default' || active.has(k)) return resolveConditions(v, active)
  return undefined
}

test("the package's exports give bundlers dist/browser.js under the `browser` condition", async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>
  }
  // what esbuild/vite/webpack activate for a browser build, and what Node activates
  const browser = resolveConditions(pkg.exports['.'], new Set(['browser', 'import', 'module']))
  const node = resolveConditions(pkg.exports['.'], new Set(['node', 'import']))
  assert.equal(browser, './dist/browser.js')
  assert.equal(node, './dist/index.js')
  assert.equal(resolveConditions(pkg.exports['./browser'], new Set(['import'])), './dist/browser.js')
  if (!existsSync(join(root, 'dist', 'browser.js'))) {
    t.skip('dist/browser.js not built (npm run build)')
    return
  }
  checkBrowserSafe(await bundle({ entryPoints: [join(root, browser)] }))
})
