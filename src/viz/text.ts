// `tsgrad viz <dir> --text`: the pass list and the timeline of a trace, for a terminal.
import type { Trace } from './schema.js'

const pad = (s: string | number, n: number): string => String(s).padEnd(n)
const lpad = (s: string | number, n: number): string => String(s).padStart(n)
const ms = (x: number): string => x.toFixed(3)

function fmtBytes(b: number): string {
  if (b >= 1 << 30) return `${(b / (1 << 30)).toFixed(2)} GiB`
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(2)} MiB`
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(1)} KiB`
  return `${b} B`
}

/** The report as lines; at most `maxLaunches` launches are listed one by one. */
export function traceText(t: Trace, maxLaunches = 200): string[] {
  const { index, profile } = t
  const out: string[] = []
  out.push(
    `${index.passes.length} passes, ${index.kernels.length} kernels, ${index.schedules.length} schedules, ` +
      `${profile.launches.length} launches, ${profile.copies.length} copies (recorded ${index.created})`,
  )
  out.push(
    '',
    'PASSES',
    `${pad('id', 5)}${pad('name', 22)}${pad('group', 13)}${lpad('steps', 6)}${lpad('nodes', 14)}${lpad('runs', 6)}${lpad('ms', 10)}`,
  )
  for (const p of index.passes) {
    const g = p.group ? `${p.group.kind} ${p.group.id}` : '-'
    out.push(
      `${pad(p.id, 5)}${pad(p.name, 22)}${pad(g, 13)}${lpad(p.steps, 6)}${lpad(`${p.nodesIn}->${p.nodesOut}`, 14)}${lpad(p.count, 6)}${lpad(ms(p.ms), 10)}`,
    )
  }
  out.push(
    '',
    'KERNELS',
    `${pad('id', 5)}${pad('name', 26)}${pad('device', 8)}${lpad('compile ms', 11)}  opts`,
  )
  for (const k of index.kernels) {
    const opts = k.opts.length ? k.opts.map((o) => `${o.op}(${o.axis},${o.arg})`).join(' ') : '(none)'
    out.push(`${pad(k.id, 5)}${pad(k.name, 26)}${pad(k.device, 8)}${lpad(ms(k.compileMs), 11)}  ${opts}`)
  }
  // per-kernel totals, slowest first
  const tot = new Map<string, { n: number; ms: number; flops: number; bytes: number }>()
  for (const l of profile.launches) {
    const k = `${l.name} ${l.device}`
    const e = tot.get(k) ?? { n: 0, ms: 0, flops: 0, bytes: 0 }
    e.n++
    e.ms += l.dur
    e.flops += l.flops
    e.bytes += l.bytes
    tot.set(k, e)
  }
  out.push(
    '',
    'TIME BY KERNEL',
    `${pad('kernel', 34)}${lpad('launches', 9)}${lpad('total ms', 11)}${lpad('GFLOP/s', 10)}${lpad('GB/s', 9)}`,
  )
  for (const [k, e] of [...tot].sort((a, b) => b[1].ms - a[1].ms)) {
    const s = Math.max(e.ms, 1e-6) / 1e3
    out.push(
      `${pad(k, 34)}${lpad(e.n, 9)}${lpad(ms(e.ms), 11)}${lpad((e.flops / s / 1e9).toFixed(2), 10)}${lpad((e.bytes / s / 1e9).toFixed(2), 9)}`,
    )
  }
  out.push(
    '',
    'TIMELINE',
    `${lpad('start ms', 11)}${lpad('dur ms', 10)}  ${pad('device', 8)}${pad('name', 26)}${lpad('GFLOP/s', 10)}${lpad('GB/s', 9)}`,
  )
  const events = [
    ...profile.launches.map((l) => ({
      start: l.start,
      line: `${lpad(ms(l.start), 11)}${lpad(ms(l.dur), 10)}  ${pad(l.device, 8)}${pad(l.name, 26)}${lpad(l.gflops.toFixed(2), 10)}${lpad(l.gbs.toFixed(2), 9)}`,
    })),
    ...profile.copies.map((c) => ({
      start: c.start,
      line: `${lpad(ms(c.start), 11)}${lpad(ms(c.dur), 10)}  ${pad(c.dst, 8)}copy ${c.src} -> ${c.dst} ${fmtBytes(c.bytes)}`,
    })),
  ].sort((a, b) => a.start - b.start)
  for (const e of events.slice(0, maxLaunches)) out.push(e.line)
  if (events.length > maxLaunches)
    out.push(`  … ${events.length - maxLaunches} more (profile.json has them all)`)
  const peak = new Map<string, number>()
  for (const m of profile.memory) peak.set(m.device, Math.max(peak.get(m.device) ?? 0, m.inUse))
  out.push('', 'MEMORY')
  for (const [d, p] of peak) out.push(`  ${pad(d, 8)}peak ${fmtBytes(p)} in use`)
  if (!peak.size) out.push('  (no allocations recorded)')
  return out
}
