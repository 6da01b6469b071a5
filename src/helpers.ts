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
 * run them; async reads take one turn so such a loop stays flat. Node: setImmediate; a browser: a
 * message to a MessageChannel of our own (a task without delay: a setTimeout(0) scheduled from a
 * chain of five nested ones waits at least 4 ms, which every `await data()` in a loop paid in
 * Chromium).
 */
export function eventLoopTurn(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve))
  if (typeof MessageChannel !== 'function') return new Promise((resolve) => setTimeout(resolve, 0))
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel()
    port1.onmessage = () => {
      port1.close()
      resolve()
    }
    port2.postMessage(0)
  })
}

/**
 * Order items 0..n-1 so that every item comes after the ones in its `before` set, taking among the
 * ready items the one with the smallest `priority` (ties: the smaller index). Kahn's algorithm with
 * a binary heap: O((n + edges) log n); picking by a scan of all items each time was quadratic (a
 * 20,000-op kernel body took most of its codegen time there). Returns undefined on a cycle.
 */
export function priorityTopoOrder(
  n: number,
  before: readonly Iterable<number>[],
  priority: (i: number) => number,
): number[] | undefined {
  const key = Array.from({ length: n }, (_, i) => priority(i))
  const less = (a: number, b: number): boolean => key[a]! < key[b]! || (key[a] === key[b] && a < b)
  const waiting = new Array<number>(n).fill(0)
  const after: number[][] = Array.from({ length: n }, () => [])
  for (let i = 0; i < n; i++)
    for (const d of before[i]!) {
      waiting[i]!++
      after[d]!.push(i)
    }
  const heap: number[] = []
  const push = (i: number): void => {
    let c = heap.push(i) - 1
    while (c > 0) {
      const p = (c - 1) >> 1
      if (!less(heap[c]!, heap[p]!)) break
      ;[heap[c], heap[p]] = [heap[p]!, heap[c]!]
      c = p
    }
  }
  const pop = (): number => {
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length) {
      heap[0] = last
      let c = 0
      for (;;) {
        const l = 2 * c + 1
        const r = l + 1
        let m = c
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r
        if (m === c) break
        ;[heap[c], heap[m]] = [heap[m]!, heap[c]!]
        c = m
      }
    }
    return top
  }
  for (let i = 0; i < n; i++) if (waiting[i] === 0) push(i)
  const out: number[] = []
  while (heap.length) {
    const i = pop()
    out.push(i)
    for (const j of after[i]!) if (--waiting[j]! === 0) push(j)
  }
  return out.length === n ? out : undefined
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
