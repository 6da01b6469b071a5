// Where a browser-bench call's wall time goes: `node --import tsx bench/browser/trace.ts <case>
// [impls] [calls]` opens the bench page (bench/browser/host.ts) in headless Chromium, warms the case
// up on the wasm implementations whose names contain one of `impls` (comma-separated; default
// `tsgrad WASM`; `wasm`: all, alternated call by call as the bench does), then records a Chromium
// trace of `calls` (5) more calls each and prints, per call (the page's `call <impl>` user-timing
// measures) and per thread of
// the page's renderer (its main thread, workers), the time its tasks ran (wall, trace `dur`), their
// thread CPU time (`tdur`) and the time the thread was in no task (idle: waiting for an event).
// Wall >> CPU inside tasks: the thread was runnable but descheduled (load) or blocked in a task
// (Atomics.wait); time in no task: it waited on the event loop (a message, a timer, waitAsync).
// The trace itself is written to /tmp/tsgrad-trace-<case>.json (chrome://tracing, Perfetto).
import { existsSync, writeFileSync } from 'node:fs'
import { CASES } from './cases.ts'
import { browserSettle, browserThreads, bundles, serve } from './host.ts'

interface TraceEvent {
  ph: string
  name: string
  cat: string
  pid: number
  tid: number
  ts: number
  dur?: number
  tdur?: number
  id?: string
  args?: { name?: string }
}

const [c = 'mlp', implArg = 'tsgrad WASM', callsArg = '5'] = process.argv.slice(2)
if (!(c in CASES)) throw new Error(`trace.ts: unknown case ${c} (${Object.keys(CASES).join(', ')})`)
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (!existsSync(chromiumPath)) throw new Error(`trace.ts: no chromium at ${chromiumPath} (set CHROMIUM_PATH)`)

const server = await serve(await bundles())
const { chromium } = await import('playwright-core')
const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
try {
  const page = await browser.newPage()
  page.on('console', (m) => m.text().startsWith('[bench]') && console.log(`  ${m.text().slice(8)}`))
  // the page reads the browser's CPU time around each timed call: kept per thread here
  const snapshots: Map<string, [string, number]>[] = []
  await page.exposeFunction('hostCpuMs', () => {
    const t = browserThreads() ?? new Map()
    snapshots.push(t)
    let ns = 0
    for (const [, [, n]] of t) ns += n
    return ns / 1e6
  })
  await page.exposeFunction('hostSettle', browserSettle)
  await page.goto(server.url)
  await page.waitForFunction(() => 'benchCase' in globalThis)
  type W = {
    benchInit(o: object): Promise<{ impls: string[] }>
    benchCase(c: string, n: string[], runs?: number): Promise<unknown>
  }
  const { impls } = await page.evaluate(() => (globalThis as unknown as W).benchInit({}))
  // the wasm implementations named (comma-separated parts of their names), alternated as the bench does
  const chosen = impls.filter(
    (i) => !/webgpu/i.test(i) && implArg.split(',').some((s) => i.toLowerCase().includes(s.toLowerCase())),
  )
  if (!chosen.length) throw new Error(`trace.ts: no implementation ${implArg} (${impls.join(', ')})`)
  // warm-up: compiles, thread choices settle
  await page.evaluate(
    ([c, i]) => (globalThis as unknown as W).benchCase(c as string, i as string[]),
    [c, chosen],
  )
  await browser.startTracing(page, {
    categories: [
      'toplevel',
      'devtools.timeline',
      'disabled-by-default-devtools.timeline',
      'blink.user_timing',
      'v8',
      'v8.execute',
      'disabled-by-default-v8.gc',
    ],
  })
  const calls = Number(callsArg)
  snapshots.length = 0
  await page.evaluate(
    ([c, i, n]) => (globalThis as unknown as W).benchCase(c as string, i as string[], n as number),
    [c, chosen, calls],
  )
  const buf = await browser.stopTracing()
  const file = `/tmp/tsgrad-trace-${c}.json`
  writeFileSync(file, buf)
  summarize(JSON.parse(buf.toString()) as { traceEvents: TraceEvent[] }, chosen)
  threadCpu(snapshots, chosen)
  console.log(`trace: ${file}`)
} finally {
  await browser.close()
  server.close()
}

/** Per call: each page thread's task wall, task CPU and idle ms, and the longest tasks. */
function summarize(trace: { traceEvents: TraceEvent[] }, impls: string[]): void {
  const ev = trace.traceEvents
  const names = new Map<string, string>()
  for (const e of ev)
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args!.name!)
  // the calls: async user-timing measures (begin/end pairs) or complete events
  const opened = new Map<string, number>()
  const calls: [string, number, number][] = []
  const isCall = (e: TraceEvent) => impls.some((i) => e.name === `call ${i}`)
  for (const e of ev) {
    if (!isCall(e)) continue
    if (e.ph === 'b') opened.set(e.id ?? '', e.ts)
    else if (e.ph === 'e') calls.push([e.name, opened.get(e.id ?? '') ?? e.ts, e.ts])
    else if (e.ph === 'X') calls.push([e.name, e.ts, e.ts + (e.dur ?? 0)])
  }
  if (!calls.length) throw new Error('trace.ts: no call measures in the trace')
  calls.sort((a, b) => a[1] - b[1])
  const pagePid = ev.find(isCall)!.pid
  // top-level tasks of the page's threads (the outermost slices: nested ones are inside them)
  const tasks = ev.filter(
    (e) => e.pid === pagePid && e.ph === 'X' && e.cat.split(',').includes('toplevel') && e.dur !== undefined,
  )
  for (const [name, t0, t1] of calls) {
    console.log(`${name.slice(5)}: ${((t1 - t0) / 1e3).toFixed(1)} ms wall`)
    const byThread = new Map<number, TraceEvent[]>()
    for (const e of tasks)
      if (e.ts < t1 && e.ts + e.dur! > t0) byThread.set(e.tid, [...(byThread.get(e.tid) ?? []), e])
    for (const [tid, ts] of byThread) {
      // nested top-level slices: keep the outermost
      ts.sort((a, b) => a.ts - b.ts)
      let end = -Infinity
      let wall = 0
      let cpu = 0
      const longest: string[] = []
      for (const e of ts) {
        if (e.ts < end) continue
        end = e.ts + e.dur!
        const clip = Math.min(end, t1) - Math.max(e.ts, t0)
        wall += clip
        cpu += (e.tdur ?? 0) * (clip / e.dur!)
        if (e.dur! > 2000) longest.push(`${(e.dur! / 1e3).toFixed(1)}/${((e.tdur ?? 0) / 1e3).toFixed(1)}`)
      }
      const span = t1 - t0
      console.log(
        `  ${(names.get(`${pagePid}:${tid}`) ?? `thread ${tid}`).padEnd(28)} tasks ${String(ts.length).padStart(4)}  in tasks ${(wall / 1e3).toFixed(1).padStart(6)} ms (cpu ${(cpu / 1e3).toFixed(1).padStart(6)})  idle ${((span - wall) / 1e3).toFixed(1).padStart(6)} ms  tasks > 2 ms (wall/cpu): ${longest.slice(0, 8).join(' ')}`,
      )
    }
  }
}

/**
 * Per implementation, the median CPU ms per call of each browser thread (between the page's reads
 * before and after a timed call: snapshots 2k and 2k+1 are call k, the implementations in turn):
 * which threads ran during whose calls (a peer's pool threads that go on spinning after its call
 * are counted in the next one's).
 */
function threadCpu(snaps: Map<string, [string, number]>[], impls: string[]): void {
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0
  for (const [i, impl] of impls.entries()) {
    const per = new Map<string, number[]>()
    const totals: number[] = []
    for (let k = i; 2 * k + 1 < snaps.length; k += impls.length) {
      const [a, b] = [snaps[2 * k]!, snaps[2 * k + 1]!]
      let total = 0
      for (const [id, [name, ns]] of b) {
        const ms = (ns - (a.get(id)?.[1] ?? 0)) / 1e6
        total += ms
        const key = `${name} ${id}`
        per.set(key, [...(per.get(key) ?? []), ms])
      }
      totals.push(total)
    }
    const rows = [...per].map(([k, xs]) => [k, med(xs)] as const).filter(([, m]) => m >= 0.3)
    console.log(
      `${impl}: browser cpu per call ${med(totals).toFixed(1)} ms; threads (median ms): ${rows
        .sort((x, y) => y[1] - x[1])
        .map(([k, m]) => `${k} ${m.toFixed(1)}`)
        .join(', ')}`,
    )
  }
}
