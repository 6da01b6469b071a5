// libgomp's thread count control for the CPU device's OpenMP kernels; which count a launch uses is
// measured per kernel (thread_choice.ts).

type Koffi = { load(path: string): { func(decl: string): (...args: unknown[]) => unknown } }

interface OpenMPControl {
  readonly maxThreads: number
  /** set the thread count of the next parallel loops (only when it changes) */
  use(n: number): void
}

let control: OpenMPControl | null | undefined

/**
 * libgomp's thread count control, or null when kernels are not built with OpenMP, libgomp cannot be
 * loaded, or at most one thread is allowed (OMP_NUM_THREADS=1). Loaded at the first threaded launch,
 * after the device has set OpenMP's environment (runtime/openmp.ts).
 */
export function openmpControl(koffi: () => Koffi): OpenMPControl | null {
  if (control !== undefined) return control
  control = null
  try {
    const lib = koffi().load('libgomp.so.1')
    const maxThreads = lib.func('int omp_get_max_threads(void)')() as number
    const set = lib.func('void omp_set_num_threads(int n)')
    if (maxThreads <= 1) return control
    let current = maxThreads
    control = {
      maxThreads,
      use(n) {
        if (n === current) return
        set(n)
        current = n
      },
    }
  } catch {
    // (no libgomp: kernels are not threaded)
  }
  return control
}
