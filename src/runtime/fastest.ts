// Picks the fastest device this environment has, for the browser entry's `ready()`: WEBGPU when an
// adapter starts, else WASM, else JS. A WebGPU adapter can only be asked for asynchronously, so the
// synchronous `Device.DEFAULT` cannot know it; `ready()` asks once and makes the winner the default.
import { getEnv, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { canonicalDevice, Device } from './device.js'
import { wasmReady } from './wasm.js'
import { startWebGPU } from './webgpu.js'

/** The order `ready()` tries devices in: fastest first. */
export const BROWSER_PREFERENCE = ['WEBGPU', 'WASM', 'JS'] as const

export interface ReadyOptions {
  /** try only these devices, in this order (default: WEBGPU, WASM, JS) */
  readonly prefer?: readonly string[]
}
const READY_OPTS: KeySet<ReadyOptions> = { prefer: true }

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
export function ready(opts: ReadyOptions = {}): Promise<string> {
  // checked at the call (a throw, not a rejection), like every options bag
  checkOptions('ready', opts, READY_OPTS)
  const { prefer } = opts
  if (
    prefer !== undefined &&
    (!Array.isArray(prefer) || prefer.length === 0 || !prefer.every((d) => typeof d === 'string'))
  )
    throw new TsgradError(
      `ready: prefer must be a non-empty array of device names (e.g. ['WASM', 'JS']), got ${JSON.stringify(prefer)}`,
    )
  const env = getEnv('DEVICE')
  return pick(env ? [canonicalDevice(env)] : (prefer ?? BROWSER_PREFERENCE).map(canonicalDevice))
}

async function pick(order: readonly string[]): Promise<string> {
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
