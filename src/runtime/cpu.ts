// The CPU device: kernels rendered to C, compiled by the system compiler (CC, else gcc, clang, cc)
// into shared libraries, loaded through koffi and called with the TypedArrays themselves (zero
// copy). Libraries are cached on disk by (source, compiler, flags, CPU), so a second process does
// not recompile. Buffers are host memory, like the JS device.
import type { TypedArray } from '../dtype.js'
import { DEBUG, getEnv, TsgradError } from '../helpers.js'
import { CRenderer, PACKED_ARGS_ABOVE } from '../renderer/c.js'
import type { CompiledDevice, Program, StartedBuilds } from './device.js'
import { Device, maxTypedArrayLength } from './device.js'
import {
  binaryBuildPath,
  cacheEnabled,
  cacheKey,
  disableCache,
  storeBinary,
  verifiedBinary,
} from './diskcache.js'
import { heapBuffers } from './heap_buffers.js'
import { hostMemory } from './host_memory.js'
import { CpuStorage } from './cpu_storage.js'
import { openmpControl } from './cpu_threads.js'
import { ThreadChoice } from './thread_choice.js'
import { mallocTuned, tuneMalloc, untuneMalloc } from './malloc_tuning.js'
import { BackgroundBuild, buildQuick, enqueueBuild, findQuickCompiler, swappingProgram } from './cpu_quick.js'
import { QuickCRenderer } from '../renderer/c_quick.js'
import {
  type CpuArtifact,
  cachedMember,
  type GroupMember,
  groupedSymbol,
  groupKey,
  planGroups,
  recordMember,
} from './cpu_groups.js'
import { type GroupBuilder, memberSymbol, queueGroupMember } from './cpu_background_groups.js'
import { nodeBuiltins } from './node.js'
import {
  ccArgs,
  cpuUnavailableReason,
  gccInput,
  groupInput,
  loadKoffi,
  type KoffiLib,
  preludeOf,
  requireToolchain,
  run,
  type Toolchain,
} from './cpu_toolchain.js'
import { configureOpenMP } from './openmp.js'

/** kernel key -> its library and entry point, built or verified by this process (then trusted) */
const libraries = new Map<string, CpuArtifact>()
/** group key -> its library verified by this process, or null when it did not verify */
const groupLibraries = new Map<string, string | null>()

/** The kernel `key`'s build in this process or the disk cache: its own library or its group's. */
function knownArtifact(key: string, name: string): CpuArtifact | undefined {
  let a = libraries.get(key)
  if (a !== undefined) return a
  const file = verifiedBinary('cpu', key, '.so')
  a = file !== undefined ? { file, symbol: name } : cachedMember(key, groupLibraries)
  if (a !== undefined) libraries.set(key, a)
  return a
}
let scratch: string | undefined

/** A private directory for libraries when the disk cache cannot take them (removed at exit). */
function scratchDir(): string {
  if (scratch === undefined) {
    const { fs, os, path } = nodeBuiltins()!
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-'))
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
    scratch = dir
  }
  return scratch
}

/** the assembler's complaint about an instruction name GCC left as a template (`vinsert<i128vldq>`) */
const GCC_UNEXPANDED_TEMPLATE = /invalid character '<' in mnemonic/

/** Compile `src` into the library `out` (a temporary name: the caller renames it into place). */
function buildLibrary(t: Toolchain, src: string, out: string): { ok: boolean; out: string } {
  const { fs } = nodeBuiltins()!
  const { text, include } = gccInput(t, src)
  try {
    fs.writeFileSync(`${out}.c`, text)
  } catch (e) {
    return { ok: false, out: (e as Error).message }
  }
  let r = run(t.cc, ccArgs(t, out, `${out}.c`, include))
  // GCC 12's SLP vectorizer can emit an AVX-512 instruction with its mode template unexpanded
  // (`vinsert<i128vldq>`, which the assembler rejects): an f16 KV cache's decode attention over
  // 8-wide heads did. Built again without SLP vectorization, that kernel only.
  if (!r.ok && GCC_UNEXPANDED_TEMPLATE.test(r.out))
    r = run(t.cc, ccArgs(t, out, `${out}.c`, [...include, '-fno-tree-slp-vectorize']))
  fs.rmSync(`${out}.c`, { force: true })
  if (!r.ok) fs.rmSync(out, { force: true })
  return r
}

/**
 * Compile C source to a shared library; returns it with the kernel's entry point. The disk cache
 * (`cpu/<key>.so`, or a group's library holding the kernel: cpu_groups.ts) is used when it has a
 * verified copy; a cache that cannot be written is dropped with a warning
 * (diskcache.ts) and the library is built in a private temporary directory instead.
 */
function compileC(src: string, name: string): CpuArtifact {
  const t = requireToolchain()
  const key = cacheKey(t.key, src)
  const known = knownArtifact(key, name)
  if (known !== undefined) return known
  const inCache = binaryBuildPath('cpu', key, '.so')
  let cacheError: string | undefined
  if (inCache !== undefined) {
    const r = buildLibrary(t, src, inCache)
    const stored = r.ok ? storeBinary('cpu', key, '.so', inCache) : undefined
    if (stored !== undefined) {
      const a = { file: stored, symbol: name }
      libraries.set(key, a)
      return a
    }
    if (!r.ok) cacheError = r.out
  }
  const out = nodeBuiltins()!.path.join(scratchDir(), `${key}.so`)
  const r = buildLibrary(t, src, `${out}.tmp`)
  if (!r.ok)
    throw new TsgradError(`CPU device: ${t.cc} failed to compile kernel ${name}:\n${r.out.slice(0, 2000)}`)
  nodeBuiltins()!.fs.renameSync(`${out}.tmp`, out)
  // it builds here but not in the cache directory: the directory is the problem
  if (cacheError !== undefined) disableCache(`building a kernel there failed: ${cacheError.split('\n')[0]}`)
  const a = { file: out, symbol: name }
  libraries.set(key, a)
  return a
}

const shQuote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

/**
 * Compile several kernels into the disk cache at once: split into one group per core of about equal
 * compile time, each group one translation unit and one compiler process (cpu_groups.ts), all
 * running at once under one `sh` so this stays synchronous. A group that fails to build is left
 * for `compileC` to build its kernels one by one (and report the failing one).
 */
function compileMany(jobs: readonly { src: string; name: string }[]): void {
  startMany(jobs).wait()
}

const NOTHING_STARTED: StartedBuilds = { done: () => true, wait: () => {} }

/** How often (ms) the wait for started group builds looks for their markers. */
const GROUP_POLL_MS = 2

/** Whether process `pid` is alive and not a zombie (Linux /proc; elsewhere: assumed running). */
function processRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    const stat = nodeBuiltins()!.fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch (e) {
    return (e as { code?: string }).code !== 'ENOENT'
  }
}

/**
 * `compileMany`, started: the compiler processes run in the background (their exit is seen through
 * a marker file: the event loop may not turn until the wait); `wait` waits for them and records
 * their libraries. With `more` (the caller renders on meanwhile, on one of the cores) the jobs are
 * one process fewer than the cores: each process costs ~0.2 s of gcc CPU before its first kernel
 * (the driver, cc1 loading the 26 MB precompiled prelude, as, ld), ~1.5 s of a cold MNIST step's
 * gcc when its 93 kernels were 8 processes (4 chunks of 2) instead of 2.
 */
function startMany(jobs: readonly { src: string; name: string }[], more = false): StartedBuilds {
  const n = nodeBuiltins()
  if (!n || !cacheEnabled() || process.platform === 'win32') return NOTHING_STARTED
  const t = requireToolchain()
  const toBuild = new Map<string, { name: string; src: string }>()
  for (const j of jobs) {
    const key = cacheKey(t.key, j.src)
    if (!toBuild.has(key) && knownArtifact(key, j.name) === undefined) toBuild.set(key, j)
  }
  if (toBuild.size < 2) return NOTHING_STARTED
  // each unit has a prelude once (or includes it precompiled); a source without one (none today)
  // is left to compileC
  const members: GroupMember[] = []
  for (const [key, j] of toBuild) {
    const prelude = preludeOf(j.src)
    if (prelude !== undefined) members.push({ key, name: j.name, text: j.src.slice(prelude.length), prelude })
  }
  const cores = Math.max(1, n.os.availableParallelism?.() ?? n.os.cpus().length)
  const builds: { group: string; tmp: string; members: GroupMember[]; include: string[] }[] = []
  for (const g of planGroups(members, more ? Math.max(1, cores - 1) : cores)) {
    const group = groupKey(t.key, g)
    const tmp = binaryBuildPath('cpu', group, '.so')
    if (tmp === undefined) break
    // (the precompiled prelude is looked up, and verified, only when a unit needs it)
    const { text, include } = groupInput(t, g)
    try {
      n.fs.writeFileSync(`${tmp}.c`, text)
    } catch {
      break // compileC finds out what is wrong with the directory
    }
    builds.push({ group, tmp, members: g, include })
  }
  const t0 = performance.now()
  const pids: (number | undefined)[] = []
  for (const { tmp, include } of builds) {
    const cc = [t.cc, ...ccArgs(t, tmp, `${tmp}.c`, include)].map(shQuote).join(' ')
    const script = `${cc} || rm -f ${shQuote(tmp)}; : > ${shQuote(`${tmp}.end`)}`
    const child = n.childProcess.spawn('sh', ['-c', script], { stdio: 'ignore' })
    child.on('error', () => {})
    child.unref()
    pids.push(child.pid)
  }
  // a shell that died without its marker (killed, or never started) is over: its group is left to compileC
  const finished = (i: number): boolean =>
    n.fs.existsSync(`${builds[i]!.tmp}.end`) || !processRunning(pids[i])
  const done = (): boolean => builds.every((_, i) => finished(i))
  const wait = (): void => {
    const sleep = new Int32Array(new SharedArrayBuffer(4))
    for (const [i, { tmp }] of builds.entries())
      for (let k = 1; !n.fs.existsSync(`${tmp}.end`); k++) {
        if (k % 50 === 0 && !processRunning(pids[i])) break
        Atomics.wait(sleep, 0, 0, GROUP_POLL_MS)
      }
    if (DEBUG() >= 2)
      console.log(
        `CPU: ${members.length} kernels in ${builds.length} libraries (${builds.map((b) => b.members.length).join(' + ')}), ${((performance.now() - t0) / 1e3).toFixed(2)} s`,
      )
    for (const { group, tmp, members: g } of builds) {
      n.fs.rmSync(`${tmp}.c`, { force: true })
      n.fs.rmSync(`${tmp}.end`, { force: true })
      if (!n.fs.existsSync(tmp)) continue
      const stored = storeBinary('cpu', group, '.so', tmp)
      if (stored === undefined) continue
      groupLibraries.set(group, stored)
      for (const m of g) {
        recordMember(m, group)
        libraries.set(m.key, { file: stored, symbol: groupedSymbol(m.name, m.key) })
      }
    }
  }
  return { done, wait }
}

/** quick library -> the background build of the full one (one per source: equal kernels share it) */
const quickBuilds = new Map<string, BackgroundBuild>()
const quickLibraryOf = new Map<string, string>()
/** kernel key -> its background build (one per source: equal kernels share it) */
const fullBuilds = new Map<string, BackgroundBuild>()

/** Queue gcc's build of `src` (kernel key `key`) as a background process, into the disk cache when it is on. */
function startBackgroundBuild(t: Toolchain, key: string, src: string, name: string): BackgroundBuild {
  let build = fullBuilds.get(key)
  if (build !== undefined) return build
  const { path } = nodeBuiltins()!
  const inCache = binaryBuildPath('cpu', key, '.so')
  const out = inCache ?? path.join(scratchDir(), `${key}.so.tmp`)
  const full = gccInput(t, src)
  build = new BackgroundBuild(
    () => ({ argv: [t.cc, ...ccArgs(t, out, `${out}.c`, full.include)], src: full.text, out }),
    (built) => {
      let lib: string | undefined
      if (inCache !== undefined) lib = storeBinary('cpu', key, '.so', built)
      else {
        lib = path.join(scratchDir(), `${key}.so`)
        nodeBuiltins()!.fs.renameSync(built, lib)
      }
      if (lib !== undefined) libraries.set(key, { file: lib, symbol: name })
      return lib
    },
  )
  fullBuilds.set(key, build)
  enqueueBuild(build)
  return build
}

/** kernel key -> the background group build it is a member of */
const memberBuilds = new Map<string, BackgroundBuild>()

/** How the background groups of full tiers build and store (cpu_background_groups.ts). */
const groupBuilder = (t: Toolchain): GroupBuilder => ({
  toolchainKey: t.key,
  job: (group, members) => {
    const out = binaryBuildPath('cpu', group, '.so')
    if (out === undefined || members.length === 0) return undefined
    const { text, include } = groupInput(t, members)
    return { argv: [t.cc, ...ccArgs(t, out, `${out}.c`, include)], src: text, out }
  },
  store: (group, built, members) => {
    const stored = storeBinary('cpu', group, '.so', built)
    if (stored === undefined) return undefined
    groupLibraries.set(group, stored)
    for (const m of members) {
      recordMember(m, group)
      libraries.set(m.key, { file: stored, symbol: memberSymbol(m) })
    }
    return stored
  },
})

/**
 * The full tier of a kernel (engine/tiers.ts): the library gcc built earlier when there is one,
 * else a background build; the poll gives the artifact when it is ready, and builds in the
 * foreground (reporting gcc's error) when the background build failed.
 */
function compileInBackground(src: string, name: string): () => CpuArtifact | undefined {
  const t = requireToolchain()
  const key = cacheKey(t.key, src)
  const known = knownArtifact(key, name)
  if (known !== undefined) return () => known
  if (process.platform === 'win32') {
    const a = compileC(src, name)
    return () => a
  }
  // with the prelude and the disk cache: in a group with other full tiers (cpu_background_groups.ts)
  const prelude = preludeOf(src)
  const grouped = cacheEnabled() && prelude !== undefined
  const member = { key, name, text: src.slice(prelude?.length ?? 0), prelude: prelude ?? '' }
  let build = grouped ? memberBuilds.get(key) : undefined
  if (grouped && build === undefined)
    memberBuilds.set(key, (build = queueGroupMember(groupBuilder(t), member)))
  build ??= startBackgroundBuild(t, key, src, name)
  const symbol = grouped ? memberSymbol(member) : name
  return () => {
    const file = build.poll()
    if (file !== undefined) return { file, symbol }
    return build.pending ? undefined : compileC(src, name)
  }
}

/**
 * The quick path (cpu_quick.ts): a library gcc built earlier when there is one; else tcc's build
 * of `quickSrc`, with gcc's build of `src` queued in the background (into the disk cache when it
 * is on). A source tcc rejects (float16 math) is built by gcc at once.
 */
function compileQuick(src: string, quickSrc: () => string, name: string): CpuArtifact {
  const t = requireToolchain()
  const key = cacheKey(t.key, src)
  const known = knownArtifact(key, name)
  if (known !== undefined) return known
  const shared = quickLibraryOf.get(key)
  // its background build failed: gcc once more, here, to report the error
  if (shared !== undefined)
    return quickBuilds.get(shared)?.pending ? { file: shared, symbol: name } : compileC(src, name)
  const quick = nodeBuiltins()!.path.join(scratchDir(), `quick-${key}.so`)
  if (!buildQuick(quickSrc(), quick)) return compileC(src, name)
  quickBuilds.set(quick, startBackgroundBuild(t, key, src, name))
  quickLibraryOf.set(key, quick)
  return { file: quick, symbol: name }
}

/** A kernel's program; one on a quick build switches to the full build when it is ready. */
function kernelProgram({ file, symbol, threaded }: CpuArtifact, name: string): Program<TypedArray> {
  const first = loadKernel(file, symbol, name)
  const build = quickBuilds.get(file)
  const p = build ? swappingProgram(first, build, (full) => loadKernel(full, name, name)) : first
  const omp = threaded ? openmpControl(loadKoffi) : null
  if (!omp) return p
  // each launch with the thread count that has been faster for this kernel (cpu_threads.ts)
  const choice = new ThreadChoice(omp.maxThreads)
  return (bufs, vals) => {
    const n = choice.next()
    omp.use(n)
    const t0 = performance.now()
    p(bufs, vals)
    choice.record(n, performance.now() - t0)
  }
}

/** `a` marked threaded when its source has parallel loops and the compiler builds them with OpenMP. */
const withThreads = (a: CpuArtifact, src: string): CpuArtifact => {
  const threaded = requireToolchain().flags.includes('-fopenmp') && src.includes('#pragma omp parallel')
  return threaded ? { ...a, threaded } : a
}

const libs = new Map<string, KoffiLib>()

/** The entry point `symbol` of the library `file` as a program (`name`: the kernel's, for errors). */
function loadKernel(file: string, symbol: string, name: string): Program<TypedArray> {
  let lib = libs.get(file)
  if (!lib) {
    try {
      lib = loadKoffi().load(file)
    } catch (e) {
      throw new TsgradError(
        `CPU device: cannot load the library of kernel ${name} (${file}): ${(e as Error).message}`,
      )
    }
    libs.set(file, lib)
  }
  const l = lib
  const fns: ((...a: unknown[]) => unknown)[] = []
  // by number of variables * 256 + number of buffers (a number key: no string built per launch)
  const withVars = new Map<number, (...a: unknown[]) => unknown>()
  let packed: ((...a: unknown[]) => unknown) | undefined
  return (bufs, vals) => {
    if (bufs.length + (vals?.length ?? 0) > PACKED_ARGS_ABOVE) {
      // more parameters than the FFI takes: the renderer's packed entry (arrays of values/pointers)
      packed ??= l.func(`void ${symbol}_packed(const int *v, void **b)`)
      packed(Int32Array.from(vals ?? [0]), bufs)
      return
    }
    if (vals?.length) {
      // variables are int parameters before the buffers (renderer/cstyle.ts)
      const k = vals.length * 256 + bufs.length
      let fv = withVars.get(k)
      if (!fv) {
        const decl = [...vals.map(() => 'int'), ...bufs.map(() => 'void*')].join(', ')
        withVars.set(k, (fv = l.func(`void ${symbol}(${decl})`)))
      }
      fv(...vals, ...bufs)
      return
    }
    let fn = fns[bufs.length]
    if (!fn) fn = fns[bufs.length] = l.func(`void ${symbol}(${bufs.map(() => 'void*').join(', ') || 'void'})`)
    fn(...bufs)
  }
}

/** The device's buffer storage (one per process: the pools are shared by every CPU device). */
export const cpuStorage = new CpuStorage(
  (ab) => loadKoffi().address(ab),
  () => hostMemory(loadKoffi),
  () => heapBuffers(loadKoffi, mallocTuned()),
)

/**
 * Host memory for a process that holds a few large, long-lived buffers and disposes its temporaries
 * (an LLM: `llm.load` calls it): malloc at glibc's settings and plain ArrayBuffers
 * (CpuStorage.preferPlainBuffers), not the plain tensor path's kept heap, heap blocks and native
 * mappings. Process-wide and for good. Only with TSGRAD_COMPACT_MEMORY=1: it costs speed, as the
 * weights are then plain ArrayBuffers in small pages (LLaMA-1B Q4_0, quiet, 2 alternated pairs:
 * decode 37.5-38.5 against 40.7-42.1 tok/s at 128, 31-33 against 35.6-38.2 at 1024, for a peak of
 * 1100 against 1240-1296 MB).
 */
export function compactHostMemory(): void {
  if (getEnv('TSGRAD_COMPACT_MEMORY') !== '1') return
  untuneMalloc(loadKoffi)
  cpuStorage.preferPlainBuffers()
}

export function createCPUDevice(name: string): CompiledDevice<TypedArray, CpuArtifact> {
  const t = requireToolchain()
  configureOpenMP()
  tuneMalloc(loadKoffi)
  if (DEBUG() >= 1) console.log(`CPU device: ${t.cc} (${t.version}) ${t.flags.join(' ')}`)
  return {
    name,
    allocator: {
      alloc: (size, dtype) => cpuStorage.alloc(size, dtype),
      free: (buf) => cpuStorage.free(buf),
      maxElements: maxTypedArrayLength(),
      collectable: true,
      needsFree: (buf) => cpuStorage.needsFree(buf),
      compact: compactHostMemory,
      adviseSmallPages: (view) => {
        hostMemory(loadKoffi)?.adviseSmallPages(view)
      },
      copyin: (buf, src) => {
        buf.set(src as never)
      },
      copyout: (buf) => cpuStorage.copyOut(buf),
      hostView: (buf) => buf,
    },
    renderer: new CRenderer(),
    compiler: {
      key: t.key,
      compile: (src, name) => withThreads(compileC(src, name), src),
      compileMany,
      startMany,
      compileQuick: (src, quickSrc, name) => withThreads(compileQuick(src, quickSrc, name), src),
      compileInBackground: (src, name) => {
        const poll = compileInBackground(src, name)
        return () => {
          const a = poll()
          return a && withThreads(a, src)
        }
      },
    },
    quickRenderer: findQuickCompiler() ? new QuickCRenderer() : undefined,
    runtime: kernelProgram,
    synchronize: () => {},
  }
}

Device.register('CPU', createCPUDevice, cpuUnavailableReason)
