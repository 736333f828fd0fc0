/* The API-key file: "KEY USER" lines, loaded once at start. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/http-impl.h"

struct fr__http_keys {
    int32_t n, cap;
    char **key, **user;
};

void fr__http_keys_free(struct fr__http_keys *k) {
    if (!k) return;
    for (int32_t i = 0; i < k->n; i++) {
        fr_free(k->key[i]);
        fr_free(k->user[i]);
    }
    fr_free(k->key);
    fr_free(k->user);
    fr_free(k);
}

int32_t fr__http_keys_count(const struct fr__http_keys *k) { return k ? k->n : 0; }

void fr__http_keys_at(const struct fr__http_keys *k, int32_t i, const char **key, const char **user) {
    FR_ASSERT(k && i >= 0 && i < k->n);
    *key = k->key[i];
    *user = k->user[i];
}

static char *dup_n(const char *s, size_t n) {
    char *d = fr_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The next blank-separated word of [*p, end), or NULL. */
static const char *word(const char **p, const char *end, size_t *n) {
    const char *s = *p;
    while (s < end && blank(*s)) s++;
    const char *w = s;
    while (s < end && !blank(*s)) s++;
    *p = s;
    *n = (size_t)(s - w);
    return *n ? w : NULL;
}

static enum fr_status add(struct fr__http_keys *k, const char *key, size_t kl, const char *user, size_t ul) {
    if (k->n == k->cap) {
        int32_t cap = k->cap ? k->cap * 2 : 8;
        char **a = fr_realloc(k->key, sizeof(char *) * (size_t)cap);
        if (!a) return FR_ERR_NOMEM;
        k->key = a;
        char **b = fr_realloc(k->user, sizeof(char *) * (size_t)cap);
        if (!b) return FR_ERR_NOMEM;
        k->user = b;
        k->cap = cap;
    }
    k->key[k->n] = dup_n(key, kl);
    k->user[k->n] = dup_n(user, ul);
    k->n++;
    if (!k->key[k->n - 1] || !k->user[k->n - 1]) return FR_ERR_NOMEM;
    return FR_OK;
}

enum fr_status fr__http_keys_parse(const char *text, size_t len, const char *name, struct fr__http_keys **out,
                                   char *err, size_t errlen) {
    *out = NULL;
    struct fr__http_keys *k = fr_calloc(1, sizeof(*k));
    if (!k) return FR_ERR_NOMEM;
    enum fr_status st = FR_OK;
    const char *end = text + len;
    int line = 0;
    for (const char *p = text; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        const char *q = p;
        size_t kl, ul, xl;
        const char *key = word(&q, eol, &kl);
        if (key && key[0] != '#') {
            const char *user = word(&q, eol, &ul);
            const char *extra = word(&q, eol, &xl);
            if (!user || extra) {
                fr_errf(err, errlen, "%s:%d: expected \"KEY USER\"", name, line);
                st = FR_ERR_FORMAT;
                goto fail;
            }
            if (memchr(key, 0, kl) || memchr(user, 0, ul)) {
                fr_errf(err, errlen, "%s:%d: NUL byte in a key or user", name, line);
                st = FR_ERR_FORMAT;
                goto fail;
            }
            for (int32_t i = 0; i < k->n; i++)
                if (strlen(k->key[i]) == kl && !memcmp(k->key[i], key, kl)) {
                    fr_errf(err, errlen, "%s:%d: key listed twice", name, line);
                    st = FR_ERR_FORMAT;
                    goto fail;
                }
            if ((st = add(k, key, kl, user, ul)) != FR_OK) {
                fr_errf(err, errlen, "%s: out of memory", name);
                goto fail;
            }
        }
        p = eol + 1;
    }
    *out = k;
    return FR_OK;
fail:
    fr__http_keys_free(k);
    return st;
}

enum fr_status fr__http_keys_load(const char *path, struct fr__http_keys **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fr_errf(err, errlen, "%s: %s", path, strerror(errno));
        return FR_ERR_IO;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    enum fr_status st = FR_OK;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            /* A key file is a handful of lines; a huge one is a mistake. */
            char *b = cap <= (16u << 20) ? fr_realloc(buf, cap) : NULL;
            if (!b) {
                fr_errf(err, errlen, "%s: too large", path);
                st = FR_ERR_TOO_LARGE;
                break;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                fr_errf(err, errlen, "%s: read error", path);
                st = FR_ERR_IO;
            }
            break;
        }
    }
    fclose(f);
    if (st == FR_OK) st = fr__http_keys_parse(buf ? buf : "", n, path, out, err, errlen);
    fr_free(buf);
    return st;
}

/* Equal strings, in time that depends only on their lengths: a timing
 * side channel must not reveal how much of a guessed key was right. */
static bool same(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

const char *fr__http_keys_lookup(const struct fr__http_keys *k, const char *key) {
    if (!k || !key || !*key) return NULL;
    const char *found = NULL;
    for (int32_t i = 0; i < k->n; i++)
        if (same(k->key[i], key) && !found) found = k->user[i];
    return found;
}
