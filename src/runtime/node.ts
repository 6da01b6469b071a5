// Node built-ins reached without static imports, so the package still loads in a browser (where
// the devices that need them are simply unavailable).
import type * as ChildProcess from 'node:child_process'
import type * as Crypto from 'node:crypto'
import type * as Fs from 'node:fs'
import type * as Module from 'node:module'
import type * as Os from 'node:os'
import type * as Path from 'node:path'

interface NodeBuiltins {
  fs: typeof Fs
  os: typeof Os
  path: typeof Path
  crypto: typeof Crypto
  childProcess: typeof ChildProcess
  module: typeof Module
}

let cached: NodeBuiltins | null | undefined

/** Node's built-in modules, or null outside Node. */
export function nodeBuiltins(): NodeBuiltins | null {
  if (cached === undefined) {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    const get = p?.getBuiltinModule
    cached = get
      ? {
          fs: get('node:fs') as typeof Fs,
          os: get('node:os') as typeof Os,
          path: get('node:path') as typeof Path,
          crypto: get('node:crypto') as typeof Crypto,
          childProcess: get('node:child_process') as typeof ChildProcess,
          module: get('node:module') as typeof Module,
        }
      : null
  }
  return cached
}

/**
 * Write `bytes` to `path` under a temporary name in the same directory, then rename it into
 * place: a crash or a full disk never leaves a truncated file where the previous one was, and
 * readers of the old file keep it whole. `what` names the caller in the error outside Node.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, what: string): Promise<void> {
  const fs = nodeBuiltins()?.fs
  if (!fs) throw new Error(`${what}: writing files needs Node.js`)
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`
  try {
    await fs.promises.writeFile(tmp, bytes)
    await fs.promises.rename(tmp, path)
  } catch (e) {
    await fs.promises.rm(tmp, { force: true })
    throw e
  }
}
