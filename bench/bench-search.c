/* fr-bench-search: exact and int8 top-k over a large gallery, one thread.
 *
 * Fills a gallery with N descriptor-like random embeddings (128 gaussian
 * values of face-api's scale), then times top-k queries: exact float scans
 * on every instruction set this CPU has, and the int8 scan with its exact
 * re-rank. Half of the queries are fresh random vectors (the hard case for
 * int8: every distance is nearly the same), half are gallery rows plus a
 * little noise (a face of a known person). Reports the median and p90 time,
 * the bytes read per second, and the int8 path's recall@k against exact.
 *
 *     build/fr-bench-search [--n 1000000] [--queries 21] [--k 10] [--rerank 0] [--scalar]
 */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/search.h"
#include "search/search-impl.h"
#include "../tests/test-rng.h"

#define D FR_SEARCH_DIM

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and p90 of t[0..n) in milliseconds (sorts t). */
static void stats(double *t, int n, double *med, double *p90) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *med = t[n / 2] * 1e3;
    int i = (int)ceil(0.9 * n) - 1;
    *p90 = t[i < 0 ? 0 : i] * 1e3;
}

/* The single-thread read bandwidth of this machine right now: a sum over a
 * buffer as large as the float matrix, the ceiling for a memory-bound scan. */
static double read_bandwidth(size_t bytes) {
    float *b = fr_malloc_aligned(bytes);
    if (!b) return 0;
    size_t n = bytes / sizeof(float);
    for (size_t i = 0; i < n; i++) b[i] = (float)(i & 7);
    double best = 1e9;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = fr_time_now();
        float a[16] = {0};
        for (size_t i = 0; i < n; i += 16)
            for (int j = 0; j < 16; j++) a[j] += b[i + j];
        sink += a[0] + a[15];
        double t = fr_time_now() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    fr_free_aligned(b);
    return (double)bytes / best / 1e9;
}

int main(int argc, char **argv) {
    int64_t n = 1000000;
    int queries = 21, k = 10, rerank = 0;
    bool scalar = false;
    fr_test_rng = 0x9e3779b97f4a7c15ull; /* this benchmark's data since it was first published */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) queries = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rerank") && i + 1 < argc) rerank = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scalar")) scalar = true;
        else {
            fprintf(stderr, "usage: %s [--n N] [--queries Q] [--k K] [--rerank R] [--scalar]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1 || queries < 2 || k < 1 || k > 1000) return 2;
    struct fr_search_params p = fr_search_default_params();
    p.initial_capacity = (size_t)n;
    struct fr_search *exact, *fast;
    p.rerank = rerank;
    if (fr_search_new(&p, &exact) != FR_OK) return 1;
    p.int8 = true;
    if (fr_search_new(&p, &fast) != FR_OK) return 1;
    double t0 = fr_time_now();
    float v[D];
    for (int64_t i = 0; i < n; i++) {
        fr_test_rand_vec(v, D);
        if (fr_search_add(exact, i + 1, i % 1000, v) != FR_OK || fr_search_add(fast, i + 1, i % 1000, v) != FR_OK) {
            fprintf(stderr, "add failed at row %lld\n", (long long)i);
            return 1;
        }
    }
    double t_add = fr_time_now() - t0;
    /* Queries: even ones random, odd ones a gallery row plus noise. */
    float(*q)[D] = malloc(sizeof(float[D]) * (size_t)queries);
    for (int t = 0; t < queries; t++) {
        if (t % 2 == 0) {
            fr_test_rand_vec(q[t], D);
        } else {
            fr_search_get(exact, 1 + (int64_t)(fr_test_rnd() % (uint64_t)n), q[t], NULL);
            for (int j = 0; j < D; j++) q[t][j] += fr_test_gauss() * 0.02f;
        }
    }
    printf("fr-bench-search: n=%lld dim=%d k=%d queries=%d, one thread\n", (long long)n, D, k, queries);
    printf("fill: %.2f s for two galleries (%.0f rows/s each); memory %.0f MiB exact, %.0f MiB int8 (float copy included)\n",
           t_add, (double)n / t_add, fr_search_memory_bytes(exact) / 1048576.0, fr_search_memory_bytes(fast) / 1048576.0);
    double bytes_f = (double)n * D * sizeof(float);
    double bw = read_bandwidth((size_t)bytes_f);
    printf("single-thread read bandwidth (sum over %.0f MiB): %.1f GB/s\n\n", bytes_f / 1048576.0, bw);

    struct fr_search_hit *ref = malloc(sizeof *ref * (size_t)k * (size_t)queries);
    struct fr_search_hit *hit = malloc(sizeof *hit * (size_t)k);
    double *tm = malloc(sizeof *tm * (size_t)queries);
    printf("| path | median ms | p90 ms | GB/s | recall@%d random q | recall@%d near-row q |\n", k, k);
    printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    static const enum fr__search_isa isas[] = {FR__SEARCH_AVX512, FR__SEARCH_AVX2, FR__SEARCH_SCALAR};
    bool have_ref = false;
    for (int mode = 0; mode < 2; mode++) {
        struct fr_search *s = mode ? fast : exact;
        for (size_t ii = 0; ii < 3; ii++) {
            if (isas[ii] == FR__SEARCH_SCALAR && !scalar) continue;
            if (fr__search_set_isa(s, isas[ii]) != FR_OK) continue;
            /* One untimed query warms the caches and the page tables. */
            fr_search_topk(s, q[0], k, FR_SEARCH_ANY, hit);
            int64_t found[2] = {0, 0}, total[2] = {0, 0};
            for (int t = 0; t < queries; t++) {
                double a = fr_time_now();
                int32_t got = fr_search_topk(s, q[t], k, FR_SEARCH_ANY, hit);
                tm[t] = fr_time_now() - a;
                struct fr_search_hit *r = ref + (size_t)t * (size_t)k;
                if (!have_ref) memcpy(r, hit, sizeof *hit * (size_t)got);
                for (int i = 0; i < k; i++) {
                    total[t % 2]++;
                    for (int j = 0; j < got; j++) found[t % 2] += r[i].id == hit[j].id;
                }
            }
            have_ref = true;
            double med, p90;
            stats(tm, queries, &med, &p90);
            double bytes = mode ? (double)n * (128 + 2 * sizeof(float)) : bytes_f;
            printf("| %s %s | %.1f | %.1f | %.1f | %.4f | %.4f |\n", mode ? "int8" : "exact",
                   fr__search_kernels_get(isas[ii])->name, med, p90, bytes / (med / 1e3) / 1e9,
                   (double)found[0] / (double)total[0], (double)found[1] / (double)total[1]);
            fflush(stdout);
        }
    }
    free(ref), free(hit), free(tm), free(q);
    fr_search_free(exact);
    fr_search_free(fast);
    return 0;
}
