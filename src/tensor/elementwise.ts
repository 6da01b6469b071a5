// Elementwise ops: arithmetic with broadcasting, math functions, activations, comparisons, bitwise.
// Composite functions are built from the IR's ALU ops, so they fuse and differentiate for free.
import { type DType, defaultFloat, dtypeMax, dtypeMin, dtypes, toDType } from '../dtype.js'
import { TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { Ops, UOp } from '../uop/ops.js'
import { withCustomGrad } from './custom_grad.js'
import { broadcastShapes } from './shapes.js'
import { type Operand, Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    add(x: Operand): Tensor
    sub(x: Operand): Tensor
    mul(x: Operand): Tensor
    div(x: Operand): Tensor
    idiv(x: Operand): Tensor
    mod(x: Operand): Tensor
    pow(x: Operand): Tensor
    maximum(x: Operand): Tensor
    minimum(x: Operand): Tensor
    neg(): Tensor
    exp(): Tensor
    exp2(): Tensor
    log(): Tensor
    log2(): Tensor
    sqrt(): Tensor
    rsqrt(): Tensor
    reciprocal(): Tensor
    sin(): Tensor
    cos(): Tensor
    tan(): Tensor
    abs(): Tensor
    sign(): Tensor
    square(): Tensor
    floor(): Tensor
    ceil(): Tensor
    round(): Tensor
    trunc(): Tensor
    relu(): Tensor
    relu6(): Tensor
    sigmoid(): Tensor
    tanh(): Tensor
    /** PyTorch's gelu: x * Phi(x) with the exact erf form (default) or the tanh approximation */
    gelu(opts?: GeluOptions): Tensor
    silu(): Tensor
    swish(): Tensor
    leakyRelu(slope?: number): Tensor
    elu(alpha?: number): Tensor
    softplus(beta?: number): Tensor
    mish(): Tensor
    hardswish(): Tensor
    hardsigmoid(): Tensor
    hardtanh(min?: number, max?: number): Tensor
    erf(): Tensor
    clip(min?: number | Tensor, max?: number | Tensor): Tensor
    clamp(min?: number | Tensor, max?: number | Tensor): Tensor
    where(a: Operand, b: Operand): Tensor
    lerp(end: Operand, weight: Operand): Tensor
    lt(x: Operand): Tensor
    le(x: Operand): Tensor
    gt(x: Operand): Tensor
    ge(x: Operand): Tensor
    eq(x: Operand): Tensor
    ne(x: Operand): Tensor
    logicalNot(): Tensor
    logicalAnd(x: Operand): Tensor
    logicalOr(x: Operand): Tensor
    bitwiseAnd(x: Operand): Tensor
    bitwiseOr(x: Operand): Tensor
    bitwiseXor(x: Operand): Tensor
    bitwiseNot(): Tensor
    lshift(n: number): Tensor
    rshift(n: number): Tensor
    /** The same bits read as another dtype of the same size (uint16 -> float16, uint8 -> int8). */
    bitcast(dtype: DType | string): Tensor
  }
}

const P = Tensor.prototype
/** -|x| with the subgradient at 0 that keeps relu(x) + f(-|x|) smooth (as softplus needs) */
export const negAbs = (x: Tensor): Tensor => x.gt(0).where(x.neg(), x)
const bin = (op: string, a: Tensor, b: Operand, dtype?: DType): [Tensor, Tensor] =>
  Tensor.broadcast(op, [a, b], dtype) as [Tensor, Tensor]
/** float version of an int/bool tensor for math functions */
/** `t` itself when it is a float tensor, else cast to the default float (for math that needs one). */
export const asFloat = (t: Tensor): Tensor => (t.dtype.isFloat ? t : t.cast(defaultFloat))
const unary = (op: (typeof Ops)[keyof typeof Ops]) =>
  function (this: Tensor): Tensor {
    return Tensor.alu(op, asFloat(this))
  }

P.add = function (x) {
  const [a, b] = bin('add', this, x)
  return Tensor.alu(Ops.ADD, a, b)
}
P.sub = function (x) {
  const [a, b] = bin('sub', this, x)
  if (a.dtype.isBool)
    throw new TsgradError('sub: subtracting bool tensors is not supported; use bitwiseXor or logicalNot')
  return Tensor.alu(Ops.SUB, a, b)
}
P.mul = function (x) {
  const [a, b] = bin('mul', this, x)
  return Tensor.alu(Ops.MUL, a, b)
}
P.div = function (x) {
  let [a, b] = bin('div', this, x)
  if (!a.dtype.isFloat) [a, b] = [a.cast(defaultFloat), b.cast(defaultFloat)]
  return Tensor.alu(Ops.FDIV, a, b)
}
P.idiv = function (x) {
  const [a, b] = bin('idiv', this, x)
  if (a.dtype.isFloat) return a.div(b).floor()
  // floor division from truncating division: step down when signs differ and there is a remainder
  const q = Tensor.alu(Ops.IDIV, a, b)
  const r = Tensor.alu(Ops.MOD, a, b)
  const fix = r.ne(0).logicalAnd(r.lt(0).ne(b.lt(0)))
  return q.sub(fix.cast(q.dtype))
}
P.mod = function (x) {
  const [a, b] = bin('mod', this, x)
  // Python/PyTorch: the result takes the sign of the divisor
  const r = Tensor.alu(Ops.MOD, a, b)
  const fix = r.ne(0).logicalAnd(r.lt(0).ne(b.lt(0)))
  return fix.where(r.add(b), r)
}
P.pow = function (x) {
  if (typeof x === 'number' && this.dtype.isFloat) {
    if (x === 1) return this
    if (x === 2) return this.mul(this)
    if (x === 0.5) return this.sqrt()
    if (x === -1) return this.reciprocal()
  }
  let [a, b] = bin('pow', this, x)
  if (!a.dtype.isFloat && !(b.dtype.isInt || b.dtype.isBool))
    [a, b] = [a.cast(defaultFloat), b.cast(defaultFloat)]
  return Tensor.alu(Ops.POW, a, b)
}
P.maximum = function (x) {
  const [a, b] = bin('maximum', this, x)
  return Tensor.alu(Ops.MAX, a, b)
}
P.minimum = function (x) {
  const [a, b] = bin('minimum', this, x)
  if (a.dtype.isBool) return a.logicalAnd(b)
  if (a.dtype.isUnsigned) return a.lt(b).where(a, b)
  return a.neg().maximum(b.neg()).neg()
}
P.neg = function () {
  if (this.dtype.isBool) return this.logicalNot()
  return Tensor.alu(Ops.NEG, this)
}
P.exp = unary(Ops.EXP)
P.exp2 = unary(Ops.EXP2)
P.log = unary(Ops.LOG)
P.log2 = unary(Ops.LOG2)
P.sqrt = unary(Ops.SQRT)
P.sin = unary(Ops.SIN)
P.cos = unary(Ops.COS)
P.erf = unary(Ops.ERF)
P.tanh = unary(Ops.TANH)
P.reciprocal = unary(Ops.RECIP)
P.rsqrt = function () {
  return this.sqrt().reciprocal()
}
P.tan = function () {
  return this.sin().div(this.cos())
}
P.abs = function () {
  if (this.dtype.isBool || this.dtype.isUnsigned) return this
  // zeros (either sign) give +0 from the constant branch, so the gradient there is 0 (PyTorch's
  // sign(x)); NaN stays NaN through -x
  return this.gt(0).where(this, this.eq(0).where(0, this.neg()))
}
P.sign = function () {
  if (this.dtype.isBool) return this
  const s = this.gt(0).cast(this.dtype).sub(this.lt(0).cast(this.dtype))
  // piecewise constant: a zero gradient (not none, so backward through sign works as in PyTorch)
  return this.dtype.isFloat ? withCustomGrad(s, [this], (g) => [g.zerosLike()]) : s
}
P.square = function () {
  return this.mul(this)
}
P.trunc = function () {
  return this.dtype.isFloat ? Tensor.alu(Ops.TRUNC, this) : this
}
P.floor = function () {
  if (!this.dtype.isFloat) return this
  const t = this.trunc()
  return this.lt(t).where(t.sub(1), t)
}
P.ceil = function () {
  if (!this.dtype.isFloat) return this
  const t = this.trunc()
  return this.gt(t).where(t.add(1), t)
}
P.round = function () {
  // round half to even (as numpy and PyTorch)
  if (!this.dtype.isFloat) return this
  const r = this.add(0.5).floor()
  const tie = r.sub(this).eq(0.5)
  const odd = r.mod(2).ne(0)
  return tie.logicalAnd(odd).where(r.sub(1), r)
}
P.relu = function () {
  return this.gt(0).where(this, 0)
}
P.relu6 = function () {
  return this.hardtanh(0, 6)
}
P.sigmoid = function () {
  // 1 / (1 + exp(-x)): one exp and one divide. Below x = -88.7 exp(-x) is inf and the result 0
  // (the true value is under 3e-39). float16 computes in float32, where its whole range fits.
  if (this.dtype === dtypes.float16) return this.cast(dtypes.float32).sigmoid().cast(dtypes.float16)
  const x = asFloat(this)
  const s = x.neg().exp().add(1).reciprocal()
  // s (1 - s) g: the structural gradient multiplies 1/inf^2 by inf where exp(-x) overflows
  return withCustomGrad(s, [x], (g, _, y) => [g.mul(y.mul(y.neg().add(1)))])
}
export interface GeluOptions {
  /** 'none' (default, as PyTorch): 0.5 x (1 + erf(x / sqrt(2))); 'tanh': the tanh approximation */
  approximate?: 'none' | 'tanh'
}
const GELU_OPTS: KeySet<GeluOptions> = { approximate: true }
P.gelu = function (opts = {}) {
  checkOptions('gelu', opts, GELU_OPTS)
  const { approximate = 'none' } = opts
  if (approximate !== 'none' && approximate !== 'tanh')
    throw new TsgradError(`gelu: approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`)
  const x = asFloat(this)
  if (approximate === 'none') return x.mul(0.5).mul(x.mul(Math.SQRT1_2).erf().add(1))
  const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))
  return x.mul(0.5).mul(inner.tanh().add(1))
}
P.silu = function () {
  return this.mul(this.sigmoid())
}
P.swish = P.silu
P.leakyRelu = function (slope = 0.01) {
  return this.gt(0).where(this, this.mul(slope))
}
P.elu = function (alpha = 1) {
  // at 0 the exp branch's slope (alpha), as PyTorch: the same mask picks the exp's argument
  const pos = this.gt(0)
  return pos.where(this, pos.where(0, this).exp().sub(1).mul(alpha))
}
P.softplus = function (beta = 1) {
  // log(1 + exp(bx)) / b, computed stably: max(bx, 0) + log(1 + exp(-|bx|))
  const bx = asFloat(this).mul(beta)
  return bx.relu().add(negAbs(bx).exp().add(1).log()).div(beta)
}
P.mish = function () {
  return this.mul(this.softplus().tanh())
}
P.hardsigmoid = function () {
  return this.add(3).relu6().div(6)
}
P.hardswish = function () {
  // x (x + 3) / 6 on [-3, 3] (both ends included, so the slopes there are -0.5 and 1.5 as in PyTorch)
  return this.lt(-3).where(0, this.le(3).where(this.mul(this.add(3)).div(6), this))
}
P.hardtanh = function (min = -1, max = 1) {
  // the value of clip, but (as PyTorch) a zero gradient at the bounds themselves
  const inside = this.gt(min).logicalAnd(this.lt(max))
  return inside.where(this, this.clip(min, max).detach())
}
P.clip = function (min, max) {
  if (min === undefined && max === undefined) throw new TsgradError('clip: give at least one of min and max')
  let x: Tensor = this
  // an integer bound beyond an int tensor's range clips nothing (or everything) there: move it to
  // the range's end so the result keeps the tensor's dtype
  const inRange = (v: number | Tensor): number | Tensor =>
    typeof v === 'number' && Number.isInteger(v) && this.dtype.isInt && this.dtype.bits < 64
      ? Math.min(dtypeMax(this.dtype), Math.max(dtypeMin(this.dtype), v))
      : v
  if (min !== undefined) x = x.lt(inRange(min)).where(inRange(min), x)
  if (max !== undefined) x = x.gt(inRange(max)).where(inRange(max), x)
  return x
}
P.clamp = P.clip
P.where = function (a, b) {
  let x: Tensor
  let y: Tensor
  if (a instanceof Tensor || b instanceof Tensor)
    [x, y] = Tensor.broadcast('where', [a, b]) as [Tensor, Tensor]
  else {
    // two JS numbers: float32, as `new Tensor` makes them (an int32 would wrap 1e10)
    const dt: DType = [a, b].every((v) => typeof v === 'boolean') ? dtypes.bool : defaultFloat
    x = this.fullLike(Number(a), { dtype: dt })
    y = this.fullLike(Number(b), { dtype: dt })
  }
  const shape = broadcastShapes('where', this.shape, x.shape, y.shape)
  return Tensor.alu(
    Ops.WHERE,
    this.cast(dtypes.bool)._broadcastTo(shape),
    x._broadcastTo(shape),
    y._broadcastTo(shape),
  )
}
P.lerp = function (end, weight) {
  return this.add(Tensor.broadcast('lerp', [end, this])[0]!.sub(this).mul(weight))
}
const cmp = (name: string, op: (typeof Ops)[keyof typeof Ops], swap = false) =>
  function (this: Tensor, x: Operand): Tensor {
    const [a, b] = bin(name, this, x)
    return swap ? Tensor.alu(op, b, a) : Tensor.alu(op, a, b)
  }
P.lt = cmp('lt', Ops.CMPLT)
P.gt = cmp('gt', Ops.CMPLT, true)
P.eq = cmp('eq', Ops.CMPEQ)
P.ne = cmp('ne', Ops.CMPNE)
P.le = function (x) {
  return this.gt(x).logicalNot()
}
P.ge = function (x) {
  return this.lt(x).logicalNot()
}
P.logicalNot = function () {
  return Tensor.alu(Ops.CMPNE, ...bin('logicalNot', this.cast(dtypes.bool), true))
}
P.logicalAnd = function (x) {
  const [a, b] = bin(
    'logicalAnd',
    this.cast(dtypes.bool),
    x instanceof Tensor ? x.cast(dtypes.bool) : x,
    dtypes.bool,
  )
  return Tensor.alu(Ops.AND, a, b)
}
P.logicalOr = function (x) {
  const [a, b] = bin(
    'logicalOr',
    this.cast(dtypes.bool),
    x instanceof Tensor ? x.cast(dtypes.bool) : x,
    dtypes.bool,
  )
  return Tensor.alu(Ops.OR, a, b)
}
const bitwise = (name: string, op: (typeof Ops)[keyof typeof Ops]) =>
  function (this: Tensor, x: Operand): Tensor {
    const [a, b] = bin(name, this, x)
    if (a.dtype.isFloat)
      throw new TsgradError(
        `${name}: needs integer or bool tensors, got ${a.dtype.name} (shape [${a.shape.join(', ')}])`,
      )
    return Tensor.alu(op, a, b)
  }
P.bitwiseAnd = bitwise('bitwiseAnd', Ops.AND)
P.bitwiseOr = bitwise('bitwiseOr', Ops.OR)
P.bitwiseXor = bitwise('bitwiseXor', Ops.XOR)
P.bitwiseNot = function () {
  if (this.dtype.isFloat)
    throw new TsgradError(`bitwiseNot: needs integer or bool tensors, got ${this.dtype.name}`)
  return this.dtype.isBool
    ? this.logicalNot()
    : this.bitwiseXor(this.dtype.isUnsigned ? 2 ** this.dtype.bits - 1 : -1)
}
const shift = (name: string, op: (typeof Ops)[keyof typeof Ops]) =>
  function (this: Tensor, n: number): Tensor {
    if (!this.dtype.isInt) throw new TsgradError(`${name}: needs an integer tensor, got ${this.dtype.name}`)
    if (!Number.isInteger(n) || n < 0 || n >= this.dtype.bits)
      throw new TsgradError(`${name}: shift must be an integer in [0, ${this.dtype.bits}), got ${n}`)
    return Tensor.alu(op, ...bin(name, this, n))
  }
P.lshift = shift('lshift', Ops.SHL)
P.rshift = shift('rshift', Ops.SHR)
// 8/16/32-bit dtypes only: every renderer reinterprets those in one step (bool has no defined
// bit pattern, bfloat16 is computed as float in C, 64-bit values are BigInt/double in JS)
const BITCASTABLE = new Set(['uint8', 'int8', 'uint16', 'int16', 'float16', 'uint32', 'int32', 'float32'])
P.bitcast = function (dtype) {
  const dt = toDType(dtype)
  if (!BITCASTABLE.has(this.dtype.name) || !BITCASTABLE.has(dt.name) || dt.itemsize !== this.dtype.itemsize)
    throw new TsgradError(
      `bitcast: cannot reinterpret ${this.dtype.name} (shape [${this.shape.join(', ')}]) as ${dt.name}: expected two of ${[...BITCASTABLE].join(', ')} with the same size`,
    )
  if (dt === this.dtype) return this
  return Tensor.fromUOp(UOp.new(Ops.BITCAST, dt, [this.uop]), this)
}
