/* fr-bench-pipeline: end to end over a set of photo files - decoding,
 * detection, landmarks and descriptors - as `facerec embed` runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facerec/pipeline.h"

struct tally {
    int32_t images, faces, failed;
};

static void on_result(const struct fr_pipeline_result *r, void *user) {
    struct tally *t = user;
    t->images++;
    if (r->status != FR_OK) t->failed++;
    else t->faces += r->faces->count;
}

/* Process CPU time: on a loaded machine it still measures the work. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    struct fr_pipeline_params pp = fr_pipeline_default_params();
    const char *m = getenv("FACEREC_MODELS");
    if (m && *m) pp.models_dir = m;
    double seconds = 5;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--threads") && first + 1 < argc) pp.threads = atoi(argv[++first]);
        else if (!strcmp(argv[first], "--seconds") && first + 1 < argc) seconds = atof(argv[++first]);
        else if (!strcmp(argv[first], "--models") && first + 1 < argc) pp.models_dir = argv[++first];
        else if (!strcmp(argv[first], "--tiny")) pp.detector = FR_DETECTOR_TINY;
        else if (!strcmp(argv[first], "--precision") && first + 1 < argc) {
            if (!fr_precision_parse(argv[++first], &pp.precision)) {
                fprintf(stderr, "fr-bench-pipeline: unknown precision %s\n", argv[first]);
                return 2;
            }
        }
        else {
            fprintf(stderr, "usage: fr-bench-pipeline [--threads N] [--seconds S] [--models DIR] [--tiny] "
                            "[--precision fp32|bf16|int8|auto] IMAGE...\n");
            return 2;
        }
    }
    int n = argc - first;
    if (n <= 0) {
        fprintf(stderr, "fr-bench-pipeline: no images\n");
        return 2;
    }
    char err[512];
    struct fr_pipeline *pl;
    if (fr_pipeline_new(&pp, &pl, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "fr-bench-pipeline: %s\n", err);
        return 1;
    }
    struct tally t = { 0 };
    const char *const *paths = (const char *const *)(argv + first);
    fr_pipeline_run(pl, paths, n, on_result, &t); /* warm-up: compiles the batch sizes in use */
    int32_t faces_per_pass = t.faces;
    int iters = 0;
    double c0 = cpu_now(), t0 = fr_time_now(), dt;
    do {
        memset(&t, 0, sizeof(t));
        fr_pipeline_run(pl, paths, n, on_result, &t);
        iters++;
        dt = fr_time_now() - t0;
    } while (dt < seconds || iters < 2);
    double per = dt / iters, cpu_per = (cpu_now() - c0) / iters;
    printf("facerec (%s): %d images, %d faces per pass, %d failed; %.3f s per pass; %.2f images/s, %.2f faces/s; "
           "%.3f CPU s per pass\n",
           fr_precision_name(pp.precision), n, faces_per_pass, t.failed, per, n / per, faces_per_pass / per, cpu_per);
    fr_pipeline_free(pl);
    return t.failed ? 1 : 0;
}
