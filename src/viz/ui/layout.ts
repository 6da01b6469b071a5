// Layered DAG layout for UOp graphs: sources above their users, the root at the bottom.
//  1. layers: longest path from the leaves, then every node moved down to just above its nearest
//     user (so shared constants sit next to where they are used, not at the top);
//  2. order within a layer: depth-first from the root, then barycenter sweeps (fewer crossings);
//  3. x: each node pulled toward the mean x of its neighbours, keeping order and a minimum gap.
// Iterative throughout and about linear per sweep, so ~2,000-node graphs lay out in milliseconds.
import type { NodeRec } from '../schema.js'

export interface Box {
  id: number
  x: number
  y: number
  w: number
  h: number
  label: string
  sub: string
}

export interface Layout {
  boxes: Map<number, Box>
  /** [src, user] pairs */
  edges: [number, number][]
  width: number
  height: number
}

export const NODE_H = 34
const LAYER_GAP = 36
const GAP = 14
const CHAR_W = 6.6

/** The two text lines of a node: op (with dtype), and its arg shortened. */
export function nodeLabel(n: NodeRec): { label: string; sub: string } {
  const arg = n.arg === undefined ? '' : n.arg.length > 28 ? `${n.arg.slice(0, 27)}…` : n.arg
  return { label: n.op === 'CONST' ? `CONST ${arg}` : n.op, sub: n.op === 'CONST' ? n.dtype : arg || n.dtype }
}

export function layoutGraph(nodes: Map<number, NodeRec>, root: number): Layout {
  // topological order (sources first), iterative
  const order: number[] = []
  const state = new Map<number, number>()
  const stack: number[] = [root]
  while (stack.length) {
    const id = stack[stack.length - 1]!
    const st = state.get(id) ?? 0
    if (st === 2) {
      stack.pop()
      continue
    }
    const n = nodes.get(id)
    if (!n) throw new Error(`layout: node ${id} missing`)
    if (st === 0) {
      state.set(id, 1)
      for (let i = n.src.length - 1; i >= 0; i--) if (!state.has(n.src[i]!)) stack.push(n.src[i]!)
    } else {
      state.set(id, 2)
      order.push(id)
      stack.pop()
    }
  }
  const users = new Map<number, number[]>()
  const edges: [number, number][] = []
  for (const id of order)
    for (const s of new Set(nodes.get(id)!.src)) {
      edges.push([s, id])
      const u = users.get(s)
      if (u) u.push(id)
      else users.set(s, [id])
    }
  // 1. layers
  const layer = new Map<number, number>()
  for (const id of order) layer.set(id, Math.max(-1, ...nodes.get(id)!.src.map((s) => layer.get(s)!)) + 1)
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i]!
    const us = users.get(id)
    if (us) layer.set(id, Math.min(...us.map((u) => layer.get(u)!)) - 1)
  }
  const nLayers = Math.max(...layer.values()) + 1
  const layers: number[][] = Array.from({ length: nLayers }, () => [])
  // 2. initial order: depth-first from the root, sources left to right
  const seen = new Set<number>()
  const dfs: number[] = [root]
  while (dfs.length) {
    const id = dfs.pop()!
    if (seen.has(id)) continue
    seen.add(id)
    layers[layer.get(id)!]!.push(id)
    const src = nodes.get(id)!.src
    for (let i = src.length - 1; i >= 0; i--) if (!seen.has(src[i]!)) dfs.push(src[i]!)
  }
  const boxes = new Map<number, Box>()
  for (const id of order) {
    const { label, sub } = nodeLabel(nodes.get(id)!)
    const w = Math.max(56, Math.ceil(Math.max(label.length, sub.length) * CHAR_W) + 16)
    boxes.set(id, { id, x: 0, y: layer.get(id)! * (NODE_H + LAYER_GAP), w, h: NODE_H, label, sub })
  }
  const pos = new Map<number, number>()
  const setPos = (l: number[]) => {
    for (const [i, id] of l.entries()) pos.set(id, i / Math.max(1, l.length - 1))
  }
  const neighbours = (id: number): number[] => [...nodes.get(id)!.src, ...(users.get(id) ?? [])]
  const mean = (xs: number[], f: (x: number) => number): number | undefined =>
    xs.length ? xs.reduce((a, x) => a + f(x), 0) / xs.length : undefined
  for (const l of layers) setPos(l)
  for (let sweep = 0; sweep < 4; sweep++) {
    const seq = sweep % 2 === 0 ? layers : [...layers].reverse()
    for (const l of seq) {
      const bc = new Map(l.map((id) => [id, mean(neighbours(id), (n) => pos.get(n)!) ?? pos.get(id)!]))
      l.sort((a, b) => bc.get(a)! - bc.get(b)!)
      setPos(l)
    }
  }
  // 3. x coordinates: pack each layer, then pull toward neighbours keeping order and gaps
  const cx = (id: number) => boxes.get(id)!.x + boxes.get(id)!.w / 2
  for (const l of layers) {
    let x = 0
    for (const id of l) {
      boxes.get(id)!.x = x
      x += boxes.get(id)!.w + GAP
    }
  }
  const widest = Math.max(...layers.map((l) => l.reduce((a, id) => a + boxes.get(id)!.w + GAP, 0)))
  for (const l of layers) {
    const span = l.reduce((a, id) => a + boxes.get(id)!.w + GAP, 0)
    for (const id of l) boxes.get(id)!.x += (widest - span) / 2
  }
  for (let it = 0; it < 6; it++) {
    const seq = it % 2 === 0 ? layers : [...layers].reverse()
    for (const l of seq) {
      const want = l.map((id) => (mean(neighbours(id), cx) ?? cx(id)) - boxes.get(id)!.w / 2)
      // left to right: as close to the wish as the left neighbour allows
      let minX = Number.NEGATIVE_INFINITY
      l.forEach((id, i) => {
        const b = boxes.get(id)!
        b.x = Math.max(want[i]!, minX)
        minX = b.x + b.w + GAP
      })
      // right to left: undo pushes that went past the wish when there is room on the left
      let maxX = Number.POSITIVE_INFINITY
      for (let i = l.length - 1; i >= 0; i--) {
        const b = boxes.get(l[i]!)!
        b.x = Math.min(b.x, maxX - b.w - GAP)
        const left = i > 0 ? boxes.get(l[i - 1]!)! : undefined
        if (left && b.x < left.x + left.w + GAP) b.x = left.x + left.w + GAP
        maxX = b.x
      }
    }
  }
  let minX = Number.POSITIVE_INFINITY
  let maxX = Number.NEGATIVE_INFINITY
  for (const b of boxes.values()) {
    minX = Math.min(minX, b.x)
    maxX = Math.max(maxX, b.x + b.w)
  }
  for (const b of boxes.values()) b.x -= minX
  return { boxes, edges, width: maxX - minX, height: nLayers * (NODE_H + LAYER_GAP) - LAYER_GAP }
}
