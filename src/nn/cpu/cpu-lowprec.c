/* Low precision on the CPU backend: which precision each net runs in on
 * this CPU, and the int8 weight quantization.
 *
 * The CPU's features are the ones oneDNN will dispatch to
 * (dnnl_get_effective_cpu_isa), so ONEDNN_MAX_CPU_ISA=AVX2 in the
 * environment makes this machine look like one without bf16 or VNNI, and
 * every net falls back to fp32 with a log line (tests/CMakeLists.txt runs
 * test-lowprec that way too). Without native bf16 (AVX512_BF16 or AMX)
 * oneDNN would emulate it slower than fp32, and int8 without VNNI risks
 * the u8*s8 pair-sum saturation of vpmaddubsw, so neither is used there.
 *
 * Which net may run in what is the outcome of the accuracy gate
 * (tests/test-lowprec.c, numbers in docs/PERFORMANCE.md): */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "../backend-impl.h"
#include "cpu-lowprec.h"
#include "facerec/nn.h"

/* Per net: may it run bf16 / int8, and what `auto` prefers in order.
 * int8 exists for the SSD detector only: its activations are all ReLU6
 * outputs, whose range [0, 6] is known without calibration. */
struct net_policy {
    bool bf16, int8;
    enum fr_precision auto_order[3];
};

static const struct net_policy policy[FR_NET_COUNT] = {
    [FR_NET_SSD] = { true, true, { FR_PRECISION_INT8, FR_PRECISION_BF16, FR_PRECISION_FP32 } },
    [FR_NET_TINY] = { true, false, { FR_PRECISION_BF16, FR_PRECISION_FP32, FR_PRECISION_FP32 } },
    [FR_NET_LANDMARK] = { true, false, { FR_PRECISION_BF16, FR_PRECISION_FP32, FR_PRECISION_FP32 } },
    [FR_NET_RECOGNITION] = { true, false, { FR_PRECISION_BF16, FR_PRECISION_FP32, FR_PRECISION_FP32 } },
};

struct fr__cpu_caps fr__cpu_caps(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    struct fr__cpu_caps c = { 0 };
    /* The ISA values are nested bit sets: 0x40 adds VNNI to AVX-512,
     * 0x80 adds bf16, 0x300 AMX; 0x400 is AVX2 with VNNI. */
    c.vnni = (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni ||
             (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
    c.bf16 = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    c.amx = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
    const char *name = "sse4.1 or less";
    if (c.amx) name = "avx512_core_amx";
    else if (c.bf16) name = "avx512_core_bf16";
    else if ((isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni) name = "avx512_core_vnni";
    else if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) name = "avx512_core";
    else if (c.vnni) name = "avx2_vnni";
    else if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) name = "avx2";
    snprintf(c.isa, sizeof c.isa, "%s", name);
    return c;
}

/* One log line per process and reason: the scheduler creates its nets more
 * than once while it plans memory. */
static atomic_int logged_bf16, logged_int8;

static bool cpu_can(enum fr_precision p, const struct fr__cpu_caps *c) {
    if (p == FR_PRECISION_BF16) return c->bf16;
    if (p == FR_PRECISION_INT8) return c->vnni;
    return true;
}

enum fr_precision fr__cpu_resolve_precision(enum fr_precision want, int kind, const struct fr__cpu_caps *c) {
    FR_ASSERT(kind >= 0 && kind < FR_NET_COUNT);
    const struct net_policy *np = &policy[kind];
    switch (want) {
    case FR_PRECISION_BF16:
        if (!np->bf16) return FR_PRECISION_FP32;
        if (!c->bf16) {
            if (!atomic_exchange(&logged_bf16, 1))
                FR_LOGW("precision bf16: this CPU (oneDNN ISA %s) has no AVX512_BF16 or AMX; the nets run in fp32",
                        c->isa);
            return FR_PRECISION_FP32;
        }
        return FR_PRECISION_BF16;
    case FR_PRECISION_INT8:
        if (!np->int8) return FR_PRECISION_FP32;
        if (!c->vnni) {
            if (!atomic_exchange(&logged_int8, 1))
                FR_LOGW("precision int8: this CPU (oneDNN ISA %s) has no AVX512_VNNI, AVX_VNNI or AMX; the "
                        "detector runs in fp32",
                        c->isa);
            return FR_PRECISION_FP32;
        }
        return FR_PRECISION_INT8;
    case FR_PRECISION_AUTO:
        for (int i = 0; i < 3; i++) {
            enum fr_precision p = np->auto_order[i];
            if (cpu_can(p, c)) return p;
        }
        return FR_PRECISION_FP32;
    case FR_PRECISION_FP32:
    case FR_PRECISION_FP16: /* CUDA's; the CPU has no fast fp16 path in oneDNN 2.6 */
        break;
    }
    return FR_PRECISION_FP32;
}

enum fr_precision fr__cpu_net_precision(struct fr_backend *be, int kind) {
    struct fr__cpu_caps c = fr__cpu_caps();
    enum fr_precision p = fr__cpu_resolve_precision(be->precision, kind, &c);
    if (be->precision == FR_PRECISION_AUTO)
        FR_LOGD("precision auto: %s runs in %s (oneDNN ISA %s)", fr_net_model_name((enum fr_net_kind)kind),
                fr_precision_name(p), c.isa);
    return p;
}

void fr__quantize_weights(const float *w, size_t n, int32_t cout, int8_t *q, float *scale) {
    for (int32_t o = 0; o < cout; o++) scale[o] = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        int32_t o = (int32_t)(i % (size_t)cout);
        if (a > scale[o]) scale[o] = a;
    }
    /* Symmetric, per output channel: the largest weight maps to 127. An
     * all-zero channel keeps scale 1 so that nothing divides by zero. */
    for (int32_t o = 0; o < cout; o++) scale[o] = scale[o] > 0.0f ? scale[o] / 127.0f : 1.0f;
    for (size_t i = 0; i < n; i++) {
        float v = nearbyintf(w[i] / scale[i % (size_t)cout]);
        q[i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
    }
}
