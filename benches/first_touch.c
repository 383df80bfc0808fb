/* How fast this machine's kernel hands out fresh memory: 4 KiB pages against transparent huge
 * pages (2 MiB, `madvise(MADV_HUGEPAGE)`). Allocates SIZE MiB three times; each time times the
 * first `memset` (page faults: the kernel finds and zeroes the pages) and the second (memory
 * bandwidth alone). BENCHMARKS.md, session 12, "Huge pages".
 *
 *   cc -O2 benches/first_touch.c -o /tmp/first_touch
 *   /tmp/first_touch 0 256   # 4 KiB pages
 *   /tmp/first_touch 1 256   # huge pages
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s HUGE(0|1) SIZE_MIB\n", argv[0]);
        return 2;
    }
    int huge = atoi(argv[1]);
    size_t n = (size_t)atoi(argv[2]) << 20;
    for (int round = 0; round < 3; round++) {
        char *p = aligned_alloc(2 << 20, n);
        if (p == NULL) {
            fprintf(stderr, "error: out of memory\n");
            return 1;
        }
        if (huge && madvise(p, n, MADV_HUGEPAGE) != 0) {
            perror("error: madvise");
            return 1;
        }
        double t = now();
        memset(p, 1, n);
        double first = now() - t;
        t = now();
        memset(p, 2, n);
        double second = now() - t;
        printf("huge=%d %zu MiB: first touch %.1f ms (%.2f GB/s), second %.1f ms\n", huge,
               n >> 20, first * 1e3, n / first / 1e9, second * 1e3);
        free(p);
    }
    return 0;
}
