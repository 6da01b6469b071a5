// Quick first builds for the CPU device. A kernel that has no gcc build yet is first built by tcc
// (a few milliseconds, from renderer/c_quick.ts's plain C) and runs at once, while gcc -O3 builds
// the real library in a background process; the kernel's program switches to that library between
// two launches once it is ready. A cold MNIST CNN step spent ~30 s in gcc before its first launch
// (gcc parses 1.4 MB of headers per kernel, ~0.3-2 s each).
//
// The background builds run as child processes (at most one per core), checked without the event
// loop: a training loop that awaits only resolved promises never lets libuv see a child exit, so
// each pending kernel looks for its build's marker file when it is launched (at most every
// POLL_MS). Builds still running when the process exits are killed and their files removed.
import type { ChildProcess } from 'node:child_process'
import { getEnv } from '../helpers.js'
import { nodeBuiltins } from './node.js'

/** Counters for tests and DEBUG: kernels first built quickly, and programs switched to the full build. */
export const quickStats = { quickBuilds: 0, swaps: 0 }

/** How often (ms) a launch of a kernel still on its quick build checks for the full one. */
const POLL_MS = 5

/** The quick compiler (tcc) and its flags, found once; undefined when absent or turned off. */
let quickCompiler: { cc: string; flags: string[] } | null | undefined

/**
 * QUICK_COMPILE=1 turns quick builds on. Off by default: until the swap a kernel rounds as tcc's
 * code does (no FMA contraction, sums in loop order), so results depend on when gcc finished. A
 * jit test caught it: a bias before a BatchNorm has a gradient of rounding noise, and Adam (lr
 * 0.05) turned the noise's sign into a 0.07 difference in 6 steps between eager and replay.
 */
export function findQuickCompiler(): { cc: string; flags: string[] } | undefined {
  if (quickCompiler !== undefined) return quickCompiler ?? undefined
  quickCompiler = null
  const n = nodeBuiltins()
  if (!n || getEnv('QUICK_COMPILE') !== '1' || process.platform === 'win32') return undefined
  const cc = getEnv('QUICK_CC') || 'tcc'
  // -Werror: an implicit declaration (a builtin tcc lacks) must fail the build, not the dlopen
  const flags = ['-shared', '-fPIC', '-Werror']
  const dir = n.fs.mkdtempSync(n.path.join(n.os.tmpdir(), 'tsgrad-quick-probe-'))
  try {
    n.fs.writeFileSync(`${dir}/p.c`, '#include <math.h>\nvoid f(float* a) { a[0] = expf(a[0]); }\n')
    const r = n.childProcess.spawnSync(cc, [...flags, '-o', `${dir}/p.so`, `${dir}/p.c`, '-lm'], {
      stdio: 'ignore',
    })
    if (r.status === 0 && !r.error) quickCompiler = { cc, flags }
  } finally {
    n.fs.rmSync(dir, { recursive: true, force: true })
  }
  return quickCompiler ?? undefined
}

/** Build `src` with the quick compiler into `out`; false when it cannot (the caller builds with gcc). */
export function buildQuick(src: string, out: string): boolean {
  const q = findQuickCompiler()
  const n = nodeBuiltins()
  if (!q || !n) return false
  try {
    n.fs.writeFileSync(`${out}.c`, src)
  } catch {
    return false
  }
  const r = n.childProcess.spawnSync(q.cc, [...q.flags, '-o', out, `${out}.c`, '-lm'], { stdio: 'ignore' })
  n.fs.rmSync(`${out}.c`, { force: true })
  if (r.status === 0 && !r.error) {
    quickStats.quickBuilds++
    return true
  }
  n.fs.rmSync(out, { force: true })
  return false
}

/** What a background build runs: `argv` writes the library `out` from the source file `out`.c. */
export interface BuildJob {
  argv: readonly string[]
  src: string
  out: string
}

/** One background build, its job made when it starts (a group build takes members until then). */
export class BackgroundBuild {
  private state: 'queued' | 'running' | 'done' | 'failed' = 'queued'
  private child: ChildProcess | undefined
  private result: string | undefined
  private out = ''

  constructor(
    /** the job, made at start (undefined: nothing to build, the build fails) */
    private readonly prepare: () => BuildJob | undefined,
    /** moves the finished library into place; returns its path (undefined: unusable) */
    private readonly finish: (built: string) => string | undefined,
  ) {}

  /** Whether it has left the queue (a group takes no more members then). */
  get started(): boolean {
    return this.state !== 'queued'
  }

  /** The full library once built (undefined while building, or when the build failed). */
  poll(): string | undefined {
    if (this.state === 'running') this.check()
    if (this.state === 'queued') pump()
    return this.result
  }

  get pending(): boolean {
    return this.state === 'queued' || this.state === 'running'
  }

  start(): void {
    const { childProcess, fs } = nodeBuiltins()!
    const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
    const job = this.prepare()
    if (job === undefined) {
      this.state = 'failed'
      return
    }
    this.out = job.out
    const out = q(this.out)
    try {
      fs.writeFileSync(`${this.out}.c`, job.src)
    } catch {
      this.state = 'failed'
      return
    }
    // the markers: <out>.done is the finished library (renamed when complete), <out>.failed says no
    // niced and SCHED_BATCH: the foreground compiles and the kernels running meanwhile come first.
    // The policy (when chrt is there) matters under a real-time parent (`chrt -f` for timings):
    // children inherit SCHED_FIFO, where nice does nothing and a build held a core from the step.
    const script = `chrt -b -p 0 $$ >/dev/null 2>&1; nice -n 10 ${job.argv.map(q).join(' ')}; s=$?; rm -f ${out}.c; if [ $s = 0 ]; then mv -f ${out} ${out}.done; else rm -f ${out}; : > ${out}.failed; fi`
    this.state = 'running'
    this.child = childProcess.spawn('sh', ['-c', script], { stdio: 'ignore', detached: true })
    this.child.on('error', () => this.fail())
    this.child.on('exit', () => {
      this.check()
      pump()
    })
    this.child.unref()
    running.add(this)
  }

  /** Kill a running build and remove its files (process exit). */
  abort(): void {
    const { fs } = nodeBuiltins()!
    if (this.child?.pid !== undefined && this.state === 'running') {
      try {
        process.kill(-this.child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
      // SIGKILL is delivered asynchronously: a compiler still on the other core could create its
      // output after the removal below (seen under load), so wait until the group is gone
      waitForGroupExit(this.child.pid, 1000)
    }
    // (a queued build has no files yet)
    if (this.out !== '')
      for (const f of [this.out, `${this.out}.c`, `${this.out}.done`, `${this.out}.failed`])
        fs.rmSync(f, { force: true })
    this.state = 'failed'
  }

  private check(): void {
    const { fs } = nodeBuiltins()!
    if (this.state !== 'running') return
    if (fs.existsSync(`${this.out}.done`)) {
      this.result = this.finish(`${this.out}.done`)
      this.state = this.result === undefined ? 'failed' : 'done'
      running.delete(this)
    } else if (fs.existsSync(`${this.out}.failed`)) this.fail()
  }

  private fail(): void {
    nodeBuiltins()!.fs.rmSync(`${this.out}.failed`, { force: true })
    this.state = 'failed'
    running.delete(this)
  }
}

/**
 * Wait (synchronously: this runs in the process's exit handler) until no live process is left in
 * process group `pgid`, at most `ms`. Reads /proc (Linux); elsewhere it returns at once.
 */
function waitForGroupExit(pgid: number, ms: number): void {
  const { fs } = nodeBuiltins()!
  const end = Date.now() + ms
  while (Date.now() < end) {
    let pids: string[]
    try {
      pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))
    } catch {
      return
    }
    const alive = pids.some((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
        // after the command name: state, ppid, pgrp, ...; zombies hold no files open
        const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        return Number(pgrp) === pgid && state !== 'Z'
      } catch {
        return false
      }
    })
    if (!alive) return
  }
}

const queue: BackgroundBuild[] = []
const running = new Set<BackgroundBuild>()
let exitHook = false

/** Start queued builds while fewer than one per core run. */
function pump(): void {
  for (const b of running) b.poll()
  const n = nodeBuiltins()!
  const cores = Math.max(1, n.os.availableParallelism?.() ?? n.os.cpus().length)
  while (running.size < cores && queue.length) queue.shift()!.start()
}

/** Queue a background build and start it when a core is free. */
export function enqueueBuild(b: BackgroundBuild): void {
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const r of [...running, ...queue]) r.abort()
    })
  }
  queue.push(b)
  pump()
}

/** Builds not finished yet (tests, DEBUG). */
export function pendingBuilds(): number {
  return queue.length + running.size
}

/**
 * A kernel program that runs `quick` until `build` has the full library, then `load`s and runs
 * that one (the swap happens between launches: JavaScript runs one launch at a time).
 */
export function swappingProgram<P extends (...a: never[]) => unknown>(
  quick: P,
  build: BackgroundBuild,
  load: (file: string) => P,
): P {
  let current = quick
  let next = 0
  return ((...a: Parameters<P>) => {
    if (current === quick) {
      const t = performance.now()
      if (t >= next) {
        next = t + POLL_MS
        const full = build.poll()
        if (full !== undefined) {
          current = load(full)
          quickStats.swaps++
        }
      }
    }
    return current(...a)
  }) as P
}
