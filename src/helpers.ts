// Small shared utilities: errors, shape math, hashing, env flags.

export class TsgradError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TsgradError'
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`
}

export const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1)

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

export function argsort(xs: readonly number[]): number[] {
  return range(xs.length).sort((a, b) => xs[a]! - xs[b]!)
}

export function stridesFor(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length)
  let acc = 1
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc
    acc *= shape[i]!
  }
  return st
}

export const shapeEq = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/** Normalize a possibly negative axis for an `ndim`-d tensor; throws naming the op. */
export function normAxis(op: string, axis: number, ndim: number, shape?: readonly number[]): number {
  if (!Number.isInteger(axis)) throw new TsgradError(`${op}: axis must be an integer, got ${String(axis)}`)
  const n = Math.max(ndim, 1)
  if (axis < -n || axis >= n)
    throw new TsgradError(
      `${op}: axis ${axis} out of range for a ${ndim}-d tensor${shape ? ` of shape ${fmtShape(shape)}` : ''} (expected ${-n}..${n - 1})`,
    )
  return axis < 0 ? axis + n : axis
}

/**
 * Resolve after one turn of the event loop. Finalization callbacks (the accounting of unreachable
 * buffers) run only between turns, so a loop whose only awaits are resolved promises would never
 * run them; async reads take one turn so such a loop stays flat.
 */
export function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  )
}

/** cyrb53: a fast 53-bit string hash, used for stable structural keys. */
export function hash53(str: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

/** Environment lookup that also works in browsers (no process). */
export function getEnv(name: string, fallback = ''): string {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
  return p?.env?.[name] ?? fallback
}
export function getEnvNum(name: string, fallback = 0): number {
  const v = getEnv(name)
  return v === '' ? fallback : Number(v)
}

export const DEBUG = (): number => getEnvNum('DEBUG', 0)

export function now(): number {
  return globalThis.performance ? performance.now() : Date.now()
}

export function allInts(xs: readonly unknown[]): xs is number[] {
  return xs.every((x) => typeof x === 'number' && Number.isInteger(x))
}
