/* facerec serve: the HTTP API over the scheduler, until SIGTERM or SIGINT.
 *
 * Shutdown order: stop accepting connections, let the scheduler finish
 * what it admitted (drain_timeout_ms at most), then stop the HTTP daemon
 * (requests still waiting get 503) and the scheduler. */
#define _POSIX_C_SOURCE 200809L /* sigwait, strsignal */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "facerec/config.h"
#include "facerec/gallery.h"
#include "facerec/http.h"
#include "facerec/indexer.h"

/* `facerec serve --print-routes`: the route table, one "METHOD PATH AUTH"
 * line per route (AUTH: none, optional or key), for scripts and for the
 * test that holds docs/openapi.yaml and README.md to it. */
static int print_routes(void) {
    static const char *const auth_names[] = { "none", "optional", "key" };
    for (int32_t i = 0; i < fr_http_route_count(); i++) {
        const char *method, *path;
        enum fr_http_auth auth;
        fr_http_route_at(i, &method, &path, &auth);
        printf("%s %s %s\n", method, path, auth_names[auth]);
    }
    return fflush(stdout) == 0 ? CLI_OK : CLI_SOME_FAILED;
}

int cli_cmd_serve(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--print-routes")) {
            if (argc == 2) return print_routes();
            fprintf(stderr, "facerec serve: --print-routes takes no other arguments\n");
            return CLI_USAGE;
        }
    struct fr_config cfg;
    int rc = cli_load_config("serve",
                             "Serve the HTTP API (POST /v1/detect, /v1/embed, /v1/verify; GET /status, /healthz,\n"
                             "/readyz, /openapi.json, ...) until SIGTERM or SIGINT, then finish in-flight requests\n"
                             "and exit 0. `facerec serve --print-routes` lists every route (METHOD PATH AUTH);\n"
                             "GET /openapi.json describes them (docs/openapi.yaml).",
                             argc, argv, &cfg);
    if (rc != CLI_OK) return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    fr_log_set_level(cfg.log_level);

    /* Blocked before any thread starts, so that every thread inherits the
     * mask and sigwait below is the only receiver. A client that hangs up
     * must not kill the process either. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = CLI_OK;
    char err[1024];
    struct fr_sched *s = NULL;
    struct fr_http *h = NULL;
    struct fr_gallery *g = NULL;
    struct fr_indexer *ix = NULL;
    /* The gallery before the models: a data directory that cannot be
     * opened stops start-up at once, not after the slow model load. */
    struct fr_gallery_params gp = fr_config_gallery_params(&cfg);
    gp.preload = true;
    if (fr_gallery_new(&gp, &g, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec serve: %s\n", err);
        rc = CLI_SOME_FAILED;
        goto out;
    }
    struct fr_sched_params sp = fr_config_sched_params(&cfg);
    double t0 = fr_time_now();
    if (fr_sched_new(&sp, &s, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec serve: %s\n", err);
        rc = CLI_SOME_FAILED;
        goto out;
    }
    struct fr_http_params hp = fr_config_http_params(&cfg);
    hp.gallery = g;
    if (fr_http_new(&hp, s, &h, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec serve: %s\n", err);
        rc = CLI_SOME_FAILED;
        goto out;
    }
    /* This server's share of the queued index jobs (POST /v1/jobs). */
    if (cfg.index_workers > 0) {
        struct fr_indexer_params ip = fr_config_indexer_params(&cfg);
        if (fr_indexer_new(&ip, s, g, &ix, err, sizeof(err)) != FR_OK) {
            fprintf(stderr, "facerec serve: %s\n", err);
            rc = CLI_SOME_FAILED;
            goto out;
        }
    }
    /* Always shown, whatever the log level: scripts wait for this line. */
    struct fr_http_limits lim = fr_http_get_limits(h);
    fprintf(stderr,
            "facerec serve: listening on %s (port %u), pid %ld, started in %.1f s; up to %d connections (open files: "
            "%lld soft, %lld hard)\n",
            cfg.listen, (unsigned)fr_http_port(h), (long)getpid(), fr_time_now() - t0, (int)lim.max_connections,
            (long long)lim.nofile_soft, (long long)lim.nofile_hard);

    int sig = 0;
    sigwait(&stop, &sig);
    FR_LOGI("%s: %s: draining (at most %d ms)", __func__, strsignal(sig), cfg.drain_timeout_ms);
    fr_http_quiesce(h);
    /* Queued work: the batches in flight are finished, nothing more is claimed. */
    fr_indexer_free(ix);
    ix = NULL;
    int32_t left = fr_sched_drain(s, cfg.drain_timeout_ms);
    if (left > 0) FR_LOGW("%s: %d requests unfinished after %d ms", __func__, (int)left, cfg.drain_timeout_ms);
out:
    fr_indexer_free(ix);
    fr_http_free(h);
    fr_sched_free(s);
    fr_gallery_free(g);
    fr_config_clear(&cfg);
    return rc;
}
