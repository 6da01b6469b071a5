// One model holds one sequence (one KV cache), so the server runs one generation at a time:
// requests wait here first come, first served. A waiting request whose client went away (its
// signal aborted) leaves the line without ever running.

interface Waiter {
  grant: (release: () => void) => void
  reject: (e: Error) => void
}

export class QueueFullError extends Error {}

export class RequestQueue {
  private busy = false
  private readonly waiting: Waiter[] = []

  /** @param maxWaiting how many requests may wait behind the running one */
  constructor(readonly maxWaiting: number) {}

  /** requests waiting (not counting the running one) */
  get length(): number {
    return this.waiting.length
  }

  get running(): boolean {
    return this.busy
  }

  /** whether `acquire` would refuse now */
  get full(): boolean {
    return this.busy && this.waiting.length >= this.maxWaiting
  }

  /**
   * Resolves with a `release` function once it is this caller's turn; call it exactly when done.
   * Rejects with `signal.reason` when the signal aborts first, and with QueueFullError when
   * `maxWaiting` requests already wait.
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error)
    if (!this.busy) {
      this.busy = true
      return Promise.resolve(this.releaser())
    }
    if (this.full)
      return Promise.reject(new QueueFullError(`${this.waiting.length} requests are already waiting`))
    return new Promise((grant, reject) => {
      const w: Waiter = {
        grant: (release) => {
          signal.removeEventListener('abort', onAbort)
          grant(release)
        },
        reject,
      }
      const onAbort = (): void => {
        const i = this.waiting.indexOf(w)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(signal.reason as Error)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(w)
    })
  }

  private releaser(): () => void {
    let done = false
    return () => {
      if (done) return
      done = true
      const next = this.waiting.shift()
      if (next) next.grant(this.releaser())
      else this.busy = false
    }
  }
}
