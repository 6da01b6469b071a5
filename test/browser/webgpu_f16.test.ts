// float16 on a WebGPU adapter without 'shader-f16': Chromium's software adapter (SwiftShader) has
// none (Dawn on lavapipe in Node has it, so this is checked in a real browser). Built after the
// device started, a float16 graph is refused when it is built; built before (the adapter not known
// yet, so the renderer could not refuse it), its kernel is not compiled and the read names the
// kernel and the missing feature instead of the driver's complaint about `enable f16`. Either way
// the device keeps working in float32.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startServer } from '../../examples/browser/serve.mjs'
import { chromium } from '../helpers.ts'

const { path: chromiumPath, skip } = chromium()

test("float16 on an adapter without 'shader-f16' (Chromium's SwiftShader): clear errors, float32 unaffected", {
  skip,
  timeout: 180_000,
}, async (t) => {
  assert.ok(chromiumPath, 'chromium not found: install it (apt-get install chromium) or set CHROMIUM_PATH')
  const { chromium: pw } = await import('playwright-core')
  const server = await startServer(0, { isolate: true })
  const browser = await pw.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan'],
  })
  try {
    const page = await browser.newPage()
    await page.goto(server.url)
    // (no named functions inside: tsx would wrap them in a helper the page does not have)
    const r = await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: GPU }).gpu
      const adapter = await gpu?.requestAdapter()
      if (!adapter) return { adapter: false as const }
      if (adapter.features.has('shader-f16')) return { adapter: true as const, f16: true as const }
      // @ts-expect-error: a URL import in the page, not a module of this project
      const ts = await import('/tsgrad.js')
      // built before the device has started: the renderer cannot know the adapter yet
      const early = new ts.Tensor([1.5, -2, 0.25], { device: 'WEBGPU' })
        .cast('float16')
        .mul(2)
        .cast('float32')
      let earlyError = 'no error'
      try {
        await early.data()
      } catch (e) {
        earlyError = String((e as Error).message ?? e)
      }
      // started now: refused when the graph is built, and the device reports the dtype unsupported
      let buildError = 'no error'
      try {
        ts.Tensor.zeros([2], { device: 'WEBGPU' }).cast('float16')
      } catch (e) {
        buildError = String((e as Error).message ?? e)
      }
      const supports = ts.Device.supportsDType('WEBGPU', ts.dtypes.float16)
      const after = Array.from(
        (await new ts.Tensor([1, 2, 3], { device: 'WEBGPU' }).mul(2).add(1).data()) as Float32Array,
      )
      return { adapter: true as const, f16: false as const, earlyError, buildError, supports, after }
    })
    if (!r.adapter) return t.skip('this Chromium has no WebGPU adapter')
    if (r.f16) return t.skip("this Chromium's adapter has shader-f16 (the Node device tests float16)")
    assert.match(
      r.earlyError,
      /kernel \S+ computes in float16, which needs the adapter's 'shader-f16' feature/,
    )
    assert.doesNotMatch(r.earlyError, /enable f16/, 'the driver error, not ours')
    assert.match(
      r.buildError,
      /cast: dtype float16 is not supported on WEBGPU: the adapter has no 'shader-f16'/,
    )
    assert.equal(r.supports, false)
    assert.deepEqual(r.after, [3, 5, 7])
  } finally {
    await browser.close()
    await server.close()
  }
})
