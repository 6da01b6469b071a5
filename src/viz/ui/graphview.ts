// SVG graph view: nodes colored by op group, zoom (wheel) and pan (drag), highlights, click for
// details. Edges are drawn as one path per style so thousands of them stay cheap; labels are
// hidden when zoomed far out.
import type { NodeRec } from '../schema.js'
import { LEGEND, opColor } from './colors.js'
import { clear, h, s } from './dom.js'
import { type Layout, layoutGraph } from './layout.js'

export interface Highlight {
  /** css class per node id (e.g. 'hl-new', 'hl-old') */
  nodes?: Map<number, string>
  focus?: number
}

export interface GraphViewOptions {
  onSelect?: (n: NodeRec) => void
}

const edgePath = (l: Layout, a: number, b: number): string => {
  const p = l.boxes.get(a)!
  const q = l.boxes.get(b)!
  const x1 = p.x + p.w / 2
  const y1 = p.y + p.h
  const x2 = q.x + q.w / 2
  const y2 = q.y
  const my = (y1 + y2) / 2
  return `M${x1.toFixed(1)},${y1}C${x1.toFixed(1)},${my} ${x2.toFixed(1)},${my} ${x2.toFixed(1)},${y2}`
}

export class GraphView {
  readonly el: HTMLElement
  private readonly svg: SVGSVGElement
  private readonly world: SVGGElement
  private scale = 1
  private tx = 0
  private ty = 0
  private layout: Layout | null = null

  constructor(private readonly opts: GraphViewOptions = {}) {
    this.world = s('g')
    this.svg = s('svg', { class: 'graph', 'data-testid': 'graph' }, this.world)
    const legend = h(
      'div',
      { class: 'legend' },
      ...LEGEND.map((g) => h('span', {}, h('i', { style: `background:${g.color}` }), g.name)),
    )
    this.el = h('div', { class: 'graph-wrap' }, this.svg, legend)
    this.svg.addEventListener('wheel', (e) => this.onWheel(e), { passive: false })
    let drag: { x: number; y: number; tx: number; ty: number } | null = null
    this.svg.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty }
      this.svg.setPointerCapture(e.pointerId)
    })
    this.svg.addEventListener('pointermove', (e) => {
      if (!drag) return
      this.tx = drag.tx + e.clientX - drag.x
      this.ty = drag.ty + e.clientY - drag.y
      this.apply()
    })
    this.svg.addEventListener('pointerup', () => {
      drag = null
    })
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault()
    const r = this.svg.getBoundingClientRect()
    const mx = e.clientX - r.left
    const my = e.clientY - r.top
    const k = Math.exp(-e.deltaY * 0.0015)
    const next = Math.min(4, Math.max(0.02, this.scale * k))
    this.tx = mx - ((mx - this.tx) * next) / this.scale
    this.ty = my - ((my - this.ty) * next) / this.scale
    this.scale = next
    this.apply()
  }

  private apply(): void {
    this.world.setAttribute('transform', `translate(${this.tx},${this.ty}) scale(${this.scale})`)
    this.svg.classList.toggle('far', this.scale < 0.4)
  }

  /** Zoom so the whole graph is in view. */
  fit(): void {
    const l = this.layout
    if (!l) return
    const W = this.svg.clientWidth || 800
    const H = this.svg.clientHeight || 600
    this.scale = Math.min(1.2, (W - 20) / Math.max(1, l.width), (H - 20) / Math.max(1, l.height))
    this.tx = (W - l.width * this.scale) / 2
    this.ty = Math.max(10, (H - l.height * this.scale) / 2)
    this.apply()
  }

  /** Center node `id` (the root when absent) at a readable zoom, unless the whole graph fits readably. */
  center(id: number | undefined, keepScale = false): void {
    const l = this.layout
    if (!l) return
    const W = this.svg.clientWidth || 800
    const H = this.svg.clientHeight || 600
    const all = Math.min(1.2, (W - 20) / Math.max(1, l.width), (H - 20) / Math.max(1, l.height))
    if (!keepScale && all >= 0.6) {
      this.fit()
      return
    }
    const b = l.boxes.get(id ?? -Infinity) ?? [...l.boxes.values()].reduce((a, x) => (x.y > a.y ? x : a))
    if (!keepScale || this.scale < 0.4) this.scale = 0.8
    this.tx = W / 2 - (b.x + b.w / 2) * this.scale
    this.ty = H / 2 - (b.y + b.h / 2) * this.scale
    this.apply()
  }

  /**
   * Draw `nodes` reachable from `root`. 'auto': fit when readable, else center the focus (or the
   * root) at a readable zoom; 'follow': keep the zoom, center the focus (stepping through a pass).
   */
  show(
    nodes: Map<number, NodeRec>,
    root: number,
    hl: Highlight = {},
    view: 'auto' | 'follow' = 'auto',
  ): void {
    const l = layoutGraph(nodes, root)
    this.layout = l
    clear(this.world)
    const hot = new Set<number>()
    for (const [id, cls] of hl.nodes ?? []) if (cls) hot.add(id)
    let plain = ''
    let marked = ''
    for (const [a, b] of l.edges) {
      const d = edgePath(l, a, b)
      if (hot.has(a) && hot.has(b)) marked += d
      else plain += d
    }
    this.world.append(s('path', { class: 'edges', d: plain }), s('path', { class: 'edges hot', d: marked }))
    for (const b of l.boxes.values()) {
      const n = nodes.get(b.id)!
      const cls = hl.nodes?.get(b.id)
      const g = s(
        'g',
        {
          class: `node${cls ? ` ${cls}` : ''}${hl.focus === b.id ? ' focus' : ''}`,
          transform: `translate(${b.x},${b.y})`,
          'data-id': b.id,
        },
        s('rect', { width: b.w, height: b.h, rx: 4, fill: opColor(n.op) }),
        s('text', { x: b.w / 2, y: 14 }, b.label),
        s('text', { x: b.w / 2, y: 27, class: 'sub' }, b.sub),
        s('title', {}, `#${n.id} ${n.op} ${n.dtype}${n.arg !== undefined ? ` ${n.arg}` : ''}`),
      )
      g.addEventListener('click', () => this.opts.onSelect?.(n))
      this.world.append(g)
    }
    this.svg.setAttribute('data-nodes', String(l.boxes.size))
    requestAnimationFrame(() => this.center(hl.focus ?? root, view === 'follow'))
  }
}
