/* The indexer: this server's workers on the store's indexing queue (see
 * facerec/indexer.h). Each worker: claim a batch, read its files, submit
 * them to the scheduler as one request, wait for the callback (which
 * copies the faces out), then write each image's faces with thumbnails
 * and finish its item. The heartbeat thread extends every lease this node
 * holds. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "facerec/image.h"
#include "facerec/indexer.h"

#define THUMB_DECODE_SIZE 1024 /* the thumbnails' decode need not be full size */
#define MAX_FILE_BYTES (256 << 20)

struct fr_indexer {
    struct fr_indexer_params p;
    char node[FR_STORE_NODE_MAX + 1];
    struct fr_sched *s;
    struct fr_gallery *g;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop, and scheduler callbacks */
    atomic_bool stop;
    pthread_t workers[FR_INDEXER_MAX_WORKERS], heart;
    int32_t n_workers;
    bool heart_started;
};

/* One batch in flight: the files and, after the callback, their faces. */
struct batch {
    struct fr_indexer *ix;
    struct fr_store_item *items;
    int32_t n;
    void **data;   /* file bytes (NULL: unreadable, see error) */
    size_t *len;
    char **error;  /* why an item failed (owned), or NULL */
    struct fr_sched_image *imgs;
    int32_t *slot; /* item of each submitted image */
    int32_t n_imgs;
    struct fr_faces *faces; /* per item, copied in the callback */
    bool done;
    enum fr_status status;
};

struct fr_indexer_params fr_indexer_default_params(void) {
    return (struct fr_indexer_params){.node = NULL, .workers = 2, .batch = 8, .lease_ms = 30000, .idle_ms = 200};
}

const char *fr_indexer_node(const struct fr_indexer *ix) { return ix->node; }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = fr_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Waits on the indexer's condition for at most ms; false once stopping. */
static bool nap(struct fr_indexer *ix, int32_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&ix->mu);
    if (!atomic_load(&ix->stop)) pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
    pthread_mutex_unlock(&ix->mu);
    return !atomic_load(&ix->stop);
}

static void *heart_main(void *arg) {
    struct fr_indexer *ix = arg;
    while (nap(ix, ix->p.lease_ms >= 3 ? ix->p.lease_ms / 3 : 1)) {
        enum fr_status st = fr_store_queue_heartbeat(fr_gallery_store(ix->g), ix->node, ix->p.lease_ms);
        if (st != FR_OK) FR_LOGW("indexer %s: heartbeat failed: %s", ix->node, fr_status_str(st));
    }
    return NULL;
}

/* Reads a whole file into *data (fr_malloc'd); a message on failure. */
static char *read_file(const char *path, void **data, size_t *len) {
    char msg[300];
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        return dup_str(msg);
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > MAX_FILE_BYTES) {
        fclose(f);
        snprintf(msg, sizeof(msg), "not a regular file of at most %d MiB", MAX_FILE_BYTES >> 20);
        return dup_str(msg);
    }
    size_t n = (size_t)sb.st_size;
    char *b = fr_malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return dup_str("out of memory");
    }
    size_t got = fread(b, 1, n, f);
    bool bad = ferror(f) || got != n;
    fclose(f);
    if (bad) {
        fr_free(b);
        return dup_str("read error");
    }
    *data = b;
    *len = n;
    return NULL;
}

static void on_done(const struct fr_sched_result *r, void *ctx) {
    struct batch *b = ctx;
    b->status = r->status;
    for (int32_t i = 0; r->status == FR_OK && i < r->n_images && i < b->n_imgs; i++) {
        int32_t k = b->slot[i];
        const struct fr_sched_image_result *ir = &r->images[i];
        if (ir->status != FR_OK) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s", ir->error ? ir->error : fr_status_str(ir->status));
            b->error[k] = dup_str(msg);
            continue;
        }
        const struct fr_faces *fs = ir->faces;
        struct fr_faces *out = &b->faces[k];
        out->width = fs->width, out->height = fs->height;
        if (fs->count > 0) {
            out->faces = fr_malloc(sizeof(*out->faces) * (size_t)fs->count);
            if (!out->faces) {
                b->error[k] = dup_str("out of memory");
                continue;
            }
            memcpy(out->faces, fs->faces, sizeof(*out->faces) * (size_t)fs->count);
            out->count = fs->count;
        }
    }
    pthread_mutex_lock(&b->ix->mu);
    b->done = true;
    pthread_cond_broadcast(&b->ix->cv);
    pthread_mutex_unlock(&b->ix->mu);
}

/* Writes one computed item: faces with descriptors, thumbnails, image row. */
static void finish_item(struct fr_indexer *ix, struct batch *b, int32_t k) {
    const struct fr_store_item *it = &b->items[k];
    const struct fr_faces *fs = &b->faces[k];
    struct fr_store_image img;
    memset(&img, 0, sizeof(img));
    fr_store_sha256(b->data[k], b->len[k], img.sha256);
    const char *base = strrchr(it->path, '/');
    snprintf(img.name, sizeof(img.name), "%.*s", FR_STORE_NAME_MAX, base ? base + 1 : it->path);
    img.bytes = (int64_t)b->len[k];
    img.width = fs->width, img.height = fs->height;
    struct fr_store_new_face *nf = fr_calloc((size_t)fs->count + 1, sizeof(*nf));
    void **thumbs = fr_calloc((size_t)fs->count + 1, sizeof(*thumbs));
    int32_t n = 0;
    enum fr_status st = nf && thumbs ? FR_OK : FR_ERR_NOMEM;
    struct fr_image *dec = NULL;
    if (st == FR_OK && fs->count > 0) {
        struct fr_decode_params dp = fr_decode_default_params();
        dp.max_image_size = THUMB_DECODE_SIZE;
        char err[256];
        if (fr_image_decode(b->data[k], b->len[k], &dp, &dec, err, sizeof(err)) != FR_OK) dec = NULL;
    }
    for (int32_t i = 0; st == FR_OK && i < fs->count; i++) {
        const struct fr_face *f = &fs->faces[i];
        if (!f->has_descriptor) continue;
        nf[n].face = f;
        if (dec && fr_gallery_thumbnail(dec, fs->width, fs->height, f->box, &thumbs[n], &nf[n].thumbnail_len) == FR_OK)
            nf[n].thumbnail = thumbs[n];
        n++;
    }
    fr_image_free(dec);
    if (st == FR_OK) st = fr_gallery_queue_finish(ix->g, ix->node, it, &img, nf, n, NULL, NULL);
    if (st != FR_OK && st != FR_ERR_NOT_FOUND) {
        /* The write failed (not the image): record it, so the job ends. */
        char msg[128];
        snprintf(msg, sizeof(msg), "writing the faces failed: %s", fr_status_str(st));
        fr_gallery_queue_finish(ix->g, ix->node, it, NULL, NULL, 0, msg, NULL);
    }
    for (int32_t i = 0; thumbs && i < n; i++) fr_free(thumbs[i]);
    fr_free(thumbs);
    fr_free(nf);
}

static void batch_free(struct batch *b) {
    for (int32_t i = 0; i < b->n; i++) {
        if (b->data) fr_free(b->data[i]);
        if (b->error) fr_free(b->error[i]);
        if (b->faces) fr_free(b->faces[i].faces);
    }
    fr_free(b->data);
    fr_free(b->len);
    fr_free(b->error);
    fr_free(b->imgs);
    fr_free(b->slot);
    fr_free(b->faces);
    fr_free(b->items);
}

/* Runs one claimed batch to its end; false when the scheduler stopped
 * (the items are left to lapse to another node). */
static bool run_batch(struct fr_indexer *ix, struct batch *b) {
    size_t n = (size_t)b->n;
    b->data = fr_calloc(n, sizeof(*b->data));
    b->len = fr_calloc(n, sizeof(*b->len));
    b->error = fr_calloc(n, sizeof(*b->error));
    b->imgs = fr_calloc(n, sizeof(*b->imgs));
    b->slot = fr_calloc(n, sizeof(*b->slot));
    b->faces = fr_calloc(n, sizeof(*b->faces));
    if (!b->data || !b->len || !b->error || !b->imgs || !b->slot || !b->faces) {
        /* Recorded as failed rather than left leased: the heartbeat would
         * keep them from ever lapsing. */
        for (int32_t i = 0; i < b->n; i++)
            fr_gallery_queue_finish(ix->g, ix->node, &b->items[i], NULL, NULL, 0, "out of memory", NULL);
        return true;
    }
    for (int32_t i = 0; i < b->n; i++) {
        b->error[i] = read_file(b->items[i].path, &b->data[i], &b->len[i]);
        if (b->error[i]) continue;
        b->imgs[b->n_imgs] = (struct fr_sched_image){b->data[i], b->len[i]};
        b->slot[b->n_imgs++] = i;
    }
    bool keep_going = true;
    if (b->n_imgs > 0) {
        char user[32];
        snprintf(user, sizeof(user), "user-%lld", (long long)b->items[0].user);
        /* Background work: no live client waits, so a loaded device only
         * slows it down rather than failing it (10 minutes). */
        struct fr_sched_request rq = {.user = user, .images = b->imgs, .n_images = b->n_imgs, .landmarks = true,
                                      .embeddings = true, .timeout_ms = 600000, .done = on_done, .ctx = b};
        uint64_t id;
        enum fr_status st;
        /* A full queue (live traffic) is waited out; the leases beat on. */
        while ((st = fr_sched_submit(ix->s, &rq, &id, NULL)) == FR_ERR_BUSY && nap(ix, 50)) {
        }
        if (st != FR_OK) return false;
        pthread_mutex_lock(&ix->mu);
        while (!b->done) pthread_cond_wait(&ix->cv, &ix->mu);
        pthread_mutex_unlock(&ix->mu);
        if (b->status == FR_ERR_SHUTDOWN) return false;
        if (b->status != FR_OK) {
            for (int32_t i = 0; i < b->n_imgs; i++) {
                int32_t k = b->slot[i];
                if (!b->error[k]) b->error[k] = dup_str(fr_status_str(b->status));
            }
            keep_going = true;
        }
    }
    for (int32_t i = 0; i < b->n; i++) {
        if (b->error[i]) fr_gallery_queue_finish(ix->g, ix->node, &b->items[i], NULL, NULL, 0, b->error[i], NULL);
        else finish_item(ix, b, i);
    }
    return keep_going;
}

static void *worker_main(void *arg) {
    struct fr_indexer *ix = arg;
    while (!atomic_load(&ix->stop)) {
        struct batch b;
        memset(&b, 0, sizeof(b));
        b.ix = ix;
        enum fr_status st =
            fr_store_queue_claim(fr_gallery_store(ix->g), ix->node, ix->p.batch, ix->p.lease_ms, &b.items, &b.n);
        if (st != FR_OK || b.n == 0) {
            if (st != FR_OK) FR_LOGW("indexer %s: claiming failed: %s", ix->node, fr_status_str(st));
            nap(ix, ix->p.idle_ms);
            continue;
        }
        FR_LOGD("indexer %s: claimed %d items of job %lld", ix->node, (int)b.n, (long long)b.items[0].job);
        bool go = run_batch(ix, &b);
        batch_free(&b);
        if (!go) break;
    }
    return NULL;
}

enum fr_status fr_indexer_new(const struct fr_indexer_params *p, struct fr_sched *s, struct fr_gallery *g,
                              struct fr_indexer **out, char *err, size_t errlen) {
    FR_ASSERT(p && s && g && out);
    *out = NULL;
    if (p->workers < 1 || p->workers > FR_INDEXER_MAX_WORKERS || p->batch < 1 || p->lease_ms < 1 || p->idle_ms < 1) {
        fr_errf(err, errlen, "indexer: bad workers, batch, lease or idle time");
        return FR_ERR_INVALID;
    }
    struct fr_indexer *ix = fr_calloc(1, sizeof(*ix));
    if (!ix) return FR_ERR_NOMEM;
    ix->p = *p;
    ix->s = s;
    ix->g = g;
    if (p->node && *p->node) snprintf(ix->node, sizeof(ix->node), "%s", p->node);
    else {
        char host[64] = "node";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = 0;
        snprintf(ix->node, sizeof(ix->node), "%s-%ld", host, (long)getpid());
    }
    for (char *c = ix->node; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) *c = '_';
    ix->p.node = ix->node;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->cv, NULL);
    if (pthread_create(&ix->heart, NULL, heart_main, ix) == 0) ix->heart_started = true;
    for (int32_t i = 0; ix->heart_started && i < p->workers; i++) {
        if (pthread_create(&ix->workers[i], NULL, worker_main, ix) != 0) break;
        ix->n_workers++;
    }
    if (!ix->heart_started || ix->n_workers < p->workers) {
        fr_indexer_free(ix);
        fr_errf(err, errlen, "indexer: cannot start its threads");
        return FR_ERR_IO;
    }
    *out = ix;
    return FR_OK;
}

void fr_indexer_free(struct fr_indexer *ix) {
    if (!ix) return;
    pthread_mutex_lock(&ix->mu);
    atomic_store(&ix->stop, true);
    pthread_cond_broadcast(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    for (int32_t i = 0; i < ix->n_workers; i++) pthread_join(ix->workers[i], NULL);
    if (ix->heart_started) pthread_join(ix->heart, NULL);
    pthread_cond_destroy(&ix->cv);
    pthread_mutex_destroy(&ix->mu);
    fr_free(ix);
}

/* ---- collecting files ---- */

struct list {
    char **a;
    int32_t n, cap;
};

static bool push(struct list *l, const char *path) {
    if (l->n == l->cap) {
        int32_t cap = l->cap ? l->cap * 2 : 256;
        char **a = fr_realloc(l->a, sizeof(*a) * (size_t)cap);
        if (!a) return false;
        l->a = a, l->cap = cap;
    }
    return (l->a[l->n] = dup_str(path)) ? (l->n++, true) : false;
}

static bool walk(const char *dir, struct list *l, int depth) {
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    bool ok = n >= 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        char path[PATH_MAX];
        struct stat sb;
        if (ok && nm[0] != '.' && snprintf(path, sizeof(path), "%s/%s", dir, nm) < (int)sizeof(path) &&
            stat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                if (depth < 64) ok = walk(path, l, depth + 1);
            } else if (S_ISREG(sb.st_mode) && strlen(path) <= FR_STORE_PATH_MAX &&
                       fr_image_sniff_file(path) != FR_FORMAT_UNKNOWN) {
                ok = push(l, path);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return ok || n < 0; /* an unreadable directory is skipped; only memory fails */
}

enum fr_status fr_indexer_collect(const char *const *paths, int32_t n, char ***out, int32_t *count, char *err,
                                  size_t errlen) {
    *out = NULL;
    *count = 0;
    struct list l = {0};
    enum fr_status st = FR_OK;
    for (int32_t i = 0; st == FR_OK && i < n; i++) {
        struct stat sb;
        const char *p = paths[i];
        if (!p || p[0] != '/' || strlen(p) > FR_STORE_PATH_MAX) {
            fr_errf(err, errlen, "path %d: an absolute path of at most %d bytes", (int)i, FR_STORE_PATH_MAX);
            st = FR_ERR_INVALID;
        } else if (stat(p, &sb) != 0) {
            fr_errf(err, errlen, "%s: no such file or directory", p);
            st = FR_ERR_NOT_FOUND;
        } else if (S_ISDIR(sb.st_mode)) {
            char d[PATH_MAX];
            snprintf(d, sizeof(d), "%s", p);
            size_t len = strlen(d);
            while (len > 1 && d[len - 1] == '/') d[--len] = 0;
            if (!walk(d, &l, 0)) st = FR_ERR_NOMEM;
        } else if (!push(&l, p)) {
            st = FR_ERR_NOMEM; /* explicit files are always tried, so errors are reported */
        }
    }
    if (st == FR_ERR_NOMEM) fr_errf(err, errlen, "out of memory collecting files");
    if (st != FR_OK) {
        for (int32_t i = 0; i < l.n; i++) fr_free(l.a[i]);
        fr_free(l.a);
        return st;
    }
    *out = l.a;
    *count = l.n;
    return FR_OK;
}
