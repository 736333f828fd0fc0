/* Settings: parsing and storing values, and the sources in precedence
 * order (environment, flags, then all of them with the cross-setting
 * checks). The table is in config-table.c; the INI file, --help and the
 * dump in config-text.c (see facerec/config.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-impl.h"

static void *field(struct fr_config *cfg, const struct fr_setting *s) { return (char *)cfg + s->offset; }
static const void *cfield(const struct fr_config *cfg, const struct fr_setting *s) {
    return (const char *)cfg + s->offset;
}
/* Only strings own text; an enum stores its choice's value. */
static bool is_text(const struct fr_setting *s) { return s->type == FR_SETTING_STRING; }

/* ---- values ---- */

/* A parsed value, before it is stored. */
struct value {
    int64_t i;
    size_t size;
    int32_t percent;
    double f;
    bool b;
    const char *text; /* strings: the input */
};

static bool parse_int64(const char *t, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (errno || end == t || *end || isspace((unsigned char)*t)) return false;
    *out = x;
    return true;
}

/* "64MiB", "512k", "2 G", "4096": every suffix is a power of 1024. */
static bool parse_size(const char *t, size_t *out) {
    if (!isdigit((unsigned char)*t)) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(t, &end, 10);
    if (errno) return false;
    while (*end == ' ')
        end++;
    static const struct {
        const char *s;
        size_t mul;
    } units[] = {
        {"", 1},      {"b", 1},   {"k", FR__KIB},  {"kb", FR__KIB},  {"kib", FR__KIB}, {"m", FR__MIB},  {"mb", FR__MIB},
        {"mib", FR__MIB}, {"g", FR__GIB}, {"gb", FR__GIB}, {"gib", FR__GIB}, {"t", FR__TIB},   {"tb", FR__TIB}, {"tib", FR__TIB},
    };
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strcasecmp(end, units[k].s)) continue;
        if (x > SIZE_MAX / units[k].mul) return false;
        *out = (size_t)x * units[k].mul;
        return true;
    }
    return false;
}

static bool parse_bool(const char *t, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int k = 0; k < 4; k++) {
        if (!strcasecmp(t, yes[k])) return *out = true, true;
        if (!strcasecmp(t, no[k])) return *out = false, true;
    }
    return false;
}

void fr__config_format_size(size_t v, char *buf, size_t len) {
    if (v && v % FR__TIB == 0)
        snprintf(buf, len, "%zuTiB", v / FR__TIB);
    else if (v && v % FR__GIB == 0)
        snprintf(buf, len, "%zuGiB", v / FR__GIB);
    else if (v && v % FR__MIB == 0)
        snprintf(buf, len, "%zuMiB", v / FR__MIB);
    else if (v && v % FR__KIB == 0)
        snprintf(buf, len, "%zuKiB", v / FR__KIB);
    else
        snprintf(buf, len, "%zu", v);
}

/* The shortest text that reads back as the same float, so that 0.6 is
 * dumped as "0.6" and still survives the round trip exactly. */
static void format_float(float v, char *buf, size_t len) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, len, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

bool fr__config_bounds(const struct fr_setting *s, char *lo, char *hi, size_t len) {
    switch (s->type) {
    case FR_SETTING_INT:
    case FR_SETTING_INT64:
        snprintf(lo, len, "%.0f", s->min);
        snprintf(hi, len, "%.0f", s->max);
        return true;
    case FR_SETTING_SIZE:
        fr__config_format_size((size_t)s->min, lo, len);
        fr__config_format_size((size_t)s->max, hi, len);
        return true;
    case FR_SETTING_FLOAT:
        snprintf(lo, len, "%g", s->min);
        snprintf(hi, len, "%g", s->max);
        return true;
    default:
        return false;
    }
}

/* What a valid value looks like, for error messages. */
static void describe(const struct fr_setting *s, char *buf, size_t len) {
    char lo[32], hi[32];
    if (fr__config_bounds(s, lo, hi, sizeof(lo))) {
        bool size = s->type == FR_SETTING_SIZE;
        snprintf(buf, len, "%s in [%s, %s]%s%s", size ? "a size" : s->type == FR_SETTING_FLOAT ? "a number" : "an integer",
                 lo, hi, size ? " (bytes, or with a K, M, G or T suffix)" : "",
                 s->percent ? " or a percentage from 1% to 100%" : "");
        return;
    }
    switch (s->type) {
    case FR_SETTING_BOOL:
        snprintf(buf, len, "true or false (yes/no, on/off, 1/0)");
        break;
    case FR_SETTING_STRING:
        snprintf(buf, len, "text");
        break;
    case FR_SETTING_ENUM: {
        size_t n = (size_t)snprintf(buf, len, "one of");
        for (const struct fr_setting_choice *c = s->choices; c->name && n < len; c++)
            n += (size_t)snprintf(buf + n, len - n, "%s %s", c == s->choices ? "" : ",", c->name);
        break;
    }
    default:
        break;
    }
}

/* Parses text as s's value; on failure writes why into why. */
static bool parse(const struct fr_setting *s, const char *t, struct value *v, char *why, size_t whylen) {
    memset(v, 0, sizeof(*v));
    bool ok = false;
    switch (s->type) {
    case FR_SETTING_INT:
    case FR_SETTING_INT64:
        ok = parse_int64(t, &v->i) && v->i >= s->min && v->i <= s->max;
        break;
    case FR_SETTING_SIZE: {
        size_t n = strlen(t);
        if (s->percent && n > 1 && t[n - 1] == '%') {
            char num[16];
            int64_t p = 0;
            snprintf(num, sizeof(num), "%.*s", (int)(n - 1), t);
            ok = n - 1 < sizeof(num) && parse_int64(num, &p) && p >= 1 && p <= 100;
            v->percent = (int32_t)p;
        } else {
            ok = parse_size(t, &v->size) && (double)v->size >= s->min && (double)v->size <= s->max;
        }
        break;
    }
    case FR_SETTING_FLOAT: {
        char *end;
        errno = 0;
        v->f = strtod(t, &end);
        ok = !errno && end != t && !*end && v->f >= s->min && v->f <= s->max;
        break;
    }
    case FR_SETTING_BOOL:
        ok = parse_bool(t, &v->b);
        break;
    case FR_SETTING_STRING:
        v->text = t;
        if (s->check && s->check(t)) {
            snprintf(why, whylen, "%s", s->check(t));
            return false;
        }
        return true;
    case FR_SETTING_ENUM:
        for (const struct fr_setting_choice *c = s->choices; c->name && !ok; c++)
            if (!strcasecmp(t, c->name)) v->i = c->value, ok = true;
        break;
    }
    if (!ok) describe(s, why, whylen);
    return ok;
}

/* Stores a parsed value; strings get the given text (owned or not, as the
 * caller decided). */
static void store(struct fr_config *cfg, const struct fr_setting *s, const struct value *v, char *text) {
    void *p = field(cfg, s);
    switch (s->type) {
    case FR_SETTING_INT:
        *(int32_t *)p = (int32_t)v->i;
        break;
    case FR_SETTING_INT64:
        *(int64_t *)p = v->i;
        break;
    case FR_SETTING_SIZE:
        *(size_t *)p = v->size;
        if (s->percent) cfg->device_memory_percent = v->percent;
        break;
    case FR_SETTING_FLOAT:
        *(float *)p = (float)v->f;
        break;
    case FR_SETTING_BOOL:
        *(bool *)p = v->b;
        break;
    case FR_SETTING_STRING:
        *(char **)p = text;
        break;
    case FR_SETTING_ENUM:
        *(int *)p = (int)v->i;
        break;
    }
}

void fr_config_init(struct fr_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < fr__n_settings; i++) {
        const struct fr_setting *s = &fr__settings[i];
        struct value v;
        char why[160];
        bool ok = parse(s, s->def, &v, why, sizeof(why));
        FR_ASSERT(ok); /* the table's defaults are valid */
        /* Defaults point at the table's text, so init allocates nothing
         * and cannot fail; source[i] == NULL marks them as not owned. */
        store(cfg, s, &v, (char *)s->def);
    }
}

void fr_config_clear(struct fr_config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < fr__n_settings; i++) {
        if (cfg->source[i] && is_text(&fr__settings[i])) fr_free(*(char **)field(cfg, &fr__settings[i]));
        fr_free(cfg->source[i]);
    }
    memset(cfg, 0, sizeof(*cfg));
}

enum fr_status fr_config_set(struct fr_config *cfg, const char *name, const char *value, const char *source, char *err,
                             size_t errlen) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) {
        fr_errf(err, errlen, "unknown setting '%s'", name);
        return FR_ERR_INVALID;
    }
    if (!source) source = "fr_config_set";
    struct value v;
    char why[192];
    if (!parse(s, value, &v, why, sizeof(why))) {
        fr_errf(err, errlen, "%s = %s (%s): must be %s", s->name, value, source, why);
        return FR_ERR_INVALID;
    }
    size_t i = fr__setting_index(s);
    char *src = fr_strdup(source), *text = NULL;
    if (src && is_text(s)) text = fr_strdup(v.text);
    if (!src || (is_text(s) && !text)) {
        fr_free(src);
        fr_errf(err, errlen, "%s: out of memory", s->name);
        return FR_ERR_NOMEM;
    }
    if (cfg->source[i] && is_text(s)) fr_free(*(char **)field(cfg, s));
    fr_free(cfg->source[i]);
    cfg->source[i] = src;
    store(cfg, s, &v, text);
    return FR_OK;
}

enum fr_status fr_config_get(const struct fr_config *cfg, const char *name, char *buf, size_t len) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) return FR_ERR_NOT_FOUND;
    const void *p = cfield(cfg, s);
    switch (s->type) {
    case FR_SETTING_INT:
        snprintf(buf, len, "%d", (int)*(const int32_t *)p);
        break;
    case FR_SETTING_INT64:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)p);
        break;
    case FR_SETTING_SIZE:
        if (s->percent && cfg->device_memory_percent > 0)
            snprintf(buf, len, "%d%%", (int)cfg->device_memory_percent);
        else
            fr__config_format_size(*(const size_t *)p, buf, len);
        break;
    case FR_SETTING_FLOAT:
        format_float(*(const float *)p, buf, len);
        break;
    case FR_SETTING_BOOL:
        snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
        break;
    case FR_SETTING_STRING:
        snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
        break;
    case FR_SETTING_ENUM: {
        const struct fr_setting_choice *c = s->choices;
        while (c->name && c->value != *(const int *)p)
            c++;
        snprintf(buf, len, "%s", c->name ? c->name : "");
        break;
    }
    }
    return FR_OK;
}

const char *fr_config_source(const struct fr_config *cfg, const char *name) {
    const struct fr_setting *s = fr_setting_find(name);
    if (!s) return NULL;
    return cfg->source[fr__setting_index(s)] ? cfg->source[fr__setting_index(s)] : "default";
}

enum fr_status fr_config_split_listen(const char *listen, char *host, size_t hostlen, int32_t *port) {
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return FR_ERR_INVALID;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[') {
        /* IPv6: "[::1]:5001". */
        if (hl < 3 || h[hl - 1] != ']') return FR_ERR_INVALID;
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return FR_ERR_INVALID; /* an IPv6 address needs its brackets */
    }
    int64_t p;
    if (hl + 1 > hostlen || !isdigit((unsigned char)colon[1]) || !parse_int64(colon + 1, &p) || p < 0 || p > 65535)
        return FR_ERR_INVALID;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int32_t)p;
    return FR_OK;
}

/* ---- names and suggestions ---- */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la >= FR__CONFIG_NAME_MAX || lb >= FR__CONFIG_NAME_MAX) return FR__CONFIG_NAME_MAX;
    size_t row[FR__CONFIG_NAME_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

void fr__config_spell(const char *name, enum fr__spelling how, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "%s", how == FR__AS_ENV ? "FACEREC_" : how == FR__AS_FLAG ? "--" : "");
    for (const char *p = name; *p && n + 1 < len; p++, n++)
        buf[n] = how == FR__AS_ENV ? (char)toupper((unsigned char)*p) : how == FR__AS_FLAG && *p == '_' ? '-' : *p;
    if (n < len) buf[n] = 0;
}

void fr__config_suggest(const char *name, enum fr__spelling how, char *buf, size_t len) {
    char right[FR__CONFIG_NAME_MAX + 16];
    buf[0] = 0;
    for (size_t i = 0; i < fr__n_settings; i++) {
        const char *l = fr__settings[i].legacy;
        if (!l || strlen(l) != strlen(name)) continue;
        bool same = true;
        for (size_t k = 0; l[k] && same; k++)
            same = tolower((unsigned char)l[k]) == tolower((unsigned char)name[k]) || (l[k] == ' ' && name[k] == '_');
        if (!same) continue;
        fr__config_spell(fr__settings[i].name, how, right, sizeof(right));
        snprintf(buf, len, " (%s is the old system's name; use %s)", l, right);
        return;
    }
    const struct fr_setting *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < fr__n_settings; i++) {
        size_t d = edit_distance(name, fr__settings[i].name);
        if (d < best_d) best_d = d, best = &fr__settings[i];
    }
    if (!best) return;
    fr__config_spell(best->name, how, right, sizeof(right));
    snprintf(buf, len, " (did you mean %s?)", right);
}

/* ---- environment ---- */

static const char *env_get(char *const *envp, const char *name) {
    size_t n = strlen(name);
    const char *v = NULL;
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=') v = *e + n + 1;
    return v && *v ? v : NULL;
}

enum fr_status fr_config_load_env(struct fr_config *cfg, char *const *envp, char *err, size_t errlen) {
    static const char prefix[] = "FACEREC_";
    for (char *const *e = envp; e && *e; e++) {
        const char *var = *e, *eq = strchr(var, '=');
        if (strncmp(var, prefix, sizeof(prefix) - 1) || !eq) continue;
        const char *key = var + sizeof(prefix) - 1, *value = eq + 1;
        size_t n = (size_t)(eq - key);
        bool skip = false;
        for (int k = 0; fr__config_env_not_settings[k]; k++)
            if (strlen(fr__config_env_not_settings[k]) == n && !strncmp(key, fr__config_env_not_settings[k], n)) skip = true;
        if (skip || !*value) continue;
        char name[FR__CONFIG_NAME_MAX] = "";
        bool upper = n < FR__CONFIG_NAME_MAX;
        for (size_t k = 0; upper && k < n; k++) {
            upper = !islower((unsigned char)key[k]);
            name[k] = (char)tolower((unsigned char)key[k]);
        }
        if (upper) name[n] = 0;
        const struct fr_setting *s = upper ? fr_setting_find(name) : NULL;
        if (!s) {
            char hint[192] = "";
            if (upper) fr__config_suggest(name, FR__AS_ENV, hint, sizeof(hint));
            fr_errf(err, errlen, "%.*s: unknown setting in the environment%s", (int)(eq - var), var, hint);
            return FR_ERR_INVALID;
        }
        char src[FR__CONFIG_NAME_MAX + 16];
        snprintf(src, sizeof(src), "env %.*s", (int)(eq - var), var);
        enum fr_status st = fr_config_set(cfg, s->name, value, src, err, errlen);
        if (st != FR_OK) return st;
    }
    return FR_OK;
}

/* ---- flags ---- */

/* One walk over the flags. With apply false it only finds --config (the
 * file must be read before the other flags apply); with apply true it sets
 * everything else and reports every mistake. */
static enum fr_status walk_args(struct fr_config *cfg, int argc, char *const *argv, bool apply, const char **config,
                                int *next, char *err, size_t errlen) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || !a[1]) break; /* the first positional argument ("-" is one too) */
        const char *body = a[0] == '-' && a[1] == '-' ? a + 2 : a + 1, *eq = strchr(body, '=');
        size_t n = eq ? (size_t)(eq - body) : strlen(body);
        char name[FR__CONFIG_NAME_MAX];
        const struct fr_setting *s = NULL;
        bool negated = false, valid = a[1] == '-' && fr__config_normalise(body, n, name);
        if (valid && !strcmp(name, "config")) {
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v) {
                if (!apply) continue;
                fr_errf(err, errlen, "--config needs a file");
                return FR_ERR_INVALID;
            }
            if (!apply) *config = v;
            continue;
        }
        if (valid) s = fr_setting_find_flag(a, (size_t)(body - a) + n, &negated);
        if (!s) {
            if (!apply) continue;
            char hint[192] = "";
            if (valid) fr__config_suggest(name, FR__AS_FLAG, hint, sizeof(hint));
            fr_errf(err, errlen, "unknown flag %.*s%s", (int)(body - a + (ptrdiff_t)n), a, hint);
            return FR_ERR_INVALID;
        }
        const char *value;
        if (s->type == FR_SETTING_BOOL) {
            if (negated && eq) {
                if (!apply) continue;
                fr_errf(err, errlen, "%.*s takes no value", (int)(eq - a), a);
                return FR_ERR_INVALID;
            }
            value = negated ? "false" : eq ? eq + 1 : "true";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            if (!apply) continue;
            fr_errf(err, errlen, "%s needs a value (%s)", a, s->help);
            return FR_ERR_INVALID;
        }
        if (!apply) continue;
        char src[FR__CONFIG_NAME_MAX + 16];
        snprintf(src, sizeof(src), "flag %.*s", (int)(body - a + (ptrdiff_t)n), a);
        enum fr_status st = fr_config_set(cfg, s->name, value, src, err, errlen);
        if (st != FR_OK) return st;
    }
    if (next) *next = i;
    return FR_OK;
}

enum fr_status fr_config_load_args(struct fr_config *cfg, int argc, char *const *argv, int *next, char *err,
                                   size_t errlen) {
    const char *config = NULL;
    walk_args(cfg, argc, argv, false, &config, NULL, NULL, 0);
    if (config) {
        enum fr_status st = fr_config_load_file(cfg, config, err, errlen);
        if (st != FR_OK) return st;
    }
    return walk_args(cfg, argc, argv, true, NULL, next, err, errlen);
}

/* Settings that depend on each other. */
static enum fr_status cross_check(const struct fr_config *cfg, char *err, size_t errlen) {
    static const struct {
        const char *small, *big;
    } pairs[] = {
        {"preferred_batch_size", "max_batch_size"},
        {"user_queue_capacity", "queue_capacity"},
    };
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        const struct fr_setting *a = fr_setting_find(pairs[k].small), *b = fr_setting_find(pairs[k].big);
        int32_t va = *(const int32_t *)cfield(cfg, a), vb = *(const int32_t *)cfield(cfg, b);
        if (va <= vb) continue;
        fr_errf(err, errlen, "%s = %d (%s) must not exceed %s = %d (%s)", a->name, (int)va,
                fr_config_source(cfg, a->name), b->name, (int)vb, fr_config_source(cfg, b->name));
        return FR_ERR_INVALID;
    }
    return FR_OK;
}

enum fr_status fr_config_load(struct fr_config *cfg, int argc, char *const *argv, char *const *envp, int *next,
                              char *err, size_t errlen) {
    const char *config = NULL;
    walk_args(cfg, argc, argv, false, &config, NULL, NULL, 0);
    if (!config) config = env_get(envp, "FACEREC_CONFIG");
    enum fr_status st = FR_OK;
    if (config) st = fr_config_load_file(cfg, config, err, errlen);
    if (st == FR_OK) st = fr_config_load_env(cfg, envp, err, errlen);
    if (st == FR_OK) st = walk_args(cfg, argc, argv, true, NULL, next, err, errlen);
    if (st == FR_OK) st = cross_check(cfg, err, errlen);
    return st;
}
