// OpenMP's wait policy for the CPU device's kernels. libgomp's default lets idle worker threads
// spin (300,000 rounds) after each parallel loop and at its closing barrier: on a machine whose
// other cores are busy (other processes, a second model) a spinning worker takes the time slice
// the thread it waits for needs, and a 256x256 matmul went from ~0.5 ms to 5-50 ms. Passive
// workers sleep at once; the wake-up costs microseconds, which only kernels large enough to be
// threaded pay (heuristics.ts threads a kernel from 2^20 iterations of work).
import { getEnv } from '../helpers.js'

/** OpenMP variables the user did not set that we set: only when none of the wait knobs is set. */
export function openmpDefaults(env: (name: string) => string): Record<string, string> {
  if (env('OMP_WAIT_POLICY') || env('GOMP_SPINCOUNT')) return {}
  return { OMP_WAIT_POLICY: 'passive' }
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
