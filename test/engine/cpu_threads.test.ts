// Threads per launch of a threaded CPU kernel, chosen by measuring it (runtime/cpu_threads.ts): on
// a machine whose other cores are busy one thread wins (a parallel loop waits for every worker to
// get a core), on an idle one all of them.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Tensor } from '../../src/index.ts'
import { ThreadChoice } from '../../src/runtime/thread_choice.ts'
import { hasCPU } from '../helpers.ts'

/** The thread counts of `n` launches when a launch with `t` threads takes `ms(t, i)`. */
function run(c: ThreadChoice, n: number, ms: (threads: number, i: number) => number): number[] {
  const used: number[] = []
  for (let i = 0; i < n; i++) {
    const t = c.next()
    used.push(t)
    c.record(t, ms(t, i))
  }
  return used
}

describe('thread count per launch', () => {
  test('a busy machine: one thread, the other count tried less and less often', () => {
    const used = run(new ThreadChoice(2), 600, (t) => (t === 1 ? 0.35 : 3.5))
    assert.deepEqual(used.slice(0, 3), [2, 2, 1], 'a warm-up, then each count measured')
    const tries = used.slice(3).filter((t) => t === 2).length
    assert.ok(tries >= 3 && tries <= 8, `tries of 2 threads in 598 launches: ${tries}`)
    assert.equal(used.at(-1), 1)
  })

  test('an idle machine: all threads', () => {
    const used = run(new ThreadChoice(4), 200, (t) => (t === 1 ? 0.35 : 0.1))
    assert.ok(used.slice(2).filter((t) => t === 4).length > 190)
  })

  test('the first launch is a warm-up: its slow time does not decide', () => {
    // a decode step's 8192-row matvec on an idle machine: 3.3 ms at its first launch (2 threads),
    // then 0.37 on 2 threads and 0.58 on one
    const used = run(new ThreadChoice(2), 8, (t, i) => (i === 0 ? 3.3 : t === 1 ? 0.58 : 0.37))
    assert.deepEqual(used, [2, 2, 1, 2, 2, 2, 2, 2])
  })

  test('the load changes: it follows within a few tries', () => {
    // idle for 300 launches, then the other core is taken
    const used = run(new ThreadChoice(2), 600, (t, i) => (t === 1 ? 0.35 : i < 300 ? 0.18 : 3.5))
    assert.equal(used[299], 2)
    assert.ok(
      used.slice(320).every((t, i) => t === 1 || used[320 + i - 1] === 1),
      'back to 1 thread',
    )
    assert.equal(used.at(-1), 1)
    // and back: the machine is idle again
    const c = new ThreadChoice(2)
    run(c, 100, (t) => (t === 1 ? 0.35 : 3.5))
    const after = run(c, 300, (t) => (t === 1 ? 0.35 : 0.18))
    assert.equal(after.at(-1), 2)
  })

  test('a threaded kernel gives the same values whatever count each launch takes', {
    skip: !hasCPU && 'no CPU device',
  }, async () => {
    const a = Tensor.rand([128, 128], { device: 'CPU' }).realize()
    const b = Tensor.rand([128, 128], { device: 'CPU' }).realize()
    const ref = await a.matmul(b).data()
    for (let i = 0; i < 6; i++) assert.deepEqual(await a.matmul(b).data(), ref, `launch ${i}`)
  })
})
