// The VIZ trace format: what `VIZ=1` / `VIZ=-1` write and what the web UI and `tsgrad viz` read.
// One type file for writer, validator and UI; docs/viz-schema.md describes it for other tools.
//
// A trace directory holds:
//   index.json            TraceIndex: passes, kernels and schedules (summaries and references)
//   profile.json          Profile: kernel launches, copies, memory in use over time
//   passes/<id>.json      PassTrace: one rewrite pass, input graph once plus one delta per rule fired
//   kernels/<id>.json     KernelTrace: one compiled kernel: AST, Opts, codegen steps, source
// Times are milliseconds since the recorder started. Node ids are process-local UOp ids: equal ids
// within one trace are the same node.

export const TRACE_FORMAT = 'tsgrad-viz'
export const TRACE_VERSION = 1

/** One UOp. `arg` is a display string (absent when the node has none). */
export interface NodeRec {
  id: number
  op: string
  dtype: string
  arg?: string
  src: number[]
}

/** A rule that fired: where it was written and what it matches. */
export interface RuleRec {
  location: string
  pattern: string
}

/** One rewrite: node `before` was replaced by `after` (whose new nodes are in the node table). */
export interface StepRec {
  /** index into PassTrace.rules */
  rule: number
  before: number
  after: number
}

/** Where a pass ran: under a schedule, during a kernel's codegen, or neither. */
export type GroupRef = { kind: 'schedule' | 'kernel'; id: number } | null

export interface PassSummary {
  id: number
  name: string
  group: GroupRef
  /** rewrites that fired */
  steps: number
  nodesIn: number
  nodesOut: number
  /** how many times this exact pass (same name, same input) ran; recorded once */
  count: number
  /** id of the pass this one ran inside (a rule that itself rewrites), else null */
  parent: number | null
  ms: number
  file: string
}

export interface PassTrace {
  id: number
  name: string
  /** every node referenced below: the input graph, each step's new nodes, the output graph */
  nodes: NodeRec[]
  /** input root */
  root: number
  /** output root (what replaying all steps on `root` gives) */
  out: number
  rules: RuleRec[]
  steps: StepRec[]
}

export interface OptRec {
  op: string
  axis: number
  arg: number
}

/** A codegen snapshot: a graph (root in the kernel's node table), a traced pass, or the linear program. */
export type KernelStep =
  | { kind: 'graph'; name: string; root: number }
  | { kind: 'pass'; name: string; pass: number }
  | { kind: 'linear'; name: string; lines: string[] }

export interface KernelSummary {
  id: number
  name: string
  device: string
  /** structural key of the AST (schedule items reference kernels by it) */
  astKey: string
  opts: OptRec[]
  compileMs: number
  file: string
}

export interface KernelTrace {
  id: number
  name: string
  device: string
  astKey: string
  opts: OptRec[]
  /** source language of `src`, for highlighting */
  lang: string
  src: string
  nodes: NodeRec[]
  /** the unoptimized AST */
  ast: number
  steps: KernelStep[]
}

export interface SchedBufRec {
  id: number
  size: number
  dtype: string
  device: string
  /** an existing buffer (input, parameter) rather than one the schedule allocates */
  existing: boolean
}

export interface ScheduleItemRec {
  kind: 'kernel' | 'copy'
  device: string
  /** kernel items: the AST's key; the KernelSummary with this key and device holds AST and source */
  astKey: string | null
  /** id of the compiled kernel (null for copies, or if it was never compiled) */
  kernel: number | null
  writes: number[]
  reads: number[]
}

export interface ScheduleRec {
  id: number
  t: number
  bufs: SchedBufRec[]
  items: ScheduleItemRec[]
  /** passes run while building this schedule */
  passes: number[]
}

export interface TraceIndex {
  format: typeof TRACE_FORMAT
  version: typeof TRACE_VERSION
  created: string
  argv: string[]
  passes: PassSummary[]
  kernels: KernelSummary[]
  schedules: ScheduleRec[]
}

export interface LaunchRec {
  kernel: number
  name: string
  device: string
  start: number
  dur: number
  flops: number
  bytes: number
  gflops: number
  gbs: number
}

export interface CopyRec {
  src: string
  dst: string
  bytes: number
  start: number
  dur: number
}

/** Bytes in use on `device` at time `t` (after an allocation or a free). */
export interface MemRec {
  t: number
  device: string
  inUse: number
}

export interface Profile {
  launches: LaunchRec[]
  copies: CopyRec[]
  memory: MemRec[]
}

/** Everything in a trace directory, in memory. */
export interface Trace {
  index: TraceIndex
  profile: Profile
  passes: PassTrace[]
  kernels: KernelTrace[]
}
