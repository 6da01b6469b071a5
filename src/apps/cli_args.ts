// What the apps' hand-written option parsers share: a UsageError names the flag and what it
// accepts (the CLIs print it and exit with code 2), and the checked number parsers.

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** An integer flag value in [min, max]. */
export function intArg(name: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v)
  if (!/^\s*\d+\s*$/.test(v) || n < min || n > max)
    throw new UsageError(
      `${name}: expected an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`}, got '${v}'`,
    )
  return n
}

/** A finite number flag value that `ok` accepts (`want` says what it accepts, for the message). */
export function numArg(name: string, v: string, ok: (x: number) => boolean, want: string): number {
  const x = Number(v)
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x))
    throw new UsageError(`${name}: expected ${want}, got '${v}'`)
  return x
}
