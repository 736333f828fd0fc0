/* Connection capacity of a running `facerec serve`: opens N keep-alive
 * connections (each asks GET /healthz once and stays open), reports how
 * many were answered, the server's resident memory, threads and open files
 * before and after, and how long a new client then waits for /healthz.
 * Part of `make bench` through bench/conn.sh; results in
 * docs/PERFORMANCE.md.
 *
 * Usage: fr-bench-conn --port PORT --pid PID [--connections N] [--half]
 * --half: each connection sends half a request header instead (a
 * slowloris), and the new client's requests show whether it still gets in.
 * Connections come from 127.0.2.1, 127.0.2.2, ... (200 per address, under
 * the default max_connections_per_ip); the new client from 127.0.3.1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tests/net-util.h"

static int g_port;

/* A connection from src (a 127/8 address) to the server, or -1. */
static int dial(const char *src) { return fr_test_dial(src, g_port, 10); }

/* GET /healthz on fd; true on a 200 (the whole small answer is read). */
static bool healthz(int fd) {
    static const char rq[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, rq, sizeof(rq) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(rq) - 1) return false;
    char buf[2048];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        ssize_t k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
        if (k <= 0) return false;
        n += (size_t)k;
        buf[n] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "Content-Length:");
        if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)) break;
    }
    return !strncmp(buf, "HTTP/1.1 200", 12);
}

/* A "Name: value kB" line of /proc/PID/status, in KiB (or a count). */
static long proc_status(int pid, const char *name) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t nl = strlen(name);
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, name, nl) && line[nl] == ':') v = atol(line + nl + 1);
    if (f) fclose(f);
    return v;
}

static long open_fds(int pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    int pid = 0, n = 2000;
    bool half = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--half")) half = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--half")) i--;
        if (!strcmp(argv[i], "--port")) g_port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pid")) pid = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections")) n = atoi(argv[i + 1]);
    }
    if (!g_port || !pid || n < 1 || n > 100000) {
        fprintf(stderr, "usage: fr-bench-conn --port PORT --pid PID [--connections N]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long rss0 = proc_status(pid, "VmRSS"), thr0 = proc_status(pid, "Threads"), fd0 = open_fds(pid);
    int *fds = calloc((size_t)n, sizeof(int));
    int answered = 0;
    double t0 = fr_test_now();
    for (int i = 0; i < n; i++) {
        char src[32];
        snprintf(src, sizeof(src), "127.0.2.%d", 1 + i / 200);
        fds[i] = dial(src);
        if (fds[i] >= 0 && half) {
            static const char part[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
            answered += send(fds[i], part, sizeof(part) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(part) - 1;
        } else if (fds[i] >= 0 && healthz(fds[i])) {
            answered++;
        }
    }
    double t_open = fr_test_now() - t0;
    if (half) { /* let the server take them all in */
        struct timespec ts = { 1, 0 };
        nanosleep(&ts, NULL);
    }
    long rss1 = proc_status(pid, "VmRSS"), thr1 = proc_status(pid, "Threads"), fd1 = open_fds(pid);
    /* A new client, 20 requests on fresh connections. */
    int ok = 0;
    double t1 = fr_test_now();
    for (int i = 0; i < 20; i++) {
        int fd = dial("127.0.3.1");
        struct timeval tv = { 2, 0 }; /* a new client that waits longer counts as locked out */
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (fd >= 0 && healthz(fd)) ok++;
        if (fd >= 0) close(fd);
    }
    double t_new = (fr_test_now() - t1) / 20 * 1000;
    int still = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        char c;
        ssize_t k = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (k < 0 && errno == EAGAIN) still++;
        close(fds[i]);
    }
    free(fds);
    printf("%s%d: answered %d in %.2f s, still open %d; server RSS %.1f -> %.1f MiB (+%.1f KiB per "
           "connection), threads %ld -> %ld, open files %ld -> %ld; new client: %d/20 ok, %.2f ms per /healthz\n",
           half ? "half-open connections " : "keep-alive connections ", n, answered, t_open, still, rss0 / 1024.0,
           rss1 / 1024.0, answered ? (double)(rss1 - rss0) / answered : 0.0, thr0, thr1, fd0, fd1, ok, t_new);
    return ok == 20 ? 0 : 1;
}
