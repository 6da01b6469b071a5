// Composite ops (attention, a model's head, ...) build many tensors on the way to one result. Those
// tensors are internal: they are not registered as lazy readers (the untracked depth below), and
// those that became handles of a buffer (reshape views of an input, pieces realized inside) give
// their hold back when the composite returns. Held until the GC ran, they kept `dispose()` of the
// buffer they view from freeing it (a prefill layer's norm, viewed by its projections, stayed
// allocated: 4 MB per layer of a LLaMA-1B prompt, ~130 MB of garbage after a 512-token prefill).
// Kept apart from tensor.ts, which uses it through the small interface below.

/** What a composite needs of a tensor made inside it. */
export interface CompositeMember {
  /** creation order (only tensors made inside the composite are its own) */
  readonly serial: number
  /** stop counting among its buffer's handles */
  releaseHandle(): void
}

/** > 0 while tensors being made are internal (a composite, or the graphs backward builds) */
let untracked = 0
/** Per composite being built (innermost last): the tensors made in it that became buffer handles. */
const scopes: CompositeMember[][] = []

/** Whether tensors made now are internal (kept out of the lazy-reader registry). */
export const isInternal = (): boolean => untracked > 0

/** Run `fn` with the tensors it makes kept out of the lazy-reader registry (they are internal). */
export function internally<T>(fn: () => T): T {
  untracked++
  try {
    return fn()
  } finally {
    untracked--
  }
}

/** A tensor became a handle of a buffer: the innermost composite being built gives it back later. */
export function noteHandle(t: CompositeMember): void {
  scopes.at(-1)?.push(t)
}

/**
 * Run `fn` as a composite: the tensors it makes (serial >= `firstSerial`) that became handles stop
 * holding their buffers when it returns, except its result, which an enclosing composite releases
 * if it is internal there.
 */
export function runComposite<T extends CompositeMember>(fn: () => T, firstSerial: number): T {
  const made: CompositeMember[] = []
  scopes.push(made)
  let out: T
  try {
    out = internally(fn)
  } finally {
    scopes.pop()
  }
  // (only tensors made here: an older one realized in it, a lazy reader of a buffer it wrote, is
  // the caller's)
  for (const t of made) if (t !== out && t.serial >= firstSerial) t.releaseHandle()
  if (made.includes(out)) noteHandle(out)
  return out
}
