/* facerec bench --serve: a `facerec serve` child on a free loopback port
 * (see bench.h). */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* A port the kernel just handed out; the server binds it a moment later
 * (a race another process could win: the start then fails clearly). */
/* The port of the server's "listening on ... (port N)" start-up line, or 0
 * while it has not been written. */
static int32_t logged_port(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int32_t port = 0;
    while (!port && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "(port ");
        if (p) port = (int32_t)atoi(p + 6);
    }
    fclose(f);
    return port;
}

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static long get_code(const char *url) {
    CURL *c = curl_easy_init();
    if (!c) return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (devnull) fclose(devnull);
    return code;
}

/* The last lines of the server's log, for error messages. */
static void log_tail(const char *path, char *buf, size_t len) {
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char tmp[4096];
    size_t n = fread(tmp, 1, sizeof tmp - 1, f);
    fclose(f);
    tmp[n] = 0;
    while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == ' ')) tmp[--n] = 0;
    const char *start = tmp;
    if (n > 600) start = tmp + n - 600;
    size_t k = strlen(start) < len - 1 ? strlen(start) : len - 1;
    memcpy(buf, start, k);
    buf[k] = 0;
}

int bench_server_start(struct bench_server *sv, const char *models, char *const *settings, int32_t nsettings,
                       double deadline, char *err, size_t errlen) {
    memset(sv, 0, sizeof(*sv));
    sv->pid = -1;
    snprintf(sv->dir, sizeof sv->dir, "/tmp/facerec-bench-XXXXXX");
    if (!mkdtemp(sv->dir)) {
        snprintf(err, errlen, "cannot create a temporary directory: %s", strerror(errno));
        sv->dir[0] = 0;
        return -1;
    }
    /* A fresh key only this run knows. */
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(bench_now() * 1e6);
    snprintf(sv->key, sizeof sv->key, "bench-%08x%08x", rand_r(&seed), rand_r(&seed));
    char keys[128];
    snprintf(keys, sizeof keys, "%s/keys", sv->dir);
    snprintf(sv->log, sizeof sv->log, "%s/server.log", sv->dir);
    FILE *f = fopen(keys, "w");
    if (!f || fprintf(f, "%s bench\n", sv->key) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s", keys);
        bench_server_stop(sv);
        return -1;
    }
    /* Its own data directory: the gallery store never lands in the
     * user's $XDG_DATA_HOME. */
    char data[128], exe[4096];
    snprintf(data, sizeof data, "%s/data", sv->dir);
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0) {
        snprintf(err, errlen, "cannot find the facerec executable");
        bench_server_stop(sv);
        return -1;
    }
    exe[l] = 0;
    char **argv = calloc((size_t)nsettings + 16, sizeof(char *));
    if (!argv) {
        snprintf(err, errlen, "out of memory");
        bench_server_stop(sv);
        return -1;
    }
    int a = 0;
    argv[a++] = exe;
    argv[a++] = "serve";
    /* Port 0: the server binds a free port and logs it. A port picked
     * here could be taken by another process before the server binds it. */
    argv[a++] = "--listen";
    argv[a++] = "127.0.0.1:0";
    argv[a++] = "--data";
    argv[a++] = data;
    argv[a++] = "--api-keys-file";
    argv[a++] = keys;
    argv[a++] = "--log-level";
    argv[a++] = "warn";
    if (models) {
        argv[a++] = "--models";
        argv[a++] = (char *)models;
    }
    for (int32_t i = 0; i < nsettings; i++) argv[a++] = settings[i];
    argv[a] = NULL;
    pid_t parent = getpid();
    sv->pid = fork();
    if (sv->pid < 0) {
        free(argv);
        snprintf(err, errlen, "fork: %s", strerror(errno));
        bench_server_stop(sv);
        return -1;
    }
    if (sv->pid == 0) {
        /* If bench dies without stopping it, so does the server. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        /* The terminal's Ctrl-C goes to bench, which stops the server
         * itself after the clients have stopped. */
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        /* bench's own variable is not a server setting (serve refuses
         * unknown FACEREC_* names). */
        unsetenv("FACEREC_API_KEY");
        int fd = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    free(argv);
    char ready[128];
    for (;;) {
        int st;
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
            char tail[700];
            log_tail(sv->log, tail, sizeof tail);
            snprintf(err, errlen, "facerec serve exited at start (%s %d): %s",
                     WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), tail);
            sv->pid = -1;
            bench_server_stop(sv);
            return -1;
        }
        if (!sv->port && (sv->port = logged_port(sv->log)) > 0) {
            snprintf(sv->url, sizeof sv->url, "http://127.0.0.1:%d", (int)sv->port);
            snprintf(ready, sizeof ready, "%s/readyz", sv->url);
        }
        if (sv->port > 0 && get_code(ready) == 200) return 0;
        if (bench_stop_flag || bench_now() > deadline) {
            snprintf(err, errlen, "%s", bench_stop_flag ? "interrupted while the server was starting"
                                                        : "facerec serve was not ready before the timeout");
            bench_server_stop(sv);
            return -1;
        }
        sleep_ms(50);
    }
}

void bench_server_stop(struct bench_server *sv) {
    if (sv->pid > 0) {
        kill(sv->pid, SIGTERM);
        int st;
        double t0 = bench_now();
        while (waitpid(sv->pid, &st, WNOHANG) == 0) {
            if (bench_now() - t0 > 30) {
                kill(sv->pid, SIGKILL);
                waitpid(sv->pid, &st, 0);
                break;
            }
            sleep_ms(20);
        }
        sv->pid = -1;
    }
    if (sv->dir[0]) {
        /* The data directory holds the store's files (database, WAL). */
        static const char *const data_files[] = { "facerec.db", "facerec.db-wal", "facerec.db-shm", NULL };
        char path[160];
        for (int i = 0; data_files[i]; i++) {
            snprintf(path, sizeof path, "%s/data/%s", sv->dir, data_files[i]);
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/data", sv->dir);
        rmdir(path);
        snprintf(path, sizeof path, "%s/keys", sv->dir);
        unlink(path);
        unlink(sv->log);
        rmdir(sv->dir);
        sv->dir[0] = 0;
    }
}
