// The on-disk cache shared by compiled kernels and BEAM results: one file per key under
// $TSGRAD_CACHE_DIR (default $XDG_CACHE_HOME/tsgrad or ~/.cache/tsgrad). CACHELEVEL=0 turns it off.
// Writes go to a temporary name and are renamed into place, so concurrent processes never see a
// partial file.
import { getEnv, getEnvNum } from '../helpers.js'
import { nodeBuiltins } from './node.js'

export function cacheEnabled(): boolean {
  return getEnvNum('CACHELEVEL', 1) > 0 && nodeBuiltins() !== null
}

export function cacheDir(): string {
  const n = nodeBuiltins()!
  const explicit = getEnv('TSGRAD_CACHE_DIR')
  if (explicit) return explicit
  const xdg = getEnv('XDG_CACHE_HOME')
  return n.path.join(xdg || n.path.join(n.os.homedir(), '.cache'), 'tsgrad')
}

/** Hex digest identifying `parts` (sha256, truncated). */
export function cacheKey(...parts: string[]): string {
  const h = nodeBuiltins()!.crypto.createHash('sha256')
  for (const p of parts) h.update(p).update('\0')
  return h.digest('hex').slice(0, 32)
}

const entryPath = (namespace: string, key: string, ext: string): string =>
  nodeBuiltins()!.path.join(cacheDir(), namespace, `${key}${ext}`)

/** Path of an entry to write (its directory is created). */
export function cachePath(namespace: string, key: string, ext: string): string {
  const p = entryPath(namespace, key, ext)
  nodeBuiltins()!.fs.mkdirSync(nodeBuiltins()!.path.dirname(p), { recursive: true })
  return p
}

/** Atomically move a finished file into its cache path. */
export function commitFile(tmp: string, final: string): void {
  nodeBuiltins()!.fs.renameSync(tmp, final)
}

export function readCachedText(namespace: string, key: string): string | undefined {
  if (!cacheEnabled()) return undefined
  try {
    return nodeBuiltins()!.fs.readFileSync(entryPath(namespace, key, '.json'), 'utf8')
  } catch {
    return undefined
  }
}

export function writeCachedText(namespace: string, key: string, text: string): void {
  if (!cacheEnabled()) return
  const { fs } = nodeBuiltins()!
  const final = cachePath(namespace, key, '.json')
  const tmp = `${final}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  commitFile(tmp, final)
}
