// Bundles the VIZ web UI (src/viz/ui) into one script with esbuild: `npm run build` writes
// dist/viz/app.bundle.js; the server bundles in memory when it runs from src.
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The bundled UI script for the entry `src/viz/ui/main.ts`. */
export async function bundleUi(entry = join(root, 'src/viz/ui/main.ts')) {
  const esbuild = await import('esbuild')
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  })
  return r.outputFiles[0].text
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = join(root, 'dist/viz/app.bundle.js')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, await bundleUi())
  console.log(`wrote ${out}`)
}
