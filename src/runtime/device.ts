// The device interface: { allocator, renderer, compiler, runtime }, and the registry of devices.
// A new backend adds a renderer, one file implementing this interface, and a register() call.
import type { DType, TypedArray } from '../dtype.js'
import { getEnv, getEnvNum, TsgradError } from '../helpers.js'
import type { Renderer } from '../renderer/renderer.js'

export interface Allocator<B = unknown> {
  alloc(size: number, dtype: DType): B
  free(buf: B): void
  /** host -> device; `src` is in the storage format of the dtype */
  copyin(buf: B, src: TypedArray): void
  /** device -> host (a copy, in the storage format of the dtype) */
  copyout(buf: B, size: number, dtype: DType): TypedArray | Promise<TypedArray>
  /** direct host view, for devices whose memory is host memory (enables dataSync) */
  hostView?(buf: B): TypedArray
  /**
   * Allocations are JS objects the garbage collector reclaims by itself (typed arrays): a buffer
   * that becomes unreachable needs no `free`. Then only its size is registered for accounting, so
   * its memory never waits for a finalization callback (those run only when the event loop turns,
   * never inside a synchronous training loop).
   */
  readonly collectable?: boolean
  /**
   * For a `collectable` allocator: true for allocations that still need `free` when their buffer
   * becomes unreachable (the CPU device's native memory goes back to its cache that way).
   */
  needsFree?(buf: B): boolean
  /** the most elements one buffer may have (checked before a schedule runs); none if absent */
  readonly maxElements?: number
  /**
   * For a process that holds a few large, long-lived buffers and disposes its temporaries (an LLM:
   * `llm.load` calls it): keep host memory compact rather than fast for plain loops. Process-wide.
   */
  compact?(): void
  /**
   * A hint for host storage `view` lies in (a KV cache): it should become resident as it is
   * written, page by page, not a whole huge page at its first write.
   */
  adviseSmallPages?(view: ArrayBufferView): void
}

/**
 * The longest TypedArray this JavaScript engine makes: Node's buffer.constants.MAX_LENGTH (2^32 on
 * Node 20, 2^53 - 1 on newer V8), else V8's long-standing 2^32. Host-memory devices (CPU, JS) keep
 * every buffer in one TypedArray, so this bounds their buffers.
 */
export function maxTypedArrayLength(): number {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  const b = p?.getBuiltinModule?.('node:buffer') as { constants?: { MAX_LENGTH?: number } } | undefined
  return b?.constants?.MAX_LENGTH ?? 2 ** 32
}

/** Builds started by Compiler.startMany. */
export interface StartedBuilds {
  /** whether every build has finished (without waiting) */
  done(): boolean
  /** wait until every build has finished and record its results */
  wait(): void
}

export interface Compiler<A = unknown> {
  /** identifies compiler + flags, part of on-disk cache keys */
  readonly key: string
  compile(src: string, name: string): A
  /** optional: compile several sources ahead of `compile` (e.g. in parallel into a cache) */
  compileMany?(jobs: readonly { src: string; name: string }[]): void
  /**
   * optional: as `compileMany`, but start the builds and return at once (the caller renders the
   * next kernels meanwhile). `more`: the caller keeps rendering (it holds a core) and will start
   * more builds, so the compiler may use fewer processes for these.
   */
  startMany?(jobs: readonly { src: string; name: string }[], more?: boolean): StartedBuilds
  /**
   * optional: when `src` has no build yet, build `quickSrc` (rendered by the device's
   * `quickRenderer`) with a fast compiler to run now, and `src` in the background; the program the
   * device's `runtime` makes of the result switches to the full build between launches once it is
   * ready. Returns what `compile` returns.
   */
  compileQuick?(src: string, quickSrc: () => string, name: string): A
  /**
   * optional: build `src` in the background (the full tier of a kernel that runs a first-tier build
   * meanwhile: engine/tiers.ts). Returns a poll that gives the artifact once it is built (at once
   * when a cache has it) and undefined while it builds; when the background build failed, the poll
   * compiles `src` in the foreground, so the compiler's error is thrown from there.
   */
  compileInBackground?(src: string, name: string): () => A | undefined
}

/** A compiled kernel bound to a device; `vals` are its variables' values (int parameters before the buffers). */
export type Program<B = unknown> = (bufs: B[], vals?: readonly number[]) => void | Promise<void>

export interface CompiledDevice<B = unknown, A = unknown> {
  readonly name: string
  readonly allocator: Allocator<B>
  readonly renderer: Renderer
  readonly compiler: Compiler<A>
  /** renders the sources `compiler.compileQuick` takes; absent when quick compiles are off */
  readonly quickRenderer?: Renderer | undefined
  runtime(artifact: A, name: string): Program<B>
  /** wait for queued work (no-op for synchronous devices) */
  synchronize(): void | Promise<void>
  /** reads return promises (`await data()`; dataSync is an error), as on WEBGPU */
  readonly asyncReads?: boolean
  /**
   * For BEAM on a device whose launches only record work (asyncReads): the fastest of `runs`
   * launches of a compiled kernel, in ms, measured on the device; rejects when the kernel does not
   * compile there (a candidate that fails is skipped, not reported as the user's error).
   */
  timeKernel?(
    artifact: A,
    name: string,
    bufs: B[],
    vals: readonly number[] | undefined,
    runs: number,
  ): Promise<number>
  /** why this device cannot hold or compute `dt` (WGSL has no 64-bit types), or undefined if it can; absent: every dtype */
  dtypeUnsupported?(dt: DType): string | undefined
}

// each device has its own buffer and artifact types
type Factory = (name: string) => CompiledDevice<any, any>
const factories = new Map<string, Factory>()
/** per device kind: why it cannot run on this machine (undefined = it can) */
const probes = new Map<string, () => string | undefined>()
/** default device preference: the first that can run here */
const PREFERENCE = ['CPU', 'WASM', 'JS']
const instances = new Map<string, CompiledDevice>()
let defaultName: string | undefined

/** Canonical device name: upper-case base, ':0' dropped ('js' -> 'JS', 'CPU:0' -> 'CPU'). */
export function canonicalDevice(name: string): string {
  const [base, idx] = name.toUpperCase().split(':')
  return idx === undefined || idx === '0' ? base! : `${base}:${idx}`
}

export const Device = {
  register(base: string, factory: Factory, unavailableReason?: () => string | undefined): void {
    factories.set(base.toUpperCase(), factory)
    if (unavailableReason) probes.set(base.toUpperCase(), unavailableReason)
  },
  /** why a device kind cannot run here, or undefined if it can */
  unavailableReason(base: string): string | undefined {
    const b = canonicalDevice(base).split(':')[0]!
    if (!factories.has(b)) return 'not registered'
    return probes.get(b)?.()
  },
  get(name: string): CompiledDevice {
    // (a canonical name, what the engine passes on every launch, is found without canonicalizing)
    const known = instances.get(name)
    if (known) return known
    const n = canonicalDevice(name)
    let d = instances.get(n)
    if (!d) {
      const f = factories.get(n.split(':')[0]!)
      if (!f)
        throw new TsgradError(`unknown device '${name}' (available: ${[...factories.keys()].join(', ')})`)
      instances.set(n, (d = f(n)))
    }
    return d
  },
  /** whether tensors of `dt` can live on `device` (tests skip the cases a device cannot run) */
  supportsDType(device: string, dt: DType): boolean {
    return Device.get(device).dtypeUnsupported?.(dt) === undefined
  },
  /** Throw a TsgradError naming `op` when `device` cannot hold `dt` (checked when the graph is built). */
  checkDType(op: string, device: string, dt: DType): void {
    const why = Device.get(device).dtypeUnsupported?.(dt)
    if (why !== undefined)
      throw new TsgradError(`${op}: dtype ${dt.name} is not supported on ${device}: ${why}`)
  },
  /** names of registered device kinds */
  get available(): string[] {
    return [...factories.keys()]
  },
  /** the default device: DEVICE env, else the first registered in preference order */
  get DEFAULT(): string {
    if (defaultName === undefined) {
      const env = getEnv('DEVICE')
      defaultName = env
        ? canonicalDevice(env)
        : (PREFERENCE.find((d) => factories.has(d) && Device.unavailableReason(d) === undefined) ?? 'JS')
      Device.get(defaultName)
      if (getEnvNum('DEBUG') >= 1) {
        const skipped = PREFERENCE.slice(0, PREFERENCE.indexOf(defaultName))
          .map((d) => `${d}: ${Device.unavailableReason(d)}`)
          .join('; ')
        console.log(
          `default device: ${defaultName}${env ? ' (DEVICE env)' : ''}${skipped ? ` (skipped ${skipped})` : ''}`,
        )
      }
    }
    return defaultName
  },
  set DEFAULT(name: string) {
    Device.get(name)
    defaultName = canonicalDevice(name)
  },
}
