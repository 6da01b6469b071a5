// Training progress: on a terminal one line redrawn in place (`\r`) with a bar; in a pipe or CI
// plain log lines, every `logEvery` steps (and at least every `logSeconds`), so logs stay short.
//
// Rates and the ETA leave out the first step when there is a later one: it includes compiling
// every kernel and would make the estimate far too pessimistic for the rest of the run.

export interface ProgressStream {
  write(s: string): unknown
  isTTY?: boolean
  columns?: number
}

export interface ProgressOptions {
  total: number
  batchSize: number
  stream: ProgressStream
  /** force the bar (true) or plain lines (false); default: the stream's isTTY */
  tty?: boolean
  /** plain mode: log every this many steps (default: about 10 lines per run) */
  logEvery?: number
  /** plain mode: also log when this many seconds passed since the last line */
  logSeconds?: number
  /** clock in ms (tests) */
  now?: () => number
}

export interface StepStats {
  loss: number
  /** accuracy on the step's batch, 0..1 */
  acc: number
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?'
  s = Math.max(0, Math.round(s))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const pad = (n: number) => String(n).padStart(2, '0')
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : m > 0 ? `${m}m${pad(sec)}s` : `${sec}s`
}

export class Progress {
  readonly total: number
  private readonly batchSize: number
  private readonly stream: ProgressStream
  private readonly tty: boolean
  private readonly logEvery: number
  private readonly logSeconds: number
  private readonly now: () => number
  private readonly start: number
  private firstDone: number | undefined
  private lastLog: number
  private drawn = false

  constructor(o: ProgressOptions) {
    this.total = o.total
    this.batchSize = o.batchSize
    this.stream = o.stream
    this.tty = o.tty ?? o.stream.isTTY === true
    this.logEvery = o.logEvery && o.logEvery > 0 ? o.logEvery : Math.max(1, Math.ceil(o.total / 10))
    this.logSeconds = o.logSeconds ?? 30
    this.now = o.now ?? (() => performance.now())
    this.start = this.now()
    this.lastLog = this.start
  }

  /** Seconds per step: from the steps after the first when there are any. */
  secondsPerStep(step: number): number {
    const t = this.now()
    if (step <= 1 || this.firstDone === undefined) return (t - this.start) / 1000 / Math.max(1, step)
    return (t - this.firstDone) / 1000 / (step - 1)
  }

  /** Report that `step` (1-based) finished with these statistics. */
  update(step: number, s: StepStats): void {
    const t = this.now()
    if (step === 1) this.firstDone = t
    const sps = this.secondsPerStep(step)
    const rate = this.batchSize / sps
    // after step 1 the only timing includes the compiles: no estimate yet
    const eta = step === 1 && this.total > 1 ? Number.NaN : (this.total - step) * sps
    const stats = `loss ${s.loss.toFixed(4)}  acc ${(s.acc * 100).toFixed(1)}%  ${Math.round(rate)} samples/s`
    const width = String(this.total).length
    const counter = `step ${String(step).padStart(width)}/${this.total}`
    if (this.tty) {
      const cols = this.stream.columns ?? 100
      const tail = `  ${stats}  ETA ${formatDuration(eta)}`
      const barWidth = Math.max(10, Math.min(30, cols - counter.length - tail.length - 4))
      const filled = Math.round((barWidth * step) / this.total)
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`
      this.stream.write(`\r${counter} ${bar}${tail}\x1b[K`)
      this.drawn = true
      return
    }
    const due = step === 1 || step === this.total || step % this.logEvery === 0
    if (due || t - this.lastLog >= this.logSeconds * 1000) {
      this.lastLog = t
      const elapsed = formatDuration((t - this.start) / 1000)
      this.stream.write(`${counter}  ${stats}  elapsed ${elapsed}  ETA ${formatDuration(eta)}\n`)
    }
  }

  /** End the bar's line (so later output starts on a fresh line). */
  done(): void {
    if (this.tty && this.drawn) this.stream.write('\n')
    this.drawn = false
  }
}
