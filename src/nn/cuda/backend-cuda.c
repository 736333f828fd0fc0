/* CUDA backend on cuDNN (convolutions) and cuBLAS (fully connected layers).
 *
 * Memory: at creation the backend makes one cudaMalloc of its whole budget
 * and carves it with the host-side first-fit pool of cuda-plan.c; buffers
 * (the nets' arenas) and weights are offsets in that block, so running out
 * of budget is an FR_ERR_BUDGET status from the pool, never a failed
 * cudaMalloc in the middle of serving. Host copies go through two pinned
 * staging slots (double buffering: the host fills one while the DMA of the
 * other runs), on the backend's single stream; the scheduler's device
 * thread is the one executor that uses it.
 *
 * exec_new() compiles a graph for one batch size: cuDNN descriptors per
 * convolution in NHWC, the algorithm chosen once per shape by cuDNN's
 * heuristic under a workspace cap taken from the budget, weights repacked to
 * KRSC and uploaded once (shared by every exec of the graph), and the
 * activation plan of cuda-plan.c. exec_run() only enqueues work.
 *
 * Everything here is checked: a failing CUDA, cuDNN or cuBLAS call becomes
 * FR_ERR_BACKEND (FR_ERR_DEVICE when there is no usable device) with the
 * library's message, in `err` where the interface has one and in the log
 * otherwise. The file uses cuDNN's legacy convolution API, deprecated but
 * present in cuDNN 9 (cudnn_cnn.h); it is thinner than the graph API and
 * enough for plain 2-D convolutions. */
#include <stdio.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "../backend-impl.h"
#include "cuda-plan.h"
#include "kernels.h"

_Static_assert((int)FR__K_ACT_NONE == (int)FR_ACT_NONE && (int)FR__K_ACT_RELU == (int)FR_ACT_RELU &&
                   (int)FR__K_ACT_RELU6 == (int)FR_ACT_RELU6 && (int)FR__K_ACT_LEAKY == (int)FR_ACT_LEAKY,
               "kernels.h activation codes must equal enum fr_act");

_Static_assert(sizeof(((struct fr_backend_info *)0)->device) == 128, "device name size");
#define STAGING_SLOT_BYTES ((size_t)8 << 20)
#define MAX_WEIGHTS 4096

/* A weight or bias array in device memory, shared by every exec that uses
 * the same graph array; charged to the budget once. */
struct dweight {
    const float *src; /* graph array it was made from; NULL = free slot */
    size_t off, bytes;
    int32_t refs;
};

struct cuda_ctx {
    int device;
    char name[128];
    size_t total_mem;
    enum fr_precision precision;
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    char *base; /* the one device block */
    struct fr__pool pool;
    char *pinned; /* FR__RING_SLOTS staging slots */
    cudaEvent_t ev[FR__RING_SLOTS];
    struct fr__ring ring;
    struct dweight w[MAX_WEIGHTS];
};

struct fr_buffer {
    size_t off, size; /* in the device block; size as charged (aligned) */
};

struct step {
    int32_t node;
    cudnnTensorDescriptor_t xd, yd, bd;
    cudnnFilterDescriptor_t fd;
    cudnnConvolutionDescriptor_t cd;
    cudnnActivationDescriptor_t ad;
    cudnnConvolutionFwdAlgo_t algo;
    size_t ws;
    bool fused;
    struct dweight *w, *b;
};

struct fr_exec {
    const struct fr_graph *g;
    int32_t batch;
    struct fr__cuda_plan plan;
    int32_t n_steps;
    struct step *steps; /* one per node, zeroed */
};

static const float k_one = 1.0f, k_zero = 0.0f;

static enum fr_status cu_status(cudaError_t e) {
    switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInvalidDevice: return FR_ERR_DEVICE;
    case cudaErrorMemoryAllocation: return FR_ERR_NOMEM;
    default: return FR_ERR_BACKEND;
    }
}

/* The three _TRY macros need `st`, `err`, `errlen` and a `fail` label. */
#define CU_TRY(call)                                                                                  \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) {                                                                      \
            fr_errf(err, errlen, "%s: %s failed: %s", __func__, #call, cudaGetErrorString(e_));      \
            st = cu_status(e_);                                                                       \
            goto fail;                                                                                \
        }                                                                                             \
    } while (0)
#define DNN_TRY(call)                                                                                 \
    do {                                                                                              \
        cudnnStatus_t s_ = (call);                                                                    \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                             \
            fr_errf(err, errlen, "%s: %s failed: %s", __func__, #call, cudnnGetErrorString(s_));     \
            st = FR_ERR_BACKEND;                                                                      \
            goto fail;                                                                                \
        }                                                                                             \
    } while (0)
#define BLAS_TRY(call)                                                                                \
    do {                                                                                              \
        cublasStatus_t s_ = (call);                                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                            \
            fr_errf(err, errlen, "%s: %s failed: %s", __func__, #call, cublasGetStatusString(s_));   \
            st = FR_ERR_BACKEND;                                                                      \
            goto fail;                                                                                \
        }                                                                                             \
    } while (0)
#define K_TRY(call)                                                                                   \
    do {                                                                                              \
        int e_ = (call);                                                                              \
        if (e_ != 0) {                                                                                \
            fr_errf(err, errlen, "%s: kernel %s failed: %s", __func__, #call,                         \
                    cudaGetErrorString((cudaError_t)e_));                                             \
            st = cu_status((cudaError_t)e_);                                                          \
            goto fail;                                                                                \
        }                                                                                             \
    } while (0)

int32_t fr__cuda_device_count(char *why, size_t whylen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        /* Without a driver the runtime reports "insufficient driver"; say
         * what it means for the user. */
        fr_errf(why, whylen, "no NVIDIA driver or device (%s)", cudaGetErrorString(e));
        return 0;
    }
    if (n == 0) fr_errf(why, whylen, "no CUDA device");
    return n;
}

/* ---- device memory: the pool plus the budget ---- */

static enum fr_status dev_alloc(struct fr_backend *be, size_t size, size_t *off, size_t *charged) {
    struct cuda_ctx *c = be->ctx;
    size_t a = c->pool.align;
    size_t need = ((size ? size : 1) + a - 1) & ~(a - 1);
    if (need < size || fr__budget_take(be, need) != FR_OK) return FR_ERR_BUDGET;
    enum fr_status st = fr__pool_alloc(&c->pool, need, off);
    if (st != FR_OK) {
        fr__budget_give(be, need);
        return st; /* fragmented: FR_ERR_BUDGET as well */
    }
    *charged = need;
    return FR_OK;
}

static void dev_release(struct fr_backend *be, size_t off, size_t charged) {
    struct cuda_ctx *c = be->ctx;
    fr__pool_free(&c->pool, off);
    fr__budget_give(be, charged);
}

static enum fr_status cuda_buffer_alloc(struct fr_backend *be, size_t size, struct fr_buffer **out) {
    *out = NULL;
    struct fr_buffer *b = fr_calloc(1, sizeof(*b));
    if (!b) return FR_ERR_NOMEM;
    enum fr_status st = dev_alloc(be, size, &b->off, &b->size);
    if (st != FR_OK) {
        fr_free(b);
        return st;
    }
    *out = b;
    return FR_OK;
}

static void cuda_buffer_free(struct fr_backend *be, struct fr_buffer *b) {
    if (!b) return;
    dev_release(be, b->off, b->size);
    fr_free(b);
}

/* ---- staging: host <-> device through the pinned ring ---- */

static enum fr_status slot_wait(struct cuda_ctx *c, int32_t slot, char *err, size_t errlen) {
    enum fr_status st = FR_OK;
    CU_TRY(cudaEventSynchronize(c->ev[slot]));
    fr__ring_done(&c->ring, slot);
fail:
    return st;
}

static enum fr_status copy_in(struct cuda_ctx *c, char *dst, const void *src, size_t n, char *err, size_t errlen) {
    enum fr_status st = FR_OK;
    for (size_t pos = 0; pos < n;) {
        size_t len = n - pos < c->ring.slot_bytes ? n - pos : c->ring.slot_bytes;
        bool wait;
        int32_t slot = fr__ring_acquire(&c->ring, &wait);
        if (wait && (st = slot_wait(c, slot, err, errlen)) != FR_OK) return st;
        char *pin = c->pinned + (size_t)slot * c->ring.slot_bytes;
        memcpy(pin, (const char *)src + pos, len);
        CU_TRY(cudaMemcpyAsync(dst + pos, pin, len, cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaEventRecord(c->ev[slot], c->stream));
        fr__ring_submitted(&c->ring, slot);
        pos += len;
    }
fail:
    return st;
}

/* Downloads are complete when this returns: each chunk's D2H copy is
 * enqueued before the previous chunk is copied out of its slot, so the DMA
 * of one overlaps the host copy of the other. */
static enum fr_status copy_out(struct cuda_ctx *c, void *dst, const char *src, size_t n, char *err, size_t errlen) {
    enum fr_status st = FR_OK;
    int32_t prev = -1;
    size_t prev_pos = 0, prev_len = 0;
    for (size_t pos = 0; pos <= n;) {
        int32_t slot = -1;
        size_t len = n - pos < c->ring.slot_bytes ? n - pos : c->ring.slot_bytes;
        if (len) {
            bool wait;
            slot = fr__ring_acquire(&c->ring, &wait);
            if (wait && (st = slot_wait(c, slot, err, errlen)) != FR_OK) return st;
            CU_TRY(cudaMemcpyAsync(c->pinned + (size_t)slot * c->ring.slot_bytes, src + pos, len,
                                   cudaMemcpyDeviceToHost, c->stream));
            CU_TRY(cudaEventRecord(c->ev[slot], c->stream));
            fr__ring_submitted(&c->ring, slot);
        }
        if (prev >= 0) {
            if ((st = slot_wait(c, prev, err, errlen)) != FR_OK) return st;
            memcpy((char *)dst + prev_pos, c->pinned + (size_t)prev * c->ring.slot_bytes, prev_len);
        }
        if (!len) break;
        prev = slot, prev_pos = pos, prev_len = len;
        pos += len;
    }
fail:
    return st;
}

static enum fr_status cuda_upload(struct fr_backend *be, struct fr_buffer *dst, size_t off, const void *src,
                                  size_t n) {
    struct cuda_ctx *c = be->ctx;
    if (off > dst->size || n > dst->size - off) return FR_ERR_INVALID;
    char err[256];
    enum fr_status st = copy_in(c, c->base + dst->off + off, src, n, err, sizeof err);
    if (st != FR_OK) FR_LOGE("%s", err);
    return st;
}

static enum fr_status cuda_download(struct fr_backend *be, void *dst, struct fr_buffer *src, size_t off, size_t n) {
    struct cuda_ctx *c = be->ctx;
    if (off > src->size || n > src->size - off) return FR_ERR_INVALID;
    char err[256];
    enum fr_status st = copy_out(c, dst, c->base + src->off + off, n, err, sizeof err);
    if (st != FR_OK) FR_LOGE("%s", err);
    return st;
}

/* ---- net-input preparation ---- */

/* Uploads the image's crop as uint8 (a quarter of the bytes of the float
 * input) through the pinned ring, whole rows per slot, into a device
 * scratch block from the pool, and enqueues the resize + normalisation
 * kernel. The scratch block goes back to the pool as soon as the kernel is
 * enqueued: every device operation of the backend is on its one stream, so
 * whatever reuses the block is ordered after the kernel. When the budget
 * has no room for the crop (or a row does not fit a slot), the same
 * arithmetic runs on the host (fr__cuda_prep_emulate) and the floats are
 * uploaded: slower, never a failure. */
static enum fr_status prep_on_host(struct cuda_ctx *c, char *dst, const struct fr_prep_image *im,
                                   const struct fr__k_prep *k, size_t src_bytes, char *err, size_t errlen) {
    size_t out_bytes = (size_t)k->out_w * k->out_h * 3 * sizeof(float);
    uint8_t *crop = fr_malloc(src_bytes);
    float *tmp = fr_malloc(out_bytes);
    enum fr_status st = FR_ERR_NOMEM;
    if (crop && tmp) {
        fr__cuda_prep_pack(im, 0, im->p.h, crop);
        fr__cuda_prep_emulate(k, crop, tmp);
        st = copy_in(c, dst, tmp, out_bytes, err, errlen);
    } else {
        fr_errf(err, errlen, "%s: out of host memory", __func__);
    }
    fr_free(crop);
    fr_free(tmp);
    return st;
}

static enum fr_status cuda_prep_image(struct fr_backend *be, struct fr_buffer *dst, size_t off,
                                      const struct fr_prep_image *im) {
    struct cuda_ctx *c = be->ctx;
    char err[256];
    size_t errlen = sizeof err;
    struct fr__k_prep k;
    size_t src_bytes, soff = 0, charged = 0;
    enum fr_status st = fr__cuda_prep_plan(im, &k, &src_bytes);
    if (st != FR_OK) {
        FR_LOGE("cuda: %s: invalid preparation parameters", __func__);
        return st;
    }
    size_t out_bytes = (size_t)k.out_w * k.out_h * 3 * sizeof(float);
    if (off > dst->size || out_bytes > dst->size - off) return FR_ERR_INVALID;
    char *out = c->base + dst->off + off;
    int32_t per_slot = fr__cuda_prep_rows_per_slot(im, c->ring.slot_bytes);
    if (per_slot < 1 || dev_alloc(be, src_bytes, &soff, &charged) != FR_OK) {
        st = prep_on_host(c, out, im, &k, src_bytes, err, errlen);
        goto done;
    }
    size_t row_bytes = (size_t)k.src_w * 3;
    for (int32_t row = 0; row < k.src_h; row += per_slot) {
        int32_t rows = k.src_h - row < per_slot ? k.src_h - row : per_slot;
        bool wait;
        int32_t slot = fr__ring_acquire(&c->ring, &wait);
        if (wait && (st = slot_wait(c, slot, err, errlen)) != FR_OK) goto release;
        uint8_t *pin = (uint8_t *)c->pinned + (size_t)slot * c->ring.slot_bytes;
        fr__cuda_prep_pack(im, row, rows, pin);
        CU_TRY(cudaMemcpyAsync(c->base + soff + (size_t)row * row_bytes, pin, (size_t)rows * row_bytes,
                               cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaEventRecord(c->ev[slot], c->stream));
        fr__ring_submitted(&c->ring, slot);
    }
    K_TRY(fr__cuk_prep(c->stream, (float *)out, (const uint8_t *)(c->base + soff), &k));
fail:
release:
    dev_release(be, soff, charged);
done:
    if (st != FR_OK) FR_LOGE("cuda: %s", err);
    return st;
}

/* ---- weights ---- */

/* Device copy of `n` floats that the host array `host` holds (already in the
 * device layout), keyed by the graph array `key`; shared and refcounted. */
static enum fr_status get_weights(struct fr_backend *be, const float *key, const float *host, size_t n,
                                  struct dweight **out, char *err, size_t errlen) {
    struct cuda_ctx *c = be->ctx;
    struct dweight *free_slot = NULL;
    for (int32_t i = 0; i < MAX_WEIGHTS; i++) {
        if (c->w[i].src == key) {
            c->w[i].refs++;
            *out = &c->w[i];
            return FR_OK;
        }
        if (!c->w[i].src && !free_slot) free_slot = &c->w[i];
    }
    if (!free_slot) {
        fr_errf(err, errlen, "%s: more than %d weight arrays", __func__, MAX_WEIGHTS);
        return FR_ERR_NOMEM;
    }
    size_t off, charged;
    enum fr_status st = dev_alloc(be, n * sizeof(float), &off, &charged);
    if (st != FR_OK) {
        fr_errf(err, errlen, "weights need %zu more bytes than the device memory budget has left", n * sizeof(float));
        return st;
    }
    if ((st = copy_in(c, c->base + off, host, n * sizeof(float), err, errlen)) != FR_OK) {
        dev_release(be, off, charged);
        return st;
    }
    *free_slot = (struct dweight){ .src = key, .off = off, .bytes = charged, .refs = 1 };
    *out = free_slot;
    return FR_OK;
}

static void put_weights(struct fr_backend *be, struct dweight *w) {
    if (!w || --w->refs > 0) return;
    dev_release(be, w->off, w->bytes);
    memset(w, 0, sizeof(*w));
}

/* ---- compile ---- */

static void exec_free(struct fr_backend *be, struct fr_exec *ex) {
    if (!ex) return;
    for (int32_t i = 0; ex->steps && i < ex->g->n_nodes; i++) {
        struct step *sp = &ex->steps[i];
        if (sp->xd) cudnnDestroyTensorDescriptor(sp->xd);
        if (sp->yd) cudnnDestroyTensorDescriptor(sp->yd);
        if (sp->bd) cudnnDestroyTensorDescriptor(sp->bd);
        if (sp->fd) cudnnDestroyFilterDescriptor(sp->fd);
        if (sp->cd) cudnnDestroyConvolutionDescriptor(sp->cd);
        if (sp->ad) cudnnDestroyActivationDescriptor(sp->ad);
        put_weights(be, sp->w);
        put_weights(be, sp->b);
    }
    fr__cuda_plan_free(&ex->plan);
    fr_free(ex->steps);
    fr_free(ex);
}

/* Chooses the convolution algorithm for sp under `cap` workspace bytes and
 * sets the descriptor's math type: FMA only for fp32 (Ampere's default
 * math would use TF32, which misses the 1e-4 conformance bound), tensor
 * cores with fp16 conversion for fp16. */
static enum fr_status choose_algo(struct cuda_ctx *c, struct step *sp, size_t cap, char *err, size_t errlen) {
    enum fr_status st = FR_OK;
    bool fp16 = c->precision == FR_PRECISION_FP16;
    cudnnMathType_t math = fp16 ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : CUDNN_FMA_MATH;
    DNN_TRY(cudnnSetConvolutionMathType(sp->cd, math));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    struct fr__algo_perf cand[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    DNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, sp->xd, sp->fd, sp->cd, sp->yd,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; i++) {
        bool tensor_op = perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                         perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
        cand[i] = (struct fr__algo_perf){ .algo = (int32_t)perf[i].algo,
                                          .ok = perf[i].status == CUDNN_STATUS_SUCCESS && (fp16 || !tensor_op),
                                          .workspace = perf[i].memory };
    }
    /* The heuristic's memory figure is for its own math type; re-query the
     * workspace under ours and drop candidates that then fail or grow. */
    for (;;) {
        int32_t k = fr__cuda_pick_algo(cand, n, cap);
        if (k < 0) break;
        cudnnMathType_t m = fp16 ? perf[k].mathType : CUDNN_FMA_MATH;
        size_t ws = 0;
        if (cudnnSetConvolutionMathType(sp->cd, m) == CUDNN_STATUS_SUCCESS &&
            cudnnGetConvolutionForwardWorkspaceSize(c->dnn, sp->xd, sp->fd, sp->cd, sp->yd, perf[k].algo, &ws) ==
                CUDNN_STATUS_SUCCESS &&
            ws <= cap) {
            sp->algo = perf[k].algo;
            sp->ws = ws;
            return FR_OK;
        }
        cand[k].ok = false;
    }
    /* IMPLICIT_GEMM works for every shape without workspace. */
    DNN_TRY(cudnnSetConvolutionMathType(sp->cd, math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH));
    sp->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    DNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(c->dnn, sp->xd, sp->fd, sp->cd, sp->yd, sp->algo, &sp->ws));
fail:
    return st;
}

static enum fr_status compile_conv(struct fr_backend *be, const struct fr_graph *g, int32_t batch,
                                   const struct fr_node *nd, struct step *sp, size_t cap, char *err, size_t errlen) {
    struct cuda_ctx *c = be->ctx;
    enum fr_status st = FR_OK;
    float *packed = NULL;
    struct fr_tshape is = g->shapes[nd->in[0]], os = g->shapes[nd->out];
    bool explicit_pad = fr__cuda_needs_explicit_pad(nd);
    int32_t ih = is.h, iw = is.w, ph = nd->pad_t, pw = nd->pad_l;
    if (explicit_pad) {
        ih += nd->pad_t + nd->pad_b;
        iw += nd->pad_l + nd->pad_r;
        ph = pw = 0;
    }
    int32_t cin_g = is.c / nd->groups;
    DNN_TRY(cudnnCreateTensorDescriptor(&sp->xd));
    DNN_TRY(cudnnCreateTensorDescriptor(&sp->yd));
    DNN_TRY(cudnnCreateTensorDescriptor(&sp->bd));
    DNN_TRY(cudnnCreateFilterDescriptor(&sp->fd));
    DNN_TRY(cudnnCreateConvolutionDescriptor(&sp->cd));
    DNN_TRY(cudnnSetTensor4dDescriptor(sp->xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, batch, is.c, ih, iw));
    DNN_TRY(cudnnSetTensor4dDescriptor(sp->yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, batch, os.c, os.h, os.w));
    DNN_TRY(cudnnSetTensor4dDescriptor(sp->bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, os.c, 1, 1));
    DNN_TRY(cudnnSetFilter4dDescriptor(sp->fd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, os.c, cin_g, nd->kh, nd->kw));
    DNN_TRY(cudnnSetConvolution2dDescriptor(sp->cd, ph, pw, nd->sh, nd->sw, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT));
    DNN_TRY(cudnnSetConvolutionGroupCount(sp->cd, nd->groups));
    int on, oc, oh, ow;
    DNN_TRY(cudnnGetConvolution2dForwardOutputDim(sp->cd, sp->xd, sp->fd, &on, &oc, &oh, &ow));
    if (on != batch || oc != os.c || oh != os.h || ow != os.w) {
        /* The graph's TF padding rules and cuDNN's must agree; a mismatch
         * is a bug here, reported rather than run. */
        fr_errf(err, errlen, "%s: %s: cuDNN output %dx%dx%dx%d, graph %dx%dx%dx%d", g->name, nd->name, on, oh, ow,
                oc, batch, os.h, os.w, os.c);
        st = FR_ERR_INTERNAL;
        goto fail;
    }
    if ((st = choose_algo(c, sp, cap, err, errlen)) != FR_OK) goto fail;
    /* cuDNN fuses bias + relu (+ the residual as z) in one call; relu6 and
     * leaky are not among its fused activations, so those convolutions get
     * the bias/activation epilogue kernel instead. */
    sp->fused = nd->act == FR_ACT_RELU && nd->b;
    if (sp->fused) {
        DNN_TRY(cudnnCreateActivationDescriptor(&sp->ad));
        DNN_TRY(cudnnSetActivationDescriptor(sp->ad, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
    }
    size_t wn = (size_t)nd->kh * nd->kw * cin_g * os.c;
    packed = fr_malloc(wn * sizeof(float));
    if (!packed) {
        st = FR_ERR_NOMEM;
        fr_errf(err, errlen, "%s: out of memory", g->name);
        goto fail;
    }
    fr__cuda_pack_krsc(nd, is.c, os.c, packed);
    if ((st = get_weights(be, nd->w, packed, wn, &sp->w, err, errlen)) != FR_OK) goto fail;
    if (nd->b && (st = get_weights(be, nd->b, nd->b, (size_t)os.c, &sp->b, err, errlen)) != FR_OK) goto fail;
fail:
    fr_free(packed);
    return st;
}

static enum fr_status cuda_exec_new(struct fr_backend *be, const struct fr_graph *g, int32_t batch,
                                    struct fr_exec **out, char *err, size_t errlen) {
    struct cuda_ctx *c = be->ctx;
    enum fr_status st = FR_OK;
    *out = NULL;
    struct fr_exec *ex = fr_calloc(1, sizeof(*ex));
    if (!ex) return FR_ERR_NOMEM;
    ex->g = g;
    ex->batch = batch;
    ex->steps = fr_calloc((size_t)g->n_nodes, sizeof(*ex->steps));
    if (!ex->steps) {
        fr_free(ex);
        return FR_ERR_NOMEM;
    }
    size_t cap = fr__cuda_workspace_cap(be->memory_limit - be->memory_used), ws = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct fr_node *nd = &g->nodes[i];
        struct step *sp = &ex->steps[i];
        sp->node = i;
        ex->n_steps = i + 1;
        if (nd->op == FR_OP_CONV) {
            if ((st = compile_conv(be, g, batch, nd, sp, cap, err, errlen)) != FR_OK) goto fail;
            if (sp->ws > ws) ws = sp->ws;
        } else if (nd->op == FR_OP_FC) {
            struct fr_tshape is = g->shapes[nd->in[0]], os = g->shapes[nd->out];
            size_t cin = (size_t)is.h * is.w * is.c;
            if ((st = get_weights(be, nd->w, nd->w, cin * (size_t)os.c, &sp->w, err, errlen)) != FR_OK) goto fail;
            if (nd->b && (st = get_weights(be, nd->b, nd->b, (size_t)os.c, &sp->b, err, errlen)) != FR_OK)
                goto fail;
        }
    }
    if ((st = fr__cuda_plan_arena(g, batch, ws, &ex->plan)) != FR_OK) {
        fr_errf(err, errlen, "%s: out of memory", g->name);
        goto fail;
    }
    /* Weight uploads are asynchronous; surface their errors here, at load,
     * rather than in the first request. */
    CU_TRY(cudaStreamSynchronize(c->stream));
    *out = ex;
    return FR_OK;
fail:
    exec_free(be, ex);
    return st;
}

static size_t cuda_exec_arena_bytes(struct fr_exec *ex) { return ex->plan.arena_bytes; }
static size_t cuda_exec_input_offset(struct fr_exec *ex) { return ex->plan.offset[ex->g->input]; }
static size_t cuda_exec_output_offset(struct fr_exec *ex, int32_t i) { return ex->plan.offset[ex->g->outputs[i]]; }

/* ---- run ---- */

static enum fr_status run_conv(struct cuda_ctx *c, struct fr_exec *ex, struct step *sp, char *base, char *err,
                               size_t errlen) {
    enum fr_status st = FR_OK;
    const struct fr_node *nd = &ex->g->nodes[sp->node];
    struct fr_tshape is = ex->g->shapes[nd->in[0]], os = ex->g->shapes[nd->out];
    const float *x = (const float *)(base + ex->plan.offset[nd->in[0]]);
    float *y = (float *)(base + ex->plan.offset[nd->out]);
    const float *z = nd->sum ? (const float *)(base + ex->plan.offset[nd->in[1]]) : NULL;
    void *ws = sp->ws ? base + ex->plan.workspace_offset : NULL;
    const float *w = (const float *)(c->base + sp->w->off);
    const float *b = sp->b ? (const float *)(c->base + sp->b->off) : NULL;
    if (fr__cuda_needs_explicit_pad(nd)) {
        float *p = (float *)(base + ex->plan.pad_offset[sp->node]);
        K_TRY(fr__cuk_pad(c->stream, p, x, ex->batch, is.h, is.w, is.c, nd->pad_t, nd->pad_b, nd->pad_l, nd->pad_r));
        x = p;
    }
    if (sp->fused) {
        /* y = relu(conv(x) + alpha2 * z + bias); z must be a valid tensor
         * even when alpha2 is 0, so y stands in for it then. */
        const float *alpha2 = z ? &k_one : &k_zero;
        cudnnStatus_t s = cudnnConvolutionBiasActivationForward(c->dnn, &k_one, sp->xd, x, sp->fd, w, sp->cd, sp->algo,
                                                                ws, sp->ws, alpha2, sp->yd, z ? z : y, sp->bd, b,
                                                                sp->ad, sp->yd, y);
        if (s == CUDNN_STATUS_SUCCESS) return FR_OK;
        if (s != CUDNN_STATUS_NOT_SUPPORTED) {
            fr_errf(err, errlen, "%s: cudnnConvolutionBiasActivationForward failed: %s", __func__,
                    cudnnGetErrorString(s));
            return FR_ERR_BACKEND;
        }
        /* Some algorithm/layout pairs have no fused kernel: from now on this
         * step runs the convolution and the epilogue separately. */
        FR_LOGW("cuda: %s: %s: no fused kernel for algorithm %d; running unfused", ex->g->name, nd->name,
                (int)sp->algo);
        sp->fused = false;
    }
    DNN_TRY(cudnnConvolutionForward(c->dnn, &k_one, sp->xd, x, sp->fd, w, sp->cd, sp->algo, ws, sp->ws, &k_zero,
                                    sp->yd, y));
    if (b || z || nd->act != FR_ACT_NONE)
        K_TRY(fr__cuk_bias_act(c->stream, y, y, b, z, (int64_t)ex->batch * os.h * os.w * os.c, os.c, (int32_t)nd->act,
                               nd->alpha));
fail:
    return st;
}

static enum fr_status run_fc(struct cuda_ctx *c, struct fr_exec *ex, const struct step *sp, char *base, char *err,
                             size_t errlen) {
    enum fr_status st = FR_OK;
    const struct fr_node *nd = &ex->g->nodes[sp->node];
    struct fr_tshape is = ex->g->shapes[nd->in[0]], os = ex->g->shapes[nd->out];
    int cin = is.h * is.w * is.c, cout = os.c;
    const float *x = (const float *)(base + ex->plan.offset[nd->in[0]]);
    float *y = (float *)(base + ex->plan.offset[nd->out]);
    const float *w = (const float *)(c->base + sp->w->off);
    /* Row-major y[batch][cout] = x[batch][cin] * w[cin][cout] is, in
     * cuBLAS's column-major terms, y^T = w^T * x^T with no transposes. */
    if (c->precision == FR_PRECISION_FP16)
        BLAS_TRY(cublasGemmEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, cout, ex->batch, cin, &k_one, w, CUDA_R_32F, cout, x,
                              CUDA_R_32F, cin, &k_zero, y, CUDA_R_32F, cout, CUBLAS_COMPUTE_32F_FAST_16F,
                              CUBLAS_GEMM_DEFAULT));
    else
        BLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, cout, ex->batch, cin, &k_one, w, cout, x, cin, &k_zero,
                             y, cout));
    const float *b = sp->b ? (const float *)(c->base + sp->b->off) : NULL;
    if (b || nd->act != FR_ACT_NONE)
        K_TRY(fr__cuk_bias_act(c->stream, y, y, b, NULL, (int64_t)ex->batch * cout, cout, (int32_t)nd->act,
                               nd->alpha));
fail:
    return st;
}

static enum fr_status run_node(struct cuda_ctx *c, struct fr_exec *ex, struct step *sp, char *base, char *err,
                               size_t errlen) {
    enum fr_status st = FR_OK;
    const struct fr_node *nd = &ex->g->nodes[sp->node];
    struct fr_tshape os = ex->g->shapes[nd->out];
    int32_t n = ex->batch;
    float *y = (float *)(base + ex->plan.offset[nd->out]);
    const float *x = nd->in[0] >= 0 ? (const float *)(base + ex->plan.offset[nd->in[0]]) : NULL;
    struct fr_tshape is = nd->in[0] >= 0 ? ex->g->shapes[nd->in[0]] : os;
    switch (nd->op) {
    case FR_OP_INPUT: return FR_OK;
    case FR_OP_CONV: return run_conv(c, ex, sp, base, err, errlen);
    case FR_OP_FC: return run_fc(c, ex, sp, base, err, errlen);
    case FR_OP_POOL:
        K_TRY(fr__cuk_pool(c->stream, y, x, n, is.h, is.w, is.c, os.h, os.w, nd->kh, nd->kw, nd->sh, nd->sw,
                           nd->pad_t, nd->pad_l, nd->pool_max));
        break;
    case FR_OP_GLOBAL_AVG:
        K_TRY(fr__cuk_pool(c->stream, y, x, n, is.h, is.w, is.c, 1, 1, is.h, is.w, 1, 1, 0, 0, 0));
        break;
    case FR_OP_ACT:
        K_TRY(fr__cuk_bias_act(c->stream, y, x, NULL, NULL, (int64_t)n * os.h * os.w * os.c, os.c, (int32_t)nd->act,
                               nd->alpha));
        break;
    case FR_OP_PAD_ADD: {
        struct fr_tshape bs = ex->g->shapes[nd->in[1]];
        const float *b = (const float *)(base + ex->plan.offset[nd->in[1]]);
        K_TRY(fr__cuk_pad_add(c->stream, y, x, b, n, os.h, os.w, os.c, is.h, is.w, is.c, bs.h, bs.w, bs.c,
                              (int32_t)nd->act, nd->alpha));
        break;
    }
    }
fail:
    return st;
}

static enum fr_status cuda_exec_run(struct fr_backend *be, struct fr_exec *ex, struct fr_buffer *arena) {
    struct cuda_ctx *c = be->ctx;
    if (arena->size < ex->plan.arena_bytes) return FR_ERR_BUDGET;
    char *base = c->base + arena->off;
    char err[512];
    /* The device thread may not be the thread that created the backend,
     * and the current device is per host thread. */
    cudaError_t e = cudaSetDevice(c->device);
    if (e != cudaSuccess) {
        FR_LOGE("cuda: %s: cudaSetDevice: %s", __func__, cudaGetErrorString(e));
        return cu_status(e);
    }
    for (int32_t i = 0; i < ex->n_steps; i++) {
        enum fr_status st = run_node(c, ex, &ex->steps[i], base, err, sizeof err);
        if (st != FR_OK) {
            FR_LOGE("cuda: %s: node %d (%s): %s", ex->g->name, i, ex->g->nodes[i].name ? ex->g->nodes[i].name : "",
                    err);
            return st;
        }
    }
    return FR_OK;
}

static enum fr_status cuda_synchronize(struct fr_backend *be) {
    struct cuda_ctx *c = be->ctx;
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) {
        FR_LOGE("cuda: %s: %s", __func__, cudaGetErrorString(e));
        return cu_status(e);
    }
    return FR_OK;
}

static void cuda_device_info(struct fr_backend *be, struct fr_backend_info *info) {
    struct cuda_ctx *c = be->ctx;
    memcpy(info->device, c->name, sizeof info->device);
    info->memory_total = c->total_mem;
    size_t fr = 0, tot = 0;
    /* Called from a monitoring thread: make the device current there. */
    if (cudaSetDevice(c->device) == cudaSuccess && cudaMemGetInfo(&fr, &tot) == cudaSuccess) info->memory_free = fr;
}

static void cuda_free(struct fr_backend *be) {
    struct cuda_ctx *c = be->ctx;
    if (c) {
        for (int32_t i = 0; i < MAX_WEIGHTS; i++) FR_ASSERT(!c->w[i].src); /* nets freed first */
        if (c->stream) cudaStreamSynchronize(c->stream);
        for (int i = 0; i < FR__RING_SLOTS; i++)
            if (c->ev[i]) cudaEventDestroy(c->ev[i]);
        if (c->pinned) cudaFreeHost(c->pinned);
        if (c->blas) cublasDestroy(c->blas);
        if (c->dnn) cudnnDestroy(c->dnn);
        if (c->stream) cudaStreamDestroy(c->stream);
        if (c->base) cudaFree(c->base);
        fr__pool_fini(&c->pool);
        fr_free(c);
    }
    fr_free(be);
}

static bool cuda_supports_op(struct fr_backend *be, const struct fr_node *nd) { return fr__cuda_supports_op(nd); }

static const struct fr_backend_i cuda_iface = {
    .api_version = FR_BACKEND_API_VERSION,
    .name = "cuda",
    .free = cuda_free,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .supports_op = cuda_supports_op,
    .exec_new = cuda_exec_new,
    .exec_free = exec_free,
    .exec_arena_bytes = cuda_exec_arena_bytes,
    .exec_input_offset = cuda_exec_input_offset,
    .exec_output_offset = cuda_exec_output_offset,
    .exec_run = cuda_exec_run,
    .synchronize = cuda_synchronize,
    .prep_image = cuda_prep_image,
    .device_info = cuda_device_info,
};

enum fr_status fr__backend_cuda_new(const struct fr_backend_params *p, struct fr_backend **out, char *err,
                                    size_t errlen) {
    *out = NULL;
    struct fr_backend *be;
    enum fr_status st = fr__backend_alloc(&cuda_iface, sizeof(struct cuda_ctx), &be, err, errlen);
    if (st != FR_OK) return st;
    struct cuda_ctx *c = be->ctx;
    c->device = 0;
    c->precision = p->precision;
    CU_TRY(cudaSetDevice(c->device));
    struct cudaDeviceProp prop;
    CU_TRY(cudaGetDeviceProperties(&prop, c->device));
    snprintf(c->name, sizeof c->name, "%.127s", prop.name);
    size_t free_b = 0;
    CU_TRY(cudaMemGetInfo(&free_b, &c->total_mem));
    size_t limit = 0;
    if ((st = fr__cuda_memory_limit(p->memory_limit, p->memory_percent, free_b, c->total_mem, &limit, err,
                                    errlen)) != FR_OK)
        goto fail;
    if (cudaMalloc((void **)&c->base, limit) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear it: the device stays usable */
        c->base = NULL;
        fr_errf(err, errlen, "cannot allocate the device memory budget of %.1f MiB on %s (%.1f MiB free)",
                limit / 1048576.0, c->name, free_b / 1048576.0);
        st = FR_ERR_BUDGET;
        goto fail;
    }
    if ((st = fr__pool_init(&c->pool, limit, 256)) != FR_OK) goto fail;
    be->memory_limit = c->pool.size;
    CU_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    DNN_TRY(cudnnCreate(&c->dnn));
    DNN_TRY(cudnnSetStream(c->dnn, c->stream));
    BLAS_TRY(cublasCreate(&c->blas));
    BLAS_TRY(cublasSetStream(c->blas, c->stream));
    /* cuBLAS's default math keeps fp32 precision (no TF32); fp16 mode asks
     * for tensor cores per call through cublasGemmEx's compute type. */
    BLAS_TRY(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    CU_TRY(cudaHostAlloc((void **)&c->pinned, FR__RING_SLOTS * STAGING_SLOT_BYTES, cudaHostAllocDefault));
    for (int i = 0; i < FR__RING_SLOTS; i++) CU_TRY(cudaEventCreateWithFlags(&c->ev[i], cudaEventDisableTiming));
    fr__ring_init(&c->ring, STAGING_SLOT_BYTES);
    FR_LOGI("cuda: %s, %.0f MiB budget of %.0f MiB (%.0f MiB free), %s", c->name, limit / 1048576.0,
            c->total_mem / 1048576.0, free_b / 1048576.0, c->precision == FR_PRECISION_FP16 ? "fp16" : "fp32");
    *out = be;
    return FR_OK;
fail:
    cuda_free(be);
    return st;
}
