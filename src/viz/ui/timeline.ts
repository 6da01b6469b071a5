// Profile view: one lane of kernel launches per device (plus copies), memory in use over time
// below, wheel to zoom and drag to pan the time axis; then a table of time by kernel.
import type { KernelSummary, Profile } from '../schema.js'
import { clear, fmtBytes, fmtMs, h, s } from './dom.js'

const LANE_H = 26
const MEM_H = 110
const AXIS_H = 22
const LABEL_W = 90

const hue = (name: string): number => {
  let x = 0
  for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0
  return x % 360
}

interface Bar {
  lane: number
  start: number
  dur: number
  name: string
  title: string
  kernel: number
}

export function timelineView(
  profile: Profile,
  kernels: KernelSummary[],
  go: (hash: string) => void,
): HTMLElement {
  const devices = [...new Set(profile.launches.map((l) => l.device))]
  const lanes = [...devices, ...(profile.copies.length ? ['copies'] : [])]
  const bars: Bar[] = [
    ...profile.launches.map((l) => ({
      lane: devices.indexOf(l.device),
      start: l.start,
      dur: l.dur,
      name: l.name,
      kernel: l.kernel,
      title: `${l.name} on ${l.device}: ${fmtMs(l.dur)} at ${fmtMs(l.start)}, ${l.gflops.toFixed(2)} GFLOP/s, ${l.gbs.toFixed(2)} GB/s`,
    })),
    ...profile.copies.map((c) => ({
      lane: lanes.length - 1,
      start: c.start,
      dur: c.dur,
      name: 'copy',
      kernel: -1,
      title: `copy ${c.src} -> ${c.dst} ${fmtBytes(c.bytes)}: ${fmtMs(c.dur)}`,
    })),
  ]
  const ends = [...bars.map((b) => b.start + b.dur), ...profile.memory.map((m) => m.t)]
  const tEnd = Math.max(1e-3, ...ends)
  const tStart = Math.min(tEnd, ...bars.map((b) => b.start), ...profile.memory.map((m) => m.t))
  let v0 = tStart
  let v1 = tEnd
  const height = AXIS_H + lanes.length * LANE_H + MEM_H + 10
  const svg = s('svg', { class: 'timeline', 'data-testid': 'timeline', height })
  const info = h(
    'div',
    { class: 'meta', style: 'padding:4px 14px' },
    'hover a bar for details; wheel zooms, drag pans',
  )
  const memDevices = [...new Set(profile.memory.map((m) => m.device))]
  const memMax = Math.max(1, ...profile.memory.map((m) => m.inUse))

  const render = (): void => {
    clear(svg)
    const W = svg.clientWidth || 1000
    const plotW = W - LABEL_W - 10
    const X = (t: number) => LABEL_W + ((t - v0) / (v1 - v0)) * plotW
    // axis
    const step = 10 ** Math.floor(Math.log10((v1 - v0) / 5 || 1))
    const tick = [1, 2, 5, 10].map((m) => m * step).find((t) => (v1 - v0) / t <= 8) ?? step * 10
    for (let t = Math.ceil(v0 / tick) * tick; t <= v1; t += tick) {
      svg.append(
        s('line', { x1: X(t), x2: X(t), y1: AXIS_H - 4, y2: height, stroke: '#eceef2' }),
        s('text', { x: X(t) + 2, y: 12 }, fmtMs(t)),
      )
    }
    for (const [i, name] of lanes.entries())
      svg.append(s('text', { x: 6, y: AXIS_H + i * LANE_H + 16, 'font-weight': 600 }, name))
    for (const b of bars) {
      if (b.start + b.dur < v0 || b.start > v1) continue
      const x = Math.max(LABEL_W, X(b.start))
      const w = Math.max(1, X(b.start + b.dur) - x)
      const r = s(
        'rect',
        {
          class: 'bar',
          x,
          y: AXIS_H + b.lane * LANE_H + 3,
          width: w,
          height: LANE_H - 6,
          fill: b.name === 'copy' ? '#999' : `hsl(${hue(b.name)} 60% 62%)`,
        },
        s('title', {}, b.title),
      )
      r.addEventListener('mouseenter', () => {
        info.textContent = b.title
      })
      if (b.kernel >= 0) r.addEventListener('dblclick', () => go(`#/kernel/${b.kernel}`))
      svg.append(r)
      if (w > 50)
        svg.append(
          s('text', { x: x + 3, y: AXIS_H + b.lane * LANE_H + 17, 'pointer-events': 'none' }, b.name),
        )
    }
    // memory in use, one step line per device
    const y0 = AXIS_H + lanes.length * LANE_H + 6
    svg.append(
      s('text', { x: 6, y: y0 + 12, 'font-weight': 600 }, 'memory'),
      s('text', { x: 6, y: y0 + 26, class: 'muted' }, `max ${fmtBytes(memMax)}`),
    )
    memDevices.forEach((dev, di) => {
      let d = ''
      let last = 0
      for (const m of profile.memory) {
        if (m.device !== dev) continue
        const x = Math.min(Math.max(X(m.t), LABEL_W), W - 10).toFixed(1)
        const y = (y0 + MEM_H - 4 - (m.inUse / memMax) * (MEM_H - 10)).toFixed(1)
        d += d ? `H${x}V${y}` : `M${LABEL_W},${y0 + MEM_H - 4}H${x}V${y}`
        last = m.inUse
      }
      if (!d) return
      d += `H${W - 10}`
      svg.append(s('path', { d, fill: 'none', stroke: `hsl(${200 + di * 70} 70% 45%)`, 'stroke-width': 1.5 }))
      svg.append(s('text', { x: W - 200, y: y0 + 12 + di * 13 }, `${dev}: ${fmtBytes(last)} at end`))
    })
  }
  svg.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault()
      const r = svg.getBoundingClientRect()
      const plotW = r.width - LABEL_W - 10
      const f = Math.min(1, Math.max(0, (e.clientX - r.left - LABEL_W) / plotW))
      const at = v0 + f * (v1 - v0)
      const k = Math.exp(e.deltaY * 0.002)
      const span = Math.min(tEnd - tStart, Math.max(1e-4, (v1 - v0) * k))
      v0 = Math.max(tStart, at - f * span)
      v1 = Math.min(tEnd, v0 + span)
      render()
    },
    { passive: false },
  )
  let drag: { x: number; v0: number; v1: number } | null = null
  svg.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, v0, v1 }
  })
  svg.addEventListener('pointermove', (e) => {
    if (!drag) return
    const dt = ((e.clientX - drag.x) / Math.max(1, svg.clientWidth - LABEL_W - 10)) * (drag.v1 - drag.v0)
    const span = drag.v1 - drag.v0
    v0 = Math.min(tEnd - span, Math.max(tStart, drag.v0 - dt))
    v1 = v0 + span
    render()
  })
  svg.addEventListener('pointerup', () => {
    drag = null
  })

  // time by kernel
  const byKernel = new Map<
    string,
    { id: number; name: string; device: string; n: number; ms: number; flops: number; bytes: number }
  >()
  for (const l of profile.launches) {
    const key = `${l.kernel}|${l.name}|${l.device}`
    const e = byKernel.get(key) ?? {
      id: l.kernel,
      name: l.name,
      device: l.device,
      n: 0,
      ms: 0,
      flops: 0,
      bytes: 0,
    }
    e.n++
    e.ms += l.dur
    e.flops += l.flops
    e.bytes += l.bytes
    byKernel.set(key, e)
  }
  const total = [...byKernel.values()].reduce((a, e) => a + e.ms, 0)
  const opts = new Map(kernels.map((k) => [k.id, k.opts.map((o) => `${o.op}(${o.axis},${o.arg})`).join(' ')]))
  const rows = [...byKernel.values()]
    .sort((a, b) => b.ms - a.ms)
    .map((e) => {
      const sec = Math.max(e.ms, 1e-6) / 1e3
      const link = h('a', { href: `#/kernel/${e.id}` }, e.name)
      return h(
        'tr',
        { class: 'kernel-row' },
        h('td', {}, e.id >= 0 ? link : e.name),
        h('td', {}, e.device),
        h('td', { class: 'num' }, String(e.n)),
        h('td', { class: 'num' }, fmtMs(e.ms)),
        h('td', { class: 'num' }, `${((e.ms / Math.max(total, 1e-9)) * 100).toFixed(1)}%`),
        h('td', { class: 'num' }, (e.flops / sec / 1e9).toFixed(2)),
        h('td', { class: 'num' }, (e.bytes / sec / 1e9).toFixed(2)),
        h('td', { class: 'muted' }, opts.get(e.id) || ''),
      )
    })
  const table = h(
    'table',
    { 'data-testid': 'kernel-table' },
    h(
      'tr',
      {},
      ...['kernel', 'device', 'launches', 'total', 'share', 'GFLOP/s', 'GB/s', 'opts'].map((t, i) =>
        h('th', { class: i >= 2 && i <= 6 ? 'num' : undefined }, t),
      ),
    ),
    ...rows,
  )
  const wrap = h(
    'div',
    { class: 'scroll', style: 'padding:0' },
    svg,
    info,
    h('div', { style: 'padding:6px 14px' }, table),
  )
  requestAnimationFrame(render)
  const onResize = () => (svg.isConnected ? render() : window.removeEventListener('resize', onResize))
  window.addEventListener('resize', onResize)
  return wrap
}
