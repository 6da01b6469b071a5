// The UI's pure parts run in Node: the graph layout (big graphs fast, no overlaps, sources above
// users) and the source highlighter (escapes HTML, marks tokens).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeRec } from '../../src/viz/schema.ts'
import { highlight } from '../../src/viz/ui/highlight.ts'
import { layoutGraph } from '../../src/viz/ui/layout.ts'
import { cpuMs } from '../cpu_time.ts'

/** A random DAG of n nodes with up to 3 sources each, all reachable from the last node. */
function randomDag(n: number, seed = 1): Map<number, NodeRec> {
  let s = seed
  const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32
  const ops = ['ADD', 'MUL', 'CONST', 'LOAD', 'RANGE', 'WHERE']
  const nodes = new Map<number, NodeRec>()
  for (let i = 0; i < n; i++) {
    const k = i === 0 ? 0 : 1 + Math.floor(rnd() * Math.min(3, i))
    const src = [...new Set(Array.from({ length: k }, () => Math.floor(rnd() * i)))]
    if (i > 0 && i % 2 === 0) src.push(i - 1)
    nodes.set(i, {
      id: i,
      op: ops[i % ops.length]!,
      dtype: 'float32',
      arg: i % 5 ? undefined : `a${i}`,
      src: [...new Set(src)],
    })
  }
  // make everything reachable: a sink over all nodes no one uses
  const used = new Set([...nodes.values()].flatMap((x) => x.src))
  nodes.set(n, { id: n, op: 'SINK', dtype: 'void', src: [...nodes.keys()].filter((i) => !used.has(i)) })
  return nodes
}

test('layout of a 2,000-node graph: fast, no overlaps within a layer, sources above users', () => {
  const g = randomDag(2000)
  let l!: ReturnType<typeof layoutGraph>
  const ms = cpuMs(() => {
    l = layoutGraph(g, 2000)
  })
  assert.ok(ms < 2000, `layout took ${ms.toFixed(0)} ms of CPU`)
  assert.equal(l.boxes.size, 2001)
  const byY = new Map<number, { x: number; w: number }[]>()
  for (const b of l.boxes.values()) {
    const row = byY.get(b.y) ?? []
    row.push(b)
    byY.set(b.y, row)
    assert.ok(b.x >= 0 && b.x + b.w <= l.width + 1e-6)
  }
  for (const row of byY.values()) {
    row.sort((a, b) => a.x - b.x)
    for (let i = 1; i < row.length; i++) assert.ok(row[i]!.x >= row[i - 1]!.x + row[i - 1]!.w, 'no overlap')
  }
  for (const [a, b] of l.edges) assert.ok(l.boxes.get(a)!.y < l.boxes.get(b)!.y, 'edges point down')
  const sink = l.boxes.get(2000)!
  assert.equal(sink.y, Math.max(...[...l.boxes.values()].map((b) => b.y)), 'root at the bottom')
})

test('layout rejects a missing node', () => {
  const g = new Map<number, NodeRec>([[1, { id: 1, op: 'ADD', dtype: 'int32', src: [7] }]])
  assert.throws(() => layoutGraph(g, 1), /node 7 missing/)
})

test('highlighting escapes HTML and marks tokens', () => {
  const html = highlight(
    '// a <b> comment\nfor (int i = 0; i < 4; i++) x[i] = 1.5f; /* & */ "s<"\n#pragma omp simd',
  )
  assert.ok(!html.includes('<b>'), 'escaped')
  assert.match(html, /<span class="c">\/\/ a &lt;b&gt; comment<\/span>/)
  assert.match(html, /<span class="k">for<\/span>/)
  assert.match(html, /<span class="t">int<\/span>/)
  assert.match(html, /<span class="n">1\.5f<\/span>/)
  assert.match(html, /<span class="s">&quot;s&lt;&quot;<\/span>/)
  assert.match(html, /<span class="pp">#pragma omp simd<\/span>/)
  assert.match(html, /i &lt; <span class="n">4<\/span>/)
})
