// The full C prelude as a gcc precompiled header. A kernel that calls a helper built on intrinsics
// starts with the full prelude (renderer/c_prelude.ts; the others with the core one, which needs
// no header), and its includes (immintrin.h) are 1.4 MB of preprocessed text: ~0.19 s of gcc per
// kernel before the kernel itself (an empty kernel: 0.02 s). Precompiled once per toolchain into the disk cache
// (`pch/<key>.h` and its `.h.gch`), a kernel is compiled as its body with `-include` of the header,
// which gcc reads from the .gch (~0.05 s): the kernels of a cold MNIST CNN step and evaluation
// took 12 s of gcc CPU time instead of 23 s. gcc checks a .gch against the flags and falls back
// to the header's text when it does not fit, so a stale one costs time, never correctness.
import { binaryBuildPath, cacheKey, storeBinary, verifiedBinary } from './diskcache.js'
import { nodeBuiltins } from './node.js'

interface Toolchain {
  cc: string
  version: string
  flags: string[]
  key: string
}

/** toolchain key -> the header whose .gch sits beside it, or null when there is none */
const headers = new Map<string, string | null>()

/**
 * The cached header holding `prelude` (with its .gch beside it) for compiles with `t`, built on
 * first use; undefined when the compiler is not gcc, the disk cache is off, or the build failed.
 */
export function preludeHeader(t: Toolchain, prelude: string): string | undefined {
  const known = headers.get(t.key)
  if (known !== undefined) return known ?? undefined
  let header: string | undefined
  // gcc's PCH (clang's takes -include-pch and other flags)
  if (!/clang/i.test(t.version)) header = cachedHeader(t, prelude)
  headers.set(t.key, header ?? null)
  return header
}

function cachedHeader(t: Toolchain, prelude: string): string | undefined {
  const n = nodeBuiltins()
  if (!n) return undefined
  const key = cacheKey('pch-v1', t.key, prelude)
  const h = verifiedBinary('pch', key, '.h')
  if (h !== undefined && verifiedBinary('pch', key, '.h.gch') !== undefined) return h
  const tmp = binaryBuildPath('pch', key, '.h')
  if (tmp === undefined) return undefined
  const gch = `${tmp}.gch`
  try {
    n.fs.writeFileSync(tmp, prelude)
  } catch {
    return undefined
  }
  // compile flags only: a linker flag makes gcc link the header (and fail)
  const flags = t.flags.filter((f) => !f.startsWith('-l') && !f.startsWith('-Wl,') && f !== '-shared')
  const r = n.childProcess.spawnSync(t.cc, [...flags, '-x', 'c-header', '-o', gch, tmp], { stdio: 'ignore' })
  if (r.status !== 0 || r.error) {
    n.fs.rmSync(tmp, { force: true })
    n.fs.rmSync(gch, { force: true })
    return undefined
  }
  // the .gch first: a header without its .gch is a miss (rebuilt), never a slow path used for good
  if (storeBinary('pch', key, '.h.gch', gch) === undefined) {
    n.fs.rmSync(tmp, { force: true })
    return undefined
  }
  return storeBinary('pch', key, '.h', tmp)
}
