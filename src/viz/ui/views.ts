// The pages of the VIZ UI: a rewrite pass stepped rule by rule, a kernel (Opts, source, codegen
// steps), a schedule. Each returns its header and body; main.ts routes between them.
import { exprText, PassReplay, subgraph } from '../replay.js'
import type { KernelTrace, NodeRec, PassTrace, TraceIndex } from '../schema.js'
import { fmtMs, h } from './dom.js'
import { GraphView } from './graphview.js'
import { highlight } from './highlight.js'

export interface Page {
  title: string
  meta: (Node | string)[]
  controls?: HTMLElement
  body: HTMLElement
}

function nodeDetails(n: NodeRec): HTMLElement {
  return h(
    'div',
    {},
    h('h3', {}, `#${n.id} ${n.op}`),
    h(
      'table',
      {},
      h('tr', {}, h('th', {}, 'dtype'), h('td', {}, n.dtype)),
      h('tr', {}, h('th', {}, 'arg'), h('td', {}, n.arg ?? '')),
      h('tr', {}, h('th', {}, 'src'), h('td', {}, n.src.map((x) => `#${x}`).join(' '))),
    ),
  )
}

const groupLink = (idx: TraceIndex, passId: number): HTMLElement | string => {
  const g = idx.passes[passId]?.group
  if (!g) return 'no group'
  const label = g.kind === 'kernel' ? `kernel ${idx.kernels[g.id]?.name ?? g.id}` : `schedule ${g.id}`
  return h('a', { href: `#/${g.kind}/${g.id}` }, label)
}

/** A rewrite pass: the graph after step k, the rule that fired, before/after of the replaced node. */
export function passPage(idx: TraceIndex, pass: PassTrace, step: number): Page {
  const replay = new PassReplay(pass)
  const n = replay.numSteps
  let k = Math.min(Math.max(0, step), n)
  let showBefore = false
  const side = h('div', { class: 'side', 'data-testid': 'step-info' })
  const view = new GraphView({
    onSelect: (node) => {
      side.replaceChildren(...stepInfo(), nodeDetails(node))
    },
  })
  const label = h('span', { 'data-testid': 'step-label' })
  const slider = h('input', { type: 'range', min: 0, max: n, value: k }) as HTMLInputElement
  const beforeBtn = h('button', {}, 'show before')
  const stepInfo = (): HTMLElement[] => {
    if (k === 0)
      return [
        h('h3', {}, 'input graph'),
        h('p', { class: 'muted' }, `${n} rewrites in this pass; step forward with → or the slider`),
      ]
    const st = pass.steps[k - 1]!
    const rule = pass.rules[st.rule]!
    const all = new Map<number, NodeRec>()
    for (const x of pass.nodes) all.set(x.id, x)
    return [
      h('h3', {}, `step ${k}: rule`),
      h('div', { class: 'expr', 'data-testid': 'rule' }, rule.location),
      h('div', { class: 'muted' }, `matches ${rule.pattern}`),
      h('h3', {}, 'before'),
      h('div', { class: 'expr' }, exprText(all, st.before)),
      h('h3', {}, 'after'),
      h('div', { class: 'expr' }, exprText(all, st.after)),
    ]
  }
  const render = (follow: boolean): void => {
    const mode = follow ? 'follow' : 'auto'
    label.textContent = `step ${k} / ${n}`
    slider.value = String(k)
    beforeBtn.classList.toggle('on', showBefore)
    side.replaceChildren(...stepInfo())
    const hl = new Map<number, string>()
    if (k === 0) {
      const g = replay.graphAfter(0)
      view.show(g.nodes, g.root, {}, mode)
      return
    }
    const prev = replay.graphAfter(k - 1)
    const cur = replay.graphAfter(k)
    const st = pass.steps[k - 1]!
    if (showBefore) {
      for (const id of prev.nodes.keys()) if (!cur.nodes.has(id)) hl.set(id, 'hl-old')
      hl.set(st.before, 'hl-old')
      view.show(prev.nodes, prev.root, { nodes: hl, focus: st.before }, mode)
    } else {
      for (const id of cur.nodes.keys()) if (!prev.nodes.has(id)) hl.set(id, 'hl-new')
      if (cur.nodes.has(st.after)) hl.set(st.after, 'hl-new')
      view.show(cur.nodes, cur.root, { nodes: hl, focus: st.after }, mode)
    }
  }
  const to = (next: number) => {
    k = Math.min(Math.max(0, next), n)
    history.replaceState(null, '', `#/pass/${pass.id}/${k}`)
    render(true)
  }
  slider.addEventListener('input', () => to(Number(slider.value)))
  beforeBtn.addEventListener('click', () => {
    showBefore = !showBefore
    render(true)
  })
  const keys = (e: KeyboardEvent) => {
    if (!document.body.contains(label)) return document.removeEventListener('keydown', keys)
    if (e.key === 'ArrowRight') to(k + 1)
    if (e.key === 'ArrowLeft') to(k - 1)
  }
  document.addEventListener('keydown', keys)
  const controls = h(
    'div',
    { class: 'controls' },
    h('button', { onclick: () => to(0), 'data-testid': 'first' }, 'first'),
    h('button', { onclick: () => to(k - 1), 'data-testid': 'prev' }, '◀'),
    slider,
    h('button', { onclick: () => to(k + 1), 'data-testid': 'next' }, '▶'),
    h('button', { onclick: () => to(n), 'data-testid': 'last' }, 'last'),
    label,
    beforeBtn,
    h('button', { onclick: () => view.fit() }, 'fit'),
  )
  const s = idx.passes[pass.id]!
  render(false)
  return {
    title: `pass ${pass.id}: ${pass.name}`,
    meta: [
      groupLink(idx, pass.id),
      ` · ${n} rewrites · ${s.nodesIn} → ${s.nodesOut} nodes · ${fmtMs(s.ms)}`,
      s.count > 1 ? ` · ran ${s.count}× on the same input` : '',
    ],
    controls,
    body: h('div', { class: 'body' }, view.el, side),
  }
}

/** A kernel: Opts and source side by side, codegen steps below with the graph of the chosen one. */
export function kernelPage(
  idx: TraceIndex,
  k: KernelTrace,
  stepIdx: number,
  go: (hash: string) => void,
): Page {
  const src = k.src.split('\n')
  const width = String(src.length).length
  const pre = h('pre', { class: 'source', 'data-testid': 'source' })
  pre.innerHTML = highlight(k.src)
    .split('\n')
    .map((l, i) => `<span class="ln">${String(i + 1).padStart(width)}  </span>${l}`)
    .join('\n')
  const summary = idx.kernels[k.id]!
  const opts = h(
    'div',
    { class: 'opts', 'data-testid': 'opts' },
    h('h3', {}, 'Opts'),
    k.opts.length
      ? h(
          'table',
          {},
          h('tr', {}, h('th', {}, 'op'), h('th', {}, 'axis'), h('th', {}, 'arg')),
          ...k.opts.map((o) =>
            h('tr', {}, h('td', {}, o.op), h('td', {}, String(o.axis)), h('td', {}, String(o.arg))),
          ),
        )
      : h('p', { class: 'muted' }, 'none (the unoptimized loop nest)'),
    h('h3', {}, 'kernel'),
    h('div', {}, `${k.device}, ${k.lang} · compiled in ${fmtMs(summary.compileMs)}`),
  )
  const view = new GraphView()
  const lower = h('div', { class: 'body' })
  const stepBar = h('div', { class: 'steps' })
  const step = Math.min(Math.max(0, stepIdx), k.steps.length - 1)
  k.steps.forEach((st, i) => {
    const a = h(
      'a',
      { class: i === step ? 'on' : undefined },
      st.kind === 'pass' ? `${st.name} (pass ${st.pass})` : st.name,
    )
    a.addEventListener('click', () =>
      go(st.kind === 'pass' ? `#/pass/${st.pass}/0` : `#/kernel/${k.id}/${i}`),
    )
    stepBar.append(a)
  })
  const st = k.steps[step]!
  if (st.kind === 'graph') {
    const g = subgraph(k.nodes, st.root)
    view.show(g.nodes, g.root)
    lower.append(view.el)
  } else if (st.kind === 'linear') lower.append(h('pre', { class: 'scroll' }, st.lines.join('\n')))
  return {
    title: `kernel ${k.id}: ${k.name}`,
    meta: [`${k.device} · ${k.nodes.length} nodes recorded · steps: `, stepBar],
    body: h(
      'div',
      { style: 'display:flex;flex-direction:column;flex:1;min-height:0' },
      h('div', { class: 'kernel-top' }, opts, pre),
      lower,
    ),
  }
}

/** A schedule: its items in order with the buffers each reads and writes, and the passes that built it. */
export function schedulePage(idx: TraceIndex, id: number): Page {
  const sc = idx.schedules[id]!
  const bufs = new Map(sc.bufs.map((b) => [b.id, b]))
  const buf = (b: number) => {
    const r = bufs.get(b)!
    return `b${b}:${r.dtype}[${r.size}]${r.existing ? '*' : ''}`
  }
  const rows = sc.items.map((it, i) => {
    const ks = it.kernel !== null ? idx.kernels[it.kernel] : undefined
    return h(
      'tr',
      {},
      h('td', { class: 'num' }, String(i)),
      h('td', {}, ks ? h('a', { href: `#/kernel/${ks.id}` }, ks.name) : it.kind),
      h('td', {}, it.device),
      h('td', {}, it.writes.map(buf).join(' ')),
      h('td', {}, it.reads.map(buf).join(' ')),
    )
  })
  const bytes = sc.bufs.filter((b) => !b.existing).length
  return {
    title: `schedule ${id}`,
    meta: [`${sc.items.length} items at ${fmtMs(sc.t)} · ${bytes} buffers allocated · * an existing buffer`],
    body: h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        {},
        h('tr', {}, ...['#', 'kernel', 'device', 'writes', 'reads'].map((t) => h('th', {}, t))),
        ...rows,
      ),
      h('h3', {}, 'passes'),
      ...sc.passes.map((p) =>
        h(
          'div',
          {},
          h('a', { href: `#/pass/${p}/0` }, `pass ${p}: ${idx.passes[p]!.name}`),
          ` ${idx.passes[p]!.steps} rewrites`,
        ),
      ),
    ),
  }
}
