/* fr-bench: throughput of each net on the CPU backend.
 *
 * For every thread count and batch size it prints items/s, achieved
 * GFLOP/s and the share of this machine's fp32 peak, which it measures
 * itself with an FMA loop (so the percentage is honest on any CPU).
 * --precisions runs each net in each precision (fp32, bf16, int8, auto)
 * in the same run; the column shows what the net actually ran in (a net
 * without an int8 path runs fp32 when int8 is asked for), and the last
 * column the speed-up over the fp32 row of the same net, threads and
 * batch. GFLOP/s counts the same multiply-adds in every precision.
 * "cpu ms/item" is the process's CPU time per item: on a loaded machine,
 * where wall time depends on what else runs, it still compares the work
 * (exact with one thread; with more, OpenMP's spin-waits count too). */
#include <immintrin.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facerec/nn.h"

/* Ten independent FMA chains of 16 floats hide the FMA latency; each
 * iteration is 10 * 16 * 2 flops. Written out so the accumulators stay in
 * registers. */
__attribute__((target("avx512f"), noinline)) static float fma_peak_once(long iters) {
    __m512 a0 = _mm512_set1_ps(0.1f), a1 = _mm512_set1_ps(0.2f), a2 = _mm512_set1_ps(0.3f);
    __m512 a3 = _mm512_set1_ps(0.4f), a4 = _mm512_set1_ps(0.5f), a5 = _mm512_set1_ps(0.6f);
    __m512 a6 = _mm512_set1_ps(0.7f), a7 = _mm512_set1_ps(0.8f), a8 = _mm512_set1_ps(0.9f);
    __m512 a9 = _mm512_set1_ps(1.0f);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++) {
        a0 = _mm512_fmadd_ps(a0, m, c);
        a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c);
        a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c);
        a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c);
        a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c);
        a9 = _mm512_fmadd_ps(a9, m, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(_mm512_add_ps(a6, a7),
                                                                                _mm512_add_ps(a8, a9))));
    return _mm512_reduce_add_ps(s);
}

static double measure_peak(int threads) {
    const long iters = 50000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double sink = 0;
        double t0 = fr_time_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += fma_peak_once(iters);
        double dt = fr_time_now() - t0;
        double gf = (double)iters * 10 * 16 * 2 * threads / dt / 1e9;
        if (gf > best) best = gf;
        if (sink == 12345.0) printf(" ");
    }
    return best;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        out[n++] = atoi(s);
        const char *c = strchr(s, ',');
        if (!c) break;
        s = c + 1;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *models = getenv("FACEREC_MODELS");
    if (!models || !*models) models = "models";
    int batches[16] = { 1, 8, 32, 64 }, nb = 4;
    int threads[8] = { 1, 2 }, nt = 2;
    double seconds = 2.0;
    bool want[FR_NET_COUNT] = { true, true, true, true };
    enum fr_precision precs[8] = { FR_PRECISION_FP32 };
    int np_ = 1;
    enum fr_device device = FR_DEVICE_CPU;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--models") && i + 1 < argc) models = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc && (!strcmp(argv[i + 1], "cpu") || !strcmp(argv[i + 1], "cuda")))
            device = !strcmp(argv[++i], "cuda") ? FR_DEVICE_CUDA : FR_DEVICE_CPU;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && fr_precision_parse(argv[i + 1], &precs[0])) {
            np_ = 1;
            i++;
        }
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc) nb = parse_list(argv[++i], batches, 16);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nt = parse_list(argv[++i], threads, 8);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--precisions") && i + 1 < argc) {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", argv[++i]);
            np_ = 0;
            for (char *tok = strtok(buf, ","); tok && np_ < 8; tok = strtok(NULL, ",")) {
                if (!fr_precision_parse(tok, &precs[np_])) {
                    fprintf(stderr, "fr-bench: unknown precision %s\n", tok);
                    return 2;
                }
                np_++;
            }
        }
        else if (!strcmp(argv[i], "--nets") && i + 1 < argc) {
            const char *s = argv[++i];
            for (int k = 0; k < FR_NET_COUNT; k++) want[k] = false;
            want[FR_NET_SSD] = strstr(s, "ssd") != NULL;
            want[FR_NET_TINY] = strstr(s, "tiny") != NULL;
            want[FR_NET_LANDMARK] = strstr(s, "landmark") != NULL;
            want[FR_NET_RECOGNITION] = strstr(s, "recog") != NULL;
        } else {
            fprintf(stderr,
                    "usage: fr-bench [--models DIR] [--nets ssd,tiny,landmark,recognition] [--batches 1,8,32,64]\n"
                    "                [--threads 1,2] [--seconds S] [--precisions fp32,bf16,int8,auto] [--device cpu|cuda]\n"
                    "                [--precision P] (one precision: the same as --precisions P)\n"
                    "On cuda the thread list is ignored (one pass) and %%peak is the CPU's, so shown as 0.\n");
            return 2;
        }
    }
    int maxb = 1;
    for (int i = 0; i < nb; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    static const char *names[FR_NET_COUNT] = { "ssd_mobilenetv1", "tiny_face_detector", "face_landmark_68",
                                               "face_recognition" };
    printf("%-20s %5s %7s %5s %10s %9s %8s %7s %10s %8s %11s %8s\n", "net", "prec", "threads", "batch", "items/s",
           "ms/batch", "GFLOP/s", "%peak", "arena MiB", "vs fp32", "cpu ms/item", "vs fp32");
    double base_ips[16] = { 0 }, base_cpu[16] = { 0 };
    if (device == FR_DEVICE_CUDA) nt = 1; /* CPU threads do not apply */
    for (int ti = 0; ti < nt; ti++) {
        int t = threads[ti];
        double peak = 0.0;
        if (device == FR_DEVICE_CPU) {
            peak = measure_peak(t);
            printf("# fp32 peak with %d thread(s), measured: %.1f GFLOP/s\n", t, peak);
        } else {
            printf("# device cuda\n");
        }
        fflush(stdout);
        for (int k = 0; k < FR_NET_COUNT; k++)
        for (int pi = 0; pi < np_; pi++) {
            if (!want[k]) continue;
            char err[512];
            struct fr_backend_params bp = fr_backend_default_params();
            bp.device = device;
            bp.threads = t;
            /* On CUDA: the backend's default, 80% of the card's free memory. */
            bp.memory_limit = device == FR_DEVICE_CPU ? (size_t)16 << 30 : 0;
            bp.precision = precs[pi];
            struct fr_backend *be;
            struct fr_net *net;
            if (fr_backend_new(&bp, &be, err, sizeof(err)) != FR_OK) {
                fprintf(stderr, "fr-bench: %s\n", err);
                return 1;
            }
            struct fr_net_params np = fr_net_default_params((enum fr_net_kind)k);
            np.models_dir = models;
            np.max_batch = maxb;
            if (fr_net_new(be, &np, &net, err, sizeof(err)) != FR_OK) {
                fprintf(stderr, "fr-bench: %s\n", err);
                return 1;
            }
            int32_t h, w, c;
            fr_net_input_shape(net, &h, &w, &c);
            size_t in_item = (size_t)h * w * c;
            float *in = malloc(sizeof(float) * in_item * (size_t)maxb);
            for (size_t i = 0; i < in_item * (size_t)maxb; i++) in[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
            float *outs[8];
            for (int32_t o = 0; o < fr_net_output_count(net); o++) {
                int32_t oh, ow, oc;
                fr_net_output_shape(net, o, &oh, &ow, &oc);
                outs[o] = malloc(sizeof(float) * (size_t)oh * ow * oc * (size_t)maxb);
            }
            for (int bi = 0; bi < nb; bi++) {
                int b = batches[bi];
                size_t arena = fr_net_plan_bytes(net, b);
                if (fr_net_forward(net, in, b, outs) != FR_OK) { /* warm-up, compiles the batch size */
                    fprintf(stderr, "fr-bench: forward failed\n");
                    return 1;
                }
                int runs = 0;
                double c0 = cpu_now(), t0 = fr_time_now(), dt;
                do {
                    fr_net_forward(net, in, b, outs);
                    runs++;
                    dt = fr_time_now() - t0;
                } while (dt < seconds || runs < 2);
                double ips = (double)b * runs / dt;
                double cpi = (cpu_now() - c0) / ((double)b * runs) * 1e3;
                double gf = ips * fr_net_flops(net) / 1e9;
                enum fr_precision ran = fr_net_precision(net);
                if (pi == 0) base_ips[bi] = ips, base_cpu[bi] = cpi;
                char rel[16] = "", crel[16] = "";
                if (pi > 0 && base_ips[bi] > 0) snprintf(rel, sizeof rel, "%.2fx", ips / base_ips[bi]);
                if (pi > 0 && cpi > 0) snprintf(crel, sizeof crel, "%.2fx", base_cpu[bi] / cpi);
                printf("%-20s %5s %7d %5d %10.1f %9.2f %8.1f %6.1f%% %10.1f %8s %11.2f %8s\n", names[k],
                       fr_precision_name(ran), t, b, ips, dt / runs * 1e3, gf, peak > 0 ? 100.0 * gf / peak : 0.0,
                       (double)arena / (1 << 20), rel, cpi, crel);
                fflush(stdout);
            }
            for (int32_t o = 0; o < fr_net_output_count(net); o++) free(outs[o]);
            free(in);
            fr_net_free(net);
            fr_backend_free(be);
        }
    }
    return 0;
}
