// Model state: parameters and state dicts, on the public Tensor API only (safetensors files:
// ./safetensors.ts).
//
// Naming scheme (see also the header of ./layers.ts): a module is any object; getStateDict walks
// its own enumerable properties (in definition order), arrays (by index) and nested objects, and
// names every Tensor it finds by the path of property names as written, joined with '.':
// `model.layers[0].weight` -> `layers.0.weight`, `model.convBlock.norm.running_mean` ->
// `convBlock.norm.running_mean`. As in PyTorch, a key is exactly the attribute path, so a model
// ported from PyTorch keeps its keys when its properties keep the torch attribute names (the
// built-in layers use torch's names). Properties starting with `_` are skipped (private state),
// as are functions, typed arrays, Maps/Sets and cycles back to an enclosing object.
import { checkOptions, type KeySet } from '../options.js'
import { Tensor } from '../tensor/index.js'

// ---- buffers and pending lazy updates (used by layers and optimizers) ------------------------

const bufferSet = new WeakSet<Tensor>()
const pending = new Set<Tensor>()

/** Mark a state tensor as a non-trainable buffer (left out of getParameters). */
export function markBuffer(t: Tensor): void {
  bufferSet.add(t)
}

export function isBuffer(t: Tensor): boolean {
  return bufferSet.has(t)
}

/** Record tensors that hold a lazy `assign` not realized yet (e.g. BatchNorm running stats). */
export function markPending(...ts: Tensor[]): void {
  for (const t of ts) pending.add(t)
}

export function pendingHas(t: Tensor): boolean {
  return pending.has(t)
}

/** Take (and forget) every pending tensor, for an optimizer step to realize with its params. */
export function takePending(): Tensor[] {
  const r = [...pending]
  pending.clear()
  return r
}

/** Realize the pending updates of these tensors now. */
export function realizePendingOf(ts: Tensor[]): void {
  const due = ts.filter((t) => pending.has(t))
  for (const t of due) pending.delete(t)
  if (due.length > 0) Tensor.realize(...due)
}

// ---- walking modules -----------------------------------------------------------------------

function isWalkable(v: unknown): v is object {
  if (v === null || typeof v !== 'object') return false
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return false
  if (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet) return false
  if (v instanceof Date || v instanceof RegExp || v instanceof Promise) return false
  return true
}

function walk(obj: unknown, prefix: string, out: Map<string, Tensor>, stack: Set<object>): void {
  if (obj instanceof Tensor) {
    if (prefix === '')
      throw new Error('getStateDict: the model itself is a Tensor; pass an object holding it')
    const prev = out.get(prefix)
    if (prev !== undefined && prev !== obj) {
      throw new Error(`getStateDict: two different tensors map to the state-dict key '${prefix}'`)
    }
    out.set(prefix, obj)
    return
  }
  if (!isWalkable(obj) || stack.has(obj)) return
  stack.add(obj)
  const entries: [string, unknown][] = Array.isArray(obj)
    ? obj.map((v, i) => [String(i), v])
    : Object.keys(obj)
        .filter((k) => !k.startsWith('_'))
        .map((k) => [k, (obj as Record<string, unknown>)[k]])
  for (const [k, v] of entries) {
    if (typeof v === 'function') continue
    walk(v, prefix === '' ? k : `${prefix}.${k}`, out, stack)
  }
  stack.delete(obj)
}

/**
 * name -> Tensor for every tensor reachable from `model` (parameters and buffers), in a stable
 * order (property definition order, arrays by index). A tensor shared by two paths appears under
 * both names.
 */
export function getStateDict(model: unknown, prefix = ''): Record<string, Tensor> {
  const out = new Map<string, Tensor>()
  if (model instanceof Tensor) {
    if (prefix === '')
      throw new Error('getStateDict: the model itself is a Tensor; pass an object holding it')
    out.set(prefix, model)
  } else {
    walk(model, prefix, out, new Set())
  }
  // a null-prototype dict: a key such as `constructor` or `__proto__` is data, never inherited
  const dict = Object.create(null) as Record<string, Tensor>
  for (const [k, t] of out) dict[k] = t
  return dict
}

/**
 * The trainable tensors of `model`: every tensor of getStateDict that is not a registered buffer
 * (BatchNorm running statistics), deduplicated, in state-dict order.
 */
export function getParameters(model: unknown): Tensor[] {
  const seen = new Set<Tensor>()
  const out: Tensor[] = []
  const sd = model instanceof Tensor ? { p: model } : getStateDict(model)
  for (const t of Object.values(sd)) {
    if (seen.has(t) || bufferSet.has(t)) continue
    seen.add(t)
    out.push(t)
  }
  return out
}

export interface LoadStateDictOptions {
  strict?: boolean
}
const LOAD_STATE_DICT_OPTS: KeySet<LoadStateDictOptions> = { strict: true }

export interface LoadStateDictResult {
  missingKeys: string[]
  unexpectedKeys: string[]
}

/**
 * Copy `dict` into the model's existing tensors (in place, with `assign`, then one realize), so
 * optimizers and other references keep pointing at the same Tensor objects. Values are cast to
 * the target's dtype and moved to its device. strict (default): any missing or unexpected key is
 * an error; a shape mismatch is always an error. All checks run before anything is written.
 */
export function loadStateDict(
  model: unknown,
  dict: Record<string, Tensor> | ReadonlyMap<string, Tensor>,
  opts: LoadStateDictOptions = {},
): LoadStateDictResult {
  checkOptions('loadStateDict', opts, LOAD_STATE_DICT_OPTS)
  const { strict = true } = opts
  const target = getStateDict(model)
  // own keys only: `k in dict` would find inherited names (toString, constructor) in a plain object
  const entries = dict instanceof Map ? dict : new Map(Object.entries(dict))
  const missingKeys = Object.keys(target).filter((k) => !entries.has(k))
  const unexpectedKeys = [...entries.keys()].filter((k) => !Object.hasOwn(target, k))
  const mismatches: string[] = []
  for (const [k, t] of Object.entries(target)) {
    const src = entries.get(k)
    if (src === undefined) continue
    if (!(src instanceof Tensor)) {
      mismatches.push(`'${k}': expected a Tensor, got ${typeof src}`)
    } else if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
      mismatches.push(`'${k}': model has shape [${t.shape}], state dict has [${src.shape}]`)
    }
  }
  const problems: string[] = []
  if (strict && missingKeys.length > 0)
    problems.push(`missing keys: ${missingKeys.map((k) => `'${k}'`).join(', ')}`)
  if (strict && unexpectedKeys.length > 0) {
    problems.push(`unexpected keys: ${unexpectedKeys.map((k) => `'${k}'`).join(', ')}`)
  }
  if (mismatches.length > 0) problems.push(`shape mismatch: ${mismatches.join('; ')}`)
  if (problems.length > 0) throw new Error(`loadStateDict: ${problems.join('. ')}`)

  const written: Tensor[] = []
  const done = new Set<Tensor>()
  Tensor.noGrad(() => {
    for (const [k, t] of Object.entries(target)) {
      let src = entries.get(k)
      if (src === undefined || done.has(t)) continue
      done.add(t)
      if (src.dtype !== t.dtype) src = src.cast(t.dtype)
      if (src.device !== t.device) src = src.to(t.device)
      t.assign(src)
      pending.delete(t)
      written.push(t)
    }
  })
  if (written.length > 0) Tensor.realize(...written)
  return { missingKeys, unexpectedKeys }
}

// float16 / bfloat16 bit conversions come from the core (round to nearest even)
export {
  bf16BitsToF32 as bf16ToF32,
  f16BitsToF32 as f16ToF32,
  f32ToBf16Bits as f32ToBF16,
  f32ToF16Bits as f32ToF16,
} from '../dtype.js'
