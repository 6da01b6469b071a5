// The CPU device's C compiler: finding one that works (and its flags: OpenMP, libmvec), the FFI it
// is used with, and what one compiler run gets for a kernel or a group: the .c text with its
// prelude (renderer/c_prelude.ts) or the precompiled full prelude's `-include` (cpu_pch.ts).
import { getEnv, TsgradError } from '../helpers.js'
import { PRELUDE, PRELUDES } from '../renderer/c_prelude.js'
import { type GroupMember, groupSource } from './cpu_groups.js'
import { preludeHeader } from './cpu_pch.js'
import { cacheKey, readCachedText, writeCachedText } from './diskcache.js'
import { nodeBuiltins } from './node.js'

export interface Toolchain {
  cc: string
  version: string
  flags: string[]
  /** identifies compiler, flags and the CPU (code uses -march=native) */
  key: string
}

export type KoffiLib = { func(decl: string): (...args: unknown[]) => unknown }
type Koffi = {
  load(path: string): KoffiLib
  address(v: unknown): bigint
  view(ptr: bigint, len: number): ArrayBuffer
}

// -z nodelete: the FFI unloads libraries at exit while OpenMP workers may still be spinning in
// libgomp (a crash at exit); a kernel library is never unloaded anyway.
const BASE_FLAGS = ['-shared', '-fPIC', '-O3', '-march=native', '-fno-math-errno', '-w', '-Wl,-z,nodelete']

let toolchain: Toolchain | string | undefined
let koffi: Koffi | undefined

export function loadKoffi(): Koffi {
  if (!koffi) {
    const n = nodeBuiltins()
    if (!n) throw new TsgradError('CPU device: needs Node.js (no FFI in this runtime)')
    koffi = n.module.createRequire(import.meta.url)('koffi') as Koffi
  }
  return koffi
}

export function run(cmd: string, args: string[], input?: string): { ok: boolean; out: string } {
  const r = nodeBuiltins()!.childProcess.spawnSync(cmd, args, { encoding: 'utf8', input })
  return {
    ok: r.status === 0 && !r.error,
    out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`,
  }
}

/**
 * The flags a compiler works with: OpenMP and libmvec when it has them; [] when it cannot build.
 * Each probe is a compiler run (~0.1-0.2 s of gcc CPU): the ones after the first only when it failed.
 */
export function probeFlags(probe: (flags: string[]) => boolean): string[] {
  const libs = ['-lmvec', '-lm']
  for (const flags of [[...BASE_FLAGS, '-fopenmp'], BASE_FLAGS])
    for (const l of [libs, libs.slice(1)]) if (probe([...flags, ...l])) return [...flags, ...l]
  return []
}

function cachedFlags(text: string | undefined): string[] | undefined {
  try {
    const f = text === undefined ? undefined : JSON.parse(text)
    return Array.isArray(f) && f.length && f.every((x) => typeof x === 'string') ? f : undefined
  } catch {
    return undefined
  }
}

/** Find a working C compiler (and whether it has OpenMP), or a message saying why there is none. */
function findToolchain(): Toolchain | string {
  if (toolchain !== undefined) return toolchain
  const n = nodeBuiltins()
  if (!n) return (toolchain = 'not running in Node.js')
  try {
    loadKoffi()
  } catch (e) {
    return (toolchain = `the koffi FFI package could not be loaded (${(e as Error).message})`)
  }
  const env = getEnv('CC')
  const candidates = env ? [env] : ['gcc', 'clang', 'cc']
  for (const cc of candidates) {
    const v = run(cc, ['--version'])
    if (!v.ok) continue
    const version = v.out.split('\n')[0]!.trim()
    // OpenMP and libmvec are optional: probe by compiling a tiny library
    const probe = (flags: string[]): boolean => {
      const tmp = n.path.join(
        n.os.tmpdir(),
        `tsgrad-probe-${process.pid}-${Math.random().toString(36).slice(2)}`,
      )
      const ok = run(
        cc,
        [...flags, '-x', 'c', '-o', `${tmp}.so`, '-'],
        '#include <math.h>\nvoid f(float* a) { a[0] = expf(a[0]); }\n',
      ).ok
      n.fs.rmSync(`${tmp}.so`, { force: true })
      return ok
    }
    // the probe costs ~100 ms of gcc per process: its answer is cached per compiler and machine
    const cpu = n.os.cpus()[0]?.model ?? 'unknown-cpu'
    const probeKey = cacheKey('toolchain-v1', cc, version, cpu, n.os.arch())
    const known = cachedFlags(readCachedText('toolchain', probeKey))
    const flags = known ?? probeFlags(probe)
    if (!flags.length) continue
    if (!known) writeCachedText('toolchain', probeKey, JSON.stringify(flags))
    return (toolchain = { cc, version, flags, key: `${version}|${flags.join(' ')}|${cpu}|${n.os.arch()}` })
  }
  return (toolchain = env
    ? `the C compiler CC=${env} does not work`
    : 'no C compiler found (tried gcc, clang, cc); install one or set CC')
}

/** Why the CPU device cannot run here, or undefined when it can. */
export function cpuUnavailableReason(): string | undefined {
  const t = findToolchain()
  return typeof t === 'string' ? t : undefined
}

export function requireToolchain(): Toolchain {
  const t = findToolchain()
  if (typeof t === 'string') throw new TsgradError(`CPU device unavailable: ${t}. Use DEVICE=JS.`)
  return t
}

export const ccArgs = (
  t: Toolchain,
  out: string,
  cfile: string,
  include: readonly string[] = [],
): string[] => [
  ...t.flags.filter((f) => !f.startsWith('-l')),
  ...include,
  '-o',
  out,
  cfile,
  ...t.flags.filter((f) => f.startsWith('-l')),
]

/** The prelude `src` starts with (renderer/c_prelude.ts), or undefined. */
export const preludeOf = (src: string): string | undefined => PRELUDES.find((p) => src.startsWith(p))

/**
 * What to write into the .c file for `src` and the flags that go with it: the kernel's body alone
 * with `-include` of the precompiled prelude when it starts with the full prelude and there is one
 * (cpu_pch.ts), else `src` (the core prelude, without intrinsics, is cheaper as text than any
 * precompiled header is to load).
 */
export function gccInput(t: Toolchain, src: string): { text: string; include: string[] } {
  const h = src.startsWith(PRELUDE) ? preludeHeader(t, PRELUDE) : undefined
  return h === undefined
    ? { text: src, include: [] }
    : { text: src.slice(PRELUDE.length), include: ['-include', h] }
}

/**
 * A group's translation unit and the flags it takes: the longest of its members' preludes, which
 * serves them all (the core prelude is the start of the full one, and a kernel compiles to the
 * same code with helpers it does not call), precompiled when it is the full one and there is one.
 */
export function groupInput(t: Toolchain, members: readonly GroupMember[]) {
  const prelude = members.reduce((p, m) => (m.prelude.length > p.length ? m.prelude : p), '')
  const { include } = gccInput(t, prelude)
  return { text: groupSource(include.length ? '' : prelude, members), include }
}
