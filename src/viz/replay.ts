// Rebuild the graph of a rewrite pass after any number of steps, from the input graph plus the
// per-step deltas (PassTrace). Mirrors graphRewrite: sources are rebuilt before their users, a node
// whose rebuilt form was replaced by a step becomes that step's replacement (itself rebuilt).
// Rebuilt nodes that the trace never recorded get fresh negative ids. Pure: used by the web UI and
// by the tests, which check that replaying every step gives the recorded output.
import type { NodeRec, PassTrace } from './schema.js'

export interface GraphView {
  root: number
  nodes: Map<number, NodeRec>
}

const keyOf = (op: string, dtype: string, arg: string | undefined, src: readonly number[]): string =>
  `${op}|${dtype}|${arg ?? ''}|${src.join(',')}`

export class PassReplay {
  private readonly nodes = new Map<number, NodeRec>()
  private readonly byKey = new Map<string, number>()
  private nextSynthetic = -1

  constructor(readonly pass: PassTrace) {
    for (const n of pass.nodes) {
      this.nodes.set(n.id, n)
      this.byKey.set(keyOf(n.op, n.dtype, n.arg, n.src), n.id)
    }
  }

  get numSteps(): number {
    return this.pass.steps.length
  }

  node(id: number): NodeRec {
    const n = this.nodes.get(id)
    if (!n) throw new Error(`pass ${this.pass.id}: node ${id} is not in the trace`)
    return n
  }

  private intern(like: NodeRec, src: number[]): number {
    const k = keyOf(like.op, like.dtype, like.arg, src)
    let id = this.byKey.get(k)
    if (id === undefined) {
      id = this.nextSynthetic--
      const n: NodeRec = { id, op: like.op, dtype: like.dtype, src }
      if (like.arg !== undefined) n.arg = like.arg
      this.nodes.set(id, n)
      this.byKey.set(k, id)
    }
    return id
  }

  /** Root id of the graph after the first `k` steps (0: the input, numSteps: the output). */
  rootAfter(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > this.numSteps)
      throw new Error(`pass ${this.pass.id}: step ${k} out of range 0..${this.numSteps}`)
    const repl = new Map<number, number>()
    for (const s of this.pass.steps.slice(0, k)) repl.set(s.before, s.after)
    const memo = new Map<number, number>()
    // frames: [node, stage, pending replacement]
    const stack: [number, number, number][] = [[this.pass.root, 0, 0]]
    while (stack.length) {
      const top = stack[stack.length - 1]!
      const [id, stage] = top
      if (memo.has(id)) {
        stack.pop()
        continue
      }
      const n = this.node(id)
      if (stage === 0) {
        top[1] = 1
        for (let i = n.src.length - 1; i >= 0; i--) if (!memo.has(n.src[i]!)) stack.push([n.src[i]!, 0, 0])
      } else if (stage === 1) {
        const src = n.src.map((s) => memo.get(s)!)
        const x = src.every((s, i) => s === n.src[i]) ? id : this.intern(n, src)
        const r = repl.get(x)
        if (r === undefined) {
          memo.set(id, x)
          memo.set(x, x)
          stack.pop()
        } else {
          top[1] = 2
          top[2] = r
          if (!memo.has(r)) stack.push([r, 0, 0])
        }
      } else {
        memo.set(id, memo.get(top[2])!)
        stack.pop()
      }
    }
    return memo.get(this.pass.root)!
  }

  /** The graph after `k` steps: its root and the nodes reachable from it. */
  graphAfter(k: number): GraphView {
    return this.reachable(this.rootAfter(k))
  }

  reachable(root: number): GraphView {
    return walk(root, (id) => this.node(id))
  }
}

/** Nodes reachable from `root` in a node table (e.g. a kernel's). */
export function subgraph(table: readonly NodeRec[] | Map<number, NodeRec>, root: number): GraphView {
  const byId = table instanceof Map ? table : new Map(table.map((n) => [n.id, n]))
  return walk(root, (id) => {
    const n = byId.get(id)
    if (!n) throw new Error(`node ${id} is not in the trace`)
    return n
  })
}

/** The nodes reachable from `root`, looked up by `get` (iterative). */
function walk(root: number, get: (id: number) => NodeRec): GraphView {
  const nodes = new Map<number, NodeRec>()
  const stack = [root]
  while (stack.length) {
    const id = stack.pop()!
    if (nodes.has(id)) continue
    const n = get(id)
    nodes.set(id, n)
    for (const s of n.src) if (!nodes.has(s)) stack.push(s)
  }
  return { root, nodes }
}

/** A short expression for a node (depth-limited), e.g. `ADD(MUL(%3, 2), %5)`. */
export function exprText(nodes: Map<number, NodeRec>, id: number, depth = 3): string {
  const n = nodes.get(id)
  if (!n) return `%${id}`
  const head = n.op === 'CONST' ? `${n.arg}` : n.arg !== undefined ? `${n.op}<${n.arg}>` : n.op
  if (!n.src.length) return head
  if (depth <= 0) return `${head}(…)`
  return `${head}(${n.src.map((s) => exprText(nodes, s, depth - 1)).join(', ')})`
}
