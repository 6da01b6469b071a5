// The gradients one backward() made share its graph: reading them one at a time (as PyTorch users
// do) would schedule that shared work again for every parameter. Each gradient tensor points to its
// group; the first realize of any member realizes every still-lazy member with it. Members are held
// strongly, not through WeakRefs: a WeakRef pins its target until the current job ends, so a
// synchronous training loop kept every step's gradients (18 KB a step, test/engine/memory.test.ts).
// The group and its members form a cycle that dies when the parameters drop their gradients.

/** A tensor that can belong to a gradient group. */
export interface GradGroupMember {
  gradGroup: GradGroup | undefined
}

export class GradGroup {
  private readonly members = new Set<GradGroupMember>()

  add(t: GradGroupMember): void {
    this.members.add(t)
    t.gradGroup = this
  }

  /** Take the members of `other` (a backward that accumulated into its gradients), except `replaced`. */
  absorb(other: GradGroup, replaced: GradGroupMember): void {
    if (other === this) return
    for (const m of other.take()) if (m !== replaced) this.add(m)
  }

  /** The members; the group is emptied and they leave it (each is realized at most once with it). */
  take(): GradGroupMember[] {
    const live: GradGroupMember[] = []
    for (const t of this.members) {
      if (t.gradGroup === this) {
        t.gradGroup = undefined
        live.push(t)
      }
    }
    this.members.clear()
    return live
  }
}
