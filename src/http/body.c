/* Request bodies into encoded images: raw bytes, multipart/form-data and
 * JSON with base64 strings. The whole body is buffered first (bounded by
 * max_body_bytes in server.c), so the parsers work on one contiguous
 * buffer and raw and multipart images are slices of it, never copies. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http-impl.h"

static bool has_prefix_ci(const char *s, const char *prefix) {
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

enum fr__http_body_kind fr__http_body_kind(const char *ct) {
    if (!ct) return FR__HTTP_BODY_RAW;
    while (*ct == ' ' || *ct == '\t') ct++;
    if (!*ct) return FR__HTTP_BODY_RAW;
    if (has_prefix_ci(ct, "image/") || has_prefix_ci(ct, "application/octet-stream")) return FR__HTTP_BODY_RAW;
    /* curl --data-binary @photo.jpg sends this type: take it as the raw
     * bytes it almost always is; a real form body fails to decode (400). */
    if (has_prefix_ci(ct, "application/x-www-form-urlencoded")) return FR__HTTP_BODY_RAW;
    if (has_prefix_ci(ct, "multipart/form-data")) return FR__HTTP_BODY_MULTIPART;
    if (has_prefix_ci(ct, "application/json")) return FR__HTTP_BODY_JSON;
    return FR__HTTP_BODY_UNSUPPORTED;
}

static enum fr_status fail(struct fr__http_body_error *e, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum fr_status fail(struct fr__http_body_error *e, int http_status, const char *code, const char *fmt, ...) {
    e->http_status = http_status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return FR_ERR_INVALID;
}

static enum fr_status body_add(struct fr__http_body *b, const void *data, size_t len, bool owned) {
    if (b->n == b->cap) {
        int32_t cap = b->cap ? b->cap * 2 : 4;
        struct fr_sched_image *im = fr_realloc(b->images, sizeof(*im) * (size_t)cap);
        if (!im) return FR_ERR_NOMEM;
        b->images = im;
        bool *ow = fr_realloc(b->owned, sizeof(*ow) * (size_t)cap);
        if (!ow) return FR_ERR_NOMEM;
        b->owned = ow;
        b->cap = cap;
    }
    b->images[b->n] = (struct fr_sched_image){ .data = data, .len = len };
    b->owned[b->n] = owned;
    b->n++;
    return FR_OK;
}

void fr__http_body_clear(struct fr__http_body *b) {
    if (!b) return;
    for (int32_t i = 0; i < b->n; i++)
        if (b->owned[i]) fr_free((void *)b->images[i].data);
    fr_free(b->images);
    fr_free(b->owned);
    memset(b, 0, sizeof(*b));
}

/* ---- base64 ------------------------------------------------------------ */

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

enum fr_status fr__http_base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    /* data:[<type>][;params];base64,<data> as browsers' FileReader gives it. */
    if (len >= 5 && strncasecmp(s, "data:", 5) == 0) {
        const char *comma = memchr(s, ',', len);
        if (!comma) return FR_ERR_FORMAT;
        size_t hl = (size_t)(comma - s);
        if (hl < 7 || strncasecmp(comma - 7, ";base64", 7) != 0) return FR_ERR_FORMAT;
        len -= hl + 1;
        s = comma + 1;
    }
    unsigned char *buf = fr_malloc(len / 4 * 3 + 3);
    if (!buf) return FR_ERR_NOMEM;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        /* Data after padding means two strings glued together: refuse it. */
        if (v < 0 || pad) goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* A single leftover sextet cannot encode a byte; more than two '=' is
     * not base64. */
    if (bits == 6 || pad > 2) goto bad;
    *out = buf;
    *outlen = n;
    return FR_OK;
bad:
    fr_free(buf);
    return FR_ERR_FORMAT;
}

/* ---- JSON ---------------------------------------------------------------- */

static enum fr_status parse_embedding(const cJSON *a, float *dst, struct fr__http_body_error *e) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 128)
        return fail(e, 400, "invalid_request", "\"embedding\" must be an array of 128 numbers");
    int k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (!cJSON_IsNumber(v))
            return fail(e, 400, "invalid_request", "\"embedding\" must be an array of 128 numbers");
        dst[k++] = (float)v->valuedouble;
    }
    return FR_OK;
}

static enum fr_status add_b64(struct fr__http_body *b, const cJSON *v, const char *what,
                              struct fr__http_body_error *e) {
    if (!cJSON_IsString(v)) return fail(e, 400, "invalid_request", "%s must be a base64 string", what);
    unsigned char *data;
    size_t n;
    enum fr_status st = fr__http_base64_decode(v->valuestring, strlen(v->valuestring), &data, &n);
    if (st == FR_ERR_NOMEM) return fail(e, 500, "internal", "out of memory");
    if (st != FR_OK) return fail(e, 400, "invalid_base64", "%s is not valid base64", what);
    if (n == 0) {
        fr_free(data);
        return fail(e, 400, "no_image", "%s is empty", what);
    }
    if (body_add(b, data, n, true) != FR_OK) {
        fr_free(data);
        return fail(e, 500, "internal", "out of memory");
    }
    return FR_OK;
}

static enum fr_status parse_json(const char *body, size_t len, struct fr__http_body *b,
                                 struct fr__http_body_error *e) {
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return fail(e, 400, "invalid_json", "the body is not valid JSON");
    enum fr_status st = FR_OK;
    if (!cJSON_IsObject(root)) {
        st = fail(e, 400, "invalid_request", "the body must be a JSON object with \"image\" or \"images\"");
        goto out;
    }
    const cJSON *image = NULL, *images = NULL, *emb = NULL, *it;
    cJSON_ArrayForEach(it, root) {
        if (!strcmp(it->string, "image")) image = it;
        else if (!strcmp(it->string, "images")) images = it;
        else if (!strcmp(it->string, "embedding")) emb = it;
        else {
            st = fail(e, 400, "invalid_request", "unknown key \"%.64s\" (expected \"image\", \"images\" or \"embedding\")",
                      it->string);
            goto out;
        }
    }
    if (image && images) {
        st = fail(e, 400, "invalid_request", "give either \"image\" or \"images\", not both");
        goto out;
    }
    if (image && (st = add_b64(b, image, "\"image\"", e)) != FR_OK) goto out;
    if (images) {
        if (!cJSON_IsArray(images)) {
            st = fail(e, 400, "invalid_request", "\"images\" must be an array of base64 strings");
            goto out;
        }
        int i = 0;
        cJSON_ArrayForEach(it, images) {
            char what[32];
            snprintf(what, sizeof(what), "\"images\"[%d]", i++);
            if ((st = add_b64(b, it, what, e)) != FR_OK) goto out;
        }
    }
    if (emb) {
        if ((st = parse_embedding(emb, b->embedding, e)) != FR_OK) goto out;
        b->has_embedding = true;
    }
out:
    cJSON_Delete(root);
    return st;
}

/* ---- multipart/form-data (RFC 7578) ------------------------------------- */

/* The boundary parameter of a Content-Type, quoted or not. */
static bool boundary_of(const char *ct, char *dst, size_t cap) {
    const char *p = ct;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "boundary=", 9)) continue;
        p += 9;
        size_t n = 0;
        if (*p == '"') {
            p++;
            while (p[n] && p[n] != '"') n++;
        } else {
            while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
        }
        /* RFC 2046 limits boundaries to 70 characters. */
        if (n == 0 || n > 70 || n + 1 > cap) return false;
        memcpy(dst, p, n);
        dst[n] = 0;
        return true;
    }
    return false;
}

/* Value of a header inside a part's header block (case-insensitive name),
 * up to the end of its line. */
static const char *part_header(const char *h, size_t hl, const char *name, size_t *vl) {
    size_t nl = strlen(name);
    const char *end = h + hl;
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            *vl = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* A parameter (name="x", filename="y.jpg") of a Content-Disposition. */
static bool disposition_param(const char *v, size_t vl, const char *param, const char **out, size_t *outl) {
    size_t pl = strlen(param);
    for (size_t i = 0; i + pl + 1 < vl; i++) {
        if ((i == 0 || v[i - 1] == ';' || v[i - 1] == ' ') && strncasecmp(v + i, param, pl) == 0 &&
            v[i + pl] == '=') {
            const char *p = v + i + pl + 1, *end = v + vl;
            if (p < end && *p == '"') {
                p++;
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) return false;
                *out = p;
                *outl = (size_t)(q - p);
            } else {
                const char *q = p;
                while (q < end && *q != ';') q++;
                *out = p;
                *outl = (size_t)(q - p);
            }
            return true;
        }
    }
    return false;
}

static enum fr_status part(const char *h, size_t hl, const char *data, size_t dl, struct fr__http_body *b,
                           struct fr__http_body_error *e) {
    size_t cdl = 0, ctl = 0, nl = 0, fl = 0;
    const char *cd = part_header(h, hl, "content-disposition", &cdl);
    const char *ct = part_header(h, hl, "content-type", &ctl);
    const char *name = NULL, *filename = NULL;
    if (cd) {
        disposition_param(cd, cdl, "name", &name, &nl);
        disposition_param(cd, cdl, "filename", &filename, &fl);
    }
    if (name && nl == 9 && !strncmp(name, "embedding", 9) && !filename) {
        cJSON *a = cJSON_ParseWithLength(data, dl);
        if (!a) return fail(e, 400, "invalid_json", "the \"embedding\" field is not valid JSON");
        enum fr_status st = parse_embedding(a, b->embedding, e);
        cJSON_Delete(a);
        if (st == FR_OK) b->has_embedding = true;
        return st;
    }
    /* A file part is an image; so is any part typed other than text, so
     * that clients which omit the filename still work. Browsers send an
     * empty file part for an empty file input: skip it. */
    bool text = !ct || (ctl >= 5 && strncasecmp(ct, "text/", 5) == 0);
    if (!filename && text) return FR_OK;
    if (dl == 0) return FR_OK;
    if (body_add(b, data, dl, false) != FR_OK) return fail(e, 500, "internal", "out of memory");
    return FR_OK;
}

static enum fr_status parse_multipart(const char *ct, const char *body, size_t len, struct fr__http_body *b,
                                      struct fr__http_body_error *e) {
    char bnd[80], delim[84];
    if (!boundary_of(ct, bnd, sizeof(bnd)))
        return fail(e, 400, "invalid_request", "multipart/form-data without a valid boundary");
    int dlen = snprintf(delim, sizeof(delim), "\r\n--%s", bnd);
    const char *end = body + len;
    /* The first delimiter may start the body without the leading CRLF. */
    const char *p;
    if (len >= (size_t)dlen - 2 && memcmp(body, delim + 2, (size_t)dlen - 2) == 0) p = body + dlen - 2;
    else {
        p = memmem(body, len, delim, (size_t)dlen);
        if (!p) return fail(e, 400, "invalid_request", "multipart body without its boundary");
        p += dlen;
    }
    for (;;) {
        /* After a delimiter: "--" ends the body, CRLF starts a part. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return FR_OK;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return fail(e, 400, "invalid_request", "malformed multipart body");
        p += 2;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *data;
        size_t hl;
        if (p + 2 <= end && p[0] == '\r' && p[1] == '\n') { /* a part without headers */
            hl = 0;
            data = p + 2;
        } else {
            if (!hend) return fail(e, 400, "invalid_request", "malformed multipart part headers");
            hl = (size_t)(hend - p);
            data = hend + 4;
        }
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dlen);
        if (!next) return fail(e, 400, "invalid_request", "multipart body ends inside a part");
        enum fr_status st = part(p, hl, data, (size_t)(next - data), b, e);
        if (st != FR_OK) return st;
        p = next + dlen;
    }
}

enum fr_status fr__http_body_parse(const char *ct, const char *body, size_t len, struct fr__http_body *out,
                                   struct fr__http_body_error *e) {
    memset(out, 0, sizeof(*out));
    memset(e, 0, sizeof(*e));
    enum fr_status st;
    switch (fr__http_body_kind(ct)) {
    case FR__HTTP_BODY_RAW:
        if (len == 0) return fail(e, 400, "no_image", "the request has no image");
        if (body_add(out, body, len, false) != FR_OK) return fail(e, 500, "internal", "out of memory");
        return FR_OK;
    case FR__HTTP_BODY_MULTIPART: st = parse_multipart(ct, body, len, out, e); break;
    case FR__HTTP_BODY_JSON: st = parse_json(body, len, out, e); break;
    default:
        return fail(e, 415, "unsupported_media_type",
                    "Content-Type must be image/*, application/octet-stream, multipart/form-data or "
                    "application/json");
    }
    if (st == FR_OK && out->n == 0) st = fail(e, 400, "no_image", "the request has no image");
    if (st != FR_OK) fr__http_body_clear(out);
    return st;
}
