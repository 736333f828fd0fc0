/* The gallery service: the store (durable) plus one search matrix per user
 * (in memory), kept in step. See facerec/gallery.h for the contract.
 *
 * Every write follows one protocol (write_begin / write_end): take the
 * user's lock exclusively, bring the matrix up to date with the database,
 * write to the store (which commits), apply the same change to the
 * matrix, and record the user's gallery_version the matrix now reflects.
 * If another process committed anything while we wrote, or the matrix
 * update failed, the version is forgotten so that the next use reloads
 * the matrix from the store: the store always wins. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facerec/gallery.h"
#include "facerec/search.h"

/* One user's matrix. Entries are allocated one by one and never freed
 * before the gallery, so a pointer stays valid without the table lock. */
struct ugal {
    int64_t user;
    pthread_rwlock_t lock;
    struct fr_search *m;   /* NULL until loaded */
    int64_t version;       /* the gallery_version m reflects; -1 = unknown, reload */
    atomic_bool check;     /* another process wrote: compare versions before use */
};

struct fr_gallery {
    struct fr_gallery_params p;
    struct fr_store *st;
    pthread_mutex_t mu; /* guards u, n, cap and data_version */
    struct ugal **u;
    int32_t n, cap;
    int64_t data_version;
};

struct fr_gallery_params fr_gallery_default_params(void) {
    return (struct fr_gallery_params){
        .store = fr_store_default_params(),
        .threshold = FR_DEFAULT_TOLERANCE,
        .preload = false,
        .int8 = false,
        .k = 3,
        .cluster = fr_gallery_cluster_default_params(),
    };
}

struct fr_gallery_cluster_params fr_gallery_cluster_default_params(void) {
    return (struct fr_gallery_cluster_params){ .min_faces = 3, .max_distance = 0.5f };
}

struct fr_gallery_params fr_gallery_get_params(const struct fr_gallery *g) { return g->p; }

struct fr_store *fr_gallery_store(struct fr_gallery *g) { return g->st; }
float fr_gallery_threshold(const struct fr_gallery *g) { return g->p.threshold; }

/* ---- per-user matrices ----------------------------------------------------- */

static struct ugal *user_entry(struct fr_gallery *g, int64_t user) {
    pthread_mutex_lock(&g->mu);
    struct ugal *e = NULL;
    for (int32_t i = 0; i < g->n; i++)
        if (g->u[i]->user == user) {
            e = g->u[i];
            goto out;
        }
    if (g->n == g->cap) {
        int32_t cap = g->cap ? g->cap * 2 : 16;
        struct ugal **u = fr_realloc(g->u, sizeof(*u) * (size_t)cap);
        if (!u) goto out;
        g->u = u;
        g->cap = cap;
    }
    e = fr_calloc(1, sizeof(*e));
    if (!e) goto out;
    e->user = user;
    e->version = -1;
    if (pthread_rwlock_init(&e->lock, NULL) != 0) {
        fr_free(e);
        e = NULL;
        goto out;
    }
    g->u[g->n++] = e;
out:
    pthread_mutex_unlock(&g->mu);
    return e;
}

/* Notices commits of other processes: every loaded matrix must then
 * compare its version before its next use. Returns the data version. */
static int64_t external_check(struct fr_gallery *g) {
    int64_t dv = fr_store_data_version(g->st);
    pthread_mutex_lock(&g->mu);
    if (dv != g->data_version) {
        g->data_version = dv;
        for (int32_t i = 0; i < g->n; i++) atomic_store(&g->u[i]->check, true);
    }
    pthread_mutex_unlock(&g->mu);
    return dv;
}

static bool load_face(int64_t id, int64_t person, const float *embedding, void *ctx) {
    return fr_search_add(ctx, id, person, embedding) == FR_OK;
}

static enum fr_status user_version(struct fr_gallery *g, int64_t user, int64_t *version) {
    struct fr_store_user u;
    enum fr_status st = fr_store_user_get_by_id(g->st, user, &u);
    if (st == FR_OK) *version = u.gallery_version;
    return st;
}

/* Rebuilds e's matrix from the store. The version is read before the scan:
 * a write that lands between the two makes the next check reload again,
 * never miss a change. Called with e->lock held exclusively. */
static enum fr_status load(struct fr_gallery *g, struct ugal *e) {
    int64_t version = -1;
    enum fr_status st = user_version(g, e->user, &version);
    if (st == FR_ERR_NOT_FOUND) version = -1; /* no such user (any more): an empty gallery */
    else if (st != FR_OK) return st;
    struct fr_search_params sp = fr_search_default_params();
    sp.dim = FR_DESCRIPTOR_DIM;
    sp.int8 = g->p.int8;
    struct fr_search *m = NULL;
    if ((st = fr_search_new(&sp, &m)) != FR_OK) return st;
    if (version >= 0) {
        st = fr_store_face_scan(g->st, e->user, load_face, m);
        if (st != FR_OK) {
            fr_search_free(m);
            return st;
        }
    }
    fr_search_free(e->m);
    e->m = m;
    e->version = version;
    atomic_store(&e->check, false);
    FR_LOGD("%s: user %lld: %lld faces, version %lld", __func__, (long long)e->user, (long long)fr_search_count(m),
            (long long)version);
    return FR_OK;
}

/* Makes e's matrix current. e->lock held exclusively. */
static enum fr_status refresh(struct fr_gallery *g, struct ugal *e) {
    if (!e->m || e->version < 0) return load(g, e);
    if (!atomic_exchange(&e->check, false)) return FR_OK;
    int64_t v;
    enum fr_status st = user_version(g, e->user, &v);
    if (st == FR_ERR_NOT_FOUND) v = -1;
    else if (st != FR_OK) {
        atomic_store(&e->check, true);
        return st;
    }
    return v == e->version ? FR_OK : load(g, e);
}

/* Shared access to a current matrix: *out is read-locked on FR_OK. */
static enum fr_status read_begin(struct fr_gallery *g, int64_t user, struct ugal **out) {
    struct ugal *e = user_entry(g, user);
    if (!e) return FR_ERR_NOMEM;
    external_check(g);
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&e->lock);
        /* Current, or refreshed once already (a user that does not exist
         * keeps version -1 and an empty matrix). */
        if (e->m && ((e->version >= 0 && !atomic_load(&e->check)) || tries > 0)) break;
        pthread_rwlock_unlock(&e->lock);
        pthread_rwlock_wrlock(&e->lock);
        enum fr_status st = refresh(g, e);
        pthread_rwlock_unlock(&e->lock);
        if (st != FR_OK) return st;
    }
    *out = e;
    return FR_OK;
}

/* Exclusive access to a current matrix; *dv gets the data version seen
 * before, for write_end. */
static enum fr_status write_begin(struct fr_gallery *g, int64_t user, struct ugal **out, int64_t *dv) {
    struct ugal *e = user_entry(g, user);
    if (!e) return FR_ERR_NOMEM;
    *dv = external_check(g);
    int64_t stale_before, stale_after; /* forget any earlier write's record */
    fr_store_last_write(g->st, user, &stale_before, &stale_after);
    pthread_rwlock_wrlock(&e->lock);
    enum fr_status st = refresh(g, e);
    if (st != FR_OK) {
        pthread_rwlock_unlock(&e->lock);
        return st;
    }
    *out = e;
    return FR_OK;
}

/* After a write that the store committed (wrote) and the matrix took
 * (applied): record the version the matrix now reflects, or, when another
 * process committed meanwhile or the matrix missed the change, make the
 * next use reload. Unlocks. */
static void write_end(struct fr_gallery *g, struct ugal *e, int64_t dv, bool wrote, bool applied) {
    if (wrote) {
        int64_t v = -1, before, after;
        if (fr_store_last_write(g->st, e->user, &before, &after)) {
            /* A shared store (PostgreSQL) says what the write saw: the
             * matrix is current if nobody wrote between its load and ours. */
            v = applied && before == e->version ? after : -1;
        } else if (!applied || fr_store_data_version(g->st) != dv || user_version(g, e->user, &v) != FR_OK) {
            v = -1;
        }
        e->version = v;
    }
    pthread_rwlock_unlock(&e->lock);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

enum fr_status fr_gallery_new(const struct fr_gallery_params *p, struct fr_gallery **out, char *err, size_t errlen) {
    FR_ASSERT(p && out);
    *out = NULL;
    struct fr_gallery *g = fr_calloc(1, sizeof(*g));
    if (!g) return FR_ERR_NOMEM;
    g->p = *p;
    g->p.store.data_dir = NULL; /* the caller's string; the store keeps what it needs */
    if (!(g->p.threshold >= 0.0f)) g->p.threshold = FR_DEFAULT_TOLERANCE;
    pthread_mutex_init(&g->mu, NULL);
    enum fr_status st = fr_store_new(&p->store, &g->st, err, errlen);
    if (st != FR_OK) goto fail;
    g->data_version = fr_store_data_version(g->st);
    if (p->preload) {
        struct fr_store_user *users = NULL;
        int32_t n = 0;
        if ((st = fr_store_user_list(g->st, &users, &n)) != FR_OK) {
            fr_errf(err, errlen, "cannot list users: %s", fr_status_str(st));
            goto fail;
        }
        for (int32_t i = 0; i < n && st == FR_OK; i++) {
            struct ugal *e = user_entry(g, users[i].id);
            if (!e) st = FR_ERR_NOMEM;
            else {
                pthread_rwlock_wrlock(&e->lock);
                st = load(g, e);
                pthread_rwlock_unlock(&e->lock);
            }
            if (st != FR_OK) fr_errf(err, errlen, "loading the gallery of %s: %s", users[i].name, fr_status_str(st));
        }
        fr_free(users);
        if (st != FR_OK) goto fail;
    }
    *out = g;
    return FR_OK;
fail:
    fr_gallery_free(g);
    return st;
}

void fr_gallery_free(struct fr_gallery *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n; i++) {
        fr_search_free(g->u[i]->m);
        pthread_rwlock_destroy(&g->u[i]->lock);
        fr_free(g->u[i]);
    }
    fr_free(g->u);
    fr_store_free(g->st);
    pthread_mutex_destroy(&g->mu);
    fr_free(g);
}

/* ---- people ------------------------------------------------------------------------- */

enum fr_status fr_gallery_person_add(struct fr_gallery *g, int64_t user, const char *name, int64_t *id) {
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    st = fr_store_person_add(g->st, user, name, id);
    write_end(g, e, dv, st == FR_OK, true);
    return st;
}

enum fr_status fr_gallery_person_rename(struct fr_gallery *g, int64_t user, int64_t id, const char *name) {
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    st = fr_store_person_rename(g->st, user, id, name);
    write_end(g, e, dv, st == FR_OK, true);
    return st;
}

enum fr_status fr_gallery_person_delete(struct fr_gallery *g, int64_t user, int64_t id, int64_t *n_faces) {
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    st = fr_store_person_delete(g->st, user, id, n_faces);
    if (st == FR_OK) fr_search_remove_label(e->m, id);
    write_end(g, e, dv, st == FR_OK, true);
    return st;
}

enum fr_status fr_gallery_person_merge(struct fr_gallery *g, int64_t user, int64_t into, int64_t from) {
    if (into == from) return FR_ERR_INVALID;
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    st = fr_store_person_merge(g->st, user, into, from);
    if (st == FR_OK) fr_search_relabel(e->m, from, into);
    write_end(g, e, dv, st == FR_OK, true);
    return st;
}

enum fr_status fr_gallery_face_delete(struct fr_gallery *g, int64_t user, int64_t id) {
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    st = fr_store_face_delete(g->st, user, id);
    bool applied = true;
    if (st == FR_OK) applied = fr_search_remove(e->m, id) == FR_OK;
    write_end(g, e, dv, st == FR_OK, applied);
    return st;
}

enum fr_status fr_gallery_face_assign(struct fr_gallery *g, int64_t user, int64_t face, int64_t person) {
    if (face <= 0 || person < 0) return FR_ERR_INVALID;
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    st = fr_store_face_assign(g->st, user, &face, 1, person);
    bool applied = true;
    if (st == FR_OK) applied = fr_search_set_label(e->m, face, person) == FR_OK;
    write_end(g, e, dv, st == FR_OK, applied);
    return st;
}

/* ---- adding faces ----------------------------------------------------------------------- */

static enum fr_status add_faces(struct fr_gallery *g, struct ugal *e, int64_t user, int64_t person,
                                const struct fr_store_image *img, const struct fr_store_new_face *faces, int32_t n,
                                int64_t *ids_out, int64_t *image_id, bool *applied) {
    int64_t *ids = ids_out;
    if (!ids && n > 0 && !(ids = fr_malloc(sizeof(*ids) * (size_t)n))) return FR_ERR_NOMEM;
    enum fr_status st = fr_store_faces_add(g->st, user, person, img, faces, n, ids, image_id);
    *applied = true;
    for (int32_t i = 0; st == FR_OK && i < n; i++)
        if (fr_search_add(e->m, ids[i], person, faces[i].face->descriptor) != FR_OK) *applied = false;
    if (ids != ids_out) fr_free(ids);
    return st;
}

static bool faces_ok(const struct fr_store_new_face *faces, int32_t n) {
    if (n < 0 || (n > 0 && !faces)) return false;
    for (int32_t i = 0; i < n; i++)
        if (!faces[i].face || !faces[i].face->has_descriptor) return false;
    return true;
}

enum fr_status fr_gallery_enroll(struct fr_gallery *g, int64_t user, int64_t person,
                                 const struct fr_store_image *img, const struct fr_store_new_face *faces, int32_t n,
                                 int64_t *ids_out) {
    if (person <= 0 || n < 1 || !faces_ok(faces, n)) return FR_ERR_INVALID;
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    bool applied = true;
    st = add_faces(g, e, user, person, img, faces, n, ids_out, NULL, &applied);
    write_end(g, e, dv, st == FR_OK, applied);
    return st;
}

enum fr_status fr_gallery_index(struct fr_gallery *g, int64_t user, const struct fr_store_image *img,
                                const struct fr_store_new_face *faces, int32_t n, int64_t *ids_out, int64_t *image_id,
                                bool *skipped) {
    if (!img || !faces_ok(faces, n)) return FR_ERR_INVALID;
    *skipped = false;
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    /* Checked under the user's write lock: two requests with the same
     * photo cannot both pass. */
    struct fr_store_image have;
    st = fr_store_image_find(g->st, user, img->sha256, &have);
    if (st == FR_OK) {
        *skipped = true;
        if (image_id) *image_id = have.id;
        write_end(g, e, dv, false, true);
        return FR_OK;
    }
    bool applied = true;
    if (st == FR_ERR_NOT_FOUND) st = add_faces(g, e, user, 0, img, faces, n, ids_out, image_id, &applied);
    write_end(g, e, dv, st == FR_OK, applied);
    return st;
}

enum fr_status fr_gallery_queue_finish(struct fr_gallery *g, const char *node, const struct fr_store_item *item,
                                       const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                       int32_t n, const char *error, bool *skipped) {
    bool skip = false;
    if (skipped) *skipped = false;
    if (error || !item) return fr_store_queue_finish(g->st, node, item, NULL, NULL, 0, error, NULL, NULL);
    if (!img || !faces_ok(faces, n)) return FR_ERR_INVALID;
    int64_t *ids = n > 0 ? fr_malloc(sizeof(*ids) * (size_t)n) : NULL;
    if (n > 0 && !ids) return FR_ERR_NOMEM;
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, item->user, &e, &dv);
    if (st != FR_OK) {
        fr_free(ids);
        return st;
    }
    st = fr_store_queue_finish(g->st, node, item, img, faces, n, NULL, ids, &skip);
    bool applied = true;
    for (int32_t i = 0; st == FR_OK && !skip && i < n; i++)
        if (fr_search_add(e->m, ids[i], 0, faces[i].face->descriptor) != FR_OK) applied = false;
    write_end(g, e, dv, st == FR_OK && !skip, applied);
    fr_free(ids);
    if (skipped) *skipped = skip;
    return st;
}

/* ---- recognition ------------------------------------------------------------------------ */

enum fr_status fr_gallery_recognize(struct fr_gallery *g, int64_t user, const float *descriptor, int32_t k,
                                    struct fr_gallery_match *out, int32_t *n) {
    *n = 0;
    if (k < 1 || k > FR_GALLERY_MAX_K || !descriptor) return FR_ERR_INVALID;
    struct fr_search_hit hits[FR_GALLERY_MAX_K];
    struct ugal *e;
    enum fr_status st = read_begin(g, user, &e);
    if (st != FR_OK) return st;
    int32_t nh = fr_search_topk_labels(e->m, descriptor, k, hits);
    pthread_rwlock_unlock(&e->lock);
    /* Names outside the lock: a person deleted in between is dropped. */
    int32_t m = 0;
    for (int32_t i = 0; i < nh; i++) {
        struct fr_store_person p;
        st = fr_store_person_get(g->st, user, hits[i].label, &p);
        if (st == FR_ERR_NOT_FOUND) continue;
        if (st != FR_OK) return st;
        out[m] = (struct fr_gallery_match){ .person = hits[i].label, .face = hits[i].id, .distance = hits[i].distance,
                                            .similarity = fr_similarity(hits[i].distance) };
        memcpy(out[m].name, p.name, sizeof(out[m].name));
        m++;
    }
    *n = m;
    return FR_OK;
}

/* ---- clustering ------------------------------------------------------------------------- */

/* The unassigned faces of a user, in id order. */
struct unassigned {
    int32_t n, cap;
    int64_t *id;
    float *emb; /* n x FR_DESCRIPTOR_DIM */
};

static enum fr_status list_unassigned(struct fr_store *st, int64_t user, struct unassigned *u) {
    int64_t after = 0;
    for (;;) {
        struct fr_store_face *f = NULL;
        int32_t n = 0;
        enum fr_status s = fr_store_face_list(st, user, 0, after, 1000, &f, &n);
        if (s != FR_OK) return s;
        if (u->n + n > u->cap) {
            int32_t cap = u->cap ? u->cap : 1024;
            while (cap < u->n + n) cap *= 2;
            int64_t *id = fr_realloc(u->id, sizeof(*id) * (size_t)cap);
            if (id) u->id = id;
            float *emb = fr_realloc(u->emb, sizeof(*emb) * FR_DESCRIPTOR_DIM * (size_t)cap);
            if (emb) u->emb = emb;
            if (!id || !emb) {
                fr_free(f);
                return FR_ERR_NOMEM;
            }
            u->cap = cap;
        }
        for (int32_t i = 0; i < n; i++) {
            u->id[u->n] = f[i].id;
            memcpy(u->emb + (size_t)u->n * FR_DESCRIPTOR_DIM, f[i].embedding, sizeof(f[i].embedding));
            u->n++;
        }
        if (n > 0) after = f[n - 1].id;
        fr_free(f);
        if (n < 1000) return FR_OK;
    }
}

static int32_t index_of(const struct unassigned *u, int64_t id) {
    int32_t lo = 0, hi = u->n - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (u->id[mid] == id) return mid;
        if (u->id[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* The neighbourhood of one unassigned face, from one top-k scan. */
struct hood {
    int32_t count;      /* faces within max_distance, itself included (capped at the scan's k) */
    int64_t person;     /* nearest face with a person within max_distance: its person, else 0 */
    float person_dist;
    int32_t first, len; /* unassigned neighbours: nb[first .. first+len), nearest first */
};

/* A face's place in the write order: its group's key, then its index. */
struct member {
    int64_t key;
    int32_t index;
};

static int member_cmp(const void *a, const void *b) {
    const struct member *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

#define CLUSTER_SCAN_K (FR_GALLERY_MAX_CLUSTER_MIN_FACES + 1) /* neighbours looked at per face */

static enum fr_status plan_and_write(struct fr_gallery *g, struct ugal *e, int64_t user,
                                     const struct fr_gallery_cluster_params *p, struct fr_gallery_cluster_result *res,
                                     bool *wrote, bool *applied) {
    struct unassigned u = { 0 };
    struct hood *hd = NULL;
    int32_t *nb = NULL, nnb = 0, cap_nb = 0;
    float *nbd = NULL;
    int64_t *assign = NULL, *ids = NULL, *new_person = NULL;
    bool *core = NULL;
    enum fr_status st = list_unassigned(g->st, user, &u);
    if (st != FR_OK || u.n == 0) goto out;
    st = FR_ERR_NOMEM;
    hd = fr_calloc((size_t)u.n, sizeof(*hd));
    assign = fr_calloc((size_t)u.n, sizeof(*assign));
    core = fr_calloc((size_t)u.n, sizeof(*core));
    ids = fr_malloc(sizeof(*ids) * (size_t)u.n);
    new_person = fr_malloc(sizeof(*new_person) * (size_t)u.n);
    if (!hd || !assign || !core || !ids || !new_person) goto out;
    int32_t k = CLUSTER_SCAN_K;
    struct fr_search_hit hits[CLUSTER_SCAN_K];
    for (int32_t i = 0; i < u.n; i++) {
        int32_t nh = fr_search_topk(e->m, u.emb + (size_t)i * FR_DESCRIPTOR_DIM, k, FR_SEARCH_ANY, hits);
        struct hood *h = &hd[i];
        h->first = nnb;
        for (int32_t j = 0; j < nh && hits[j].distance <= p->max_distance; j++) {
            h->count++;
            if (hits[j].label != 0) {
                if (!h->person) h->person = hits[j].label, h->person_dist = hits[j].distance;
                continue;
            }
            int32_t x = index_of(&u, hits[j].id);
            if (x < 0 || x == i) continue;
            if (nnb == cap_nb) {
                cap_nb = cap_nb ? cap_nb * 2 : 4096;
                int32_t *a = fr_realloc(nb, sizeof(*a) * (size_t)cap_nb);
                if (a) nb = a;
                float *b = fr_realloc(nbd, sizeof(*b) * (size_t)cap_nb);
                if (b) nbd = b;
                if (!a || !b) goto out;
            }
            nb[nnb] = x;
            nbd[nnb] = hits[j].distance;
            nnb++;
            h->len++;
        }
        core[i] = h->count >= p->min_faces;
    }
    /* assign[i]: > 0 an existing person, < 0 new person -(c+1), 0 none.
     * A face joins the nearer of: the nearest existing person within
     * max_distance, the group of its nearest core neighbour already in a
     * group. Only core faces extend groups, so one stray face cannot chain
     * two people together. */
    int32_t n_new = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t i = 0; i < u.n; i++) {
            if (assign[i]) continue;
            const struct hood *h = &hd[i];
            int64_t to = h->person;
            float d = h->person ? h->person_dist : 1e30f;
            for (int32_t j = 0; j < h->len; j++) {
                int32_t x = nb[h->first + j];
                if (assign[x] && core[x]) {
                    if (nbd[h->first + j] < d) to = assign[x], d = nbd[h->first + j];
                    break;
                }
            }
            if (!to && core[i]) {
                new_person[n_new] = 0;
                to = -(int64_t)(++n_new);
            }
            if (to) {
                assign[i] = to;
                changed = true;
            }
        }
    }
    /* Write group by group (existing people first, then new ones in the
     * order they were founded), each face list in id order. */
    struct member *mem = fr_malloc(sizeof(*mem) * (size_t)u.n);
    if (!mem) goto out;
    int32_t nm = 0;
    for (int32_t i = 0; i < u.n; i++)
        if (assign[i]) mem[nm++] = (struct member){ assign[i] > 0 ? assign[i] : INT64_MAX / 2 - assign[i], i };
    qsort(mem, (size_t)nm, sizeof(*mem), member_cmp);
    st = FR_OK;
    for (int32_t a = 0; a < nm && st == FR_OK;) {
        int32_t b = a, n = 0;
        while (b < nm && mem[b].key == mem[a].key) ids[n++] = u.id[mem[b++].index];
        int64_t to = assign[mem[a].index];
        if (to < 0) {
            char name[64];
            snprintf(name, sizeof(name), "unnamed-%lld", (long long)ids[0]);
            if ((st = fr_store_person_add(g->st, user, name, &new_person[-to - 1])) != FR_OK) break;
            *wrote = true;
            to = new_person[-to - 1];
        }
        if ((st = fr_store_face_assign(g->st, user, ids, n, to)) != FR_OK) break;
        *wrote = true;
        if (assign[mem[a].index] < 0) res->people_created++, res->created += n;
        else res->joined += n;
        a = b;
    }
    fr_free(mem);
    /* The matrix follows what was committed. */
    for (int32_t i = 0; i < u.n; i++) {
        int64_t pid = assign[i] < 0 ? new_person[-assign[i] - 1] : assign[i];
        if (st != FR_OK) break;
        if (pid > 0 && fr_search_set_label(e->m, u.id[i], pid) != FR_OK) *applied = false;
    }
    if (st != FR_OK) *applied = false;
out:
    res->left = u.n - res->created - res->joined;
    fr_free(u.id);
    fr_free(u.emb);
    fr_free(hd);
    fr_free(nb);
    fr_free(nbd);
    fr_free(assign);
    fr_free(core);
    fr_free(ids);
    fr_free(new_person);
    return st;
}

/* The job row of a clustering run. The faces are already committed, so a
 * job that cannot be written is only logged: the run itself succeeded. */
static void record_job(struct fr_gallery *g, int64_t user, const struct fr_gallery_cluster_params *p,
                       struct fr_gallery_cluster_result *res, enum fr_status result) {
    char detail[160];
    int32_t total = res->created + res->joined + res->left;
    if (result == FR_OK)
        snprintf(detail, sizeof(detail), "min_faces %d, max_distance %g: %d new people, %d faces joined, %d left",
                 (int)p->min_faces, (double)p->max_distance, (int)res->people_created, (int)res->joined,
                 (int)res->left);
    else
        snprintf(detail, sizeof(detail), "failed: %s", fr_status_str(result));
    int64_t job = 0;
    enum fr_status st = fr_store_job_start(g->st, user, "cluster", detail, total, &job);
    if (st == FR_OK)
        st = fr_store_job_update(g->st, user, job, result == FR_OK ? FR_STORE_JOB_DONE : FR_STORE_JOB_FAILED,
                                 res->created + res->joined, 0, detail);
    if (st != FR_OK)
        FR_LOGW("%s: user %lld: the cluster job was not recorded: %s", __func__, (long long)user, fr_status_str(st));
    else
        res->job = job;
}

enum fr_status fr_gallery_cluster(struct fr_gallery *g, int64_t user, const struct fr_gallery_cluster_params *p,
                                  struct fr_gallery_cluster_result *res) {
    memset(res, 0, sizeof(*res));
    if (!p || p->min_faces < 1 || p->min_faces > FR_GALLERY_MAX_CLUSTER_MIN_FACES || !(p->max_distance > 0.0f) ||
        !(p->max_distance <= 2.0f))
        return FR_ERR_INVALID;
    struct ugal *e;
    int64_t dv;
    enum fr_status st = write_begin(g, user, &e, &dv);
    if (st != FR_OK) return st;
    bool wrote = false, applied = true;
    st = plan_and_write(g, e, user, p, res, &wrote, &applied);
    write_end(g, e, dv, wrote, applied);
    record_job(g, user, p, res, st);
    return st;
}
