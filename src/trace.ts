// Observation hooks for VIZ. The recorder (src/viz) installs itself here when VIZ is set; otherwise
// `viz` stays null and every hook site costs one null check. Core code only calls these.
import type { Opt } from './codegen/opts.js'
import type { ScheduleItem } from './schedule/schedule.js'
import type { UOp } from './uop/ops.js'

export interface VizHooks {
  /** a schedule about to run */
  schedule(items: readonly ScheduleItem[]): void
  /** a kernel's codegen starts (rewrites until kernelEnd belong to it) */
  kernelBegin(device: string, ast: UOp, opts: readonly Opt[]): void
  /** a codegen snapshot that is not a rewrite pass (opts applied, expanded, ...) */
  codegenStep(name: string, graph: UOp): void
  /** the linearized program */
  linearized(uops: readonly UOp[]): void
  kernelEnd(name: string, src: string): void
  /** a kernel launch: `start` and `ms` from `now()` */
  launch(name: string, item: ScheduleItem, start: number, ms: number): void
  copy(src: string, dst: string, bytes: number, start: number, ms: number): void
  /** bytes allocated (delta > 0) or freed (delta < 0) on a device */
  mem(device: string, delta: number): void
}

export let viz: VizHooks | null = null
export function setVizHooks(h: VizHooks | null): void {
  viz = h
}
