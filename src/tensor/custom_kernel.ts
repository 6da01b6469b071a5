// Custom kernels written directly in UOps: `Tensor.customKernel({ outputs, inputs, body })`.
//
// The body builds a kernel AST (ranges, loads, stores, REDUCE accumulators, index math) through a
// small context; the call becomes CUSTOM_KERNEL nodes (one per output, uop/custom_kernel.ts) that
// the scheduler turns into one kernel item, so the kernel goes through the same codegen pipeline
// as a generated one: opts (handOpts or BEAM), expansion, linearize, render, the compile cache by
// AST key, DEBUG lines and VIZ under its own name. Local (shared) memory: no device tsgrad has
// today (CPU, JS) has any, so the context offers none (`local` says so).
import { type DType, dtypes, toDType } from '../dtype.js'
import { fmtShape, prod, TsgradError } from '../helpers.js'
import { checkOptions, type KeySet } from '../options.js'
import { CustomKernelArg, type CustomKernelDef } from '../uop/custom_kernel.js'
import { rangeDeps } from '../codegen/linearize.js'
import { ACC_SET, ALU, type Op, Ops, type RangeArg, type ReduceOp, setAccOf, UOp } from '../uop/ops.js'
import { toposort } from '../uop/rewrite.js'
import { withCustomGrad } from './custom_grad.js'
import { Tensor } from './tensor.js'

/** One buffer of a custom kernel as its body sees it (flat, row-major, contiguous). */
export interface KernelBuffer {
  /** DEFINE_GLOBAL index: outputs first, then inputs */
  readonly param: number
  readonly shape: readonly number[]
  readonly dtype: DType
  readonly size: number
  /** the flat index of the element at `coords` (one per axis, row-major) */
  at(...coords: (UOp | number)[]): UOp
  /** the value at flat index `idx`; with `gate`, 0 where the gate is false (nothing is read) */
  load(idx: UOp | number, gate?: UOp): UOp
  /** a STORE of `value` at flat index `idx` (outputs only) */
  store(idx: UOp | number, value: UOp | number): UOp
}

export type RangeKind = 'global' | 'reduce' | 'upcast'

/** What a custom kernel's body builds with. UOp methods (add, mul, lt, where, cast, ...) do the math. */
export interface KernelContext {
  readonly name: string
  readonly outputs: readonly KernelBuffer[]
  readonly inputs: readonly KernelBuffer[]
  /** the dtype of ranges and index math (int64 when a buffer passes 2^30 elements, else int32) */
  readonly indexDType: DType
  /**
   * A loop index 0..size-1. 'global' ranges index the output and nest in creation order (the
   * outermost first); 'reduce' ranges are summed over by `reduce`; 'upcast' ranges are expanded
   * into straight-line copies (a register tile: every copy shares the loads that do not depend on it).
   */
  range(size: number, kind?: RangeKind): UOp
  /** The ADD/MAX/MUL reduction of `value` over `ranges` (an accumulator loop). */
  reduce(op: ReduceOp, value: UOp, ...ranges: UOp[]): UOp
  /**
   * Accumulators that are read and set together once per step of a loop over `ranges` (kind
   * reduce): they start at `init`; each step `update(current)` gives their next values from their
   * current ones (every read sees the values before the step). Returns their final values. An online
   * softmax: `([m, l]) => [m.max(s), l.mul(exp(m - m.max(s))).add(exp(s - m.max(s)))]`. `update`
   * may be called more than once (it only builds UOps); the loop is never unrolled or split.
   */
  accumulate(
    ranges: readonly UOp[],
    init: readonly number[],
    update: (current: readonly UOp[]) => readonly UOp[],
    dtype?: DType,
  ): UOp[]
  /** A constant (float32 unless a dtype is given). */
  const(v: number, dtype?: DType): UOp
  /** An elementwise op by name (Ops.EXP2, Ops.SQRT, ...). */
  alu(op: Op, x: UOp, ...others: UOp[]): UOp
  exp(x: UOp): UOp
  log(x: UOp): UOp
  sqrt(x: UOp): UOp
  /** The kernel: a SINK of the stores. */
  sink(...stores: UOp[]): UOp
  /** Local (workgroup-shared) memory: not available on any tsgrad device yet (CPU and JS have none). */
  local(size: number, dtype?: DType): never
}

/** Gradients of the inputs from the gradients of the outputs (undefined: none flows there). */
export type CustomKernelBackward = (
  gradOutputs: readonly (Tensor | undefined)[],
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
) => (Tensor | undefined)[]

export interface CustomKernelOptions {
  /** the kernel's name (a C identifier: letters, digits, _); DEBUG, VIZ and BEAM show it */
  name?: string
  outputs: readonly { shape: readonly number[]; dtype?: DType | string }[]
  inputs: readonly Tensor[]
  body: (ctx: KernelContext) => UOp
  /** the backward, written with tensor ops or other custom kernels */
  backward?: CustomKernelBackward
}
const OPTS: KeySet<CustomKernelOptions> = {
  name: true,
  outputs: true,
  inputs: true,
  body: true,
  backward: true,
}

declare module './tensor.js' {
  namespace Tensor {
    let customKernel: (opts: CustomKernelOptions) => Tensor[]
  }
}

const INT32_INDEX_LIMIT = 2 ** 30
const KINDS: ReadonlySet<string> = new Set<RangeKind>(['global', 'reduce', 'upcast'])
const REDUCE_OPS: ReadonlySet<string> = new Set<ReduceOp>(['ADD', 'MAX', 'MUL'])
/** Ops a kernel body may hold. */
const KERNEL_OPS: ReadonlySet<Op> = new Set<Op>([
  ...ALU,
  Ops.CONST,
  Ops.RANGE,
  Ops.DEFINE_GLOBAL,
  Ops.LOAD,
  Ops.STORE,
  Ops.REDUCE,
  Ops.SINK,
  Ops.ACC,
  Ops.AFTER,
])

function makeBuffer(
  name: string,
  param: number,
  shape: readonly number[],
  dtype: DType,
  idt: DType,
  isOut: boolean,
): KernelBuffer {
  const dg = UOp.new(Ops.DEFINE_GLOBAL, dtype, [], param)
  const ix = (i: UOp | number): UOp => (typeof i === 'number' ? UOp.const(idt, i) : i)
  const what = `${isOut ? 'output' : 'input'} ${param}`
  return {
    param,
    shape,
    dtype,
    size: prod(shape),
    at(...coords) {
      if (coords.length !== shape.length)
        throw new TsgradError(
          `customKernel '${name}': ${what} has shape ${fmtShape(shape)}; at() got ${coords.length} coordinates`,
        )
      let flat: UOp = UOp.const(idt, 0)
      let stride = 1
      for (let i = shape.length - 1; i >= 0; i--) {
        if (shape[i] !== 1) flat = ix(coords[i]!).mul(stride).add(flat)
        stride *= shape[i]!
      }
      return flat
    },
    load(idx, gate) {
      return UOp.new(Ops.LOAD, dtype, gate ? [dg, ix(idx), gate] : [dg, ix(idx)])
    },
    store(idx, value) {
      if (!isOut)
        throw new TsgradError(`customKernel '${name}': ${what} is an input; only outputs are stored to`)
      const v = typeof value === 'number' ? UOp.const(dtype, value) : value
      return UOp.new(Ops.STORE, dtype, [dg, ix(idx), v])
    },
  }
}

/** Check a body's AST; every problem is an error naming the kernel. */
function validate(name: string, ast: UOp, bufs: readonly KernelBuffer[], nOut: number): void {
  const fail = (msg: string): never => {
    throw new TsgradError(`customKernel '${name}': ${msg}`)
  }
  if (!(ast instanceof UOp) || ast.op !== Ops.SINK || ast.src.length === 0)
    fail(`body must return ctx.sink(...stores), got ${ast instanceof UOp ? ast.op : String(ast)}`)
  const stored = new Set<number>()
  const bufOf = (u: UOp, what: string): KernelBuffer => {
    const g = u.src[0]!
    if (g?.op !== Ops.DEFINE_GLOBAL)
      return fail(`${what} must address a buffer (DEFINE_GLOBAL), got ${g?.op}`)
    const b = bufs[g.arg as number]
    if (!b)
      return fail(
        `${what} addresses buffer ${String(g.arg)}: out of range (${nOut} outputs + ${bufs.length - nOut} inputs)`,
      )
    if (g.dtype !== b.dtype) fail(`buffer ${b.param} is ${b.dtype.name} but is addressed as ${g.dtype.name}`)
    return b
  }
  const checkIndex = (u: UOp, b: KernelBuffer, what: string): void => {
    const idx = u.src[1]!
    if (!idx.dtype.isInt) fail(`${what} index must be an integer, got ${idx.dtype.name}`)
    const [lo, hi] = idx.vrange
    // a range as wide as the dtype means the bounds are not known statically: not checked
    const unknown = lo <= -(2 ** 31) || hi >= 2 ** 31 - 1
    if (!unknown && (lo < 0 || hi >= b.size))
      fail(`${what} buffer ${b.param} (${b.size} elements) at an index in [${lo}, ${hi}]: out of range`)
  }
  // open reduce ranges per node: a reduce range must be closed by a REDUCE before a store
  const open = new Map<UOp, Set<UOp>>()
  const topo = toposort([ast])
  const setValues = new Set(topo.filter((u) => setAccOf(u)).map((u) => u.src[0]!))
  // accumulator reads, and the accumulators a SET reduce sets: each read must be set
  const reads = new Set<UOp>()
  const set = new Set<UOp>()
  for (const u of topo) {
    if (!KERNEL_OPS.has(u.op)) fail(`${u.op} is not kernel IR (build the body from ctx and UOp math)`)
    const o = new Set<UOp>()
    for (const s of u.src) for (const r of open.get(s) ?? []) o.add(r)
    switch (u.op) {
      case Ops.RANGE: {
        const { kind } = u.arg as RangeArg
        if (!KINDS.has(kind)) fail(`range kind '${kind}' (use global, reduce or upcast)`)
        const size = u.src[0]!
        if (size.op !== Ops.CONST || !(size.constValue >= 1)) fail('a range size must be a constant >= 1')
        if (kind === 'reduce') o.add(u)
        break
      }
      case Ops.ACC:
        reads.add(u)
        break
      case Ops.AFTER:
        if (!setValues.has(u) && !u.src.every((x) => setAccOf(x)))
          fail('AFTER is not kernel IR (build the body from ctx and UOp math)')
        break
      case Ops.REDUCE: {
        const read = setAccOf(u)
        if (read) {
          if (read.op !== Ops.ACC) fail('a SET reduce holds AFTER(next value, ACC) (use ctx.accumulate)')
          set.add(read)
        } else if (!REDUCE_OPS.has(u.arg as string))
          fail(`reduce op '${String(u.arg)}' (use ADD, MAX or MUL)`)
        for (const r of u.src.slice(1)) {
          if (r.op !== Ops.RANGE || (r.arg as RangeArg).kind !== 'reduce')
            fail('a REDUCE runs over ranges of kind reduce')
          o.delete(r)
        }
        break
      }
      case Ops.LOAD: {
        const b = bufOf(u, 'a load')
        if (u.dtype !== b.dtype)
          fail(`a load of buffer ${b.param} (${b.dtype.name}) has dtype ${u.dtype.name}`)
        if (u.src.length === 2) checkIndex(u, b, 'a load of')
        break
      }
      case Ops.STORE: {
        const b = bufOf(u, 'a store')
        if (b.param >= nOut) fail(`a store into input ${b.param - nOut}: inputs are read-only`)
        const v = u.src[2]!
        if (v.dtype !== b.dtype)
          fail(`a store of a ${v.dtype.name} value into output ${b.param} (${b.dtype.name}): cast it first`)
        checkIndex(u, b, 'a store into')
        if (o.size) fail('a store depends on a reduce range outside any REDUCE over it')
        stored.add(b.param)
        break
      }
    }
    open.set(u, o)
  }
  for (const r of reads)
    if (!set.has(r)) fail('an accumulator is read outside the update of its accumulate loop')
  for (const s of ast.src) if (s.op !== Ops.STORE) fail(`the sink holds ${s.op}; it must hold only stores`)
  for (let i = 0; i < nOut; i++) if (!stored.has(i)) fail(`output ${i} is never stored to`)
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

Tensor.customKernel = (opts) => {
  checkOptions('Tensor.customKernel', opts, OPTS)
  if (opts === undefined) throw new TsgradError('Tensor.customKernel: expected { inputs, outputs, body }')
  const name = opts.name ?? 'custom'
  const op = `customKernel '${name}'`
  if (!NAME.test(name)) throw new TsgradError(`${op}: name must be a C identifier (letters, digits, _)`)
  if (
    !Array.isArray(opts.inputs) ||
    opts.inputs.length === 0 ||
    !opts.inputs.every((t) => t instanceof Tensor)
  )
    throw new TsgradError(`${op}: inputs must be a non-empty array of tensors (they give the device)`)
  if (!Array.isArray(opts.outputs) || opts.outputs.length === 0)
    throw new TsgradError(`${op}: outputs must be a non-empty array of { shape, dtype }`)
  if (typeof opts.body !== 'function') throw new TsgradError(`${op}: body must be a function (ctx) => sink`)
  const device = opts.inputs[0]!.device
  for (const t of opts.inputs)
    if (t.device !== device)
      throw new TsgradError(`${op}: inputs on ${device} and ${t.device}; move them to one device first`)
  const outs = opts.outputs.map((o, i) => {
    const shape = [...(o?.shape ?? [])]
    if (!o || !shape.every((d) => Number.isInteger(d) && d >= 1))
      throw new TsgradError(`${op}: output ${i} needs a shape of positive integers, got ${fmtShape(shape)}`)
    return { shape, dtype: o.dtype === undefined ? dtypes.float32 : toDType(o.dtype) }
  })
  const nOut = outs.length
  const sizes = [...outs.map((o) => prod(o.shape)), ...opts.inputs.map((t) => prod(t.shape))]
  const idt = sizes.some((n) => n > INT32_INDEX_LIMIT) ? dtypes.int64 : dtypes.int32
  const bufs = [
    ...outs.map((o, i) => makeBuffer(name, i, o.shape, o.dtype, idt, true)),
    ...opts.inputs.map((t, i) => makeBuffer(name, nOut + i, t.shape, t.dtype, idt, false)),
  ]
  let nextRange = 0
  let nextAcc = 0
  const ctx: KernelContext = {
    name,
    outputs: bufs.slice(0, nOut),
    inputs: bufs.slice(nOut),
    indexDType: idt,
    range: (size, kind = 'global') => {
      if (!Number.isInteger(size) || size < 1)
        throw new TsgradError(`${op}: range size must be an integer >= 1, got ${size}`)
      if (!KINDS.has(kind))
        throw new TsgradError(`${op}: range kind '${kind}' (use global, reduce or upcast)`)
      return UOp.range(size, nextRange++, kind, idt)
    },
    reduce: (rop, value, ...ranges) => {
      if (!REDUCE_OPS.has(rop)) throw new TsgradError(`${op}: reduce op '${rop}' (use ADD, MAX or MUL)`)
      if (!ranges.length) throw new TsgradError(`${op}: reduce needs at least one range`)
      return UOp.new(Ops.REDUCE, value.dtype, [value, ...ranges], rop)
    },
    accumulate: (ranges, init, update, dtype = dtypes.float32) => {
      const what = `${op}: accumulate`
      if (!Array.isArray(ranges) || !ranges.length) throw new TsgradError(`${what} needs at least one range`)
      for (const r of ranges)
        if (!(r instanceof UOp) || r.op !== Ops.RANGE || (r.arg as RangeArg).kind !== 'reduce')
          throw new TsgradError(`${what} runs over ranges of kind reduce (ctx.range(n, 'reduce'))`)
      if (!Array.isArray(init) || !init.length || !init.every((v) => typeof v === 'number'))
        throw new TsgradError(`${what} needs a non-empty array of initial numbers`)
      if (typeof update !== 'function') throw new TsgradError(`${what}: update must be a function`)
      const ids = init.map(() => nextAcc++)
      // an accumulator's read varies with every range its next value varies with (an 'upcast' range
      // makes one accumulator per copy): grow the reads' ranges until they settle
      let extra: UOp[][] = init.map(() => [])
      for (let round = 0; ; round++) {
        const reads = init.map((v, i) =>
          UOp.new(Ops.ACC, dtype, [UOp.const(dtype, v), ...ranges, ...extra[i]!], ids[i]),
        )
        const next = update(reads)
        if (!Array.isArray(next) || next.length !== init.length)
          throw new TsgradError(`${what}: update must return ${init.length} values (one per accumulator)`)
        next.forEach((n, i) => {
          if (!(n instanceof UOp) || n.dtype !== dtype)
            throw new TsgradError(
              `${what}: update's value ${i} must be a ${dtype.name} UOp, got ${n instanceof UOp ? n.dtype.name : String(n)}`,
            )
        })
        const deps = rangeDeps(toposort([...next]))
        const grown = next.map((n) =>
          [...deps.get(n)!].filter((r) => !ranges.includes(r)).sort((a, b) => a.id - b.id),
        )
        if (grown.every((g, i) => g.length === extra[i]!.length) || round > init.length) {
          const reds = next.map((n, i) =>
            UOp.new(Ops.REDUCE, dtype, [UOp.new(Ops.AFTER, dtype, [n, reads[i]!]), ...ranges], ACC_SET),
          )
          // each final value brings the whole group along (a used one may read an unused one)
          return reds.map((r) =>
            reds.length === 1 ? r : UOp.new(Ops.AFTER, dtype, [r, ...reds.filter((o) => o !== r)]),
          )
        }
        extra = grown
      }
    },
    const: (v, dtype = dtypes.float32) => UOp.const(dtype, v),
    alu: (o, x, ...others) => x.alu(o, ...others),
    exp: (x) => x.alu(Ops.EXP),
    log: (x) => x.alu(Ops.LOG),
    sqrt: (x) => x.alu(Ops.SQRT),
    sink: (...stores) => UOp.new(Ops.SINK, dtypes.void, stores, name),
    local: () => {
      throw new TsgradError(
        `${op}: local memory is not available: no tsgrad device (CPU, JS) has workgroup-shared memory yet`,
      )
    },
  }
  const ast = opts.body(ctx)
  validate(name, ast, bufs, nOut)
  // the SINK carries the name (kernel names come from it)
  const named = ast.arg === name ? ast : UOp.new(Ops.SINK, dtypes.void, ast.src, name)
  const def: CustomKernelDef = { name, ast: named, outputs: outs }
  const nodeOf = (ins: readonly UOp[], i: number): UOp =>
    UOp.new(Ops.CUSTOM_KERNEL, outs[i]!.dtype, ins, new CustomKernelArg(def, i))
  const inputs = opts.inputs
  const plain = outs.map((_, i) =>
    Tensor.fromUOp(
      nodeOf(
        inputs.map((t) => t.uop),
        i,
      ),
      ...inputs,
    ),
  )
  const { backward } = opts
  if (!backward) return plain
  // each output carries the backward for its own gradient (the backward is linear in the output
  // gradients, so the gradients of several used outputs add up); the other outputs are rebuilt
  // from the inputs it is handed
  return plain.map((out, i) =>
    withCustomGrad(out, inputs, (g, ins) => {
      const outputs = outs.map(
        (_, j) =>
          new Tensor(
            nodeOf(
              ins.map((t) => t.uop),
              j,
            ),
          ),
      )
      const gs = outs.map((_, j) => (j === i ? g : undefined))
      const res = backward(gs, ins, outputs)
      if (!Array.isArray(res) || res.length !== ins.length)
        throw new TsgradError(
          `${op}: backward must return one gradient (or undefined) per input (${ins.length})`,
        )
      res.forEach((r, j) => {
        if (
          r !== undefined &&
          !(
            r instanceof Tensor &&
            r.shape.length === ins[j]!.shape.length &&
            r.shape.every((d, k) => d === ins[j]!.shape[k])
          )
        )
          throw new TsgradError(
            `${op}: backward's gradient ${j} must be a tensor of shape ${fmtShape(ins[j]!.shape)}`,
          )
      })
      return res
    }),
  )
}
