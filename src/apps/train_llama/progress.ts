// The training progress line on stderr: step, loss, tokens/s, ETA and the last validation loss and
// perplexity. On a terminal one line redrawn in place; in a pipe a log line every `logEvery` steps
// (and at least every 30 s). Rates leave out the first step of a run (it compiles every kernel).

export interface ProgressStream {
  write(s: string): unknown
  isTTY?: boolean
  columns?: number
}

export interface ProgressOptions {
  /** the last step of the run; steps before `first` were done by an earlier (resumed) run */
  total: number
  first: number
  tokensPerStep: number
  stream: ProgressStream
  tty?: boolean
  logEvery?: number
  now?: () => number
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?'
  s = Math.max(0, Math.round(s))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (n: number) => String(n).padStart(2, '0')
  return h > 0 ? `${h}h${pad(m)}m${pad(s % 60)}s` : m > 0 ? `${m}m${pad(s % 60)}s` : `${s % 60}s`
}

export class TrainProgress {
  private readonly tty: boolean
  private readonly logEvery: number
  private readonly now: () => number
  private readonly start: number
  private afterFirst: number | undefined
  private lastLog: number
  /** ms spent outside steps (validation, checkpoints) since this run's first step */
  private excluded = 0
  private drawn = false
  private val = ''

  constructor(private readonly o: ProgressOptions) {
    this.tty = o.tty ?? o.stream.isTTY === true
    this.logEvery =
      o.logEvery && o.logEvery > 0 ? o.logEvery : Math.max(1, Math.ceil((o.total - o.first + 1) / 20))
    this.now = o.now ?? (() => performance.now())
    this.start = this.now()
    this.lastLog = this.start
  }

  /** Seconds per step, from the steps after this run's first one when there are any. */
  secondsPerStep(step: number): number {
    const done = step - this.o.first + 1
    const t = this.now()
    if (this.afterFirst === undefined || done <= 1) return (t - this.start) / 1000 / Math.max(1, done)
    return (t - this.afterFirst - this.excluded) / 1000 / (done - 1)
  }

  /** Leave `ms` (validation, a checkpoint save) out of the step rate. */
  exclude(ms: number): void {
    if (this.afterFirst !== undefined) this.excluded += ms
  }

  tokensPerSecond(step: number): number {
    return this.o.tokensPerStep / this.secondsPerStep(step)
  }

  /** Record a validation result; shown on every later line. */
  validation(loss: number): void {
    this.val = `  val ${loss.toFixed(3)} (ppl ${Math.exp(loss).toFixed(1)})`
  }

  update(step: number, loss: number, lr: number): void {
    const t = this.now()
    if (step === this.o.first) this.afterFirst = t
    const sps = this.secondsPerStep(step)
    const eta = step === this.o.first && step < this.o.total ? Number.NaN : (this.o.total - step) * sps
    const w = String(this.o.total).length
    const counter = `step ${String(step).padStart(w)}/${this.o.total}`
    const stats = `loss ${loss.toFixed(4)}  lr ${lr.toExponential(2)}  ${Math.round(this.o.tokensPerStep / sps)} tok/s`
    if (this.tty) {
      const tail = `  ${stats}${this.val}  ETA ${formatDuration(eta)}`
      const cols = this.o.stream.columns ?? 120
      const barWidth = Math.max(10, Math.min(30, cols - counter.length - tail.length - 4))
      const filled = Math.round((barWidth * step) / this.o.total)
      this.o.stream.write(`\r${counter} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}\x1b[K`)
      this.drawn = true
      return
    }
    const due = step === this.o.first || step === this.o.total || step % this.logEvery === 0
    if (due || t - this.lastLog >= 30_000) {
      this.lastLog = t
      const elapsed = formatDuration((t - this.start) / 1000)
      this.o.stream.write(`${counter}  ${stats}${this.val}  elapsed ${elapsed}  ETA ${formatDuration(eta)}\n`)
    }
  }

  /** A message on its own line (the bar is redrawn by the next update). */
  log(line: string): void {
    if (this.tty && this.drawn) this.o.stream.write('\n')
    this.drawn = false
    this.o.stream.write(`${line}\n`)
  }

  done(): void {
    if (this.tty && this.drawn) this.o.stream.write('\n')
    this.drawn = false
  }
}
