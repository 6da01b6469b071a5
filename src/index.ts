// tsgrad public entry point (Node): every device, and VIZ recording from the environment.
// Browsers get src/browser.ts (package.json's `browser` condition): no Node built-ins there.
import './runtime/js.js'
import './runtime/null.js'
import './runtime/cpu.js'
import './runtime/wasm.js'
import './runtime/webgpu.js'
import './viz/enable.js'

export * from './api.js'
