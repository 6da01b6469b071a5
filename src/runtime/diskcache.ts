// The on-disk cache shared by compiled kernels, BEAM results and the probed toolchain: one file
// per key under $TSGRAD_CACHE_DIR (default $XDG_CACHE_HOME/tsgrad or ~/.cache/tsgrad), in one
// directory per namespace. CACHELEVEL=0 turns it off.
//
// The cache is optional and untrusted:
// - a directory that cannot be used (not creatable, not a directory, not owned by this user or
//   writable by group/others, a write failing with ENOSPC/EROFS) disables the cache for the
//   process with one warning; nothing else fails.
// - every write goes to a temporary name in the same directory and is renamed into place, so no
//   reader ever sees a partial file.
// - a read accepts only a regular file owned by this user, not writable by group/others, below a
//   size limit. A binary entry (a kernel library, which is mapped into the process: a truncated
//   one dies with SIGBUS) is used only when its sidecar record `<file>.json` names the same key,
//   length and sha256; anything else is a miss, and the caller rebuilds and rewrites it.
import { getEnv, getEnvNum } from '../helpers.js'
import { nodeBuiltins } from './node.js'

export function cacheEnabled(): boolean {
  return getEnvNum('CACHELEVEL', 1) > 0 && nodeBuiltins() !== null && disabledFor !== cacheDir()
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

// ---- the directory: created private, checked once per process and namespace ------------------

/** The cache directory the process gave up on (it may change through TSGRAD_CACHE_DIR). */
let disabledFor: string | undefined
/** namespace directories already checked, by path */
const checkedDirs = new Set<string>()
const warned = new Set<string>()

/** Stop using the disk cache for this process, with one warning saying why. */
export function disableCache(reason: string): void {
  const dir = cacheDir()
  disabledFor = dir
  const msg = `tsgrad: disk cache ${dir} disabled: ${reason}`
  if (warned.has(msg)) return
  warned.add(msg)
  console.warn(msg)
}

const errText = (e: unknown): string => (e as Error).message ?? String(e)

/** mkdir -p with mode 0700 for what it creates (fs's recursive mkdir loops forever under /proc). */
function mkdirPrivate(p: string, depth = 0): void {
  const { fs, path } = nodeBuiltins()!
  try {
    fs.mkdirSync(p, { mode: 0o700 })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    const parent = path.dirname(p)
    if (code !== 'ENOENT' || parent === p || depth > 64) throw e
    mkdirPrivate(parent, depth + 1)
    try {
      fs.mkdirSync(p, { mode: 0o700 })
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2
    }
  }
}

const myUid = (): number | undefined => process.getuid?.()

/** Why a stat result may not hold cache files we load (undefined: it may). */
function untrusted(st: { uid: number; mode: number }): string | undefined {
  const uid = myUid()
  if (uid === undefined) return undefined // no POSIX ownership (Windows)
  if (st.uid !== uid) return `owned by uid ${st.uid}, not by this user (uid ${uid})`
  if (st.mode & 0o022)
    return `writable by group or others (mode ${(st.mode & 0o777).toString(8)}; chmod go-w fixes it)`
  return undefined
}

/** The namespace's directory, created and checked; undefined when the cache cannot be used. */
function namespaceDir(namespace: string): string | undefined {
  if (!cacheEnabled()) return undefined
  const { fs, path } = nodeBuiltins()!
  const root = cacheDir()
  const dir = path.join(root, namespace)
  if (checkedDirs.has(dir)) return dir
  for (const d of [root, dir]) {
    try {
      mkdirPrivate(d)
      const st = fs.statSync(d)
      if (!st.isDirectory()) throw new Error(`${d} is not a directory`)
      const why = untrusted(st)
      if (why) throw new Error(`${d} is ${why}`)
    } catch (e) {
      disableCache(errText(e))
      return undefined
    }
  }
  checkedDirs.add(dir)
  return dir
}

/** A fresh temporary name next to `final` (same file system, so the rename is atomic). */
function tempName(final: string): string {
  return `${final}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`
}

// ---- reading and writing entries ---------------------------------------------------------------

/** The bytes of a trusted regular file of at most `maxBytes`, or undefined. */
function readTrusted(file: string, maxBytes: number): Buffer | undefined {
  const { fs } = nodeBuiltins()!
  let fd: number
  try {
    // O_NOFOLLOW: an entry is never a symlink (it could point at a FIFO or a huge file)
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0),
    )
  } catch {
    return undefined
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile() || st.size > maxBytes || untrusted(st)) return undefined
    const buf = Buffer.alloc(st.size)
    let got = 0
    while (got < buf.length) {
      const k = fs.readSync(fd, buf, got, buf.length - got, got)
      if (k <= 0) return undefined
      got += k
    }
    return buf
  } catch {
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}

/** Rename a finished temporary file into place; false (cache disabled) when that fails. */
function commit(tmp: string, final: string): boolean {
  const { fs } = nodeBuiltins()!
  try {
    fs.chmodSync(tmp, 0o600)
    fs.renameSync(tmp, final)
    return true
  } catch (e) {
    fs.rmSync(tmp, { force: true })
    disableCache(`cannot write ${final}: ${errText(e)}`)
    return false
  }
}

function writeAtomic(final: string, data: string | Uint8Array): boolean {
  const tmp = tempName(final)
  try {
    nodeBuiltins()!.fs.writeFileSync(tmp, data, { mode: 0o600 })
  } catch (e) {
    nodeBuiltins()!.fs.rmSync(tmp, { force: true })
    disableCache(`cannot write ${final}: ${errText(e)}`)
    return false
  }
  return commit(tmp, final)
}

const MAX_TEXT = 1 << 20

export function readCachedText(namespace: string, key: string): string | undefined {
  const dir = namespaceDir(namespace)
  if (dir === undefined) return undefined
  return readTrusted(nodeBuiltins()!.path.join(dir, `${key}.json`), MAX_TEXT)?.toString('utf8')
}

/** Store a text entry (a failure disables the cache with a warning; it never throws). */
export function writeCachedText(namespace: string, key: string, text: string): void {
  const dir = namespaceDir(namespace)
  if (dir !== undefined) writeAtomic(nodeBuiltins()!.path.join(dir, `${key}.json`), text)
}

// ---- binary entries: the file plus a record of its key, length and sha256 ---------------------

const MAX_BINARY = 1 << 30

interface BinaryRecord {
  key: string
  size: number
  sha256: string
}

const sha256 = (b: Uint8Array): string => nodeBuiltins()!.crypto.createHash('sha256').update(b).digest('hex')

/** Where a new binary entry for `key` should be built: a temporary path in the cache, or undefined. */
export function binaryBuildPath(namespace: string, key: string, ext: string): string | undefined {
  const dir = namespaceDir(namespace)
  return dir === undefined ? undefined : tempName(nodeBuiltins()!.path.join(dir, `${key}${ext}`))
}

/**
 * The path of the cached binary entry for `key` when its file matches its record (key, length,
 * sha256), else undefined. Only a verified file may be handed to dlopen.
 */
export function verifiedBinary(namespace: string, key: string, ext: string): string | undefined {
  const dir = namespaceDir(namespace)
  if (dir === undefined) return undefined
  const file = nodeBuiltins()!.path.join(dir, `${key}${ext}`)
  const recText = readTrusted(`${file}.json`, 4096)
  if (recText === undefined) return undefined
  let rec: Partial<BinaryRecord>
  try {
    rec = JSON.parse(recText.toString('utf8')) as Partial<BinaryRecord>
  } catch {
    return undefined
  }
  if (rec === null || typeof rec !== 'object' || rec.key !== key) return undefined
  const bytes = readTrusted(file, MAX_BINARY)
  if (bytes === undefined || bytes.length !== rec.size || sha256(bytes) !== rec.sha256) return undefined
  return file
}

/**
 * Move a finished build (from `binaryBuildPath`) into the cache with its record. Returns the
 * entry's path, or undefined when the cache could not take it (the build is then gone and the
 * cache disabled: build again elsewhere).
 */
export function storeBinary(namespace: string, key: string, ext: string, built: string): string | undefined {
  const { fs, path } = nodeBuiltins()!
  const dir = namespaceDir(namespace)
  if (dir === undefined) {
    fs.rmSync(built, { force: true })
    return undefined
  }
  const file = path.join(dir, `${key}${ext}`)
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(built)
  } catch (e) {
    fs.rmSync(built, { force: true })
    disableCache(`cannot read back ${built}: ${errText(e)}`)
    return undefined
  }
  const rec: BinaryRecord = { key, size: bytes.length, sha256: sha256(bytes) }
  // the file first, then the record that vouches for it: a crash in between leaves a miss
  if (!commit(built, file)) return undefined
  if (!writeAtomic(`${file}.json`, JSON.stringify(rec))) return undefined
  return file
}
