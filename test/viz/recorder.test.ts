// The VIZ recorder: what it records for a small model (passes, schedules, kernels, launches,
// memory), that every pass replays from its deltas to its recorded output, repeats are recorded
// once, and nothing is recorded once it is stopped.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { dtypes, jit, nn, optim, Tensor } from '../../src/index.ts'
import { viz } from '../../src/trace.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'
import { graphRewrite } from '../../src/uop/rewrite.ts'
import { symbolic } from '../../src/uop/symbolic.ts'
import { startRecording, stopRecording } from '../../src/viz/enable.ts'
import { PassReplay } from '../../src/viz/replay.ts'
import type { Trace } from '../../src/viz/schema.ts'

const device = 'JS'

function record(fn: () => void): Trace {
  const rec = startRecording()
  try {
    fn()
  } finally {
    stopRecording()
  }
  return rec.snapshot(['test'])
}

test('hooks are null unless recording', () => {
  assert.equal(viz, null)
  startRecording()
  stopRecording()
  assert.equal(viz, null)
})

test('a training step: passes, schedules, kernels, launches and memory', () => {
  Tensor.manualSeed(7)
  const w = Tensor.randn([7, 5], { device }).realize()
  const x = Tensor.randn([3, 5], { device }).realize()
  const t = record(() => {
    const out = x.matmul(w.T).relu().sum(1).exp()
    assert.equal(out.realize().dataSync().length, 3)
  })
  const { index, profile } = t
  assert.ok(index.schedules.length >= 1)
  assert.ok(index.kernels.length >= 1)
  // every kernel item of every schedule points at the kernel compiled for it, with its buffers
  for (const s of index.schedules)
    for (const it of s.items) {
      if (it.kind !== 'kernel') continue
      assert.notEqual(it.kernel, null)
      assert.equal(index.kernels[it.kernel!]!.astKey, it.astKey)
      for (const b of [...it.writes, ...it.reads]) assert.ok(s.bufs.some((x) => x.id === b))
    }
  // passes: symbolic ones belong to a schedule, decompose ones to a kernel; each replays exactly
  assert.ok(index.passes.some((p) => p.name === 'symbolic' && p.group?.kind === 'schedule'))
  assert.ok(index.passes.some((p) => p.name.startsWith('decompose_') && p.group?.kind === 'kernel'))
  for (const p of t.passes) {
    const r = new PassReplay(p)
    assert.equal(r.rootAfter(r.numSteps), p.out, `pass ${p.id} ${p.name} replays to its output`)
    assert.equal(r.graphAfter(0).nodes.size, index.passes[p.id]!.nodesIn)
    assert.equal(r.graphAfter(r.numSteps).nodes.size, index.passes[p.id]!.nodesOut)
    for (const rule of p.rules) assert.match(rule.location, /^src\/.+\.ts:\d+$/)
  }
  // kernels: the AST, opts applied, expansion, the decompose pass, the linear program, the source
  for (const k of t.kernels) {
    assert.deepEqual(
      k.steps.map((s) => s.kind),
      ['graph', 'graph', ...k.steps.slice(2, -1).map((s) => s.kind), 'linear'],
    )
    assert.deepEqual(
      k.steps.filter((s) => s.kind === 'graph').map((s) => s.name),
      ['ast', 'apply_opts', 'expand'],
    )
    assert.ok(k.steps.some((s) => s.kind === 'pass' && s.name === 'decompose_js'))
    assert.ok(k.src.includes(k.name), 'source defines the kernel')
    assert.equal(k.lang, 'js')
  }
  // one launch per kernel item run, with rates
  const items = index.schedules.flatMap((s) => s.items.filter((i) => i.kind === 'kernel'))
  assert.equal(profile.launches.length, items.length)
  for (const l of profile.launches) {
    assert.ok(
      l.kernel >= 0 && l.dur >= 0 && l.bytes > 0 && Number.isFinite(l.gflops) && Number.isFinite(l.gbs),
    )
    assert.equal(l.device, device)
  }
  assert.ok(profile.launches.some((l) => l.flops > 0))
  // memory: allocations of the outputs and temporaries
  assert.ok(profile.memory.length > 0)
  assert.ok(profile.memory.every((m) => m.device === device && m.inUse >= 0))
})

test('a pass that runs again on the same input is recorded once, with a count', () => {
  const x = UOp.new(Ops.RANGE, dtypes.int32, [UOp.const(dtypes.int32, 10)], { id: 0, kind: 'global' })
  const e = x.add(0).mul(1).add(x.mul(2)).idiv(1)
  const t = record(() => {
    graphRewrite(e, symbolic, undefined, 'symbolic')
    graphRewrite(e, symbolic, undefined, 'symbolic')
  })
  assert.equal(t.passes.length, 1)
  assert.equal(t.index.passes[0]!.count, 2)
  const p = t.passes[0]!
  assert.ok(p.steps.length >= 3, 'x+0, *1, //1 fold')
  const r = new PassReplay(p)
  const out = r.graphAfter(r.numSteps)
  assert.equal(out.root, p.out)
  assert.equal(out.nodes.get(out.root)!.op, 'MUL', 'x + 2x -> 3x (canonical sum)')
  // intermediate steps are valid graphs containing each step's replacement
  for (let k = 1; k <= r.numSteps; k++) assert.ok(r.graphAfter(k).nodes.size > 0)
  assert.throws(() => r.rootAfter(r.numSteps + 1), /out of range/)
})

test('nothing is recorded after stopping', () => {
  const rec = startRecording()
  stopRecording()
  const before = JSON.stringify(rec.snapshot().index.passes)
  Tensor.ones([4], { device }).add(1).realize()
  const after = rec.snapshot()
  assert.equal(JSON.stringify(after.index.passes), before)
  assert.equal(after.profile.launches.length, 0)
})

test('optimizer step under recording replays exactly (larger graphs)', () => {
  const l = new nn.Linear(4, 3)
  const params = nn.getParameters([l])
  const opt = new optim.Adam(params, { lr: 0.01 })
  const x = Tensor.randn([2, 4]).realize()
  const t = record(() => {
    opt.zeroGrad()
    const prev = Tensor.training
    Tensor.training = true
    l.call(x).square().mean().backward()
    opt.step()
    Tensor.training = prev
  })
  assert.ok(t.passes.length > 5)
  for (const p of t.passes) {
    const r = new PassReplay(p)
    assert.equal(r.rootAfter(r.numSteps), p.out)
  }
})

test('jit replays appear on the timeline, one launch per kernel per call', () => {
  const w = Tensor.randn([8, 8], { device }).realize()
  const f = jit((x: Tensor) => x.matmul(w).relu().sum().realize())
  const xs = [0, 1, 2, 3, 4].map(() => Tensor.randn([4, 8], { device }).realize())
  const t = record(() => {
    for (const x of xs) f(x)
  })
  // 2 kernels per call: calls 1-2 run through realize, 3-5 are replays
  const names = t.profile.launches.map((l) => l.name)
  assert.equal(names.length, 10)
  assert.equal(new Set(names).size, 2)
  assert.ok(t.profile.launches.every((l) => l.dur >= 0 && l.device === device))
})
