/* Low precision on the CPU backend (cpu-lowprec.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facerec/backend.h"

/* What oneDNN will use on this CPU (after ONEDNN_MAX_CPU_ISA). */
struct fr__cpu_caps {
    bool bf16; /* AVX512_BF16 (or AMX) */
    bool vnni; /* AVX512_VNNI or AVX_VNNI (or AMX) */
    bool amx;
    char isa[32]; /* oneDNN's ISA name, for logs */
};

struct fr__cpu_caps fr__cpu_caps(void);
/* The precision a net of `kind` (enum fr_net_kind) runs in when `want`
 * is asked for on a CPU with `caps`; logs once when the CPU lacks it. */
enum fr_precision fr__cpu_resolve_precision(enum fr_precision want, int kind, const struct fr__cpu_caps *caps);
/* The backend's net_precision method. */
enum fr_precision fr__cpu_net_precision(struct fr_backend *be, int kind);

/* Symmetric per-channel int8: w has n values whose output channel is
 * i % cout (HWIO and depthwise HWC both end in the output channel);
 * q[i] = round(w[i] / scale[i % cout]) with scale = max |w| / 127. */
void fr__quantize_weights(const float *w, size_t n, int32_t cout, int8_t *q, float *scale);

/* The quantization scale of ReLU6 outputs stored as u8: 6 maps to 255. */
#define FR_RELU6_SCALE (6.0f / 255.0f)
