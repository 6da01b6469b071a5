// What this engine's WebAssembly has: SIMD128, relaxed SIMD, shared memory (threads). Each is
// probed by validating a tiny module that uses it, once per process. WASM_SIMD=0 / WASM_RELAXED=0
// turn a feature off (to test and measure the fallbacks). Node 20's V8 has relaxed SIMD behind
// `--experimental-wasm-relaxed-simd` (on by default from Node 22, and in Chromium): where the
// probe fails in Node, the flag is set through node:v8 before any kernel is compiled, and probed
// again (V8 reads wasm feature flags when it validates or compiles a module).
import { getEnv } from '../helpers.js'
import { Code, encodeModule, V128 } from '../renderer/wasm_encoder.js'

export interface WasmFeatureSet {
  simd: boolean
  relaxed: boolean
  /** SharedArrayBuffer-backed memories can be made (threads need them) */
  sharedMemory: boolean
}

let probed: WasmFeatureSet | undefined

/** A module with one function `(v128) -> v128` whose body is `body`. */
function probe(body: (c: Code) => void): boolean {
  const c = new Code()
  body(c)
  try {
    const bytes = encodeModule(
      { module: 'env', name: 'mem', initial: 1, shared: false },
      [],
      [{ type: { params: [V128], results: [V128] }, locals: [], body: c }],
    )
    return WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)
  } catch {
    return false
  }
}

const probeRelaxed = (): boolean => probe((c) => c.get(0).get(0).get(0).v(0x105)) // relaxed_madd

/** Node 20: turn on V8's relaxed SIMD flag (true when node:v8 was there to ask). */
function enableRelaxedFlag(): boolean {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  const v8 = p?.getBuiltinModule?.('node:v8') as { setFlagsFromString(f: string): void } | undefined
  if (!v8) return false
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd')
  return true
}

export function wasmFeatures(): WasmFeatureSet {
  if (probed) return probed
  const off = (name: string) => getEnv(name) === '0'
  const simd = !off('WASM_SIMD') && probe((c) => c.get(0).get(0).v(0xe4)) // f32x4.add
  const relaxed = simd && !off('WASM_RELAXED') && (probeRelaxed() || (enableRelaxedFlag() && probeRelaxed()))
  let sharedMemory = false
  try {
    sharedMemory =
      typeof SharedArrayBuffer === 'function' &&
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer
  } catch {
    sharedMemory = false
  }
  probed = { simd, relaxed, sharedMemory }
  return probed
}
