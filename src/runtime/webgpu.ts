// The WEBGPU device: kernels rendered to WGSL (renderer/wgsl.ts) run as compute shaders. In a
// browser it uses `navigator.gpu`; in Node the `webgpu` package (Dawn), imported lazily, so the
// package loads without it.
//
// Starting WebGPU is asynchronous (requestAdapter, requestDevice) but tsgrad builds and launches
// schedules synchronously, so the device starts in the background when first used: until it is
// ready, allocations, uploads and launches are queued in order and replayed when it is. Reading
// values (`await data()`) is asynchronous anyway: it waits for the start, so a device that cannot
// start says why there (and `Device.unavailableReason('WEBGPU')` says it afterwards;
// `startWebGPU()` starts it explicitly and rejects with the reason).
//
// Launches are recorded into one command encoder and submitted together: before a host upload
// (queue.writeBuffer would otherwise overtake the launches recorded before it), before a buffer is
// destroyed, and before a read. Errors the adapter reports asynchronously (WGSL validation, out of
// memory, device lost) are collected with the kernel or buffer they concern and thrown at the
// next read or synchronize.
import type { DType, TypedArray } from '../dtype.js'
import { storageArray } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import {
  parseWGSLLaunch,
  type WGSLLaunch,
  WGSLRenderer,
  wgslMaxBuffers,
  wgslUnsupported,
} from '../renderer/wgsl.js'
import { type CompiledDevice, Device, type Program } from './device.js'
import { nodeBuiltins } from './node.js'

// GPUBufferUsage / GPUMapMode values (the constants are globals only in browsers)
const MAP_READ = 0x0001
const COPY_SRC = 0x0004
const COPY_DST = 0x0008
const STORAGE = 0x0080
const MAP_MODE_READ = 0x0001

/** A device buffer: the GPUBuffer is created when the device is ready (bytes rounded up to 4). */
export interface WebGPUBuffer {
  readonly bytes: number
  gpu?: GPUBuffer
  freed?: boolean
}

interface Started {
  device: GPUDevice
  f16: boolean
  /** the adapter has timestamp queries (BEAM times kernels with them) */
  timestamps: boolean
  /** keeps Dawn's GPU object alive for the process (it crashes if collected) */
  keep: unknown
  /** storage buffers one shader may bind (the device's maxStorageBuffersPerShaderStage) */
  maxStorageBuffers: number
}

/** Why the device failed (start, device lost, validation, out of memory): thrown at the next read. */
let failure: string | undefined
/** the errors reported since the last read, each naming its kernel or buffer */
const errors: { at: number; message: string }[] = []
/** counts recorded operations: an error belongs to the reads issued after the operation that made it */
let clock = 0
const report = (at: number, message: string): void => {
  errors.push({ at, message })
}
let started: Started | undefined
let starting: Promise<Started> | undefined
/** work recorded before the device was ready, replayed in order when it is */
const pending: ((s: Started) => void)[] = []

function webgpuModuleReason(): string | undefined {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator
  if (nav?.gpu) return undefined
  const n = nodeBuiltins()
  if (!n) return 'navigator.gpu is missing: this browser has no WebGPU (or it is disabled)'
  try {
    n.module.createRequire(import.meta.url).resolve('webgpu')
    return undefined
  } catch {
    return "the 'webgpu' package (Dawn for Node) is not installed"
  }
}

/** Why WEBGPU cannot run here (a failed start says why once it was tried), or undefined. */
export function webgpuUnavailableReason(): string | undefined {
  return webgpuModuleReason() ?? failure
}

async function requestGPU(): Promise<{ gpu: GPU; keep: unknown }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator
  if (nav?.gpu) return { gpu: nav.gpu, keep: nav.gpu }
  // a variable specifier: bundlers for the browser leave the Node-only package alone
  const name = 'webgpu'
  const mod = (await import(name)) as { create(flags: string[]): GPU }
  // unquantized timestamps: BEAM compares kernels that differ by less than Dawn's default quantum
  const gpu = mod.create(['disable-dawn-features=timestamp_quantization'])
  return { gpu, keep: gpu }
}

async function start(): Promise<Started> {
  const why = webgpuModuleReason()
  if (why) throw new TsgradError(`WEBGPU device cannot start: ${why}`)
  let s: Started
  try {
    const { gpu, keep } = await requestGPU()
    const adapter = await gpu.requestAdapter()
    if (!adapter)
      throw new Error(
        'no WebGPU adapter (in Node, a Vulkan driver is needed: e.g. Mesa lavapipe, mesa-vulkan-drivers)',
      )
    const f16 = adapter.features.has('shader-f16')
    const timestamps = adapter.features.has('timestamp-query')
    const lim = adapter.limits
    const features: GPUFeatureName[] = []
    if (f16) features.push('shader-f16')
    if (timestamps) features.push('timestamp-query')
    const device = await adapter.requestDevice({
      requiredFeatures: features,
      requiredLimits: {
        maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
        maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
        maxBufferSize: lim.maxBufferSize,
        maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
        maxBindingsPerBindGroup: lim.maxBindingsPerBindGroup,
      },
    })
    void device.lost.then((info) => {
      if (started?.device === device) {
        failure = `WEBGPU device lost: ${info.message || info.reason}`
        started = undefined
      }
    })
    device.addEventListener('uncapturederror', (e) => {
      report(clock, `WEBGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`)
    })
    s = { device, f16, timestamps, keep, maxStorageBuffers: device.limits.maxStorageBuffersPerShaderStage }
  } catch (e) {
    failure = `WEBGPU device cannot start: ${(e as Error).message}`
    throw new TsgradError(failure)
  }
  started = s
  for (const f of pending.splice(0)) f(s)
  return s
}

function ensureStarted(): Promise<Started> {
  if (started) return Promise.resolve(started)
  if (failure) return Promise.reject(new TsgradError(failure))
  starting ??= start()
  return starting
}

/** Start the WEBGPU device now; rejects with the reason when it cannot start here. */
export async function startWebGPU(): Promise<void> {
  await ensureStarted()
}

/** Run `f` now if the device is ready, else when it is (in order with everything queued before). */
function whenStarted(f: (s: Started) => void): void {
  if (started) {
    f(started)
    return
  }
  if (failure) throw new TsgradError(failure)
  pending.push(f)
  void ensureStarted().catch(() => {})
}

// ---- freed GPUBuffers kept for reuse, by size: a fresh one costs Dawn's zero fill on first use
// (a 64 MB temporary per realize took about as long as the kernel writing it) ----
const pool = new Map<number, GPUBuffer[]>()
let pooledBytes = 0
const MAX_POOLED_BYTES = 256 * 2 ** 20

function gpuBuffer(s: Started, b: WebGPUBuffer, at = clock): GPUBuffer {
  if (!b.gpu) {
    const reused = pool.get(b.bytes)?.pop()
    if (reused) {
      pooledBytes -= b.bytes
      b.gpu = reused
      return reused
    }
    s.device.pushErrorScope('out-of-memory')
    b.gpu = s.device.createBuffer({ size: b.bytes, usage: STORAGE | COPY_SRC | COPY_DST })
    const bytes = b.bytes
    popScope(s.device, at, (m) => `WEBGPU: out of memory allocating a buffer of ${bytes} bytes: ${m}`)
  }
  return b.gpu
}

// ---- command batching ----
let encoder: GPUCommandEncoder | undefined
let encoded = 0
/** launches recorded into one encoder before it is submitted anyway (bounded latency) */
const MAX_BATCH = 256

function flush(s: Started): void {
  if (!encoder) return
  s.device.queue.submit([encoder.finish()])
  encoder = undefined
  encoded = 0
}

/** error scopes not yet popped: a read waits for them, so its errors are the launches' before it */
const scopes = new Set<Promise<void>>()
/** Pop the error scope pushed last; its error (if any) is reported at `at` by `describe`. */
function popScope(d: GPUDevice, at: number, describe: (message: string) => string): void {
  const p: Promise<void> = d
    .popErrorScope()
    .then((e) => {
      if (e) report(at, describe(e.message))
    })
    .finally(() => scopes.delete(p))
  scopes.add(p)
}

/** Throw the errors of operations recorded up to `upTo` (a read issued earlier does not take later ones). */
async function throwErrors(upTo: number): Promise<void> {
  await Promise.all(scopes)
  if (failure) throw new TsgradError(failure)
  const mine = errors.filter((e) => e.at <= upTo)
  if (mine.length) {
    errors.splice(0, errors.length, ...errors.filter((e) => e.at > upTo))
    // an invalid pipeline makes every later use of it an error too: those follow the cause
    const all = mine.map((e) => e.message)
    const causes = all.filter((e) => !e.includes('is invalid due to a previous error'))
    throw new TsgradError((causes.length ? causes : all).join('\n'))
  }
}

// ---- pipelines, cached per source ----
interface Kernel {
  pipeline: GPUComputePipeline
  launch: WGSLLaunch
  layout: GPUBindGroupLayout
}
const kernels = new Map<string, Kernel>()

/** Every buffer and the variables bound as storage (a kernel may leave some unused). */
function bindingLayout(d: GPUDevice, launch: WGSLLaunch): GPUBindGroupLayout {
  const n = launch.nbufs + (launch.nvars ? 1 : 0)
  return d.createBindGroupLayout({
    entries: Array.from({ length: n }, (_, i) => ({
      binding: i,
      visibility: 4, // GPUShaderStage.COMPUTE
      buffer: { type: 'storage' as const },
    })),
  })
}

/** The bind group of one launch: `bufs`, a scratch buffer for parameters the caller leaves out, the variables. */
function bindGroup(
  s: Started,
  layout: GPUBindGroupLayout,
  launch: WGSLLaunch,
  bufs: WebGPUBuffer[],
  vals: readonly number[] | undefined,
): GPUBindGroup {
  const d = s.device
  const entries: GPUBindGroupEntry[] = []
  for (let i = 0; i < launch.nbufs; i++) {
    const b = bufs[i]
    entries.push({ binding: i, resource: { buffer: b ? gpuBuffer(s, b) : scratch(s) } })
  }
  if (launch.nvars) {
    const v = new Int32Array(Math.max(1, launch.nvars))
    v.set(vals ?? [])
    const vb = d.createBuffer({ size: v.byteLength, usage: STORAGE | COPY_DST, mappedAtCreation: true })
    new Int32Array(vb.getMappedRange()).set(v)
    vb.unmap()
    entries.push({ binding: launch.nbufs, resource: { buffer: vb } })
  }
  return d.createBindGroup({ layout, entries })
}

/** The kernel's pipeline, or undefined (its error reported) where this device cannot run it. */
function kernelFor(s: Started, src: string, name: string, at: number): Kernel | undefined {
  let k = kernels.get(src)
  if (k) return k
  const launch = parseWGSLLaunch(src)
  const d = s.device
  if (launch.f16 && !s.f16) {
    // rendered before the adapter was known (float16 graphs are refused at build only after the
    // start): an error at this launch's reads instead of the driver's complaint about `enable f16`
    report(
      at,
      `WEBGPU: kernel ${name} computes in float16, which needs the adapter's 'shader-f16' feature; ` +
        'this adapter lacks it (the graph was built before the device started: await startWebGPU() ' +
        'or ready() first to have float16 refused when it is built, or compute in float32)',
    )
    return undefined
  }
  d.pushErrorScope('validation')
  const module = d.createShaderModule({ code: src })
  const layout = bindingLayout(d, launch)
  const pipeline = d.createComputePipeline({
    layout: d.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: name },
  })
  popScope(d, at, (m) => `WEBGPU: kernel ${name} failed to compile: ${m}\n${src}`)
  k = { pipeline, launch, layout }
  kernels.set(src, k)
  return k
}

/** Workgroup grid for `groups` workgroups: x up to the 65535 limit, the rest in y. */
function grid(groups: number): [number, number] {
  if (groups <= 65535) return [Math.max(1, groups), 1]
  const y = Math.ceil(groups / 65535)
  return [Math.ceil(groups / y), y]
}

function launch(s: Started, k: Kernel, bufs: WebGPUBuffer[], vals: readonly number[] | undefined): void {
  if (k.launch.threads === 0) return
  const d = s.device
  const group = bindGroup(s, k.layout, k.launch, bufs, vals)
  encoder ??= d.createCommandEncoder()
  const pass = encoder.beginComputePass()
  pass.setPipeline(k.pipeline)
  pass.setBindGroup(0, group)
  const [x, y] = grid(Math.ceil(k.launch.threads / k.launch.workgroup))
  pass.dispatchWorkgroups(x, y)
  pass.end()
  if (++encoded >= MAX_BATCH) flush(s)
}

let scratchBuf: GPUBuffer | undefined
function scratch(s: Started): GPUBuffer {
  scratchBuf ??= s.device.createBuffer({ size: 16, usage: STORAGE })
  return scratchBuf
}

// ---- timing for BEAM ----
const QUERY_RESOLVE = 0x0200

/**
 * The fastest of `runs` launches of a kernel: on the GPU's timestamps where the adapter has them,
 * else wall time around each submit until the queue is done. The candidate's pipeline is built
 * apart from the kernel cache under its own error scope, so a candidate that does not compile
 * rejects here instead of becoming an error of the user's next read.
 */
async function timeKernel(
  src: string,
  name: string,
  bufs: WebGPUBuffer[],
  vals: readonly number[] | undefined,
  runs: number,
): Promise<number> {
  const s = await ensureStarted()
  const d = s.device
  const launch = parseWGSLLaunch(src)
  if (launch.threads === 0) return 0
  const layout = bindingLayout(d, launch)
  d.pushErrorScope('validation')
  const module = d.createShaderModule({ code: src })
  const pipeline = d.createComputePipeline({
    layout: d.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: name },
  })
  const err = await d.popErrorScope()
  if (err) throw new TsgradError(`WEBGPU: candidate ${name} failed to compile: ${err.message}`)
  const group = bindGroup(s, layout, launch, bufs, vals)
  const [x, y] = grid(Math.ceil(launch.threads / launch.workgroup))
  const pass = (enc: GPUCommandEncoder, timestampWrites?: GPUComputePassTimestampWrites): void => {
    const p = enc.beginComputePass(timestampWrites ? { timestampWrites } : {})
    p.setPipeline(pipeline)
    p.setBindGroup(0, group)
    p.dispatchWorkgroups(x, y)
    p.end()
  }
  flush(s) // the user's recorded launches go first
  let best = Number.POSITIVE_INFINITY
  if (s.timestamps) {
    const querySet = d.createQuerySet({ type: 'timestamp', count: 2 * runs })
    const resolved = d.createBuffer({ size: 16 * runs, usage: QUERY_RESOLVE | COPY_SRC })
    const read = d.createBuffer({ size: 16 * runs, usage: MAP_READ | COPY_DST })
    const enc = d.createCommandEncoder()
    for (let i = 0; i < runs; i++)
      pass(enc, { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 })
    enc.resolveQuerySet(querySet, 0, 2 * runs, resolved, 0)
    enc.copyBufferToBuffer(resolved, 0, read, 0, 16 * runs)
    d.queue.submit([enc.finish()])
    await read.mapAsync(MAP_MODE_READ)
    const ts = new BigUint64Array(read.getMappedRange())
    for (let i = 0; i < runs; i++) best = Math.min(best, Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6)
    read.unmap()
    for (const b of [read, resolved]) b.destroy()
    querySet.destroy()
  } else {
    for (let i = 0; i < runs; i++) {
      const enc = d.createCommandEncoder()
      pass(enc)
      const t0 = performance.now()
      d.queue.submit([enc.finish()])
      await d.queue.onSubmittedWorkDone()
      best = Math.min(best, performance.now() - t0)
    }
  }
  return best
}

async function readBack(b: WebGPUBuffer, size: number, dtype: DType, upTo: number): Promise<TypedArray> {
  const s = await ensureStarted()
  await throwErrors(upTo)
  const d = s.device
  const src = gpuBuffer(s, b)
  const staging = d.createBuffer({ size: b.bytes, usage: MAP_READ | COPY_DST })
  encoder ??= d.createCommandEncoder()
  encoder.copyBufferToBuffer(src, 0, staging, 0, b.bytes)
  flush(s)
  try {
    await staging.mapAsync(MAP_MODE_READ)
  } catch (e) {
    await throwErrors(upTo)
    throw new TsgradError(`WEBGPU: reading a buffer of ${b.bytes} bytes failed: ${(e as Error).message}`)
  }
  const out = storageArray(dtype, size)
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(
    new Uint8Array(staging.getMappedRange(), 0, out.byteLength),
  )
  staging.unmap()
  staging.destroy()
  await throwErrors(upTo)
  return out
}

export function createWebGPUDevice(name: string): CompiledDevice<WebGPUBuffer, string> {
  // the renderer needs to know about float16 before the first kernel renders; the adapter is not
  // known yet at that point, so it is asked for now (the kernels wait for the start anyway)
  const renderer = new WGSLRenderer(true)
  void ensureStarted()
    .then((s) => {
      ;(renderer as { f16: boolean }).f16 = s.f16
      renderer.limits = { maxBuffers: wgslMaxBuffers(s.maxStorageBuffers) }
    })
    .catch(() => {})
  return {
    name,
    allocator: {
      alloc: (size: number, dtype: DType): WebGPUBuffer => {
        const bytes = Math.max(4, Math.ceil((size * dtype.itemsize) / 4) * 4)
        const b: WebGPUBuffer = { bytes }
        const at = ++clock
        whenStarted((s) => {
          if (!b.freed) gpuBuffer(s, b, at)
        })
        return b
      },
      free: (b: WebGPUBuffer) => {
        b.freed = true
        whenStarted((s) => {
          if (!b.gpu) return
          // reuse is ordered after the launches recorded with it (one queue); a destroy is not:
          // those must be submitted first
          if (pooledBytes + b.bytes <= MAX_POOLED_BYTES) {
            const list = pool.get(b.bytes) ?? []
            list.push(b.gpu)
            pool.set(b.bytes, list)
            pooledBytes += b.bytes
          } else {
            flush(s)
            b.gpu.destroy()
          }
          b.gpu = undefined
        })
      },
      copyin: (b: WebGPUBuffer, src: TypedArray) => {
        const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength)
        // writeBuffer takes multiples of 4 bytes; a copy when queued (the caller may reuse src)
        const data = bytes.byteLength % 4 === 0 && started ? bytes : padded(bytes)
        whenStarted((s) => {
          flush(s)
          s.device.queue.writeBuffer(gpuBuffer(s, b), 0, data, 0, data.byteLength)
        })
      },
      copyout: (b: WebGPUBuffer, size: number, dtype: DType) => readBack(b, size, dtype, clock),
      maxElements: undefined,
    },
    renderer,
    compiler: { key: 'wgsl', compile: (src: string) => src },
    runtime:
      (src: string, kname: string): Program<WebGPUBuffer> =>
      (bufs, vals) => {
        const v = vals ? [...vals] : undefined
        const at = ++clock
        whenStarted((s) => {
          const k = kernelFor(s, src, kname, at)
          if (k) launch(s, k, bufs, v)
        })
      },
    asyncReads: true,
    timeKernel: (src, kname, bufs, vals, runs) => timeKernel(src, kname, bufs, vals, runs),
    dtypeUnsupported: (dt: DType) =>
      wgslUnsupported(dt, renderer.f16)
        ? dt.name === 'float16'
          ? "the adapter has no 'shader-f16'"
          : 'WGSL has no 64-bit or bfloat16 types'
        : undefined,
    synchronize: async () => {
      const upTo = clock
      const s = await ensureStarted()
      flush(s)
      await s.device.queue.onSubmittedWorkDone()
      await throwErrors(upTo)
    },
  }
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(4, Math.ceil(bytes.byteLength / 4) * 4))
  out.set(bytes)
  return out
}

Device.register('WEBGPU', createWebGPUDevice, webgpuUnavailableReason)
