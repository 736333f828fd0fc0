/* Plain-socket helpers shared by the HTTP tests (through http-util.h and
 * test-conn.c) and bench/bench-conn.c: a monotonic clock, a sleep, and a
 * loopback TCP client that binds the source address it is given. No cmocka
 * and no libcurl, so a benchmark can include it. */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock. */
static inline double fr_test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void fr_test_sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A TCP connection to 127.0.0.1:port, or -1. src: the source address to
 * bind (any 127/8 address, so that per-address limits can be aimed at
 * one client), or NULL for the kernel's choice. timeout_s > 0 bounds every
 * send and receive on it. */
static inline int fr_test_dial(const char *src, int port, int timeout_s) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (timeout_s > 0) {
        struct timeval tv = { timeout_s, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    struct sockaddr_in a = { .sin_family = AF_INET };
    struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (src && (inet_pton(AF_INET, src, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)) {
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&d, sizeof(d)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends all n bytes; false when the connection breaks first. */
static inline bool fr_test_send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}
