// Sharing the machine: OpenMP workers spin a bounded while, then sleep (runtime/openmp.ts), and kernels too
// small to gain from a second core run on one thread (codegen/heuristics.ts THREAD_MIN_WORK).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { handOpts, THREAD_MIN_WORK } from '../../src/codegen/heuristics.ts'
import { scheduleFor } from '../../src/engine/realize.ts'
import { Tensor } from '../../src/index.ts'
import { openmpDefaults, SPIN_ROUNDS } from '../../src/runtime/openmp.ts'
import type { KernelItem } from '../../src/schedule/schedule.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { hasCPU } from '../helpers.ts'

const target = { threads: true, vectorWidth: 16, registers: 24, simdReduce: true }

/** The kernel of `t`'s schedule that reduces, else its only kernel. */
function mainKernel(t: Tensor): KernelItem {
  const ks = scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')
  return ks.find((k) => toposort([k.ast]).some((u) => u.op === Ops.REDUCE)) ?? ks[0]!
}
const threaded = (t: Tensor) => handOpts(mainKernel(t).ast, target).some((o) => o.op === 'THREAD')

describe('per-kernel threads', () => {
  test('small kernels run on one thread, large ones across cores', () => {
    const r = (shape: number[]) => Tensor.rand(shape, { device: 'JS' }).realize()
    const mm = (n: number) => r([n, n]).matmul(r([n, n]))
    // 64^3 = 2^18 multiply-adds: 0.2 ms on one thread, 0.3-2.3 ms on two of a busy 2-core machine
    assert.equal(threaded(mm(64)), false)
    assert.equal(threaded(mm(128)), true) // 2^21
    assert.equal(
      threaded(
        r([1 << 16])
          .exp()
          .add(1),
      ),
      false,
    )
    assert.equal(threaded(r([THREAD_MIN_WORK]).exp().add(1)), true)
  })
})

describe('OpenMP wait policy', () => {
  test('a bounded spin unless the user chose a wait policy or spin count', () => {
    const env = (vars: Record<string, string>) => (n: string) => vars[n] ?? ''
    // neither libgomp's default (300,000 rounds, ~6 ms) nor passive (a ~70 us wake-up per loop)
    assert.deepEqual(openmpDefaults(env({})), { GOMP_SPINCOUNT: String(SPIN_ROUNDS) })
    assert.ok(SPIN_ROUNDS >= 1000 && SPIN_ROUNDS <= 50000)
    assert.deepEqual(openmpDefaults(env({ OMP_WAIT_POLICY: 'active' })), {})
    assert.deepEqual(openmpDefaults(env({ GOMP_SPINCOUNT: '10000' })), {})
  })

  test('the CPU device sets it before its first kernel library loads libgomp', {
    skip: !hasCPU && 'no CPU device',
  }, () => {
    const env = { ...process.env }
    delete env.OMP_WAIT_POLICY
    delete env.GOMP_SPINCOUNT
    const src = `const { Tensor } = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)})
const before = process.env.GOMP_SPINCOUNT ?? 'unset'
new Tensor([1, 2], { device: 'CPU' }).add(1).dataSync()
console.log(before, process.env.GOMP_SPINCOUNT, process.env.OMP_WAIT_POLICY ?? 'unset')`
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], {
      env,
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), `unset ${SPIN_ROUNDS} unset`)
  })
})
