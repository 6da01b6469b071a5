// tsgrad's browser entry (package.json's `browser` condition, dist/browser.js): the devices a page
// or a worker has (WEBGPU, WASM, JS) and no Node built-in on any import path (test/browser checks
// an esbuild bundle of this file). `await ready()` picks the fastest device and makes it the default.
import './runtime/js.js'
import './runtime/wasm.js'
import './runtime/webgpu.js'

export * from './api.js'
export { BROWSER_PREFERENCE, type ReadyOptions, ready } from './runtime/fastest.js'
