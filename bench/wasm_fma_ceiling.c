// The core's ceiling for a WASM matmul register tile: the inner loop of a ROWS x 8 tile of 128-bit
// vectors (the widest SIMD128 has), 16 vector registers (as V8 uses), data in L1, process CPU time.
// bench/wasm_matmul_variants.ts holds the WebAssembly versions; this is how far they could go.
//   for r in 4 6; do gcc -O2 -mavx2 -mfma -DROWS=$r bench/wasm_fma_ceiling.c -o /tmp/fma_$r && /tmp/fma_$r; done
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define ST(r) __m128 c##r##0=_mm_setzero_ps(), c##r##1=_mm_setzero_ps();
#define STEP(r) { __m128 x=_mm_broadcast_ss(ap+(r)*1024); c##r##0=_mm_fmadd_ps(x,b0,c##r##0); c##r##1=_mm_fmadd_ps(x,b1,c##r##1); }
#define SUM(r) z+=c##r##0[0]+c##r##1[1];
static float A[6*1024] __attribute__((aligned(64))), B[1024*8] __attribute__((aligned(64)));
__attribute__((noinline)) float run(long reps){
  float z=0;
  for(long t=0;t<reps;t++){
    ST(0)ST(1)ST(2)ST(3)
#if ROWS==6
    ST(4)ST(5)
#endif
    const float*ap=A,*bp=B;
    for(int k=0;k<1024;k++,ap++,bp+=8){
      __m128 b0=_mm_load_ps(bp), b1=_mm_load_ps(bp+4);
      STEP(0)STEP(1)STEP(2)STEP(3)
#if ROWS==6
      STEP(4)STEP(5)
#endif
    }
    SUM(0)SUM(1)SUM(2)SUM(3)
#if ROWS==6
    SUM(4)SUM(5)
#endif
  }
  return z;
}
int main(void){
  for(int i=0;i<6*1024;i++)A[i]=1e-7f*(i&7);
  for(int i=0;i<8192;i++)B[i]=1e-7f*(i&3);
  long reps=200000/ROWS*4; double t0=cpu(); float z=run(reps); double t=cpu()-t0;
  double fmas=(double)reps*1024*ROWS*2;
  printf("%dx8 tile: %.2f FMA/ns, %.1f GFLOP/s (%g)\n",ROWS,fmas/t/1e9,fmas*8/t/1e9,z);
}
