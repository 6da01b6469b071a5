// VIZ web UI entry: loads the trace index and profile from the server, lists passes, kernels and
// schedules in the sidebar, and routes `#/...` to a page.
import type { KernelTrace, PassTrace, Profile, TraceIndex } from '../schema.js'
import { clear, h } from './dom.js'
import { CSS } from './style.js'
import { timelineView } from './timeline.js'
import { kernelPage, type Page, passPage, schedulePage } from './views.js'

async function getJSON<T>(path: string): Promise<T> {
  const r = await fetch(`/trace/${path}`)
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`)
  return (await r.json()) as T
}

const cache = new Map<string, Promise<unknown>>()
const load = <T>(path: string): Promise<T> => {
  let p = cache.get(path)
  if (!p) cache.set(path, (p = getJSON<T>(path)))
  return p as Promise<T>
}

function sidebar(idx: TraceIndex): HTMLElement {
  const filter = h('input', { placeholder: 'filter…', type: 'search' }) as HTMLInputElement
  const links: HTMLAnchorElement[] = []
  const link = (href: string, text: string, small = ''): HTMLAnchorElement => {
    const a = h('a', { href, title: `${text} ${small}` }, text, small ? h('small', {}, ` ${small}`) : null)
    links.push(a)
    return a
  }
  filter.addEventListener('input', () => {
    const q = filter.value.toLowerCase()
    for (const a of links) a.style.display = a.textContent!.toLowerCase().includes(q) ? '' : 'none'
  })
  return h(
    'nav',
    {},
    h('h1', {}, 'tsgrad VIZ'),
    filter,
    h('h2', {}, 'profile'),
    link('#/timeline', 'timeline'),
    h('h2', {}, `kernels (${idx.kernels.length})`),
    ...idx.kernels.map((k) => link(`#/kernel/${k.id}`, k.name, `${k.device}${k.opts.length ? ' opt' : ''}`)),
    h('h2', {}, `schedules (${idx.schedules.length})`),
    ...idx.schedules.map((sc) =>
      link(`#/schedule/${sc.id}`, `schedule ${sc.id}`, `${sc.items.length} items`),
    ),
    h('h2', {}, `rewrite passes (${idx.passes.length})`),
    ...idx.passes.map((p) =>
      link(
        `#/pass/${p.id}/0`,
        `${p.id} ${p.name}`,
        `${p.steps} rw${p.group ? ` · ${p.group.kind === 'kernel' ? (idx.kernels[p.group.id]?.name ?? '') : `sched ${p.group.id}`}` : ''}`,
      ),
    ),
  )
}

async function route(idx: TraceIndex, profile: Profile, main: HTMLElement): Promise<void> {
  const parts = location.hash.replace(/^#\/?/, '').split('/')
  const go = (hash: string) => {
    location.hash = hash
  }
  let page: Page
  try {
    const [what, a, b] = [parts[0], Number(parts[1] ?? 0), Number(parts[2] ?? 0)]
    if (what === 'pass' && idx.passes[a]) page = passPage(idx, await load<PassTrace>(idx.passes[a].file), b)
    else if (what === 'kernel' && idx.kernels[a])
      page = kernelPage(idx, await load<KernelTrace>(idx.kernels[a].file), b, go)
    else if (what === 'schedule' && idx.schedules[a]) page = schedulePage(idx, a)
    else {
      const total = profile.launches.reduce((s, l) => s + l.dur, 0)
      page = {
        title: 'timeline',
        meta: [
          `${profile.launches.length} kernel launches, ${total.toFixed(2)} ms in kernels · ${profile.copies.length} copies · ${idx.passes.length} rewrite passes · ${idx.kernels.length} kernels compiled`,
        ],
        body: timelineView(profile, idx.kernels, go),
      }
    }
  } catch (e) {
    page = { title: 'error', meta: [String((e as Error).message)], body: h('div', {}) }
  }
  clear(main)
  main.append(
    h('header', {}, h('h2', {}, page.title), h('div', { class: 'meta' }, ...page.meta), page.controls),
    page.body,
  )
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle(
      'active',
      (a as HTMLAnchorElement).hash !== '' && location.hash.startsWith((a as HTMLAnchorElement).hash),
    )
  document.body.dataset.page = parts[0] || 'timeline'
}

async function boot(): Promise<void> {
  document.head.append(h('style', {}, CSS))
  const app = document.getElementById('app')!
  try {
    const [idx, profile] = await Promise.all([load<TraceIndex>('index.json'), load<Profile>('profile.json')])
    const main = h('main', {})
    app.replaceChildren(sidebar(idx), main)
    window.addEventListener('hashchange', () => void route(idx, profile, main))
    await route(idx, profile, main)
    document.body.dataset.ready = '1'
  } catch (e) {
    app.textContent = `cannot load the trace: ${(e as Error).message}`
  }
}

void boot()
