// Picks the fastest device this environment has, for the browser entry's `ready()`: WEBGPU when an
// adapter starts, else WASM, else JS. A WebGPU adapter can only be asked for asynchronously, so the
// synchronous `Device.DEFAULT` cannot know it; `ready()` asks once and makes the winner the default.
import { getEnv, TsgradError } from '../helpers.js'
import { canonicalDevice, Device } from './device.js'
import { wasmReady } from './wasm.js'
import { startWebGPU } from './webgpu.js'

/** The order `ready()` tries devices in: fastest first. */
export const BROWSER_PREFERENCE = ['WEBGPU', 'WASM', 'JS'] as const

export interface ReadyOptions {
  /** try only these devices, in this order (default: WEBGPU, WASM, JS) */
  readonly prefer?: readonly string[]
}

/** Why `name` cannot run here (starting WEBGPU if needed), or undefined when it can. */
async function whyNot(name: string): Promise<string | undefined> {
  if (name === 'WEBGPU') {
    try {
      await startWebGPU()
      return undefined
    } catch (e) {
      return (e as Error).message
    }
  }
  return Device.unavailableReason(name)
}

/**
 * Start the fastest available device and make it `Device.DEFAULT` (unless the DEVICE variable
 * chose one); resolves to the device's name. The reasons devices were skipped are in the error
 * when none can run.
 */
export async function ready(opts: ReadyOptions = {}): Promise<string> {
  const env = getEnv('DEVICE')
  const order = env ? [canonicalDevice(env)] : (opts.prefer ?? BROWSER_PREFERENCE).map(canonicalDevice)
  const skipped: string[] = []
  for (const name of order) {
    const why = await whyNot(name)
    if (why !== undefined) {
      skipped.push(`${name}: ${why}`)
      continue
    }
    Device.DEFAULT = name
    if (name === 'WASM') await wasmReady()
    return name
  }
  throw new TsgradError(`ready: no device can run here (${skipped.join('; ')})`)
}
