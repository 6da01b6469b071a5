// The VIZ web server: serves the UI (one bundled script, no CDN) and the files of one trace
// directory, on loopback only. Start and stop it programmatically (tests, `tsgrad viz`).
//
// Loopback is not enough on its own: a web page can point a name it controls at 127.0.0.1 (DNS
// rebinding) and read the answers, so a request is served only when its Host is this server's
// own loopback address; and the trace directory may hold symlinks (or be written by someone
// else), so only regular files reached without any symlink below the directory are served.
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
} from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export interface VizServer {
  url: string
  port: number
  close(): Promise<void>
}

export interface ServeOptions {
  dir: string
  /** 0: any free port */
  port?: number
  /** on EADDRINUSE, try this many following ports */
  retries?: number
}

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tsgrad VIZ</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><div id="app">loading…</div><script src="/app.js"></script></body></html>
`

/** Trace files the server hands out: nothing else under the directory, nothing outside it. */
const TRACE_FILE = /^(index|profile)\.json$|^(passes|kernels)\/\d+\.json$/

const here = dirname(fileURLToPath(import.meta.url))
let bundle: Promise<string> | undefined

/** The UI script: built by `npm run build` next to this file, or bundled now when running from src. */
export function uiBundle(): Promise<string> {
  bundle ??= (async () => {
    const built = join(here, 'app.bundle.js')
    if (existsSync(built)) return readFileSync(built, 'utf8')
    const entry = join(here, 'ui', 'main.ts')
    if (!existsSync(entry)) throw new Error(`VIZ UI bundle missing (${built}): run npm run build`)
    // running from src (tests, tsx): bundle with the build script's esbuild settings
    const script = pathToFileURL(join(here, '..', '..', 'scripts', 'build-viz.mjs')).href
    const { bundleUi } = (await import(script)) as { bundleUi(entry: string): Promise<string> }
    return bundleUi(entry)
  })()
  return bundle
}

/** The Host values a browser sends for this server: loopback names with its port. */
function hostAllowed(host: string | undefined, port: number): boolean {
  if (host === undefined) return false
  const h = host.toLowerCase()
  return h === `127.0.0.1:${port}` || h === `localhost:${port}` || h === `[::1]:${port}`
}

/**
 * The bytes of `rel` under `root` when it is a regular file reached without a symlink (the real
 * path is the path itself, and the last step is opened with O_NOFOLLOW), else undefined.
 */
function readRegularFile(root: string, rel: string): Buffer | undefined {
  const file = join(root, rel)
  let fd: number
  try {
    if (realpathSync(file) !== file) return undefined
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0))
  } catch {
    return undefined
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) return undefined
    const buf = Buffer.alloc(st.size)
    let got = 0
    while (got < buf.length) {
      const k = readSync(fd, buf, got, buf.length - got, got)
      if (k <= 0) break
      got += k
    }
    return buf.subarray(0, got)
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

function send(res: ServerResponse, code: number, type: string, body: string | Buffer): void {
  res.writeHead(code, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
  res.end(body)
}

export async function serveTrace(opts: ServeOptions): Promise<VizServer> {
  if (!existsSync(join(resolve(opts.dir), 'index.json')))
    throw new Error(`${opts.dir}: no index.json here; is this a VIZ trace directory?`)
  // the directory itself may be reached through a symlink; nothing below it may
  const root = realpathSync(resolve(opts.dir))
  const js = await uiBundle()
  let listening = -1
  const route = (req: IncomingMessage): [number, string, string | Buffer] => {
    if (!hostAllowed(req.headers.host, listening))
      return [403, 'text/plain', 'forbidden: unexpected Host header']
    if (req.method !== 'GET' && req.method !== 'HEAD') return [405, 'text/plain', 'method not allowed']
    let path: string
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
    } catch {
      return [400, 'text/plain', 'bad path']
    }
    if (path === '/') return [200, 'text/html; charset=utf-8', HTML]
    if (path === '/app.js') return [200, 'text/javascript; charset=utf-8', js]
    if (path.startsWith('/trace/')) {
      const rel = path.slice('/trace/'.length)
      const body = TRACE_FILE.test(rel) ? readRegularFile(root, rel) : undefined
      if (body !== undefined) return [200, 'application/json', body]
    }
    return [404, 'text/plain', 'not found']
  }
  const handle = (req: IncomingMessage, res: ServerResponse): void => send(res, ...route(req))
  let port = opts.port ?? 8000
  for (let attempt = 0; ; attempt++) {
    const server = createServer(handle)
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail)
        server.listen(port, '127.0.0.1', () => ok())
      })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && port !== 0 && attempt < (opts.retries ?? 0)) {
        port++
        continue
      }
      throw e
    }
    const addr = server.address()
    const actual = typeof addr === 'object' && addr ? addr.port : port
    listening = actual
    return {
      url: `http://127.0.0.1:${actual}/`,
      port: actual,
      close: () =>
        new Promise<void>((ok) => {
          server.closeAllConnections()
          server.close(() => ok())
        }),
    }
  }
}
