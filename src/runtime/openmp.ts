// OpenMP's wait policy for the CPU device's kernels. libgomp's default lets an idle worker spin
// 300,000 rounds (~6 ms on Zen 4) after each parallel loop and at its closing barrier: on a machine
// whose other cores are busy (other processes, a second model) a spinning worker took the time
// slice the thread it waits for needed (a 256x256 matmul went from ~0.5 ms to 5-50 ms). Sleeping at
// once (the passive policy) costs a wake-up per parallel loop instead: ~60-80 us on this 2-vCPU VM
// (an idle vCPU is woken by an interrupt through the hypervisor), which a decode step pays ~200
// times (a third of its time on two threads). So workers spin a short while, SPIN_ROUNDS (~0.2 ms
// on Zen 4: a pause per round), which covers the gaps between a decode step's kernels, then sleep.
// Under load the per-kernel thread choice (thread_choice.ts) runs kernels on one thread, which
// neither wakes nor spins a worker; a spin is bounded by SPIN_ROUNDS either way.
import { getEnv } from '../helpers.js'

/** libgomp's spin rounds before a waiting thread sleeps (GOMP_SPINCOUNT). */
export const SPIN_ROUNDS = 10000

/** OpenMP variables the user did not set that we set: only when none of the wait knobs is set. */
export function openmpDefaults(env: (name: string) => string): Record<string, string> {
  if (env('OMP_WAIT_POLICY') || env('GOMP_SPINCOUNT')) return {}
  return { GOMP_SPINCOUNT: String(SPIN_ROUNDS) }
}

/**
 * Put the defaults into the process environment. libgomp reads it once, when the first kernel
 * library (which links it) is loaded, so this runs when the CPU device is created.
 */
export function configureOpenMP(): void {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
  if (!p?.env) return
  for (const [k, v] of Object.entries(openmpDefaults((n) => getEnv(n)))) p.env[k] = v
}
