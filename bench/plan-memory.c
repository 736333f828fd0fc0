/* fr-plan-memory: device memory per net from the planners, for docs/GPU.md
 * and for sizing device_memory_limit.
 *
 * For each net it prints the weight bytes and the activation arena at batch
 * 1 and at batch B, and the marginal bytes per batch item, twice: as the
 * CUDA backend lays activations out (plain NHWC, cuda-plan.c; computed on
 * the host, so no GPU is needed; cuDNN's convolution workspace is not
 * included: it is chosen on the device, at most a sixteenth of the budget
 * left and 64 MiB) and as the CPU backend does (oneDNN's blocked layouts,
 * measured by compiling the nets). A fourth argument compiles the CPU
 * nets in that precision (fp32, bf16, int8, auto; what each net ran in is
 * printed after its name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/nn.h"
#include "facerec/weights.h"
#include "nn/cuda/cuda-plan.h"
#include "nn/nets.h"

#define MIB 1048576.0

static size_t staging_item(const struct fr_graph *g) {
    /* The scheduler's two staging slots per stage: input and outputs, fp32. */
    size_t n = 0;
    struct fr_tshape s = g->shapes[g->input];
    n += (size_t)s.h * s.w * s.c;
    for (int32_t o = 0; o < g->n_outputs; o++) {
        s = g->shapes[g->outputs[o]];
        n += (size_t)s.h * s.w * s.c;
    }
    return 2 * sizeof(float) * n;
}

int main(int argc, char **argv) {
    const char *models = argc > 1 ? argv[1] : "models";
    int32_t B = argc > 2 ? atoi(argv[2]) : 32;
    int32_t tiny_size = argc > 3 ? atoi(argv[3]) : 416;
    if (B < 2) B = 2;
    char err[512];
    struct fr_backend *cpu = NULL;
    struct fr_backend_params bp = fr_backend_default_params();
    bp.device = FR_DEVICE_CPU;
    bp.memory_limit = (size_t)16 << 30;
    if (argc > 4 && !fr_precision_parse(argv[4], &bp.precision)) {
        fprintf(stderr, "fr-plan-memory: unknown precision %s\n", argv[4]);
        return 2;
    }
    if (fr_backend_new(&bp, &cpu, err, sizeof err) != FR_OK) {
        fprintf(stderr, "fr-plan-memory: %s\n", err);
        return 1;
    }
    printf("batch B = %d; MiB; per item = (arena(B) - arena(1)) / (B - 1); staging = the scheduler's two host slots\n\n", B);
    printf("%-26s | %8s %9s %9s %9s | %8s %9s %9s | %8s\n", "net", "weights", "arena(1)", "arena(B)", "per item",
           "weights", "arena(1)", "per item", "staging");
    printf("%-26s | %38s | %28s | %8s\n", "", "CUDA plan (NHWC)", "CPU plan (oneDNN)", "per item");
    for (int k = 0; k < FR_NET_COUNT; k++) {
        struct fr_weights *w = NULL;
        if (fr_weights_load(models, fr_net_model_name(k), &w, err, sizeof err) != FR_OK) {
            fprintf(stderr, "fr-plan-memory: %s\n", err);
            return 1;
        }
        struct fr_graph *g = NULL;
        if (fr__net_build(k, w, tiny_size, &g, err, sizeof err) != FR_OK) {
            fprintf(stderr, "fr-plan-memory: %s\n", err);
            return 1;
        }
        fr_weights_free(w);
        struct fr__cuda_plan p1, pb;
        if (fr__cuda_plan_arena(g, 1, 0, &p1) != FR_OK || fr__cuda_plan_arena(g, B, 0, &pb) != FR_OK) return 1;
        size_t cw = fr__cuda_weight_bytes(g);
        /* CPU: compile the net for batch B and measure. */
        struct fr_net_params np = fr_net_default_params(k);
        np.models_dir = models;
        np.max_batch = B;
        np.input_size = tiny_size;
        struct fr_net *net = NULL;
        if (fr_net_new(cpu, &np, &net, err, sizeof err) != FR_OK) {
            fprintf(stderr, "fr-plan-memory: %s\n", err);
            return 1;
        }
        size_t a1 = fr_net_plan_bytes(net, 1), ab = fr_net_plan_bytes(net, B);
        size_t cpu_w = fr_backend_memory_used(cpu) - ab;
        char name[64];
        snprintf(name, sizeof name, "%s %s", fr_net_model_name(k), fr_precision_name(fr_net_precision(net)));
        printf("%-26s | %8.1f %9.2f %9.1f %9.2f | %8.1f %9.2f %9.2f | %8.2f\n", name, cw / MIB,
               p1.arena_bytes / MIB, pb.arena_bytes / MIB, (pb.arena_bytes - p1.arena_bytes) / MIB / (B - 1),
               cpu_w / MIB, a1 / MIB, (ab - a1) / MIB / (B - 1), staging_item(g) / MIB);
        fr_net_free(net);
        fr__cuda_plan_free(&p1);
        fr__cuda_plan_free(&pb);
        fr__graph_free(g);
    }
    fr_backend_free(cpu);
    return 0;
}
