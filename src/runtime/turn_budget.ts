// A byte budget that refills when the event loop turns. FinalizationRegistry callbacks run only
// between turns of the event loop, so storage that comes back through one cannot come back inside a
// synchronous loop: what such a loop may hand out that way is bounded by this budget, and past it
// the caller hands out storage the GC frees by itself.

export class TurnBudget {
  private used = 0
  private armed = false

  constructor(readonly limit: number) {}

  /** Count `bytes` against the budget; false (nothing counted) when they do not fit before the loop turns. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false
    this.used += bytes
    if (!this.armed && typeof setImmediate === 'function') {
      this.armed = true
      const reset = setImmediate(() => {
        this.used = 0
        this.armed = false
      })
      // the reset alone must not keep a process alive
      reset.unref?.()
    }
    return true
  }

  /** bytes counted since the event loop last turned */
  get taken(): number {
    return this.used
  }
}
