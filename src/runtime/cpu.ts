// The CPU device: kernels rendered to C, compiled by the system compiler (CC, else gcc, clang, cc)
// into shared libraries, loaded through koffi and called with the TypedArrays themselves (zero
// copy). Libraries are cached on disk by (source, compiler, flags, CPU), so a second process does
// not recompile. Buffers are host memory, like the JS device.
import { type DType, storageArray, type TypedArray } from '../dtype.js'
import { DEBUG, getEnv, TsgradError } from '../helpers.js'
import { CRenderer } from '../renderer/c.js'
import type { CompiledDevice, Program } from './device.js'
import { Device } from './device.js'
import {
  cacheEnabled,
  cacheKey,
  cachePath,
  commitFile,
  readCachedText,
  writeCachedText,
} from './diskcache.js'
import { nodeBuiltins } from './node.js'

interface Toolchain {
  cc: string
  version: string
  flags: string[]
  /** identifies compiler, flags and the CPU (code uses -march=native) */
  key: string
}

type KoffiLib = { func(decl: string): (...args: unknown[]) => unknown }
type Koffi = { load(path: string): KoffiLib; address(v: unknown): bigint }

// -z nodelete: the FFI unloads libraries at exit while OpenMP workers may still be spinning in
// libgomp (a crash at exit); a kernel library is never unloaded anyway.
const BASE_FLAGS = ['-shared', '-fPIC', '-O3', '-march=native', '-fno-math-errno', '-w', '-Wl,-z,nodelete']

let toolchain: Toolchain | string | undefined
let koffi: Koffi | undefined

function loadKoffi(): Koffi {
  if (!koffi) {
    const n = nodeBuiltins()
    if (!n) throw new TsgradError('CPU device: needs Node.js (no FFI in this runtime)')
    koffi = n.module.createRequire(import.meta.url)('koffi') as Koffi
  }
  return koffi
}

function run(cmd: string, args: string[], input?: string): { ok: boolean; out: string } {
  const r = nodeBuiltins()!.childProcess.spawnSync(cmd, args, { encoding: 'utf8', input })
  return {
    ok: r.status === 0 && !r.error,
    out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`,
  }
}

/** The flags a compiler works with: OpenMP and libmvec when it has them; [] when it cannot build. */
function probeFlags(probe: (flags: string[]) => boolean): string[] {
  let flags = [...BASE_FLAGS, '-fopenmp']
  const libs = ['-lmvec', '-lm']
  if (!probe([...flags, ...libs])) flags = BASE_FLAGS
  if (!probe([...flags, ...libs])) libs.splice(0, 1)
  if (!probe([...flags, ...libs])) return []
  return [...flags, ...libs]
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

function requireToolchain(): Toolchain {
  const t = findToolchain()
  if (typeof t === 'string') throw new TsgradError(`CPU device unavailable: ${t}. Use DEVICE=JS.`)
  return t
}

const ccArgs = (t: Toolchain, stem: string): string[] => [
  ...t.flags.filter((f) => !f.startsWith('-l')),
  '-o',
  `${stem}.tmp`,
  `${stem}.c`,
  ...t.flags.filter((f) => f.startsWith('-l')),
]

/** Where the disk cache keeps the library built from `src` with this toolchain. */
const cachedLib = (t: Toolchain, src: string): string => cachePath('cpu', cacheKey(t.key, src), '.so')

/** Compile C source to a shared library; returns its path (from the disk cache when present). */
function compileC(src: string, name: string): string {
  const t = requireToolchain()
  const { fs, path, os } = nodeBuiltins()!
  const final = cacheEnabled()
    ? cachedLib(t, src)
    : path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-')), `${cacheKey(t.key, src)}.so`)
  if (fs.existsSync(final)) return final
  const stem = `${final}.${process.pid}`
  fs.writeFileSync(`${stem}.c`, src)
  const r = run(t.cc, ccArgs(t, stem))
  fs.rmSync(`${stem}.c`, { force: true })
  if (!r.ok) {
    fs.rmSync(`${stem}.tmp`, { force: true })
    throw new TsgradError(`CPU device: ${t.cc} failed to compile kernel ${name}:\n${r.out.slice(0, 2000)}`)
  }
  commitFile(`${stem}.tmp`, final)
  return final
}

const shQuote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

/**
 * Compile several kernels into the disk cache at once, one compiler process per core (a schedule's
 * new kernels would otherwise compile one after another: ~50 ms each with gcc). The processes run
 * under one `sh` so this stays synchronous. Failures are left for `compileC` to report.
 */
function compileMany(jobs: readonly { src: string; name: string }[]): void {
  const n = nodeBuiltins()
  if (!n || !cacheEnabled() || process.platform === 'win32') return
  const t = requireToolchain()
  const stems = new Map<string, string>()
  for (const j of jobs) {
    const final = cachedLib(t, j.src)
    if (stems.has(final) || n.fs.existsSync(final)) continue
    const stem = `${final}.${process.pid}`
    n.fs.writeFileSync(`${stem}.c`, j.src)
    stems.set(final, stem)
  }
  if (stems.size < 2) {
    for (const stem of stems.values()) n.fs.rmSync(`${stem}.c`, { force: true })
    return
  }
  const lines = [...stems.values()].map(
    (stem) => `(${[t.cc, ...ccArgs(t, stem)].map(shQuote).join(' ')} || rm -f ${shQuote(`${stem}.tmp`)})`,
  )
  const cores = Math.max(1, n.os.availableParallelism?.() ?? n.os.cpus().length)
  const script: string[] = []
  for (let i = 0; i < lines.length; i += cores) script.push(`${lines.slice(i, i + cores).join(' & ')} & wait`)
  run('sh', ['-c', `${script.join('\n')}\n`])
  for (const [final, stem] of stems) {
    n.fs.rmSync(`${stem}.c`, { force: true })
    if (n.fs.existsSync(`${stem}.tmp`)) commitFile(`${stem}.tmp`, final)
  }
}

const libs = new Map<string, KoffiLib>()

function loadKernel(file: string, name: string): Program<TypedArray> {
  let lib = libs.get(file)
  if (!lib) libs.set(file, (lib = loadKoffi().load(file)))
  const l = lib
  const fns: ((...a: unknown[]) => unknown)[] = []
  return (bufs) => {
    let fn = fns[bufs.length]
    if (!fn) fn = fns[bufs.length] = l.func(`void ${name}(${bufs.map(() => 'void*').join(', ') || 'void'})`)
    fn(...bufs)
  }
}

// Freed storage is kept for reuse (keyed by dtype and size, up to POOL_LIMIT bytes): a fresh large
// ArrayBuffer costs a zero fill plus a page fault per 4 KiB on first write, which made a 64 MB
// elementwise kernel 3x slower than the memory bandwidth allows.
const POOL_LIMIT = 1 << 30
const pool = new Map<string, TypedArray[]>()
let pooledBytes = 0

function poolFree(buf: TypedArray): void {
  if (pooledBytes + buf.byteLength > POOL_LIMIT) return
  const k = `${buf.constructor.name}:${buf.length}`
  const list = pool.get(k)
  if (list) list.push(buf)
  else pool.set(k, [buf])
  pooledBytes += buf.byteLength
}

/** Cache-line (64-byte) aligned storage: vector loads that straddle lines run at half speed. */
const ALIGN = 64

function alignedAlloc(size: number, dtype: DType): TypedArray {
  const like = storageArray(dtype, 0)
  const reused = pool.get(`${like.constructor.name}:${size}`)?.pop()
  if (reused) {
    pooledBytes -= reused.byteLength
    return reused
  }
  const ab = new ArrayBuffer(size * dtype.itemsize + ALIGN)
  const off = (ALIGN - Number(loadKoffi().address(ab) % BigInt(ALIGN))) % ALIGN
  const Ctor = like.constructor as new (b: ArrayBuffer, off: number, n: number) => TypedArray
  return new Ctor(ab, off, size)
}

export function createCPUDevice(name: string): CompiledDevice<TypedArray, string> {
  const t = requireToolchain()
  if (DEBUG() >= 1) console.log(`CPU device: ${t.cc} (${t.version}) ${t.flags.join(' ')}`)
  return {
    name,
    allocator: {
      alloc: alignedAlloc,
      free: poolFree,
      collectable: true,
      copyin: (buf, src) => {
        buf.set(src as never)
      },
      copyout: (buf) => buf.slice(),
      hostView: (buf) => buf,
    },
    renderer: new CRenderer(),
    compiler: { key: t.key, compile: compileC, compileMany },
    runtime: loadKernel,
    synchronize: () => {},
  }
}

Device.register('CPU', createCPUDevice, cpuUnavailableReason)
