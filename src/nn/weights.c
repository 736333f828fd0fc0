/* tfjs weights manifest loader (cJSON). */
#include "facerec/weights.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fr_weights {
    char *name;
    int32_t count;
    struct fr_weight_tensor *tensors;
    char **names;
    float *arena; /* all tensor data, one block */
};

static enum fr_status read_file(const char *path, uint8_t **data, size_t *len, size_t max) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return FR_ERR_IO;
    long size;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (size_t)size > max) {
        fclose(f);
        return FR_ERR_IO;
    }
    uint8_t *buf = fr_malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return FR_ERR_NOMEM;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        fr_free(buf);
        return FR_ERR_IO;
    }
    fclose(f);
    buf[size] = 0;
    *data = buf;
    *len = (size_t)size;
    return FR_OK;
}

void fr_weights_free(struct fr_weights *w) {
    if (!w) return;
    if (w->names)
        for (int32_t i = 0; i < w->count; i++) fr_free(w->names[i]);
    fr_free(w->names);
    fr_free(w->tensors);
    fr_free_aligned(w->arena);
    fr_free(w->name);
    fr_free(w);
}

int32_t fr_weights_count(const struct fr_weights *w) { return w->count; }

const struct fr_weight_tensor *fr_weights_at(const struct fr_weights *w, int32_t i) {
    FR_ASSERT(i >= 0 && i < w->count);
    return &w->tensors[i];
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

/* Bytes per stored element for a tfjs dtype name, 0 when unsupported. */
static int dtype_bytes(const char *dt) {
    if (!strcmp(dt, "float32") || !strcmp(dt, "int32")) return 4;
    if (!strcmp(dt, "uint16") || !strcmp(dt, "float16")) return 2;
    if (!strcmp(dt, "uint8")) return 1;
    return 0;
}

struct spec {
    const cJSON *json;
    int64_t numel;
    size_t nbytes;
    int elem;        /* stored bytes per element */
    int quant;       /* 0 none, 1 affine uint8/16, 2 float16 */
    int is_int;      /* int32 stored as-is (no quantization) */
    double scale, min;
};

static enum fr_status parse_spec(const cJSON *wj, struct fr_weight_tensor *t, struct spec *s,
                                 const char *mpath, char *err, size_t errlen) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(wj, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(wj, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(wj, "dtype");
    if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype)) {
        fr_errf(err, errlen, "%s: weight entry without name, shape or dtype", mpath);
        return FR_ERR_MODEL;
    }
    int nd = cJSON_GetArraySize(shape);
    if (nd > FR_WEIGHTS_MAX_DIMS) {
        fr_errf(err, errlen, "%s: tensor %s has %d dims (max %d)", mpath, name->valuestring, nd,
                FR_WEIGHTS_MAX_DIMS);
        return FR_ERR_MODEL;
    }
    t->ndim = nd;
    t->numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e9) {
            fr_errf(err, errlen, "%s: tensor %s has a bad shape", mpath, name->valuestring);
            return FR_ERR_MODEL;
        }
        t->shape[i] = (int64_t)d->valuedouble;
        t->numel *= t->shape[i];
        if (t->numel > ((int64_t)1 << 30)) {
            fr_errf(err, errlen, "%s: tensor %s is too large", mpath, name->valuestring);
            return FR_ERR_MODEL;
        }
    }
    memset(s, 0, sizeof(*s));
    s->json = wj;
    s->numel = t->numel;
    const char *dt = dtype->valuestring;
    if (strcmp(dt, "float32") != 0 && strcmp(dt, "int32") != 0) {
        fr_errf(err, errlen, "%s: tensor %s has unsupported dtype %s", mpath, name->valuestring, dt);
        return FR_ERR_MODEL;
    }
    s->is_int = !strcmp(dt, "int32");
    s->elem = 4;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(wj, "quantization");
    if (q) {
        const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
        if (!cJSON_IsString(qd) || !dtype_bytes(qd->valuestring) || !strcmp(qd->valuestring, "float32") ||
            !strcmp(qd->valuestring, "int32")) {
            fr_errf(err, errlen, "%s: tensor %s has an unsupported quantization", mpath, name->valuestring);
            return FR_ERR_MODEL;
        }
        s->elem = dtype_bytes(qd->valuestring);
        if (!strcmp(qd->valuestring, "float16")) {
            if (s->is_int) {
                fr_errf(err, errlen, "%s: tensor %s: float16 quantization of int32", mpath, name->valuestring);
                return FR_ERR_MODEL;
            }
            s->quant = 2;
        } else {
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(q, "scale");
            const cJSON *mn = cJSON_GetObjectItemCaseSensitive(q, "min");
            if (!cJSON_IsNumber(sc) || !cJSON_IsNumber(mn)) {
                fr_errf(err, errlen, "%s: tensor %s: quantization without scale/min", mpath, name->valuestring);
                return FR_ERR_MODEL;
            }
            s->quant = 1;
            s->scale = sc->valuedouble;
            s->min = mn->valuedouble;
        }
    }
    s->nbytes = (size_t)s->numel * (size_t)s->elem;
    return FR_OK;
}

static void decode_values(const struct spec *s, const uint8_t *src, float *dst) {
    for (int64_t i = 0; i < s->numel; i++) {
        const uint8_t *p = src + (size_t)i * (size_t)s->elem;
        if (s->quant == 1) {
            uint32_t q = s->elem == 1 ? p[0] : (uint32_t)(p[0] | (p[1] << 8));
            /* tfjs computes q * scale + min in double and stores a float32;
             * int32 tensors are rounded. Doing the same keeps us bit-exact. */
            double v = (double)q * s->scale + s->min;
            dst[i] = s->is_int ? (float)round(v) : (float)v;
        } else if (s->quant == 2) {
            dst[i] = half_to_float((uint16_t)(p[0] | (p[1] << 8)));
        } else if (s->is_int) {
            int32_t v;
            memcpy(&v, p, 4);
            dst[i] = (float)v;
        } else {
            memcpy(&dst[i], p, 4);
        }
    }
}

enum fr_status fr_weights_load(const char *dir, const char *name, struct fr_weights **out, char *err,
                               size_t errlen) {
    FR_ASSERT(dir && name && out);
    *out = NULL;
    char mpath[4096];
    snprintf(mpath, sizeof(mpath), "%s/%s-weights_manifest.json", dir, name);
    uint8_t *text = NULL, *bin = NULL;
    size_t tlen = 0;
    cJSON *root = NULL;
    struct spec *specs = NULL;
    struct fr_weights *w = NULL;
    enum fr_status st = read_file(mpath, &text, &tlen, (size_t)16 << 20);
    if (st != FR_OK) {
        fr_errf(err, errlen, "%s: %s (run scripts/fetch-models.sh or `make models`)", mpath,
                st == FR_ERR_NOMEM ? "out of memory" : "missing or unreadable");
        return st == FR_ERR_NOMEM ? st : FR_ERR_MODEL;
    }
    st = FR_ERR_MODEL;
    root = cJSON_ParseWithLength((const char *)text, tlen);
    if (!cJSON_IsArray(root)) {
        fr_errf(err, errlen, "%s: not a tfjs weights manifest (expected a JSON array)", mpath);
        goto fail;
    }
    /* First pass: count tensors and floats so one arena holds everything. */
    int32_t count = 0;
    const cJSON *group;
    cJSON_ArrayForEach(group, root) {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(group, "weights");
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(group, "paths");
        if (!cJSON_IsArray(ws) || !cJSON_IsArray(paths)) {
            fr_errf(err, errlen, "%s: group without weights or paths", mpath);
            goto fail;
        }
        count += cJSON_GetArraySize(ws);
    }
    w = fr_calloc(1, sizeof(*w));
    if (!w) goto oom;
    w->name = fr_strdup(name);
    w->tensors = fr_calloc((size_t)count, sizeof(*w->tensors));
    w->names = fr_calloc((size_t)count, sizeof(char *));
    specs = fr_calloc((size_t)count, sizeof(*specs));
    if (!w->name || !w->tensors || !w->names || !specs) goto oom;
    int64_t total = 0;
    int32_t k = 0;
    cJSON_ArrayForEach(group, root) {
        const cJSON *wj;
        cJSON_ArrayForEach(wj, cJSON_GetObjectItemCaseSensitive(group, "weights")) {
            if ((st = parse_spec(wj, &w->tensors[k], &specs[k], mpath, err, errlen)) != FR_OK) goto fail;
            w->names[k] = fr_strdup(cJSON_GetObjectItemCaseSensitive(wj, "name")->valuestring);
            if (!w->names[k]) goto oom;
            w->tensors[k].name = w->names[k];
            /* Keep every tensor 64-byte aligned inside the arena. */
            total += (specs[k].numel + 15) & ~(int64_t)15;
            k++;
        }
    }
    w->count = count;
    w->arena = fr_malloc_aligned((size_t)total * sizeof(float) + 64);
    if (!w->arena) goto oom;
    /* Second pass: read each group's shards back to back and decode. */
    int64_t off = 0;
    k = 0;
    st = FR_ERR_MODEL;
    cJSON_ArrayForEach(group, root) {
        size_t need = 0, have = 0;
        int32_t first = k;
        int32_t n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(group, "weights"));
        for (int32_t i = 0; i < n; i++) need += specs[first + i].nbytes;
        bin = fr_malloc(need + 1);
        if (!bin) goto oom;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(group, "paths")) {
            if (!cJSON_IsString(p) || strchr(p->valuestring, '/')) {
                fr_errf(err, errlen, "%s: bad shard path", mpath);
                goto fail;
            }
            char bpath[4096];
            snprintf(bpath, sizeof(bpath), "%s/%s", dir, p->valuestring);
            uint8_t *chunk;
            size_t clen;
            enum fr_status rs = read_file(bpath, &chunk, &clen, (size_t)1 << 30);
            if (rs != FR_OK) {
                fr_errf(err, errlen, "%s: missing or unreadable (run scripts/fetch-models.sh)", bpath);
                st = rs == FR_ERR_NOMEM ? rs : FR_ERR_MODEL;
                goto fail;
            }
            if (have + clen > need) {
                fr_errf(err, errlen, "%s: %zu bytes, but the manifest's tensors need %zu (wrong file; run scripts/fetch-models.sh)",
                        bpath, have + clen, need);
                fr_free(chunk);
                goto fail;
            }
            memcpy(bin + have, chunk, clen);
            have += clen;
            fr_free(chunk);
        }
        if (have != need) {
            const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(group, "paths"), 0);
            fr_errf(err, errlen, "%s/%s: shards hold %zu bytes, the manifest's tensors need %zu (truncated; run scripts/fetch-models.sh)",
                    dir, cJSON_IsString(p0) ? p0->valuestring : "?", have, need);
            goto fail;
        }
        size_t pos = 0;
        for (int32_t i = 0; i < n; i++, k++) {
            float *dst = w->arena + off;
            decode_values(&specs[k], bin + pos, dst);
            w->tensors[k].data = dst;
            pos += specs[k].nbytes;
            off += (specs[k].numel + 15) & ~(int64_t)15;
        }
        fr_free(bin);
        bin = NULL;
    }
    cJSON_Delete(root);
    fr_free(text);
    fr_free(specs);
    *out = w;
    return FR_OK;
oom:
    fr_errf(err, errlen, "%s: out of memory", mpath);
    st = FR_ERR_NOMEM;
fail:
    fr_free(bin);
    fr_free(specs);
    cJSON_Delete(root);
    fr_free(text);
    fr_weights_free(w);
    return st;
}

enum fr_status fr_weights_get(const struct fr_weights *w, const char *name, int32_t ndim, const int64_t *shape,
                              const struct fr_weight_tensor **out, char *err, size_t errlen) {
    *out = NULL;
    for (int32_t i = 0; i < w->count; i++) {
        const struct fr_weight_tensor *t = &w->tensors[i];
        if (strcmp(t->name, name) != 0) continue;
        int ok = t->ndim == ndim;
        for (int32_t d = 0; ok && d < ndim; d++)
            if (shape && shape[d] >= 0 && shape[d] != t->shape[d]) ok = 0;
        if (!ok) {
            char have[96] = "", want[96] = "";
            for (int32_t d = 0; d < t->ndim; d++)
                snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%lld", d ? "," : "", (long long)t->shape[d]);
            for (int32_t d = 0; d < ndim; d++)
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%lld", d ? "," : "",
                         shape ? (long long)shape[d] : -1LL);
            fr_errf(err, errlen, "model %s: tensor %s has shape [%s], expected [%s]", w->name, name, have, want);
            return FR_ERR_SHAPE;
        }
        *out = t;
        return FR_OK;
    }
    fr_errf(err, errlen, "model %s: tensor %s is missing from the manifest", w->name, name);
    return FR_ERR_MODEL;
}
