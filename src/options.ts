// Options objects of the public API are checked at run time: JavaScript callers get no help from
// the types, and an option a function does not know (a typo, a PyTorch name, an option it lacks)
// would otherwise be ignored silently and give a wrong result.
import { TsgradError } from './helpers.js'

/**
 * The option names a function accepts, as an object with one `true` per key: written as
 * `KeySet<XOptions>`, TypeScript checks it lists exactly the keys of the options type.
 */
export type KeySet<T> = { readonly [K in keyof Required<T>]: true }

const normName = (k: string): string => k.replace(/[_-]/g, '').toLowerCase()
const keysOf = (known: Readonly<Record<string, true>>): string[] => Object.keys(known)

/**
 * Throw a TsgradError naming `fn` when `opts` is not a plain options object or has a key that is
 * not in `known`. `undefined` (options left out) passes.
 */
export function checkOptions(fn: string, opts: unknown, known: Readonly<Record<string, true>>): void {
  if (opts === undefined) return
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || isTensorLike(opts))
    throw new TsgradError(
      `${fn}: options must be an object ({ ${keysOf(known).join(', ')} }), got ${describe(opts)}`,
    )
  for (const k in opts) {
    if (Object.hasOwn(known, k) || !Object.hasOwn(opts, k)) continue
    const near = keysOf(known).find((c) => normName(c) === normName(k))
    throw new TsgradError(
      `${fn}: unknown option '${k}'${near ? ` (did you mean '${near}'?)` : ''}; known options: ${keysOf(known).join(', ') || '(none)'}`,
    )
  }
}

// a Tensor passed where the options go (a missing positional argument) is a mistake too; checked
// by shape so this module needs no import of the Tensor class
function isTensorLike(v: object): boolean {
  return 'uop' in v && 'shape' in v && 'dtype' in v
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return `an array (${JSON.stringify(v).slice(0, 40)})`
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'object'}`
  return `${typeof v} ${String(v)}`
}
