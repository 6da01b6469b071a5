// The Tensor constructor's host data (nested JS arrays, scalars, TypedArrays) copied into a fresh
// buffer: its dtype (given, the TypedArray's, bool for all booleans, else float32), shape and checks.
import { type DType, checkFitsDType, defaultFloat, dtypes, type TypedArray, toDType } from '../dtype.js'
import { fmtShape, prod, TsgradError } from '../helpers.js'
import { Buffer } from '../runtime/buffer.js'
import { canonicalDevice, Device } from '../runtime/device.js'
import * as G from '../uop/graph.js'
import { Ops, UOp } from '../uop/ops.js'
import { checkShape } from './shapes.js'
import { flattenNested, type NestedArray, toStorage, typedDType } from './storage.js'

/** The node of a new buffer holding `data` (a reshape of the BUFFER to the tensor's shape). */
export function hostDataNode(
  data: NestedArray | TypedArray,
  opts: { shape?: readonly number[]; dtype?: DType | string; device?: string },
): UOp {
  const device = canonicalDevice(opts.device ?? Device.DEFAULT)
  let values: ArrayLike<number | boolean | bigint>
  let shape: number[]
  let dt: DType
  if (ArrayBuffer.isView(data)) {
    const ta = data as TypedArray
    values = ta
    shape = opts.shape ? checkShape('Tensor', opts.shape) : [ta.length]
    dt = opts.dtype ? toDType(opts.dtype) : typedDType(ta)
  } else if (typeof data === 'number' || typeof data === 'boolean' || Array.isArray(data)) {
    const f = flattenNested(data)
    values = f.values
    shape = opts.shape ? checkShape('Tensor', opts.shape) : f.shape
    // JS has no integer type: numbers are float32 unless a dtype is asked for (all booleans: bool)
    dt = opts.dtype
      ? toDType(opts.dtype)
      : f.values.length > 0 && f.values.every((v) => typeof v === 'boolean')
        ? dtypes.bool
        : defaultFloat
  } else {
    throw new TsgradError(`Tensor: unsupported data of type ${typeof data}`)
  }
  if (prod(shape) !== values.length)
    throw new TsgradError(`Tensor: ${values.length} values do not fill shape ${fmtShape(shape)}`)
  if (dt.isInt && !(ArrayBuffer.isView(data) && typedDType(data as TypedArray) === dt))
    for (let i = 0; i < values.length; i++) checkFitsDType('Tensor', values[i]!, dt, ` at index ${i}`)
  Device.checkDType('Tensor', device, dt)
  const buf = new Buffer(device, values.length, dt)
  buf.copyin(toStorage(values, dt))
  return G.reshape(UOp.new(Ops.BUFFER, dt, [], buf), shape)
}
