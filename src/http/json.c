/* Response documents. Faces use exactly the keys and number format of the
 * CLI's `detect --json` / `embed --json` so that one client parses both. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>

#include "http/http-impl.h"

cJSON *fr__http_json_number(double v) {
    /* cJSON prints doubles with up to 17 digits; %.9g is what the CLI
     * prints and is exact for the float32 values we hold. */
    char buf[32];
    if (!isfinite(v)) return cJSON_CreateNull();
    snprintf(buf, sizeof(buf), "%.9g", v);
    return cJSON_CreateRaw(buf);
}

static bool add_numbers(cJSON *arr, const float *v, int n) {
    for (int i = 0; i < n; i++) {
        cJSON *x = fr__http_json_number(v[i]);
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            return false;
        }
    }
    return true;
}

static cJSON *number_array(const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    if (a && !add_numbers(a, v, n)) {
        cJSON_Delete(a);
        a = NULL;
    }
    return a;
}

static bool add(cJSON *obj, const char *key, cJSON *item) {
    if (!item) return false;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

cJSON *fr__http_json_face(const struct fr_face *f, bool embedding) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (!add(o, "box", number_array(f->box, 4)) || !add(o, "score", fr__http_json_number(f->score))) goto fail;
    if (f->has_landmarks) {
        cJSON *lm = cJSON_CreateArray();
        if (!add(o, "landmarks", lm)) goto fail;
        for (int p = 0; p < FR_LANDMARKS; p++) {
            cJSON *pt = number_array(f->landmarks[p], 2);
            if (!pt || !cJSON_AddItemToArray(lm, pt)) {
                cJSON_Delete(pt);
                goto fail;
            }
        }
    }
    if (embedding && f->has_descriptor && !add(o, "embedding", number_array(f->descriptor, FR_DESCRIPTOR_DIM)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *fr__http_json_faces(const struct fr_faces *f, bool embedding) {
    cJSON *o = cJSON_CreateObject(), *faces;
    if (!o) return NULL;
    if (!add(o, "width", cJSON_CreateNumber(f->width)) || !add(o, "height", cJSON_CreateNumber(f->height)) ||
        !add(o, "faces", faces = cJSON_CreateArray()))
        goto fail;
    for (int32_t i = 0; i < f->count; i++) {
        cJSON *x = fr__http_json_face(&f->faces[i], embedding);
        if (!x || !cJSON_AddItemToArray(faces, x)) {
            cJSON_Delete(x);
            goto fail;
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

cJSON *fr__http_json_timings(const struct fr_sched_timings *t) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    /* Milliseconds with microsecond resolution are plenty for a client. */
    const struct {
        const char *k;
        double v;
    } f[] = { { "queued_ms", t->queued },     { "decode_ms", t->decode },       { "detect_ms", t->detect },
              { "landmark_ms", t->landmark }, { "recognize_ms", t->recognize }, { "total_ms", t->total } };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (!add(o, f[i].k, cJSON_CreateNumber(round(f[i].v * 1000.0) / 1000.0))) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

char *fr__http_json_error(const char *code, const char *message) {
    cJSON *root = cJSON_CreateObject(), *e;
    char *s = NULL;
    if (root && add(root, "error", e = cJSON_CreateObject()) && add(e, "code", cJSON_CreateString(code)) &&
        add(e, "message", cJSON_CreateString(message)))
        s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
