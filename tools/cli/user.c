/* facerec user: users and API keys of the people gallery, straight on the
 * store in the data directory (--data DIR, FACEREC_DATA or the data
 * setting of the --config file). Safe while a server runs on the same
 * directory: SQLite's locking serialises the writers. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "facerec/config.h"
#include "facerec/store.h"

static const char usage_text[] =
    "usage: facerec user add NAME [--admin]   create a user; prints its API key (shown only this once)\n"
    "       facerec user list                 users with their keys, people, faces and creation time\n"
    "       facerec user remove NAME          delete a user with all its keys, people, faces and jobs\n"
    "       facerec user key NAME             a new API key for the user (the old ones keep working)\n"
    "       facerec user revoke NAME          revoke every API key of the user\n"
    "\n"
    "Each takes --data DIR (default $FACEREC_DATA, else $XDG_DATA_HOME/facerec, else\n"
    "~/.local/share/facerec) and --config FILE, like facerec serve (see facerec config --help).\n";

/* Whether a --flag consumes the next argument as its value. */
static bool takes_value(const char *arg) {
    if (strchr(arg, '=') || !strncmp(arg, "--no-", 5)) return false;
    if (!strcmp(arg, "--config")) return true;
    bool negated;
    const struct fr_setting *s = fr_setting_find_flag(arg, strlen(arg), &negated);
    return s && s->type != FR_SETTING_BOOL;
}

static int open_store(const struct fr_config *cfg, bool read_only, struct fr_store **st, const char *verb) {
    struct fr_store_params p = fr_store_default_params();
    p.data_dir = cfg->data;
    p.read_only = read_only;
    char err[1024];
    enum fr_status s = fr_store_new(&p, st, err, sizeof(err));
    if (s == FR_OK) return CLI_OK;
    char dir[1024];
    if (fr_store_resolve_dir(&p, dir, sizeof(dir)) != FR_OK) snprintf(dir, sizeof(dir), "?");
    if (s == FR_ERR_NOT_FOUND && read_only) return -1; /* no database yet */
    fprintf(stderr, "facerec user %s: cannot open the data directory %s: %s\n", verb, dir, err);
    return CLI_SOME_FAILED;
}

static void print_time(int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) fputs(buf, stdout);
    else printf("%lld", (long long)t);
}

static int cmd_list(struct fr_store *st) {
    struct fr_store_user *u;
    int32_t n;
    if (fr_store_user_list(st, &u, &n) != FR_OK) {
        char msg[512];
        fr_store_last_error(msg, sizeof(msg));
        fprintf(stderr, "facerec user list: %s\n", msg);
        return CLI_SOME_FAILED;
    }
    printf("%-24s %-5s %5s %7s %9s  %s\n", "NAME", "ADMIN", "KEYS", "PEOPLE", "FACES", "CREATED");
    for (int32_t i = 0; i < n; i++) {
        printf("%-24s %-5s %5lld %7lld %9lld  ", u[i].name, u[i].admin ? "yes" : "no", (long long)u[i].n_keys,
               (long long)u[i].n_people, (long long)u[i].n_faces);
        print_time(u[i].created);
        putchar('\n');
    }
    fr_free(u);
    return CLI_OK;
}

int cli_cmd_user(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return CLI_OK;
        }
    /* Split the words (verb, name) and --admin from the settings flags,
     * which go to the settings loader as for facerec serve. */
    char **flags = calloc((size_t)argc + 1, sizeof(char *));
    if (!flags) return CLI_SOME_FAILED;
    int nflags = 0, nwords = 0;
    const char *words[3] = {NULL, NULL, NULL};
    bool admin = false, bad = false;
    flags[nflags++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--admin")) admin = true;
        else if (!strncmp(a, "--", 2) && a[2]) {
            flags[nflags++] = argv[i];
            if (takes_value(a) && i + 1 < argc) flags[nflags++] = argv[++i];
        } else if (nwords < 3) words[nwords++] = a;
        else bad = true;
    }
    const char *verb = words[0];
    bool needs_name = verb && strcmp(verb, "list");
    bool known = verb && (!strcmp(verb, "add") || !strcmp(verb, "list") || !strcmp(verb, "remove") ||
                          !strcmp(verb, "key") || !strcmp(verb, "revoke"));
    if (!known || bad || nwords != (needs_name ? 2 : 1) || (admin && strcmp(verb, "add"))) {
        if (verb && !known) fprintf(stderr, "facerec user: unknown subcommand '%s'\n", verb);
        else if (verb) fprintf(stderr, "facerec user %s: wrong arguments\n", verb);
        fputs(usage_text, stderr);
        free(flags);
        return CLI_USAGE;
    }
    struct fr_config cfg;
    int rc = cli_load_config("user", usage_text, nflags, flags, &cfg);
    free(flags);
    if (rc != CLI_OK) return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    fr_log_set_level(FR_LOG_ERROR);

    const char *name = words[1];
    struct fr_store *st = NULL;
    rc = open_store(&cfg, !strcmp(verb, "list"), &st, verb);
    if (rc == -1) {
        /* Nothing created yet: an empty list, and a hint where we looked. */
        struct fr_store_params p = fr_store_default_params();
        p.data_dir = cfg.data;
        char dir[1024];
        if (fr_store_resolve_dir(&p, dir, sizeof(dir)) != FR_OK) snprintf(dir, sizeof(dir), "?");
        fprintf(stderr, "facerec user list: no users yet (no database in %s)\n", dir);
        fr_config_clear(&cfg);
        return CLI_OK;
    }
    if (rc != CLI_OK) {
        fr_config_clear(&cfg);
        return rc;
    }
    char key[FR_STORE_KEY_LEN + 1], err[1024];
    enum fr_status s = FR_OK;
    if (!strcmp(verb, "list")) rc = cmd_list(st);
    else if (!strcmp(verb, "add")) {
        s = fr_store_user_add(st, name, admin, NULL, key, err, sizeof(err));
        if (s == FR_OK) {
            printf("%s\n", key);
            fprintf(stderr, "facerec user add: created %suser '%s' in %s; its API key above is not shown again\n",
                    admin ? "admin " : "", name, fr_store_path(st));
        }
    } else if (!strcmp(verb, "key")) {
        s = fr_store_key_add(st, name, key, err, sizeof(err));
        if (s == FR_OK) {
            printf("%s\n", key);
            fprintf(stderr, "facerec user key: new API key for '%s'; it is not shown again\n", name);
        }
    } else {
        struct fr_store_user u;
        s = fr_store_user_get(st, name, &u);
        if (s == FR_OK) s = !strcmp(verb, "remove") ? fr_store_user_remove(st, name) : fr_store_key_revoke_all(st, name);
        if (s == FR_OK && !strcmp(verb, "remove"))
            fprintf(stderr, "facerec user remove: removed '%s' with %lld keys, %lld people and %lld faces\n", name,
                    (long long)u.n_keys, (long long)u.n_people, (long long)u.n_faces);
        else if (s == FR_OK)
            fprintf(stderr, "facerec user revoke: revoked %lld keys of '%s'\n", (long long)u.n_keys, name);
        fr_store_last_error(err, sizeof(err));
    }
    if (s == FR_ERR_NOT_FOUND)
        fprintf(stderr, "facerec user %s: no user '%s' in %s\n", verb, name, fr_store_path(st));
    else if (s != FR_OK)
        fprintf(stderr, "facerec user %s: '%s' in %s: %s\n", verb, name, fr_store_path(st), err);
    if (s != FR_OK) rc = CLI_SOME_FAILED;
    memset(key, 0, sizeof(key));
    fr_store_free(st);
    fr_config_clear(&cfg);
    return rc;
}
