/* Connections of the HTTP server: who is connected, in which phase and
 * since when; the limits that keep a flood of slow or idle connections
 * from locking other clients out; and the worker pool for blocking work.
 *
 * libmicrohttpd's own connection timeout is an idle timeout (any byte
 * restarts it) and its per-address limit refuses silently, so both are
 * done here. MHD tells us what happens through callbacks on its loop
 * threads (a connection starts, its request line arrives, the handler
 * runs, the request completes, the connection closes); each updates the
 * connection's phase under h->conn_mu. A sweep thread wakes every 100 ms
 * and closes what is late: it shuts the socket down, which MHD's loop sees
 * as the client leaving and then closes and frees as usual. The socket
 * stays open (MHD closes it only after the "closed" notice, which takes
 * conn_mu to unlink the connection), so shutting it down under conn_mu is
 * safe. Nothing here calls into MHD or the scheduler with conn_mu held.
 *
 * Refusals (per address, capacity) are written straight to the new
 * socket before MHD reads anything: a small complete HTTP response with a
 * JSON body and "Connection: close", then a half-close, so a well-behaved
 * client reads a clear status instead of a reset. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/server-impl.h"

const char *const fr__http_refusal_names[FR__N_REFUSALS] = {
    "per_ip", "capacity", "body_memory", "header_timeout", "body_rate", "idle_timeout", "evicted",
};

/* Seconds a refused connection is given to read its answer and close. */
#define REFUSED_LINGER_S 2.0
#define SWEEP_MS 100
#define IP_BUCKETS 1024
/* File descriptors kept for everything else: models, the store, logs,
 * epoll and the event-loop threads' pipes. */
#define FD_RESERVE 256

enum phase {
    PH_HEADERS_FIRST, /* accepted; the first request's headers are not in (deadline from accept) */
    PH_IDLE,          /* keep-alive, between requests */
    PH_HEADERS,       /* a later request's line is in, its headers are not */
    PH_BODY,          /* reading a body (minimum rate) */
    PH_BUSY,          /* handler, worker, scheduler or sending the answer */
    PH_REFUSED,       /* answered at accept; closed after a short linger */
};

struct fr__http_ip {
    struct fr__http_ip *next;
    uint8_t key[17]; /* family byte + address */
    int32_t n;
};

struct fr__http_conn {
    struct fr__http_conn *prev, *next;
    struct fr_http *h;
    int fd;
    struct fr__http_ip *ip;
    char addr[48];
    enum phase phase;
    bool closing;        /* shut down by us; MHD closes it next */
    double t_open, t_phase;
    double t_mark;       /* body rate: start of the current window */
    uint64_t body_bytes, body_mark;
    atomic_ullong sched_id; /* the scheduler request it waits for, 0: none */
    atomic_bool gone;       /* the client hung up while suspended */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- limits --------------------------------------------------------------- */

void fr__http_conn_limits(struct fr_http *h) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            struct rlimit up = { rl.rlim_max, rl.rlim_max };
            if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
        }
        h->nofile_soft = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur;
        h->nofile_hard = rl.rlim_max == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_max;
    } else {
        h->nofile_soft = h->nofile_hard = 1024;
    }
    /* The daemon may hold max_connections plus the headroom in which
     * connections over the limit are answered 503. */
    int64_t room = h->nofile_soft - FD_RESERVE;
    int64_t want = (int64_t)h->p.max_connections + h->p.max_connections / 16 + 16;
    if (want > room) {
        int64_t mc = (room - 16) * 16 / 17;
        if (mc < 16) mc = 16;
        FR_LOGW("fr_http: max_connections %d does not fit the open-file limit %lld: serving at most %lld",
                (int)h->p.max_connections, (long long)h->nofile_soft, (long long)mc);
        h->p.max_connections = (int32_t)mc;
    }
}

/* ---- addresses ---------------------------------------------------------------- */

static bool addr_key(const struct sockaddr *sa, uint8_t key[17], char *text, size_t tl) {
    memset(key, 0, 17);
    if (!sa) return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        key[0] = 4;
        memcpy(key + 1, &a->sin_addr, 4);
        inet_ntop(AF_INET, &a->sin_addr, text, (socklen_t)tl);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        key[0] = 6;
        memcpy(key + 1, &a->sin6_addr, 16);
        inet_ntop(AF_INET6, &a->sin6_addr, text, (socklen_t)tl);
        return true;
    }
    return false;
}

static uint32_t key_hash(const uint8_t key[17]) {
    uint32_t x = 2166136261u;
    for (int i = 0; i < 17; i++) x = (x ^ key[i]) * 16777619u;
    return x % IP_BUCKETS;
}

/* The entry of key, created at n == 0; NULL when out of memory. */
static struct fr__http_ip *ip_get(struct fr_http *h, const uint8_t key[17]) {
    struct fr__http_ip **b = &h->ip_buckets[key_hash(key)];
    for (struct fr__http_ip *e = *b; e; e = e->next)
        if (!memcmp(e->key, key, 17)) return e;
    struct fr__http_ip *e = fr_calloc(1, sizeof(*e));
    if (!e) return NULL;
    memcpy(e->key, key, 17);
    e->next = *b;
    *b = e;
    return e;
}

static void ip_put(struct fr_http *h, struct fr__http_ip *e) {
    if (!e || --e->n > 0) return;
    struct fr__http_ip **p = &h->ip_buckets[key_hash(e->key)];
    while (*p && *p != e) p = &(*p)->next;
    if (*p) *p = e->next;
    fr_free(e);
}

/* ---- refusing and closing ---------------------------------------------------- */

/* Writes a whole response to a socket MHD has not read from yet, then
 * half-closes it: the client reads the answer and the end of the stream.
 * The socket is fresh and the answer small, so one non-blocking send
 * goes through whole. */
static void write_refusal(int fd, unsigned status, const char *reason, const char *code, const char *message) {
    char body[256], msg[640];
    int bl = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Retry-After: 1\r\nConnection: close\r\n\r\n%s",
                     status, reason, bl, body);
    if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        FR_LOGD("fr_http: writing a %u refusal: %s", status, strerror(errno));
    shutdown(fd, SHUT_WR);
}

/* Makes MHD close cn (under conn_mu): its loop reads the end of the stream
 * and closes the connection as if the client had left. */
static void conn_close(struct fr_http *h, struct fr__http_conn *cn, enum fr__http_refusal why) {
    if (cn->closing) return;
    cn->closing = true;
    shutdown(cn->fd, SHUT_RDWR);
    atomic_fetch_add(&h->by_reason[why], 1);
    FR_LOGD("fr_http: closing a connection from %s: %s", cn->addr, fr__http_refusal_names[why]);
}

/* The keep-alive connection idle longest, or NULL (under conn_mu). */
static struct fr__http_conn *oldest_idle(struct fr_http *h) {
    struct fr__http_conn *best = NULL;
    for (struct fr__http_conn *cn = h->conn_head; cn; cn = cn->next)
        if (cn->phase == PH_IDLE && !cn->closing && (!best || cn->t_phase < best->t_phase)) best = cn;
    return best;
}

/* ---- MHD's notices ----------------------------------------------------------- */

void fr__http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe) {
    struct fr_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct fr__http_conn *cn = *socket_context;
        atomic_fetch_sub(&h->connections_active, 1);
        if (!cn) return;
        pthread_mutex_lock(&h->conn_mu);
        if (cn->prev) cn->prev->next = cn->next;
        else h->conn_head = cn->next;
        if (cn->next) cn->next->prev = cn->prev;
        else h->conn_tail = cn->prev;
        h->conns_open--;
        ip_put(h, cn->ip);
        pthread_mutex_unlock(&h->conn_mu);
        fr_free(cn);
        *socket_context = NULL;
        return;
    }
    atomic_fetch_add(&h->connections_active, 1);
    atomic_fetch_add(&h->connections_total, 1);
    struct fr__http_conn *cn = fr_calloc(1, sizeof(*cn));
    if (!cn) return; /* served without limits; counted in connections_active */
    const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    cn->h = h;
    cn->fd = fi ? fi->connect_fd : -1;
    cn->t_open = cn->t_phase = now_s();
    cn->phase = PH_HEADERS_FIRST;
    uint8_t key[17];
    bool has_addr = addr_key(ai ? ai->client_addr : NULL, key, cn->addr, sizeof(cn->addr));
    if (!has_addr) snprintf(cn->addr, sizeof(cn->addr), "?");
    int refuse = -1;
    pthread_mutex_lock(&h->conn_mu);
    cn->prev = h->conn_tail;
    if (h->conn_tail) h->conn_tail->next = cn;
    else h->conn_head = cn;
    h->conn_tail = cn;
    h->conns_open++;
    if (has_addr) {
        cn->ip = ip_get(h, key);
        if (cn->ip) cn->ip->n++;
    }
    if (h->p.max_connections_per_ip > 0 && cn->ip && cn->ip->n > h->p.max_connections_per_ip) {
        refuse = FR__REFUSED_PER_IP;
    } else if (h->conns_open > h->p.max_connections - h->p.max_connections / 16) {
        /* Capacity runs low: idle keep-alive connections go first. */
        struct fr__http_conn *idle = oldest_idle(h);
        if (idle) conn_close(h, idle, FR__CLOSED_EVICTED);
        else if (h->conns_open > h->p.max_connections) refuse = FR__REFUSED_CAPACITY;
    }
    if (refuse >= 0) {
        cn->phase = PH_REFUSED;
        cn->t_phase = cn->t_open;
    }
    pthread_mutex_unlock(&h->conn_mu);
    *socket_context = cn;
    if (refuse < 0 || cn->fd < 0) return;
    atomic_fetch_add(&h->by_reason[refuse], 1);
    if (refuse == FR__REFUSED_PER_IP) {
        FR_LOGW("fr_http: %s has more than %d connections open: answered 429", cn->addr,
                (int)h->p.max_connections_per_ip);
        write_refusal(cn->fd, 429, "Too Many Requests", "too_many_connections",
                      "too many connections from this address");
    } else {
        FR_LOGW("fr_http: %d connections open (max_connections %d), none idle: answered 503", (int)h->conns_open,
                (int)h->p.max_connections);
        write_refusal(cn->fd, 503, "Service Unavailable", "at_capacity", "the server has no room for more connections");
    }
}

static struct fr__http_conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request line is in: a keep-alive connection's next request starts,
 * and with it the header deadline. */
void *fr__http_on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    struct fr_http *h = cls;
    (void)uri;
    struct fr__http_conn *cn = conn_of(c);
    if (!cn) return NULL;
    pthread_mutex_lock(&h->conn_mu);
    if (cn->phase == PH_IDLE) {
        cn->phase = PH_HEADERS;
        cn->t_phase = now_s();
    }
    pthread_mutex_unlock(&h->conn_mu);
    return NULL;
}

static void set_phase(struct fr__http_conn *cn, enum phase ph) {
    if (!cn) return;
    pthread_mutex_lock(&cn->h->conn_mu);
    if (cn->phase != PH_REFUSED) {
        cn->phase = ph;
        cn->t_phase = cn->t_mark = now_s();
        cn->body_bytes = cn->body_mark = 0;
    }
    pthread_mutex_unlock(&cn->h->conn_mu);
}

void fr__http_conn_headers_done(struct fr__http_conn *cn, bool body) { set_phase(cn, body ? PH_BODY : PH_BUSY); }
void fr__http_conn_busy(struct fr__http_conn *cn) { set_phase(cn, PH_BUSY); }
void fr__http_conn_request_done(struct fr__http_conn *cn) {
    if (cn) atomic_store(&cn->sched_id, 0);
    set_phase(cn, PH_IDLE);
}

void fr__http_conn_body(struct fr__http_conn *cn, size_t n) {
    if (!cn) return;
    pthread_mutex_lock(&cn->h->conn_mu);
    cn->body_bytes += n;
    pthread_mutex_unlock(&cn->h->conn_mu);
}

void fr__http_conn_set_sched(struct fr__http_conn *cn, uint64_t id) {
    if (cn) atomic_store(&cn->sched_id, id);
}

bool fr__http_conn_refused(const struct fr__http_conn *cn) { return cn && cn->phase == PH_REFUSED; }
bool fr__http_conn_gone(const struct fr__http_conn *cn) { return cn && atomic_load(&cn->gone); }

/* ---- the sweep ------------------------------------------------------------------ */

/* True when the peer closed its side. */
static bool peer_gone(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* One pass over the connections (under conn_mu). The scheduler requests
 * to cancel are collected into ids (at most cap) and cancelled after the
 * lock is dropped, since a cancel may run the completion callback. */
static int32_t sweep(struct fr_http *h, double now, uint64_t *ids, int32_t cap) {
    const double header_s = h->p.header_timeout_ms / 1000.0, idle_s = h->p.connection_timeout_s;
    const double window_s = h->p.body_rate_window_ms / 1000.0;
    bool stopping = atomic_load(&h->stopping);
    int32_t n = 0;
    for (struct fr__http_conn *cn = h->conn_head; cn; cn = cn->next) {
        if (cn->closing || cn->fd < 0) continue;
        switch (cn->phase) {
        case PH_HEADERS_FIRST:
            if (now - cn->t_open > header_s) conn_close(h, cn, FR__CLOSED_HEADER_TIMEOUT);
            break;
        case PH_HEADERS:
            if (now - cn->t_phase > header_s) conn_close(h, cn, FR__CLOSED_HEADER_TIMEOUT);
            break;
        case PH_IDLE:
            /* MHD's own idle timeout restarts with every byte; this one
             * does not, so a request line trickled in counts. */
            if (now - cn->t_phase > idle_s) conn_close(h, cn, FR__CLOSED_IDLE);
            break;
        case PH_BODY:
            if (h->p.min_body_rate > 0 && now - cn->t_mark >= window_s) {
                double need = h->p.min_body_rate * (now - cn->t_mark);
                if ((double)(cn->body_bytes - cn->body_mark) < need) {
                    FR_LOGI("fr_http: %s sent %llu body bytes in %.1f s (min_body_rate %d): closed", cn->addr,
                            (unsigned long long)(cn->body_bytes - cn->body_mark), now - cn->t_mark,
                            (int)h->p.min_body_rate);
                    conn_close(h, cn, FR__CLOSED_BODY_RATE);
                } else {
                    cn->t_mark = now;
                    cn->body_mark = cn->body_bytes;
                }
            }
            break;
        case PH_BUSY: {
            uint64_t id = atomic_load(&cn->sched_id);
            if (id && n < cap && (stopping || peer_gone(cn->fd))) {
                if (!stopping) atomic_store(&cn->gone, true);
                atomic_store(&cn->sched_id, 0);
                ids[n++] = id;
            }
            break;
        }
        case PH_REFUSED:
            if (now - cn->t_open > REFUSED_LINGER_S) {
                cn->closing = true;
                shutdown(cn->fd, SHUT_RDWR);
            }
            break;
        }
    }
    return n;
}

static void *sweeper_main(void *arg) {
    struct fr_http *h = arg;
    enum { CAP = 256 };
    uint64_t ids[CAP];
    pthread_mutex_lock(&h->conn_mu);
    while (!h->sweep_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->sweep_cv, &h->conn_mu, &ts);
        if (h->sweep_stop) break;
        int32_t n = sweep(h, now_s(), ids, CAP);
        if (n == 0) continue;
        pthread_mutex_unlock(&h->conn_mu);
        for (int32_t i = 0; i < n; i++) fr_sched_cancel(h->s, ids[i]);
        pthread_mutex_lock(&h->conn_mu);
    }
    pthread_mutex_unlock(&h->conn_mu);
    return NULL;
}

void fr__http_conn_cancel_all(struct fr_http *h) {
    pthread_mutex_lock(&h->conn_mu);
    pthread_cond_signal(&h->sweep_cv); /* the sweep cancels while stopping */
    pthread_mutex_unlock(&h->conn_mu);
}

void fr__http_conn_stats(struct fr_http *h, struct fr__http_conn_stats *st) {
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&h->conn_mu);
    st->open = h->conns_open;
    pthread_mutex_unlock(&h->conn_mu);
    st->suspended = atomic_load(&h->suspended);
    st->max_connections = h->p.max_connections;
    st->per_ip_limit = h->p.max_connections_per_ip;
    st->nofile_soft = h->nofile_soft;
    st->nofile_hard = h->nofile_hard;
    st->body_bytes = atomic_load(&h->body_bytes);
    st->max_body_memory = (int64_t)h->p.max_body_memory;
    for (int i = 0; i < FR__N_REFUSALS; i++) st->by_reason[i] = atomic_load(&h->by_reason[i]);
}

/* ---- the worker pool ------------------------------------------------------------ */

static void *worker_main(void *arg) {
    struct fr_http *h = arg;
    pthread_mutex_lock(&h->work_mu);
    for (;;) {
        while (!h->work_head && !h->work_stop) pthread_cond_wait(&h->work_cv, &h->work_mu);
        struct fr__http_request *rq = h->work_head;
        if (!rq) break; /* stopping with nothing queued */
        h->work_head = rq->work_next;
        if (!h->work_head) h->work_tail = NULL;
        pthread_mutex_unlock(&h->work_mu);
        rq->defer = true;
        rq->work(h, rq->mc, rq);
        rq->defer = false;
        atomic_fetch_sub(&h->working, 1);
        fr__http_release(rq);
        pthread_mutex_lock(&h->work_mu);
    }
    pthread_mutex_unlock(&h->work_mu);
    return NULL;
}

void fr__http_work_push(struct fr_http *h, struct fr__http_request *rq) {
    atomic_fetch_add(&h->working, 1);
    rq->work_next = NULL;
    pthread_mutex_lock(&h->work_mu);
    if (h->work_tail) h->work_tail->work_next = rq;
    else h->work_head = rq;
    h->work_tail = rq;
    pthread_cond_signal(&h->work_cv);
    pthread_mutex_unlock(&h->work_mu);
}

/* ---- lifecycle -------------------------------------------------------------------- */

enum fr_status fr__http_conn_init(struct fr_http *h, char *err, size_t errlen) {
    pthread_mutex_init(&h->conn_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->sweep_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->work_mu, NULL);
    pthread_cond_init(&h->work_cv, NULL);
    h->ip_buckets = fr_calloc(IP_BUCKETS, sizeof(*h->ip_buckets));
    if (!h->ip_buckets) {
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    return FR_OK;
}

enum fr_status fr__http_conn_start(struct fr_http *h, char *err, size_t errlen) {
    h->workers = fr_calloc((size_t)h->p.workers, sizeof(*h->workers));
    if (!h->workers) {
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    for (int32_t i = 0; i < h->p.workers; i++) {
        if (pthread_create(&h->workers[i], NULL, worker_main, h) != 0) break;
        h->n_workers++;
    }
    if (pthread_create(&h->sweeper, NULL, sweeper_main, h) == 0) h->sweeper_started = true;
    if (h->n_workers == 0 || !h->sweeper_started) {
        fr_errf(err, errlen, "cannot start the HTTP server's threads");
        return FR_ERR_INTERNAL;
    }
    return FR_OK;
}

void fr__http_conn_stop(struct fr_http *h) {
    if (h->sweeper_started) {
        pthread_mutex_lock(&h->conn_mu);
        h->sweep_stop = true;
        pthread_cond_signal(&h->sweep_cv);
        pthread_mutex_unlock(&h->conn_mu);
        pthread_join(h->sweeper, NULL);
        h->sweeper_started = false;
    }
    pthread_mutex_lock(&h->work_mu);
    h->work_stop = true;
    pthread_cond_broadcast(&h->work_cv);
    pthread_mutex_unlock(&h->work_mu);
    for (int32_t i = 0; i < h->n_workers; i++) pthread_join(h->workers[i], NULL);
    h->n_workers = 0;
    fr_free(h->workers);
    h->workers = NULL;
    if (h->ip_buckets) {
        for (int i = 0; i < IP_BUCKETS; i++) {
            for (struct fr__http_ip *e = h->ip_buckets[i], *next; e; e = next) {
                next = e->next;
                fr_free(e);
            }
        }
        fr_free(h->ip_buckets);
        h->ip_buckets = NULL;
    }
    pthread_cond_destroy(&h->work_cv);
    pthread_mutex_destroy(&h->work_mu);
    pthread_cond_destroy(&h->sweep_cv);
    pthread_mutex_destroy(&h->conn_mu);
}

/* ---- the listening socket ------------------------------------------------ */

/* Binds and listens on "host:port", "[v6]:port", ":port" (all interfaces)
 * or "port" (loopback). We open the socket ourselves so that a failure
 * names the errno, and so that quiesce can close it. */
int fr__http_listen_open(const char *spec, uint16_t *port, bool *v6, char *err, size_t errlen) {
    char host[256], serv[16];
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host)) goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(rb - spec - 1), spec + 1);
        colon = rb + 1;
    } else if (!colon) {
        snprintf(host, sizeof(host), "127.0.0.1");
        colon = spec - 1;
    } else {
        if ((size_t)(colon - spec) >= sizeof(host)) goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
        if (!host[0]) snprintf(host, sizeof(host), "0.0.0.0");
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) goto bad;
    snprintf(serv, sizeof(serv), "%ld", p);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
    int gai = getaddrinfo(host, serv, &hints, &ai);
    if (gai) {
        fr_errf(err, errlen, "listen %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 4096) == 0) {
            *v6 = a->ai_family == AF_INET6;
            break;
        }
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        fr_errf(err, errlen, "listen %s: %s", spec, strerror(e));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
bad:
    fr_errf(err, errlen, "listen \"%s\": expected HOST:PORT, [IPV6]:PORT or PORT", spec);
    return -2;
}
