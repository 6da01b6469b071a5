// glibc malloc settings for the CPU device's buffers from 16 KiB on that are not native mappings
// (runtime/cpu_storage.ts, heap_buffers.ts). A user's plain loop (`y = f(x)`, nothing disposed)
// gets a fresh buffer per call and the GC frees the old ones in batches; with glibc's defaults those
// batches go back to the kernel (the heap top is trimmed past 128 KiB of free space, blocks of
// 128 KiB and more are mmapped), so every fresh output page-faulted and was zero filled again:
// 52-57 us of CPU per 256 KiB output (30-38 us of it in the kernel) against 25-29 us with the freed
// memory kept (a 256x256 matmul's output; its kernel takes ~300 us). Kept: blocks up to 2 MiB come
// from the heap (larger ones too where heap_buffers.ts asks), up to 256 MiB of free heap stays
// mapped for the next outputs (a loop of 64 MiB outputs frees a few at a time), and the heap grows
// in steps of 64 MiB (address space only: pages are touched by their first write), so that the
// huge-page advice of heap_buffers.ts is ahead of the chunk headers malloc writes at the top.
import { getEnv } from '../helpers.js'

/** Blocks from this size are mmapped by malloc (unless heap_buffers.ts switches mmap off). */
export const MMAP_THRESHOLD = 2 << 20

// mallopt parameters (glibc malloc.h)
const M_TRIM_THRESHOLD = -1
const M_TOP_PAD = -2
const M_MMAP_THRESHOLD = -3

/** The settings to apply: none when the user tuned malloc through its environment variables or
 * turned this off (TSGRAD_MALLOC_TUNING=0: the process's malloc is shared with everything else). */
export function mallocSettings(env: (name: string) => string): { param: number; value: number }[] {
  if (env('TSGRAD_MALLOC_TUNING') === '0') return []
  if (env('MALLOC_TRIM_THRESHOLD_') || env('MALLOC_MMAP_THRESHOLD_') || env('MALLOC_TOP_PAD_')) return []
  return [
    { param: M_MMAP_THRESHOLD, value: MMAP_THRESHOLD },
    { param: M_TRIM_THRESHOLD, value: 256 << 20 },
    { param: M_TOP_PAD, value: 64 << 20 },
  ]
}

type Koffi = { load(path: string): { func(decl: string): (...args: unknown[]) => unknown } }

let applied: boolean | undefined

/**
 * Apply `mallocSettings` once per process (Linux with glibc; elsewhere, or when libc has no
 * mallopt, nothing changes). Returns whether they are in effect.
 */
export function tuneMalloc(koffi: () => Koffi): boolean {
  if (applied !== undefined) return applied
  applied = false
  const p = (globalThis as { process?: { platform?: string } }).process
  if (p?.platform !== 'linux') return applied
  const settings = mallocSettings((n) => getEnv(n))
  if (!settings.length) return applied
  try {
    const mallopt = koffi().load('libc.so.6').func('int mallopt(int param, int value)')
    applied = settings.every(({ param, value }) => mallopt(param, value) === 1)
  } catch {
    // (musl or another libc: no mallopt)
  }
  return applied
}

/** glibc's own values of the tuned parameters (mallopt(3)) */
const GLIBC_DEFAULTS = [
  { param: M_MMAP_THRESHOLD, value: 128 << 10 },
  { param: M_TRIM_THRESHOLD, value: 128 << 10 },
  { param: M_TOP_PAD, value: 128 << 10 },
]

/**
 * Leave malloc at glibc's settings from now on (a process that holds a few large, long-lived
 * buffers and frees its temporaries explicitly: an LLM, runtime/cpu.ts compactHostMemory). Not tuned
 * yet: it never will be (glibc's dynamic thresholds stay); tuned already: the parameters go back to
 * glibc's initial values. Returns whether malloc is untuned now.
 */
export function untuneMalloc(koffi: () => Koffi): boolean {
  if (applied === undefined) applied = false
  if (!applied) return true
  try {
    const mallopt = koffi().load('libc.so.6').func('int mallopt(int param, int value)')
    applied = !GLIBC_DEFAULTS.every(({ param, value }) => mallopt(param, value) === 1)
  } catch {
    // (no mallopt after all)
  }
  return !applied
}

/** Whether this process's malloc was tuned (tests). */
export const mallocTuned = (): boolean => applied === true
