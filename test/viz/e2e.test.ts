// End to end: a tiny model runs with VIZ=1 in a child process, which serves the web UI at exit;
// real headless Chromium (Debian's `chromium`, driven by playwright-core) opens it and checks that
// the timeline lists the kernels, a rewrite pass can be stepped through, kernel source shows and
// the graph renders. Saves screenshots to test-results/. The child is killed at the end.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { TraceIndex } from '../../src/viz/schema.ts'
import { chromium } from '../helpers.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const artifacts = join(root, 'test-results')

const { path: chromiumPath, skip } = chromium()

let child: ChildProcess | undefined
let url = ''
let dir = ''

before(async () => {
  if (skip) return
  dir = mkdtempSync(join(tmpdir(), 'tsgrad-viz-e2e-'))
  child = spawn(process.execPath, ['--import', 'tsx', join(here, 'tiny_model.ts')], {
    cwd: root,
    env: { ...process.env, VIZ: '1', VIZ_PORT: '0', VIZ_DIR: dir, DEVICE: 'JS' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no VIZ url after 60 s; output:\n${out}`)), 60_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = out.match(/VIZ: serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/)
      if (m) {
        clearTimeout(timer)
        ok(m[1]!)
      }
    }
    child!.stdout!.on('data', onData)
    child!.stderr!.on('data', onData)
    child!.on('exit', (code) => fail(new Error(`child exited (${code}) before serving:\n${out}`)))
  })
})

after(() => {
  child?.kill('SIGKILL')
})

test('VIZ=1 serves the UI at exit; Chromium shows timeline, pass steps, kernel source, graph', {
  skip,
  timeout: 120_000,
}, async () => {
  assert.ok(chromiumPath, 'chromium not found: install it (apt-get install chromium) or set CHROMIUM_PATH')
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as TraceIndex
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    // only loopback, only the trace directory
    const outside = await page.request.get(`${url}trace/..%2fpackage.json`)
    assert.equal(outside.status(), 404)
    await page.goto(url)
    await page.waitForSelector('body[data-ready="1"]', { timeout: 20_000 })
    mkdirSync(artifacts, { recursive: true })

    // the timeline lists every kernel that ran
    const rows = await page.locator('tr.kernel-row').allTextContents()
    assert.ok(rows.length > 0, 'timeline table has kernel rows')
    for (const k of idx.kernels)
      assert.ok(
        rows.some((r) => r.includes(k.name)),
        `timeline lists ${k.name}`,
      )
    assert.ok((await page.locator('svg.timeline rect.bar').count()) > 0, 'timeline draws launch bars')
    await page.screenshot({ path: join(artifacts, 'viz-timeline.png') })

    // step through a pass that rewrote something
    const pass = idx.passes.find((p) => p.steps >= 2 && p.nodesIn > 10)
    assert.ok(pass, 'some pass fired rules')
    await page.goto(`${url}#/pass/${pass.id}/0`)
    await page.waitForSelector('svg.graph g.node')
    const nodes0 = Number(await page.locator('svg.graph').getAttribute('data-nodes'))
    assert.equal(nodes0, pass.nodesIn, 'input graph has all its nodes')
    assert.equal(await page.locator('svg.graph g.node').count(), nodes0)
    await page.click('[data-testid=next]')
    assert.equal(await page.textContent('[data-testid=step-label]'), `step 1 / ${pass.steps}`)
    assert.match((await page.textContent('[data-testid=rule]')) ?? '', /src\/.+\.ts:\d+/)
    assert.ok((await page.locator('svg.graph g.node.hl-new').count()) > 0, 'the replacement is highlighted')
    await page.click('text=show before')
    assert.ok((await page.locator('svg.graph g.node.hl-old').count()) > 0, 'the replaced node is highlighted')
    await page.click('text=show before')
    await page.keyboard.press('ArrowRight')
    assert.equal(await page.textContent('[data-testid=step-label]'), `step 2 / ${pass.steps}`)
    await page.click('[data-testid=last]')
    const nodesEnd = Number(await page.locator('svg.graph').getAttribute('data-nodes'))
    assert.equal(nodesEnd, pass.nodesOut, 'after the last step the graph is the pass output')
    await page.screenshot({ path: join(artifacts, 'viz-pass.png') })

    // a kernel: source with highlighting next to its Opts, and its AST graph
    const k = idx.kernels.find((x) => x.name.startsWith('r_')) ?? idx.kernels[0]!
    await page.goto(`${url}#/kernel/${k.id}`)
    await page.waitForSelector('[data-testid=source]')
    const src = (await page.textContent('[data-testid=source]')) ?? ''
    assert.ok(src.includes(k.name), 'source names the kernel')
    assert.ok((await page.locator('[data-testid=source] span.k').count()) > 0, 'keywords highlighted')
    assert.ok(((await page.textContent('[data-testid=opts]')) ?? '').includes('Opts'))
    assert.ok(Number(await page.locator('svg.graph').getAttribute('data-nodes')) > 0, 'AST graph renders')
    await page.screenshot({ path: join(artifacts, 'viz-kernel.png') })
    assert.deepEqual(errors, [], 'no errors in the page')
  } finally {
    await browser.close()
  }
})
