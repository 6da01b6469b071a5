// The plain user path for issue 20's buffer and overhead items: `const y = f(x); await y.data()`,
// outputs never disposed, median of single calls after warm-up; the same with dispose for contrast;
// numpy timed the same plain way in the same run (when python3 with numpy is present).
//   node --expose-gc --import tsx bench/plain_buffers.ts [case ...]   (cases: ew16m add1k matmul256 rss)
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { Tensor } from '../src/index.ts'
import { hostMemory } from '../src/runtime/host_memory.ts'

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const want = new Set(process.argv.slice(2))
const on = (c: string) => !want.size || want.has(c)

async function plain(f: () => Tensor, n: number, dispose: boolean): Promise<number> {
  for (let i = 0; i < 2; i++) await f().data()
  const ts: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const y = f()
    await y.data()
    ts.push(performance.now() - t0)
    if (dispose) y.dispose()
  }
  return median(ts)
}

function numpy(code: string): number | undefined {
  const py = `import numpy as np, time, json
rng = np.random.default_rng(0)
${code}
ts = []
for i in range(2): f()
for i in range(N):
    t0 = time.perf_counter(); f(); ts.append((time.perf_counter() - t0) * 1e3)
print(json.dumps(sorted(ts)[len(ts) // 2]))`
  const r = spawnSync('python3', ['-c', py], { encoding: 'utf8' })
  return r.status === 0 ? Number(r.stdout) : undefined
}

const fmt = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${ms.toFixed(3)} ms`)

if (on('ew16m')) {
  const x = Tensor.randn([1 << 24]).realize()
  const f = () => x.mul(2).add(1).relu().mul(x.sigmoid())
  const p = await plain(f, 9, false)
  const d = await plain(f, 9, true)
  const np = numpy(
    'x = rng.standard_normal(1 << 24, dtype=np.float32)\nN = 9\ndef f(): return np.maximum(x * 2 + 1, 0) * (1 / (1 + np.exp(-x)))',
  )
  console.log(`elementwise 16M: plain ${fmt(p)} | disposed ${fmt(d)} | numpy plain ${fmt(np)}`)
}
if (on('add1k')) {
  const a = Tensor.randn([1000]).realize()
  const b = Tensor.randn([1000]).realize()
  const f = () => a.add(b)
  for (let i = 0; i < 200; i++) await f().data()
  const per: number[] = []
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now()
    for (let i = 0; i < 500; i++) f().dataSync()
    per.push(((performance.now() - t0) / 500) * 1e3)
  }
  const perAwait: number[] = []
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now()
    for (let i = 0; i < 500; i++) await f().data()
    perAwait.push(((performance.now() - t0) / 500) * 1e3)
  }
  console.log(
    `add 1000: ${median(per).toFixed(1)} us per a.add(b).dataSync() | ${median(perAwait).toFixed(1)} us per await a.add(b).data()`,
  )
}
if (on('matmul256')) {
  const a = Tensor.randn([256, 256]).realize()
  const b = Tensor.randn([256, 256]).realize()
  const p = await plain(() => a.matmul(b), 31, false)
  const np = numpy(
    'a = rng.standard_normal((256, 256), dtype=np.float32); b = rng.standard_normal((256, 256), dtype=np.float32)\nN = 31\ndef f(): return a @ b',
  )
  console.log(
    `matmul 256: plain ${fmt(p)} | numpy plain ${fmt(np)} | ratio ${np && (np / p).toFixed(2)}x numpy`,
  )
}
if (on('rss')) {
  // 10,000 un-disposed 1 MiB results: resident memory must level off
  const x = Tensor.randn([1 << 18]).realize()
  const rss = () => `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`
  const native = hostMemory(() => createRequire(import.meta.url)('koffi'))
  const mapped = () => (native ? `${(native.mapped / 2 ** 20).toFixed(0)} MiB` : 'n/a')
  const line: string[] = []
  for (let i = 1; i <= 10000; i++) {
    await x.add(1).data()
    if (i % 2000 === 0) line.push(`${i}: RSS ${rss()}, mapped ${mapped()}`)
  }
  console.log(`10,000 un-disposed 1 MiB results (await data): ${line.join(' | ')}`)
  line.length = 0
  for (let i = 1; i <= 10000; i++) {
    x.add(1).dataSync()
    if (i % 2000 === 0) line.push(`${i}: RSS ${rss()}, mapped ${mapped()}`)
  }
  console.log(`10,000 un-disposed 1 MiB results (dataSync, never yields): ${line.join(' | ')}`)
}
