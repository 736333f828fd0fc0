/* Settings as text: the INI file read through inih, and the two texts
 * the table writes, `--help` and the dump (`facerec config`). */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "config-impl.h"

/* ---- INI file ---- */

struct file_ctx {
    struct fr_config *cfg;
    const char *path;
    FILE *f;
    int line;                         /* of the line inih is working on */
    bool indented;                    /* that line starts with white space */
    int long_line;                    /* first line longer than inih takes, or 0 */
    int max_line;                     /* inih's line buffer, newline and NUL included */
    int seen[FR_CONFIG_MAX_SETTINGS]; /* line of each key, to refuse repeats */
    enum fr_status st;
    int err_line;
    char *err;
    size_t errlen;
};

/* inih reads through this so that the handler knows the line number and
 * so that an overlong line is an error instead of being split in two. */
static char *file_read_line(char *str, int num, void *stream) {
    struct file_ctx *c = stream;
    c->max_line = num;
    if (!fgets(str, num, c->f)) return NULL;
    c->line++;
    c->indented = str[0] == ' ' || str[0] == '\t';
    size_t n = strlen(str);
    if (n + 1 == (size_t)num && str[n - 1] != '\n' && !feof(c->f)) {
        int ch;
        while ((ch = fgetc(c->f)) != EOF && ch != '\n') {
        }
        if (!c->long_line) c->long_line = c->line;
        str[0] = 0;
    }
    return str;
}

static int file_fail(struct file_ctx *c, enum fr_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int file_fail(struct file_ctx *c, enum fr_status st, const char *fmt, ...) {
    if (c->st != FR_OK) return 1; /* keep the first error */
    c->st = st;
    c->err_line = c->line;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fr_errf(c->err, c->errlen, "%s", msg);
    return 1; /* inih goes on; only the first error is reported */
}

static bool known_section(const char *sec) {
    for (int k = 0; fr__config_sections[k]; k++)
        if (!strcmp(fr__config_sections[k], sec)) return true;
    return false;
}

static int file_handler(void *user, const char *section, const char *name, const char *value) {
    struct file_ctx *c = user;
    if (c->st != FR_OK) return 1;
    if (c->indented)
        return file_fail(c, FR_ERR_INVALID, "%s:%d: indented line (continuation lines are not supported)", c->path,
                         c->line);
    char key[FR__CONFIG_NAME_MAX];
    const struct fr_setting *s = fr__config_normalise(name, strlen(name), key) ? fr_setting_find(key) : NULL;
    if (!s) {
        char hint[192] = "";
        if (fr__config_normalise(name, strlen(name), key)) fr__config_suggest(key, FR__AS_KEY, hint, sizeof(hint));
        return file_fail(c, FR_ERR_INVALID, "%s:%d: unknown key '%s'%s", c->path, c->line, name, hint);
    }
    if (!*section)
        return file_fail(c, FR_ERR_INVALID, "%s:%d: %s must be under [%s]", c->path, c->line, s->name, s->section);
    if (!known_section(section))
        return file_fail(c, FR_ERR_INVALID, "%s:%d: unknown section [%s] (%s belongs in [%s])", c->path, c->line,
                         section, s->name, s->section);
    if (strcmp(section, s->section))
        return file_fail(c, FR_ERR_INVALID, "%s:%d: %s belongs in [%s], not [%s]", c->path, c->line, s->name,
                         s->section, section);
    size_t i = fr__setting_index(s);
    if (c->seen[i])
        return file_fail(c, FR_ERR_INVALID, "%s:%d: %s is already set on line %d", c->path, c->line, s->name,
                         c->seen[i]);
    c->seen[i] = c->line;
    size_t srclen = strlen(c->path) + 32;
    char *src = fr_malloc(srclen);
    if (!src) return file_fail(c, FR_ERR_NOMEM, "%s:%d: out of memory", c->path, c->line);
    snprintf(src, srclen, "file:%s:%d", c->path, c->line);
    char msg[512];
    enum fr_status st = fr_config_set(c->cfg, s->name, value, src, msg, sizeof(msg));
    fr_free(src);
    if (st != FR_OK) return file_fail(c, st, "%s", msg);
    return 1;
}

enum fr_status fr_config_load_file(struct fr_config *cfg, const char *path, char *err, size_t errlen) {
    struct file_ctx c = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
    c.f = fopen(path, "r");
    if (!c.f) {
        fr_errf(err, errlen, "%s: cannot open the config file: %s", path, strerror(errno));
        return FR_ERR_IO;
    }
    int rc = ini_parse_stream(file_read_line, &c, file_handler, &c);
    bool read_error = ferror(c.f);
    fclose(c.f);
    /* The earliest problem wins: an overlong line, a syntax error inih
     * found, or what the handler refused (its message is already in err). */
    int handler_line = c.st != FR_OK ? c.err_line : INT_MAX, syntax_line = rc > 0 ? rc : INT_MAX;
    int long_line = c.long_line ? c.long_line : INT_MAX;
    if (long_line < INT_MAX && long_line <= syntax_line && long_line <= handler_line) {
        fr_errf(err, errlen, "%s:%d: line longer than %d characters", path, long_line, c.max_line - 2);
        return FR_ERR_INVALID;
    }
    if (syntax_line < handler_line) {
        fr_errf(err, errlen, "%s:%d: expected [section] or key = value", path, syntax_line);
        return FR_ERR_INVALID;
    }
    if (c.st != FR_OK) return c.st;
    if (rc == -2) {
        fr_errf(err, errlen, "%s: out of memory", path);
        return FR_ERR_NOMEM;
    }
    if (read_error) {
        fr_errf(err, errlen, "%s: read error", path);
        return FR_ERR_IO;
    }
    return FR_OK;
}

/* ---- help and dump ---- */

/* Writes text from column `indent` (where the cursor is), wrapping at
 * `width` with every line indented the same. */
static void wrap(FILE *f, const char *text, int indent, int width) {
    const char *p = text;
    int col = indent;
    bool line_start = true;
    while (*p) {
        const char *w = p;
        while (*w && *w != ' ')
            w++;
        int wl = (int)(w - p);
        if (!line_start && col + 1 + wl > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (!line_start) {
            fputc(' ', f);
            col++;
        }
        line_start = false;
        fprintf(f, "%.*s", wl, p);
        col += wl;
        p = *w ? w + 1 : w;
    }
    fputc('\n', f);
}

static void help_flag(const struct fr_setting *s, char *buf, size_t len) {
    char flag[FR__CONFIG_NAME_MAX + 4];
    fr__config_spell(s->name, FR__AS_FLAG, flag, sizeof(flag));
    if (s->type == FR_SETTING_BOOL) {
        snprintf(buf, len, "--[no-]%s", flag + 2);
        return;
    }
    char meta[64];
    if (s->metavar)
        snprintf(meta, sizeof(meta), "%s", s->metavar);
    else if (s->type == FR_SETTING_ENUM) {
        size_t n = 0;
        for (const struct fr_setting_choice *c = s->choices; c->name && n < sizeof(meta); c++)
            n += (size_t)snprintf(meta + n, sizeof(meta) - n, "%s%s", c == s->choices ? "" : "|", c->name);
    } else if (s->type == FR_SETTING_SIZE)
        snprintf(meta, sizeof(meta), s->percent ? "SIZE|N%%" : "SIZE");
    else if (s->type == FR_SETTING_FLOAT)
        snprintf(meta, sizeof(meta), "X");
    else
        snprintf(meta, sizeof(meta), "N");
    snprintf(buf, len, "%s %s", flag, meta);
}

/* "; 1..1024" for numbers: the bounds in --help. */
static void help_range(const struct fr_setting *s, char *buf, size_t len) {
    char lo[32], hi[32];
    if (fr__config_bounds(s, lo, hi, sizeof(lo)))
        snprintf(buf, len, "; %s..%s%s", lo, hi, s->percent ? " or 1%..100%" : "");
    else
        buf[0] = 0;
}

void fr_config_print_help(FILE *f) {
    fprintf(f, "Settings. Each is also FACEREC_<NAME> in the environment and `name = value` under its [section]\n"
               "in the --config file; a flag beats the environment, which beats the file, which beats the default.\n"
               "Sizes take K, M, G or T suffixes (powers of 1024). `facerec config` prints the result.\n\n");
    fprintf(f, "  %-32s %s\n", "--config FILE", "INI file read before the other flags (default $FACEREC_CONFIG)");
    for (int k = 0; fr__config_sections[k]; k++) {
        fprintf(f, "\n[%s]\n", fr__config_sections[k]);
        for (size_t i = 0; i < fr__n_settings; i++) {
            const struct fr_setting *s = &fr__settings[i];
            if (strcmp(s->section, fr__config_sections[k])) continue;
            char left[160], text[768], range[96] = "", legacy[64] = "";
            help_flag(s, left, sizeof(left));
            help_range(s, range, sizeof(range));
            if (s->legacy)
                snprintf(legacy, sizeof(legacy), strchr(s->legacy, ' ') ? "; was \"%s\"" : "; was %s", s->legacy);
            snprintf(text, sizeof(text), "%s (default %s%s%s)", s->help, *s->def ? s->def : "empty", range, legacy);
            /* A flag too long for its column gets the help on the next line. */
            if (fprintf(f, "  %-32s", left) > 34)
                fprintf(f, "\n%*s", 35, "");
            else
                fputc(' ', f);
            wrap(f, text, 35, 118);
        }
    }
}

void fr_config_dump(const struct fr_config *cfg, FILE *f) {
    fprintf(f, "; facerec settings in effect, each with where it came from (facerec config).\n"
               "; Load them again with --config FILE.\n");
    for (int k = 0; fr__config_sections[k]; k++) {
        fprintf(f, "\n[%s]\n", fr__config_sections[k]);
        for (size_t i = 0; i < fr__n_settings; i++) {
            const struct fr_setting *s = &fr__settings[i];
            if (strcmp(s->section, fr__config_sections[k])) continue;
            char value[1024], line[1200];
            fr_config_get(cfg, s->name, value, sizeof(value));
            const char *src = fr_config_source(cfg, s->name);
            int n = snprintf(line, sizeof(line), "%s = %s", s->name, value);
            /* inih takes lines of up to INI_MAX_LINE - 2 characters: a
             * source that would not fit goes on a line of its own, cut to
             * that length. */
            const int max = INI_MAX_LINE - 2;
            if ((n < 40 ? 40 : n) + 3 + (int)strlen(src) <= max)
                fprintf(f, "%-40s ; %s\n", line, src);
            else
                fprintf(f, "; %s: %.*s\n%s\n", s->name, max - 4 - (int)strlen(s->name), src, line);
        }
    }
}
