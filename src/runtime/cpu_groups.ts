// Grouped builds: the new kernels of a schedule compiled as a few translation units, one gcc
// process per core, instead of one process per kernel. Each process pays ~0.04 s before the kernel
// itself (driver, cc1 reading the precompiled prelude, as, ld): 96 of a cold MNIST CNN step's 120
// kernels are small and cost 5.1 s of gcc CPU one by one, 1.3 s as one unit. Each kernel keeps
// its own function, renamed in the unit so equal names (seven `r_32_512_20_20`) do not clash;
// gcc compiles each function as it does alone (objdump of all 120: the same instructions), so a
// kernel's results do not depend on which group it was built in.
//
// The disk cache holds a group's library under the group's key (`cpu/<group>.so` with its
// record) and, per kernel, a member record (`cpu-group/<kernel>.json`: the group and the symbol).
import { cacheKey, readCachedText, verifiedBinary, writeCachedText } from './diskcache.js'

/** A kernel's library and the name of its entry point in it. */
export interface CpuArtifact {
  file: string
  symbol: string
  /** its loops run on OpenMP threads (cpu_threads.ts chooses how many per launch) */
  threaded?: boolean
}

export interface GroupMember {
  /** the kernel's cache key */
  key: string
  name: string
  /** its source without its prelude */
  text: string
  /** the prelude its source starts with (renderer/c_prelude.ts): a group's members share one */
  prelude: string
}

/** The kernel's entry point inside a group's library (its own name when built alone). */
export const groupedSymbol = (name: string, key: string): string => `${name}_g${key.slice(0, 16)}`

/**
 * Estimated gcc CPU seconds for a kernel source of `chars` characters (measured on the MNIST CNN's
 * kernels: ~0.03 s fixed, ~5 us per character; a 176 KB register tile takes 0.9 s).
 */
export const compileCost = (chars: number): number => 0.03 + chars * 5e-6

/**
 * Estimated gcc CPU seconds of a process before its first kernel: the driver, cc1 reading the
 * 26 MB precompiled full prelude, as and ld (an empty kernel: ~0.2 s; ~0.11 s with the core
 * prelude, renderer/c_prelude.ts).
 */
const PROCESS_COST = 0.2

/**
 * Split `members` into at most `n` groups of about equal estimated compile time: the most
 * expensive first, each into the group with the least so far. A group gets at least twice a
 * process's own cost of work (a model's parameter initializers, ~0.02 s each, build as one unit).
 * Members keep their relative order inside a group, so equal inputs give equal groups (and keys).
 */
export function planGroups<M extends { text: string }>(members: readonly M[], n: number): M[][] {
  const order = members.map((m, i) => ({ m, i, cost: compileCost(m.text.length) }))
  order.sort((a, b) => b.cost - a.cost || a.i - b.i)
  const total = order.reduce((s, o) => s + o.cost, 0)
  const count = Math.max(1, Math.min(n, members.length, Math.floor(total / (2 * PROCESS_COST))))
  const groups = Array.from({ length: count }, () => ({
    load: 0,
    items: [] as { m: M; i: number }[],
  }))
  for (const o of order) {
    let best = groups[0]!
    for (const g of groups) if (g.load < best.load) best = g
    best.load += o.cost
    best.items.push(o)
  }
  return groups.map((g) => g.items.sort((a, b) => a.i - b.i).map((x) => x.m))
}

/** The key of a group's library: its toolchain and members' keys. */
export const groupKey = (toolchainKey: string, members: readonly GroupMember[]): string =>
  cacheKey('cpu-group-v1', toolchainKey, ...members.map((m) => m.key))

/**
 * The translation unit of a group: `prelude` (empty when it is precompiled) and each member's
 * text with its entry points (`name`, `name_packed`) renamed by macros, which rename tokens only.
 */
export function groupSource(prelude: string, members: readonly GroupMember[]): string {
  const parts = [prelude]
  for (const m of members) {
    const s = groupedSymbol(m.name, m.key)
    parts.push(
      `#define ${m.name} ${s}\n#define ${m.name}_packed ${s}_packed\n${m.text}\n#undef ${m.name}\n#undef ${m.name}_packed\n`,
    )
  }
  return parts.join('\n')
}

const NAMESPACE = 'cpu-group'
const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/
const KEY = /^[0-9a-f]{32}$/

/** Record in the disk cache that the kernel `m` is `symbol` in the library of group `group`. */
export function recordMember(m: GroupMember, group: string): void {
  writeCachedText(
    NAMESPACE,
    m.key,
    JSON.stringify({ key: m.key, group, symbol: groupedSymbol(m.name, m.key) }),
  )
}

/**
 * The kernel `key`'s artifact from a group build recorded in the disk cache, or undefined. A
 * record is untrusted: it must name this key, a group key and a plain symbol, and the group's
 * library must verify (`verified` memoizes that per group, since each member would hash it again).
 */
export function cachedMember(key: string, verified: Map<string, string | null>): CpuArtifact | undefined {
  const text = readCachedText(NAMESPACE, key)
  if (text === undefined) return undefined
  let rec: { key?: unknown; group?: unknown; symbol?: unknown }
  try {
    rec = JSON.parse(text) as typeof rec
  } catch {
    return undefined
  }
  if (rec === null || typeof rec !== 'object' || rec.key !== key) return undefined
  const { group, symbol } = rec
  if (typeof group !== 'string' || !KEY.test(group) || typeof symbol !== 'string' || !SYMBOL.test(symbol))
    return undefined
  let file = verified.get(group)
  if (file === undefined) verified.set(group, (file = verifiedBinary('cpu', group, '.so') ?? null))
  return file === null ? undefined : { file, symbol }
}
