// What one CPU kernel launch costs around its kernel (issue 17): a koffi call, the thread choice's
// wrapper (runtime/thread_choice.ts), an OpenMP parallel loop's fork and join (through koffi, and
// from a C loop), a barrier inside one parallel region (what a runner holding one region for a
// whole replay would pay per kernel instead), and a fork after the worker went to sleep (1 ms
// idle: beyond GOMP_SPINCOUNT's spin). Builds its small C library with gcc -fopenmp into a temp
// dir. Wall and process CPU per call; run under `chrt -f 10` on a shared machine.
//   chrt -f 10 node --import tsx bench/launch_costs.ts
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import koffi from 'koffi'
import { SPIN_ROUNDS } from '../src/runtime/openmp.ts'
import { ThreadChoice } from '../src/runtime/thread_choice.ts'

process.env.GOMP_SPINCOUNT ??= String(SPIN_ROUNDS)
const C = `#include <omp.h>
void empty4(void *a, void *b, void *c, void *d) { (void)a; (void)b; (void)c; (void)d; }
void par4(void *a, void *b, void *c, void *d) {
  (void)b; (void)c; (void)d;
  #pragma omp parallel for schedule(static)
  for (int i = 0; i < 64; i++) ((volatile int *)a)[i]++;
}
void seq4(void *a, void *b, void *c, void *d) {
  (void)b; (void)c; (void)d;
  for (int i = 0; i < 64; i++) ((volatile int *)a)[i]++;
}
void forks(int n, int *a) { for (int k = 0; k < n; k++) par4(a, 0, 0, 0); }
void barriers(int n, int *a) {
  #pragma omp parallel
  {
    int t = omp_get_thread_num();
    for (int k = 0; k < n; k++) {
      ((volatile int *)a)[16 * t]++;
      #pragma omp barrier
    }
  }
}
`
const dir = mkdtempSync(join(tmpdir(), 'tsgrad-launch-'))
writeFileSync(join(dir, 'l.c'), C)
execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-fopenmp', '-o', join(dir, 'l.so'), join(dir, 'l.c')])
const lib = koffi.load(join(dir, 'l.so'))
const empty = lib.func('void empty4(void*, void*, void*, void*)')
const par = lib.func('void par4(void*, void*, void*, void*)')
const seq = lib.func('void seq4(void*, void*, void*, void*)')
const forks = lib.func('void forks(int, void*)')
const barriers = lib.func('void barriers(int, void*)')
const a = new Int32Array(1024)
const b = new Float32Array(1024)
const c = new Float32Array(1024)
const d = new Uint8Array(1024)
const N = 20000

function time(name: string, f: () => void, calls: number, per = 1): void {
  for (let i = 0; i < 200; i++) f()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < calls; i++) f()
  const w = performance.now() - t0
  const cu = process.cpuUsage(c0)
  const n = calls * per
  console.log(
    `${name.padEnd(52)} ${((w / n) * 1e3).toFixed(2).padStart(8)} us wall ${((cu.user + cu.system) / n).toFixed(2).padStart(8)} us CPU`,
  )
}
const idle = (ms: number) => {
  const t = performance.now()
  while (performance.now() - t < ms);
}
const choice = new ThreadChoice(2)
const wrapped = () => {
  const k = choice.next()
  const t0 = performance.now()
  seq(a, b, c, d)
  choice.record(k, performance.now() - t0)
}
for (let round = 0; round < 2; round++) {
  time('koffi call, 4 typed arrays, empty function', () => empty(a, b, c, d), N)
  time('koffi call of a one-thread kernel (64 ints)', () => seq(a, b, c, d), N)
  time('the same with the thread choice around it', wrapped, N)
  time('koffi call of an OpenMP parallel for (2 threads)', () => par(a, b, c, d), N)
  time('OpenMP parallel for from a C loop, per loop', () => forks(100, a), N / 100, 100)
  time('one parallel region, per barrier', () => barriers(100, a), N / 100, 100)
  time(
    '1 ms idle, then a one-thread kernel',
    () => {
      idle(1)
      seq(a, b, c, d)
    },
    300,
  )
  time(
    '1 ms idle, then an OpenMP parallel for (worker asleep)',
    () => {
      idle(1)
      par(a, b, c, d)
    },
    300,
  )
}
