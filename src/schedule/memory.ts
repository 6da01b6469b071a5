// Memory planning: temporaries whose lifetimes do not overlap share one buffer.
import type { SchedBuf, ScheduleItem } from './schedule.js'

/**
 * Rewrite the buffers of `items` so that each temporary (not pre-existing, not an output the
 * caller keeps) reuses a slot freed by an earlier temporary of the same device, dtype and size.
 */
export function planMemory(items: ScheduleItem[], keep: ReadonlySet<SchedBuf>): ScheduleItem[] {
  const lastUse = new Map<SchedBuf, number>()
  items.forEach((it, i) => {
    for (const b of it.bufs) lastUse.set(b, i)
  })
  const isTemp = (b: SchedBuf): boolean => !b.existing && !keep.has(b)
  const free = new Map<string, SchedBuf[]>()
  const slot = new Map<SchedBuf, SchedBuf>()
  const slotKey = (b: SchedBuf): string => `${b.device}|${b.dtype.name}|${b.size}`
  return items.map((it, i) => {
    const out = it.bufs[0]
    if (isTemp(out) && !slot.has(out)) {
      const pool = free.get(slotKey(out))
      slot.set(out, pool?.pop() ?? out)
    }
    const bufs = it.bufs.map((b) => slot.get(b) ?? b) as typeof it.bufs
    // release temporaries whose last reader is this item
    for (const b of new Set(it.bufs)) {
      if (isTemp(b) && lastUse.get(b) === i) {
        const s = slot.get(b) ?? b
        const k = slotKey(s)
        const pool = free.get(k) ?? []
        pool.push(s)
        free.set(k, pool)
      }
    }
    return { ...it, bufs } as ScheduleItem
  })
}
