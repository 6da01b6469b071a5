// The loss curves as a standalone SVG (no dependency): training loss per step (faint) with its
// moving average, and validation loss at each evaluation (points joined by a line).

export interface LossHistory {
  /** [step, loss] of every training step */
  train: [number, number][]
  /** [step, loss] of every validation */
  val: [number, number][]
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

function movingAverage(points: [number, number][], window: number): [number, number][] {
  const out: [number, number][] = []
  let sum = 0
  for (let i = 0; i < points.length; i++) {
    sum += points[i]![1]
    if (i >= window) sum -= points[i - window]![1]
    out.push([points[i]![0], sum / Math.min(i + 1, window)])
  }
  return out
}

/** Round tick values: about `n` of them covering [lo, hi]. */
function ticks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || 1
  const raw = span / n
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

export function lossPlotSVG(
  h: LossHistory,
  title: string,
  baseline?: { label: string; value: number },
): string {
  const W = 720
  const H = 420
  const m = { l: 60, r: 20, t: 40, b: 50 }
  const all = [...h.train, ...h.val]
  const steps = all.map((p) => p[0])
  const losses = all.map((p) => p[1]).filter(Number.isFinite)
  if (baseline) losses.push(baseline.value)
  const x0 = Math.min(0, ...steps)
  const x1 = Math.max(1, ...steps)
  const y0 = losses.length ? Math.max(0, Math.min(...losses) - 0.2) : 0
  const y1 = losses.length ? Math.max(...losses) + 0.2 : 1
  const sx = (s: number) => m.l + ((s - x0) / (x1 - x0)) * (W - m.l - m.r)
  const sy = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b)
  const path = (ps: [number, number][]) =>
    ps
      .filter((p) => Number.isFinite(p[1]))
      .map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join('')
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ]
  for (const v of ticks(y0, y1, 6)) {
    const y = sy(v).toFixed(1)
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#eee"/>`)
    parts.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${v}</text>`)
  }
  for (const s of ticks(x0, x1, 8)) {
    const x = sx(s).toFixed(1)
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${H - m.b}" stroke="#f4f4f4"/>`)
    parts.push(`<text x="${x}" y="${H - m.b + 16}" text-anchor="middle">${s}</text>`)
  }
  parts.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">step</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">loss (nats/token)</text>`,
  )
  if (baseline) {
    const y = sy(baseline.value).toFixed(1)
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#999" stroke-dasharray="6 4"/>`)
    parts.push(
      `<text x="${W - m.r - 4}" y="${Number(y) - 5}" text-anchor="end" fill="#777">${esc(baseline.label)}</text>`,
    )
  }
  if (h.train.length) {
    parts.push(`<path d="${path(h.train)}" fill="none" stroke="#9ec5ec" stroke-width="1"/>`)
    const win = Math.max(1, Math.round(h.train.length / 50))
    parts.push(
      `<path d="${path(movingAverage(h.train, win))}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    )
  }
  if (h.val.length) {
    parts.push(`<path d="${path(h.val)}" fill="none" stroke="#d62728" stroke-width="2"/>`)
    for (const [s, v] of h.val)
      if (Number.isFinite(v))
        parts.push(`<circle cx="${sx(s).toFixed(1)}" cy="${sy(v).toFixed(1)}" r="3" fill="#d62728"/>`)
  }
  const lx = W - m.r - 150
  parts.push(
    `<rect x="${lx}" y="${m.t + 4}" width="146" height="40" fill="white" stroke="#ccc"/>`,
    `<line x1="${lx + 8}" x2="${lx + 30}" y1="${m.t + 18}" y2="${m.t + 18}" stroke="#1f77b4" stroke-width="2"/>`,
    `<text x="${lx + 36}" y="${m.t + 22}">train (moving avg)</text>`,
    `<line x1="${lx + 8}" x2="${lx + 30}" y1="${m.t + 34}" y2="${m.t + 34}" stroke="#d62728" stroke-width="2"/>`,
    `<text x="${lx + 36}" y="${m.t + 38}">validation</text>`,
    '</svg>',
  )
  return `${parts.join('\n')}\n`
}
