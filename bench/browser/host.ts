// `npm run bench -- browser`: tsgrad's WASM and WEBGPU devices against jax-js, TensorFlow.js and
// onnxruntime-web in headless Chromium (Debian's chromium driven by playwright-core, WebGPU on its
// software adapter). The page (bench/browser/page.ts, bundled here with esbuild) is served from
// 127.0.0.1 with COOP/COEP, so it is cross-origin isolated and the peers may use wasm threads.
// One page runs every case for every implementation (the wasm ones alternated call by call, so all
// see the same load); a second page, whose navigator reports one core, times matmul 1024
// single-threaded. Ratios: peer time / tsgrad time on the same kind of
// device (>1: tsgrad faster), of wall time and of the browser's CPU time per call (every thread;
// the steadier of the two on a loaded machine). Peers are bench-only: bench/peers/setup-browser-peers.sh.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { homedir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { CASES, type CaseName, type Result } from './cases.ts'

const peerPrefix =
  process.env.BROWSER_PEERS_PREFIX ??
  join(process.env.TSGRAD_CACHE_DIR ?? join(homedir(), '.cache/tsgrad'), 'peers/browser')
const peerModules = join(peerPrefix, 'node_modules')

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.html': 'text/html',
  '.json': 'application/json',
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>tsgrad browser bench</title></head>
<body><script type="module" src="/page.js"></script></body></html>`

/** esbuild bundles: the page (tsgrad from src) and, when installed, TensorFlow.js with its backends */
export async function bundles(): Promise<Map<string, string>> {
  const esbuild = await import('esbuild')
  const out = new Map<string, string>()
  // Node built-ins the package reaches only in Node (behind runtime checks): empty in the page
  const nodeStub = {
    name: 'node-builtins-absent',
    setup(b: import('esbuild').PluginBuild) {
      b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }))
      b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({
        contents: 'module.exports = {}',
        loader: 'js',
      }))
    },
  }
  const page = await esbuild.build({
    entryPoints: [join(import.meta.dirname, 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    plugins: [nodeStub],
    logLevel: 'error',
  })
  out.set('/page.js', page.outputFiles[0]!.text)
  if (existsSync(join(peerModules, '@tensorflow/tfjs'))) {
    const tf = await esbuild.build({
      stdin: {
        contents: `export * as tf from '@tensorflow/tfjs'
export { setWasmPaths, setThreadsCount } from '@tensorflow/tfjs-backend-wasm'
import '@tensorflow/tfjs-backend-webgpu'`,
        resolveDir: peerPrefix,
        loader: 'js',
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      plugins: [nodeStub],
      logLevel: 'error',
    })
    out.set('/peer_bundles/tfjs.js', tf.outputFiles[0]!.text)
  }
  return out
}

export function serve(files: Map<string, string>): Promise<{ url: string; close: () => void }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!)
    // cross-origin isolation: SharedArrayBuffer and wasm threads in the page
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp')
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
    let body: string | Buffer | undefined
    if (path === '/' || path === '/index.html') body = PAGE
    else if (files.has(path)) body = files.get(path)
    else if (path.startsWith('/peer_modules/')) {
      const file = normalize(join(peerModules, path.slice('/peer_modules/'.length)))
      if (file.startsWith(peerModules) && existsSync(file)) body = readFileSync(file)
    }
    if (body === undefined) {
      res.writeHead(404).end()
      return
    }
    res.setHeader('Content-Type', TYPES[extname(path) || '.html'] ?? 'application/octet-stream')
    res.end(body)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address() as { port: number }
      resolve({ url: `http://127.0.0.1:${a.port}/`, close: () => server.close() })
    }),
  )
}

/**
 * The threads of this process's descendants (the browser: its renderer, GPU and worker threads)
 * from /proc: `pid/tid` -> [its name (comm), the ns it has run (schedstat; stat's ticks are 10
 * ms)]; undefined where there is no /proc.
 */
export function browserThreads(): Map<string, [string, number]> | undefined {
  const read = (f: string): string | undefined => {
    try {
      return readFileSync(f, 'utf8')
    } catch {
      return undefined // exited meanwhile
    }
  }
  let parents: [number, number][]
  try {
    parents = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d): [number, number][] => {
        const stat = read(`/proc/${d}/stat`)
        // the field after the parenthesized name and the state: the parent's pid
        return stat ? [[Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])]] : []
      })
  } catch {
    return undefined
  }
  const mine = new Set([process.pid])
  for (let added = true; added; ) {
    added = false
    for (const [pid, ppid] of parents)
      if (!mine.has(pid) && mine.has(ppid)) {
        mine.add(pid)
        added = true
      }
  }
  mine.delete(process.pid)
  const threads = new Map<string, [string, number]>()
  for (const pid of mine) {
    let tasks: string[] = []
    try {
      tasks = readdirSync(`/proc/${pid}/task`)
    } catch {}
    for (const t of tasks) {
      const ns = Number(read(`/proc/${pid}/task/${t}/schedstat`)?.split(' ')[0] ?? 0)
      threads.set(`${pid}/${t}`, [read(`/proc/${pid}/task/${t}/comm`)?.trim() ?? '?', ns])
    }
  }
  return threads
}

/** CPU ms the browser's threads have used (browserThreads), or NaN. The page reads it around each timed call. */
export function browserCpuMs(): number {
  const threads = browserThreads()
  if (!threads) return Number.NaN
  let ns = 0
  for (const [, [, t]] of threads) ns += t
  return ns / 1e6
}

/** the browser counts as quiet below this share of one core (its idle threads: ~2-5%) */
const QUIET_SHARE = 0.1
/**
 * Waits (at most `maxMs`) until the browser's threads have used less than QUIET_SHARE of a core over
 * 10 ms, polled here (the page only waits for the answer); the ms waited. Before each timed call:
 * a peer's pool threads go on running after its call (onnxruntime-web's spin for ~20 ms: 12 ms
 * of CPU landed in each tsgrad matmul 512 call that followed one, on the second core), and
 * alternated call by call that cost was counted against whichever implementation came next.
 */
export async function browserSettle(maxMs = 300): Promise<number> {
  const t0 = performance.now()
  let c0 = browserCpuMs()
  for (;;) {
    await new Promise((r) => setTimeout(r, 10))
    const c1 = browserCpuMs()
    const waited = performance.now() - t0
    if (!(c1 - c0 > QUIET_SHARE * 10) || waited >= maxMs) return waited
    c0 = c1
  }
}

/** seconds one case may take on one implementation before its page is replaced */
const CASE_LIMIT_S = Number(process.env.BROWSER_BENCH_CASE_LIMIT_S ?? 300)
/** `BROWSER_BENCH_KINDS=wasm`: only the wasm implementations (the software WebGPU adapter takes minutes) */
const KINDS = (process.env.BROWSER_BENCH_KINDS ?? 'wasm,webgpu').split(',')
/** BROWSER_BENCH_IMPLS=webgpu,jax: only the implementations whose names contain one of these (case-insensitive) */
const IMPLS = (process.env.BROWSER_BENCH_IMPLS ?? '')
  .toLowerCase()
  .split(',')
  .filter((s) => s)
const chosenImpl = (name: string): boolean =>
  !IMPLS.length || IMPLS.some((s) => name.toLowerCase().includes(s))

/**
 * BROWSER_BENCH_ALTERNATE=0: each wasm implementation's calls in a block of their own, not
 * alternated call by call (on a shared machine the load moves between blocks and with it the ratios)
 */
const ALTERNATE = process.env.BROWSER_BENCH_ALTERNATE !== '0'
const WASM_THREADS = /^\d+$/.exec(process.env.BROWSER_BENCH_WASM_THREADS ?? '')?.[0]

type Page = import('playwright-core').Page
const kindOf = (impl: string): 'wasm' | 'webgpu' => (/webgpu/i.test(impl) ? 'webgpu' : 'wasm')
interface Window {
  benchInit(o: { threads?: number }): Promise<{ impls: string[]; env: string }>
  benchCase(c: CaseName, impls: string[]): Promise<Result[]>
}

export async function browserBench(only: string[] = []): Promise<string[][]> {
  const chromiumPath =
    process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
  if (!chromiumPath) {
    console.log('browser bench: no chromium (apt-get install chromium, or set CHROMIUM_PATH)')
    return []
  }
  if (!existsSync(peerModules))
    console.log(`browser bench: peers not installed in ${peerPrefix}; sh bench/peers/setup-browser-peers.sh`)
  const server = await serve(await bundles())
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
      '--use-angle=vulkan',
      '--disable-crash-reporter',
      '--disable-breakpad',
    ],
  })
  const cases = Object.keys(CASES) as CaseName[]
  const chosen = only.length ? cases.filter((c) => only.some((o) => c.startsWith(o))) : cases
  const open = async (threads?: number): Promise<{ page: Page; impls: string[]; env: string }> => {
    const page = await browser.newPage()
    page.on('console', (m) => {
      if (m.text().startsWith('[bench]')) console.log(`  ${m.text().slice(8)}`)
    })
    page.on('pageerror', (e) => console.log(`  page error: ${e.message}`))
    await page.exposeFunction('hostCpuMs', browserCpuMs)
    await page.exposeFunction('hostSettle', browserSettle)
    // the single-threaded page: peers size their thread pools from hardwareConcurrency
    // (as source text: a function would be sent as tsx compiled it, calling a `__name` helper the
    // page does not have, and the override failed with a page error)
    if (threads === 1)
      await page.addInitScript({
        content: "Object.defineProperty(navigator, 'hardwareConcurrency', { get: () => 1 })",
      })
    // BROWSER_BENCH_WASM_THREADS: tsgrad's WASM threads in the page (it reads WASM_THREADS where
    // there is a `process.env`)
    if (WASM_THREADS)
      await page.addInitScript({
        content: `globalThis.process = { env: { WASM_THREADS: '${WASM_THREADS}' } }`,
      })
    await page.goto(server.url)
    await page.waitForFunction(() => 'benchCase' in globalThis)
    const r = await page.evaluate((o) => (globalThis as unknown as Window).benchInit(o), { threads })
    return { page, ...r }
  }
  /**
   * every chosen case on every implementation, one page while none overruns its limit: the wasm
   * implementations of a case alternated call by call (ALTERNATE), the WebGPU ones (seconds a
   * call on the software adapter, and one may hang) each alone
   */
  const run = async (which: CaseName[], threads?: number): Promise<{ results: Result[]; env: string }> => {
    let p = await open(threads)
    const results: Result[] = []
    for (const c of which) {
      const chosenImpls = p.impls.filter((i) => KINDS.includes(kindOf(i)) && chosenImpl(i))
      const wasm = chosenImpls.filter((i) => kindOf(i) === 'wasm')
      const groups = [
        ...(ALTERNATE && wasm.length ? [wasm] : wasm.map((i) => [i])),
        ...chosenImpls.filter((i) => kindOf(i) === 'webgpu').map((i) => [i]),
      ]
      for (const names of groups) {
        let timer: NodeJS.Timeout | undefined
        const limit = new Promise<'timeout'>((res) => {
          timer = setTimeout(() => res('timeout'), CASE_LIMIT_S * names.length * 1e3)
        })
        const r = await Promise.race([
          p.page.evaluate(([c, n]) => (globalThis as unknown as Window).benchCase(c, n), [c, names] as const),
          limit,
        ]).catch((e: Error) =>
          names.map((impl) => ({ case: c, impl, kind: kindOf(impl), error: e.message.split('\n')[0] })),
        )
        clearTimeout(timer)
        if (r === 'timeout') {
          for (const impl of names) {
            results.push({ case: c, impl, kind: kindOf(impl), error: `over ${CASE_LIMIT_S} s, stopped` })
            console.log(`  ${c} ${impl}: over ${CASE_LIMIT_S} s, stopped (a fresh page goes on)`)
          }
          await p.page.close().catch(() => {})
          p = await open(threads)
        } else results.push(...r)
      }
    }
    await p.page.close()
    return { results, env: p.env }
  }
  try {
    const main = await run(chosen)
    console.log(`browser: ${main.env}`)
    const rows = report(main.results)
    if (chosen.includes('matmul1024')) {
      const single = await run(['matmul1024'], 1)
      rows.push(...report(single.results, ' single-threaded'))
    }
    return rows
  } finally {
    await browser.close()
    server.close()
  }
}

/** One row per case and device kind: tsgrad's time, then each peer's with peer/tsgrad. */
function report(results: Result[], suffix = ''): string[][] {
  const rows: string[][] = []
  for (const c of Object.keys(CASES) as CaseName[]) {
    const spec = CASES[c]
    const rate = (ms: number) => `${(spec.amount / (ms / 1e3) / 1e9).toFixed(1)} ${spec.unit}`
    for (const kind of ['wasm', 'webgpu'] as const) {
      const rs = results.filter((r) => r.case === c && r.kind === kind)
      if (!rs.length) continue
      const own = rs.find((r) => r.impl.startsWith('tsgrad'))
      const cells = [`${spec.title}${suffix} [${kind}]`]
      for (const r of rs) {
        if (r.ms === undefined) cells.push(`${r.impl}: failed (${r.error})`)
        else {
          const ratio = own?.ms !== undefined && r !== own ? ` x${(r.ms / own.ms).toFixed(2)}` : ''
          const cpu = r.cpuMs === undefined || Number.isNaN(r.cpuMs) ? '' : `, cpu ${r.cpuMs.toFixed(1)} ms`
          const cpuRatio =
            own?.cpuMs !== undefined && r.cpuMs !== undefined && r !== own && own.cpuMs > 0
              ? ` (cpu x${(r.cpuMs / own.cpuMs).toFixed(2)})`
              : ''
          cells.push(`${r.impl} ${r.ms.toFixed(2)} ms (${rate(r.ms)}${cpu})${ratio}${cpuRatio}`)
        }
      }
      rows.push(cells)
      console.log(cells.join(' | '))
    }
  }
  return rows
}
