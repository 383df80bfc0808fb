/* The fused multiply-add peak of one core: CHAINS independent chains of 16-lane (AVX-512) or
 * 8-lane (AVX2) fused multiply-adds, which is what a convolution kernel's register tile is at
 * best. Prints GFLOP/s (2 flops per lane per fmadd) for 4 to 16 chains; the highest figure is
 * the core's peak, and the chain count where it levels off is the FMA latency times the number
 * of FMA pipes. One thread; run it on an idle machine. -O3 matters: at -O2 GCC 12 leaves the
 * accumulators on the stack (a store and a load around every fmadd).
 *
 *   cc -O3 -mavx512f -mfma benches/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
 *   cc -O3 -mavx2 -mfma -DAVX2 benches/fma_peak.c -o /tmp/fma_peak2 && /tmp/fma_peak2
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#ifdef AVX2
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMADD _mm256_fmadd_ps
#define REDUCE(v) _mm256_cvtss_f32(v)
#else
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMADD _mm512_fmadd_ps
#define REDUCE(v) _mm512_cvtss_f32(v)
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* CHAINS accumulators, each updated once per iteration; `a` and `b` keep the values finite. */
#define RUN(CHAINS)                                                                  \
    static double run##CHAINS(long iters) {                                          \
        vec acc[CHAINS];                                                             \
        vec a = SET1(0.999999f), b = SET1(1e-7f);                                    \
        for (int c = 0; c < CHAINS; c++) acc[c] = SET1((float)c);                    \
        double t0 = now();                                                           \
        for (long i = 0; i < iters; i++)                                             \
            for (int c = 0; c < CHAINS; c++) acc[c] = FMADD(acc[c], a, b);           \
        double t = now() - t0;                                                       \
        float sink = 0;                                                              \
        for (int c = 0; c < CHAINS; c++) sink += REDUCE(acc[c]);                     \
        if (sink == 12345.0f) printf("!");                                           \
        return 2.0 * LANES * CHAINS * (double)iters / t / 1e9;                       \
    }
RUN(4) RUN(8) RUN(10) RUN(12) RUN(16)

int main(void) {
    long iters = 200000000;
    for (int round = 0; round < 3; round++) {
        printf("%d lanes, GFLOP/s with 4 / 8 / 10 / 12 / 16 chains: %.0f / %.0f / %.0f / %.0f / %.0f\n",
               LANES, run4(iters), run8(iters), run10(iters), run12(iters), run16(iters));
    }
    return 0;
}
