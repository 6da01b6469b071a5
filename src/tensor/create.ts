// Tensor creation: constants, ranges, identity, and counter-based random numbers.
//
// Random numbers: each call takes a fresh block of counters; element i of the block gets
// hash(seed, counter + i) with a two-round integer mixer computed by kernels (uint32 math), so
// the same seed gives the same numbers on every device. Seed and the 64-bit counter travel in a
// small buffer, so the kernels are identical from call to call and compile once.
import {
  checkFitsDType,
  type DType,
  defaultFloat,
  defaultInt,
  dtypes,
  fitsDType,
  promoteTypes,
  storageArray,
  toDType,
} from '../dtype.js'
import { fmtShape, prod, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Device, canonicalDevice } from '../runtime/device.js'
import { constNode, reshape, varValueNode } from '../uop/graph.js'
import { Ops, type sint, UOp } from '../uop/ops.js'
import { Buffer } from '../runtime/buffer.js'
import { jitScope } from './jit_scope.js'
import { checkShape, checkSize } from './shapes.js'
import { Tensor } from './tensor.js'

export interface CreateOptions {
  dtype?: DType | string
  device?: string
  requiresGrad?: boolean
}

export interface LikeOptions {
  dtype?: DType | string
}

const CREATE_OPTS: KeySet<CreateOptions> = { dtype: true, device: true, requiresGrad: true }
const LIKE_OPTS: KeySet<LikeOptions> = { dtype: true }
const check = (fn: string, opts: unknown): void => checkOptions(`Tensor.${fn}`, opts, CREATE_OPTS)

declare module './tensor.js' {
  interface Tensor {
    /** a constant of this tensor's shape and device (dtype: this one's unless given) */
    fullLike(value: number | boolean, opts?: LikeOptions): Tensor
    zerosLike(opts?: LikeOptions): Tensor
    onesLike(opts?: LikeOptions): Tensor
  }
  namespace Tensor {
    let zeros: (shape: readonly sint[], opts?: CreateOptions) => Tensor
    let ones: (shape: readonly sint[], opts?: CreateOptions) => Tensor
    let full: (shape: readonly sint[], value: number | boolean, opts?: CreateOptions) => Tensor
    let empty: (shape: readonly number[], opts?: CreateOptions) => Tensor
    let arange: (start: number, stop?: number, step?: number, opts?: CreateOptions) => Tensor
    let linspace: (start: number, stop: number, steps: number, opts?: CreateOptions) => Tensor
    let eye: (n: number, m?: number, opts?: CreateOptions) => Tensor
    let fromVariable: (value: sint, opts?: CreateOptions) => Tensor
    let manualSeed: (seed: number) => void
    let rand: (shape: readonly number[], opts?: CreateOptions) => Tensor
    let randn: (shape: readonly number[], opts?: CreateOptions) => Tensor
    let randint: (low: number, high: number, shape: readonly number[], opts?: CreateOptions) => Tensor
    let uniform: (shape: readonly number[], low?: number, high?: number, opts?: CreateOptions) => Tensor
    let normal: (shape: readonly number[], mean?: number, std?: number, opts?: CreateOptions) => Tensor
    /**
     * A tensor whose storage `fill` writes as raw little-endian bytes (float16 as its 16-bit
     * patterns): on devices with host memory the bytes land in the device buffer itself, so a
     * file read straight into it keeps one copy of the data.
     */
    let fromBytes: (
      shape: readonly number[],
      dtype: DType | string,
      fill: (dst: Uint8Array) => void,
      opts?: { device?: string },
    ) => Tensor
  }
}

Tensor.prototype.fullLike = function (value, opts = {}) {
  checkOptions('fullLike', opts, LIKE_OPTS)
  const dt = opts.dtype ? toDType(opts.dtype) : this.dtype
  checkFitsDType('fullLike', value, dt)
  return new Tensor(constNode(Number(value), dt, this.device, this.sshape))
}
Tensor.prototype.zerosLike = function (opts = {}) {
  checkOptions('zerosLike', opts, LIKE_OPTS)
  return this.fullLike(0, opts)
}
Tensor.prototype.onesLike = function (opts = {}) {
  checkOptions('onesLike', opts, LIKE_OPTS)
  return this.fullLike(1, opts)
}

const dev = (o?: CreateOptions): string => Device.get(canonicalDevice(o?.device ?? Device.DEFAULT)).name
const finish = (t: Tensor, o?: CreateOptions): Tensor => {
  Device.checkDType('create', t.device, t.dtype)
  if (o?.requiresGrad) t.requiresGrad = true
  return t
}

Tensor.full = (shape, value, opts) => {
  check('full', opts)
  if (typeof value !== 'number' && typeof value !== 'boolean')
    throw new TsgradError(`full: value must be a number or a boolean, got ${JSON.stringify(value)}`)
  // a symbolic size (a Variable expression) makes a broadcast constant of that length
  const s =
    Array.isArray(shape) && shape.some((d) => d instanceof UOp)
      ? Tensor.ones([]).expand(shape).sshape
      : checkShape('full', shape as number[])
  // a JS number is float32 unless a dtype is asked for (as in `new Tensor`)
  const dt = opts?.dtype ? toDType(opts.dtype) : typeof value === 'boolean' ? dtypes.bool : defaultFloat
  checkFitsDType('full', value, dt)
  return finish(new Tensor(constNode(Number(value), dt, dev(opts), s)), opts)
}
Tensor.fromVariable = (value, opts) => {
  check('fromVariable', opts)
  // a 0-d tensor holding a bound Variable's value (or a size expression of it): a kernel argument,
  // so graphs that compute with it compile once for every value (a position mask, a KV-cache write)
  if (!(value instanceof UOp) || value.dtype !== dtypes.int32 || value.shape !== undefined)
    throw new TsgradError(
      `fromVariable: expected a Variable or a size expression of Variables (v.bind(3).add(1)), got ${value instanceof UOp ? `a ${value.dtype.name} ${value.op} node` : typeof value}`,
    )
  const dt = opts?.dtype ? toDType(opts.dtype) : dtypes.int32
  return finish(new Tensor(varValueNode(value, dt, dev(opts))), opts)
}
Tensor.zeros = (shape, opts) => {
  check('zeros', opts)
  return Tensor.full(shape, 0, { dtype: defaultFloat, ...opts })
}
Tensor.ones = (shape, opts) => {
  check('ones', opts)
  return Tensor.full(shape, 1, { dtype: defaultFloat, ...opts })
}
Tensor.empty = (shape, opts) => {
  check('empty', opts)
  // a fresh buffer; contents are zeros on the JS device
  const s = checkShape('empty', shape)
  const dt = opts?.dtype ? toDType(opts.dtype) : defaultFloat
  return finish(
    Tensor.zeros(s, { ...opts, dtype: dt })
      .contiguous()
      .realize(),
    opts,
  )
}

Tensor.fromBytes = (shape, dtype, fill, opts) => {
  checkOptions('Tensor.fromBytes', opts, { device: true })
  const s = checkShape('fromBytes', shape)
  const dt = toDType(dtype)
  checkSize('fromBytes', s)
  if (typeof fill !== 'function') throw new TsgradError('fromBytes: fill must be a function')
  const buf = new Buffer(dev(opts), prod(s), dt)
  const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  const view = buf.hostView()
  if (view) fill(bytesOf(view))
  else {
    const tmp = storageArray(dt, buf.size)
    fill(bytesOf(tmp))
    buf.copyin(tmp)
  }
  return new Tensor(reshape(UOp.new(Ops.BUFFER, dt, [], buf), s))
}

Tensor.arange = (start, stop, step = 1, opts) => {
  check('arange', opts)
  if (stop === undefined) [start, stop] = [0, start]
  if (![start, stop, step].every((v) => typeof v === 'number' && Number.isFinite(v)) || step === 0)
    throw new TsgradError(
      `arange: expected finite numbers and a non-zero step, got (${start}, ${stop}, ${step})`,
    )
  const n = Math.max(0, Math.ceil((stop - start) / step))
  checkSize(`arange(${start}, ${stop}, ${step})`, [n])
  const last = start + Math.max(0, n - 1) * step
  // integer bounds give int32, or int64 when the values leave int32's range (never wrapped)
  const dt = opts?.dtype
    ? toDType(opts.dtype)
    : [start, stop, step].every(Number.isInteger)
      ? fitsDType(start, defaultInt) && fitsDType(last, defaultInt)
        ? defaultInt
        : dtypes.int64
      : defaultFloat
  if (dt.isInt && n > 0) {
    // the values run from start to last; a negative step is fine for an unsigned dtype
    checkFitsDType('arange', step, dtypes.int64, ' (step)')
    checkFitsDType('arange', start, dt, ' (start)')
    checkFitsDType('arange', last, dt, ' (the last value)')
  }
  const idx = Tensor.iota(n, dev(opts))
  const t =
    start === 0 && step === 1
      ? idx.cast(dt)
      : idx
          .cast(dt.isFloat ? dt : promoteTypes(defaultInt, dt))
          .mul(step)
          .add(start)
          .cast(dt)
  return finish(t, opts)
}

Tensor.linspace = (start, stop, steps, opts) => {
  check('linspace', opts)
  if (!Number.isInteger(steps) || steps < 0)
    throw new TsgradError(`linspace: steps must be a non-negative integer, got ${steps}`)
  checkSize('linspace', [steps])
  const dt = opts?.dtype ? toDType(opts.dtype) : defaultFloat
  if (steps === 1) return Tensor.full([1], start, { ...opts, dtype: dt })
  const delta = (stop - start) / (steps - 1)
  return finish(Tensor.iota(steps, dev(opts)).cast(dtypes.float32).mul(delta).add(start).cast(dt), opts)
}

Tensor.eye = (n, m, opts) => {
  check('eye', opts)
  const cols = m ?? n
  checkShape('eye', [n, cols])
  const d = dev(opts)
  const r = Tensor.iota(n, d).reshape([n, 1])
  const c = Tensor.iota(cols, d).reshape([1, cols])
  return finish(r.eq(c).cast(opts?.dtype ? toDType(opts.dtype) : defaultFloat), opts)
}

// ---- random ----

/** seed and next counter; the jit reads and advances it to give each replay fresh numbers */
export const rng = { seed: 0, counter: 0 }

Tensor.manualSeed = (seed: number) => {
  rng.seed = seed >>> 0
  rng.counter = 0
}

/** uint32 hash of (key, counter): two rounds of the lowbias32 mixer. */
function mix(x: Tensor): Tensor {
  x = x.bitwiseXor(x.rshift(16)).mul(0x7feb352d)
  x = x.bitwiseXor(x.rshift(15)).mul(0x846ca68b)
  return x.bitwiseXor(x.rshift(16))
}

/** `n` uniform random uint32 values as a lazy tensor of shape [n]. */
function randomBits(n: number, device: string): Tensor {
  if (n >= 2 ** 31) throw new TsgradError(`rand: ${n} elements is too many for one call`)
  const state = new Tensor(rngState(rng.counter), { device })
  // under a jit capture this upload is an implicit input: each replay rewrites it
  jitScope.rngUploads?.push({ buf: state.uop.contiguousBase!.arg as Buffer, counter: rng.counter })
  rng.counter += n
  const seed = state.shrink([[0, 1]]).expand([n])
  const base = state.shrink([[1, 2]]).expand([n])
  const ctr = Tensor.iota(n, device).cast(dtypes.uint32).add(base)
  // the counter's high word (plus the carry where this block wraps past 2^32) goes into the key,
  // so the stream does not repeat after 2^32 values; with a high word of 0 the key is the seed
  const high = state
    .shrink([[2, 3]])
    .expand([n])
    .add(ctr.lt(base).cast(dtypes.uint32))
  const key = seed.bitwiseXor(high.mul(0x632be5ab))
  const k2 = mix(key.bitwiseXor(0x9e3779b9))
  return mix(mix(ctr.bitwiseXor(key)).bitwiseXor(k2))
}

/** The random-state upload for a block starting at `counter`: seed, counter low and high words. */
export function rngState(counter: number): Uint32Array {
  return new Uint32Array([rng.seed, counter >>> 0, Math.floor(counter / 2 ** 32) >>> 0])
}

Tensor.rand = (shape, opts) => {
  check('rand', opts)
  const s = checkShape('rand', shape)
  const dt = opts?.dtype ? toDType(opts.dtype) : defaultFloat
  if (!dt.isFloat) throw new TsgradError(`rand: dtype must be floating point, got ${dt.name}`)
  const n = prod(s)
  // top 24 bits -> [0, 1) exactly representable in float32
  const u = randomBits(n, dev(opts))
    .rshift(8)
    .cast(dtypes.float32)
    .mul(2 ** -24)
  return finish(u.reshape(s).cast(dt), opts)
}

Tensor.uniform = (shape, low = 0, high = 1, opts) => {
  check('uniform', opts)
  return finish(
    Tensor.rand(shape, { ...opts, requiresGrad: false })
      .mul(high - low)
      .add(low),
    opts,
  )
}

Tensor.randn = (shape, opts) => {
  check('randn', opts)
  const s = checkShape('randn', shape)
  const dt = opts?.dtype ? toDType(opts.dtype) : defaultFloat
  const n = prod(s)
  // Box-Muller from two uniforms per element, adjacent in the stream (counters 2i and 2i+1), so
  // randn([8]) equals randn([4]) then randn([4]) as rand does
  const u = Tensor.rand([n, 2], { device: opts?.device, dtype: dtypes.float32 })
  const u1 = u.shrink([null, [0, 1]]).reshape([n])
  const u2 = u.shrink([null, [1, 2]]).reshape([n])
  const r = u1.mul(-1).add(1).log().mul(-2).sqrt()
  const z = r.mul(u2.mul(2 * Math.PI).cos())
  return finish(z.reshape(s).cast(dt), opts)
}

Tensor.normal = (shape, mean = 0, std = 1, opts) => {
  check('normal', opts)
  return finish(
    Tensor.randn(shape, { ...opts, requiresGrad: false })
      .mul(std)
      .add(mean),
    opts,
  )
}

Tensor.randint = (low, high, shape, opts) => {
  check('randint', opts)
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low)
    throw new TsgradError(`randint: need integers low < high, got ${low}, ${high} (shape ${fmtShape(shape)})`)
  const dt = opts?.dtype ? toDType(opts.dtype) : defaultInt
  checkFitsDType('randint', low, dt, ' (low)')
  checkFitsDType('randint', high - 1, dt, ' (high - 1)')
  // float32 holds every integer up to 2^24; beyond that compute in float64 so the bounds stay exact
  const wide = Math.max(Math.abs(low), Math.abs(high)) > 2 ** 24
  return Tensor.rand(shape, { device: opts?.device, dtype: dtypes.float32 })
    .cast(wide ? dtypes.float64 : dtypes.float32)
    .mul(high - low)
    .floor()
    .add(low)
    .cast(dt)
}
