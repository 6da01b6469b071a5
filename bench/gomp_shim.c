// LD_PRELOAD shim for bench/decode_launches.ts: times each OpenMP parallel loop (GOMP_parallel,
// and the dynamic schedule's entry) from the call to the worker's start (fork) and from the
// master's end to the return (join), against the time each thread spends in the loop's body.
// Bench only; the totals are read and reset through tg_shim_read, the last loop's bodies through
// tg_shim_last_read.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>
#include <stdatomic.h>
#include <omp.h>
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec * 1e-3; }
typedef void (*gp_t)(void (*)(void *), void *, unsigned, unsigned);
struct wrap { void (*fn)(void *); void *data; double t0, m_start, m_end, w_start, w_end; int workers; };
// stats: [regions, total, master body, worker body, fork latency (worker start - call), join wait (call end - master end), imbalance (worker end - master end if >0), regions with 1 thread]
double tg_shim_stats[8];
// the last region: master's body, worker's body (0 without a worker)
double tg_shim_last[2];
static void body(void *p) {
  struct wrap *w = p;
  if (omp_get_thread_num() == 0) { w->m_start = now_us(); w->fn(w->data); w->m_end = now_us(); }
  else { double s = now_us(); w->fn(w->data); double e = now_us(); w->w_start = s; w->w_end = e; w->workers = 1; }
}
static void account(struct wrap w, double t3);
void GOMP_parallel(void (*fn)(void *), void *data, unsigned n, unsigned flags) {
  static gp_t real;
  if (!real) real = (gp_t)dlsym(RTLD_NEXT, "GOMP_parallel");
  struct wrap w = { fn, data, now_us(), 0, 0, 0, 0, 0 };
  real(body, &w, n, flags);
  account(w, now_us());
}
// a loop with schedule(dynamic, chunk) (gcc calls the nonmonotonic entry): the same accounting
typedef void (*gpd_t)(void (*)(void *), void *, unsigned, long, long, long, long, unsigned);
void GOMP_parallel_loop_nonmonotonic_dynamic(void (*fn)(void *), void *data, unsigned n, long start, long end, long incr, long chunk, unsigned flags) {
  static gpd_t real;
  if (!real) real = (gpd_t)dlsym(RTLD_NEXT, "GOMP_parallel_loop_nonmonotonic_dynamic");
  struct wrap w = { fn, data, now_us(), 0, 0, 0, 0, 0 };
  real(body, &w, n, start, end, incr, chunk, flags);
  account(w, now_us());
}
static void account(struct wrap w, double t3) {
  tg_shim_stats[0] += 1;
  tg_shim_stats[1] += t3 - w.t0;
  tg_shim_stats[2] += w.m_end - w.m_start;
  if (w.workers) {
    tg_shim_stats[3] += w.w_end - w.w_start;
    tg_shim_stats[4] += w.w_start - w.t0;
    tg_shim_stats[6] += w.w_end > w.m_end ? w.w_end - w.m_end : 0;
  } else tg_shim_stats[7] += 1;
  tg_shim_stats[5] += t3 - w.m_end;
  tg_shim_last[0] = w.m_end - w.m_start;
  tg_shim_last[1] = w.workers ? w.w_end - w.w_start : 0;
}
void tg_shim_read(double *out) { for (int i = 0; i < 8; i++) { out[i] = tg_shim_stats[i]; tg_shim_stats[i] = 0; } }
void tg_shim_last_read(double *out) { out[0] = tg_shim_last[0]; out[1] = tg_shim_last[1]; tg_shim_last[0] = tg_shim_last[1] = -1; }
