// Full-tier builds (engine/tiers.ts) in the background, several kernels per compiler process. Each
// process costs ~0.2 s of gcc CPU before its first kernel (cpu_groups.ts), and a cold MNIST CNN
// step asks for 19 full tiers within a few launches: one process each was 19 of them. A request
// joins the group still waiting for a free core (cpu_quick.ts runs one build per core) until that
// group holds about GROUP_COST of estimated work, so a request that finds a core free starts at
// once, and those that come while the cores are busy share processes. A kernel's full tier is
// swapped in when its group is built.
import { BackgroundBuild, type BuildJob, enqueueBuild } from './cpu_quick.js'
import { compileCost, type GroupMember, groupedSymbol, groupKey } from './cpu_groups.js'

/** Estimated gcc CPU seconds of kernels a queued group takes before later requests open another. */
const GROUP_COST = 1

/** What the CPU device does for a group: its compile job, and storing its library (the path). */
export interface GroupBuilder {
  toolchainKey: string
  job(group: string, members: readonly GroupMember[]): BuildJob | undefined
  store(group: string, built: string, members: readonly GroupMember[]): string | undefined
}

interface OpenGroup {
  build: BackgroundBuild
  members: GroupMember[]
  cost: number
}

/** the group still taking members */
let open: OpenGroup | undefined

/** Queue `m`'s build in a background group; the build gives the group's library once it is built. */
export function queueGroupMember(builder: GroupBuilder, m: GroupMember): BackgroundBuild {
  let g = open
  if (g === undefined || g.build.started || g.cost >= GROUP_COST) {
    const members: GroupMember[] = []
    // the key and the job are made at start, when the members are known
    const key = () => groupKey(builder.toolchainKey, members)
    const build = new BackgroundBuild(
      () => builder.job(key(), members),
      (built) => builder.store(key(), built, members),
    )
    g = open = { build, members, cost: 0 }
    g.members.push(m)
    g.cost += compileCost(m.text.length)
    // (starts at once when a core is free)
    enqueueBuild(build)
    return build
  }
  g.members.push(m)
  g.cost += compileCost(m.text.length)
  return g.build
}

/** The entry point of member `m` in its group's library. */
export const memberSymbol = (m: GroupMember): string => groupedSymbol(m.name, m.key)
