/* The indexing queue on PostgreSQL (facerec/store.h, "the indexing
 * queue"), and the jobs it feeds: the same statements as SQLite's
 * (queue.c), with row locks where several nodes claim and finish items at
 * once (FOR UPDATE, SKIP LOCKED). The checks and row readers are
 * store-common.c's. */
#include <string.h>

#include "store/store-pg-impl.h"

enum fr_status fr__pg_job_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job *out) {
    return fr__pg_get_row(st, FR__STORE_JOB_SELECT " WHERE user_id = $1 AND id = $2", user, id, fr__store_read_job,
                          "job", out);
}

enum fr_status fr__pg_queue_add(struct fr_store *st, int64_t user, const char *detail, const char *const *paths,
                                int32_t n, int64_t *id) {
    enum fr_status status = fr__store_check_paths(paths, n);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    int64_t job = 0;
    status = fr__pg_begin(st);
    if (status == FR_OK) {
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, user);
        fr__pg_i64(&p, n == 0 ? 1 : 0);
        fr__pg_i64(&p, n);
        fr__pg_text_cut(&p, detail ? detail : "", FR__STORE_DETAIL_MAX);
        fr__pg_i64(&p, fr__store_now());
        PGresult *r;
        char state[6];
        status = fr__pg_exec(st,
                             "INSERT INTO jobs(user_id, kind, state, total, done, failed, detail, created, updated) "
                             "VALUES($1, 'index', $2, $3, 0, 0, $4, $5, $5) RETURNING id",
                             &p, &r, "queueing a job", state);
        if (status != FR_OK && !strcmp(state, FR__PG_FOREIGN_KEY))
            status = fr__store_fail(FR_ERR_NOT_FOUND, "no user %lld", (long long)user);
        if (status == FR_OK) {
            job = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
        }
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            struct fr__pg_params q = {0};
            fr__pg_i64(&q, job);
            fr__pg_i64(&q, user);
            fr__pg_text(&q, paths[i]);
            status = fr__pg_exec(st, "INSERT INTO job_items(job_id, user_id, path) VALUES($1, $2, $3)", &q, NULL,
                                 "queueing a file", NULL);
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && id) *id = job;
    return status;
}

enum fr_status fr__pg_queue_claim(struct fr_store *st, const char *node, int32_t max, int64_t lease_ms,
                                  struct fr_store_item **out, int32_t *n) {
    enum fr_status status = fr__store_start_claim(out, n, node, max, lease_ms);
    if (status != FR_OK) return status;
    int64_t now = fr__store_now_ms();
    fr__store_lock(st);
    status = fr__pg_begin(st);
    int32_t got = 0;
    struct fr_store_item *items = NULL;
    if (status == FR_OK) {
        /* The running job with claimable items whose user, then which itself,
         * was claimed from longest ago
         * (not locked: two nodes may pick the same job and then split its
         * items), then its first items that no live lease holds, skipping
         * rows another node is claiming right now. */
        struct fr__pg_params p = {0};
        fr__pg_i64(&p, now);
        PGresult *r;
        status = fr__pg_exec(st,
                             "SELECT j.id FROM jobs j WHERE j.state = 0 AND j.kind = 'index' AND EXISTS (SELECT 1 "
                             "FROM job_items i WHERE i.job_id = j.id AND (i.state = 0 OR (i.state = 1 AND "
                             "i.lease_until < $1))) ORDER BY (SELECT max(k.last_claim) FROM jobs k WHERE k.user_id = j.user_id AND "
                      "k.kind = 'index'), j.last_claim, j.id LIMIT 1",
                             &p, &r, "choosing a job", NULL);
        int64_t job = 0;
        if (status == FR_OK) {
            if (PQntuples(r) == 1) job = fr__pg_col_i64(r, 0, 0);
            PQclear(r);
        }
        if (status == FR_OK && job) {
            struct fr__pg_params q = {0};
            fr__pg_i64(&q, job);
            fr__pg_i64(&q, now);
            fr__pg_i64(&q, max);
            fr__pg_text(&q, node);
            fr__pg_i64(&q, now + lease_ms);
            status = fr__pg_exec(st,
                                 "UPDATE job_items SET state = 1, node = $4, lease_until = $5, claimed = $2 WHERE id "
                                 "IN (SELECT id FROM job_items WHERE job_id = $1 AND (state = 0 OR (state = 1 AND "
                                 "lease_until < $2)) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                                 "RETURNING id, job_id, user_id, path",
                                 &q, &r, "claiming items", NULL);
            if (status == FR_OK) {
                got = PQntuples(r);
                if (got > 0 && !(items = fr_calloc((size_t)got, sizeof(*items)))) {
                    status = fr__store_fail(FR_ERR_NOMEM, "out of memory claiming items");
                    got = 0;
                }
                for (int32_t i = 0; i < got; i++) {
                    struct fr__store_row row = fr__pg_row(r, i);
                    fr__store_read_item(&row, &items[i]);
                }
                PQclear(r);
            }
            if (status == FR_OK && got > 0) {
                struct fr__pg_params u = {0};
                fr__pg_i64(&u, job);
                fr__pg_i64(&u, now);
                status = fr__pg_exec(st, "UPDATE jobs SET last_claim = $2 WHERE id = $1", &u, NULL, "claiming items",
                                     NULL);
            }
        }
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK || got == 0) {
        fr_free(items);
        return status;
    }
    /* Items come back in the order the server updated them: by id. */
    for (int32_t i = 1; i < got; i++)
        for (int32_t j = i; j > 0 && items[j - 1].id > items[j].id; j--) {
            struct fr_store_item t = items[j];
            items[j] = items[j - 1];
            items[j - 1] = t;
        }
    *out = items;
    *n = got;
    return FR_OK;
}

enum fr_status fr__pg_queue_heartbeat(struct fr_store *st, const char *node, int64_t lease_ms) {
    enum fr_status status = fr__store_check_heartbeat(node, lease_ms);
    if (status != FR_OK) return status;
    struct fr__pg_params p = {0};
    fr__pg_text(&p, node);
    fr__pg_i64(&p, fr__store_now_ms() + lease_ms);
    fr__store_lock(st);
    status = fr__pg_exec(st, "UPDATE job_items SET lease_until = $2 WHERE node = $1 AND state = 1", &p,
                                        NULL, "extending leases", NULL);
    fr__store_unlock(st);
    return status;
}

static enum fr_status finish_locked(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                    const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                    int32_t n, const char *error, int64_t *ids_out, bool *skipped) {
    /* The item row's lock decides between this node and one that took the
     * item over after our lease lapsed: whoever commits first wins, the
     * other finds it no longer theirs. */
    struct fr__pg_params p = {0};
    fr__pg_i64(&p, item->id);
    fr__pg_i64(&p, item->user);
    fr__pg_text(&p, node);
    PGresult *r;
    enum fr_status status = fr__pg_exec(st,
                                        "SELECT 1 FROM job_items WHERE id = $1 AND user_id = $2 AND state = 1 AND node "
                                        "= $3 FOR UPDATE",
                                        &p, &r, "finishing an item", NULL);
    if (status != FR_OK) return status;
    bool mine = PQntuples(r) == 1;
    PQclear(r);
    if (!mine)
        return fr__store_fail(FR_ERR_NOT_FOUND, "item %lld is no longer held by %s", (long long)item->id, node);
    int64_t now = fr__store_now_ms();
    if (!error) {
        int64_t image = 0;
        bool fresh = false;
        status = fr__pg_upsert_image(st, item->user, img, &image, &fresh);
        if (status == FR_OK && !fresh) {
            if (skipped) *skipped = true;
            n = 0;
        }
        for (int32_t i = 0; status == FR_OK && i < n; i++)
            status = fr__pg_insert_face(st, item->user, 0, image, &faces[i], now / 1000, ids_out ? &ids_out[i] : NULL);
    }
    struct fr__pg_params q = {0};
    fr__pg_i64(&q, item->id);
    fr__pg_i64(&q, error ? 3 : 2);
    if (error) fr__pg_text_cut(&q, error, FR__STORE_ERROR_MAX);
    else fr__pg_null(&q);
    fr__pg_i64(&q, error ? 0 : n);
    fr__pg_i64(&q, now);
    if (status == FR_OK)
        status = fr__pg_exec(st, "UPDATE job_items SET state = $2, error = $3, faces = $4, finished = $5 WHERE id = $1",
                             &q, NULL, "finishing an item", NULL);
    struct fr__pg_params j = {0};
    fr__pg_i64(&j, item->job);
    fr__pg_i64(&j, error ? 0 : 1);
    fr__pg_i64(&j, error ? 1 : 0);
    fr__pg_i64(&j, now / 1000);
    if (status == FR_OK)
        status = fr__pg_exec(st,
                             "UPDATE jobs SET done = done + $2, failed = failed + $3, updated = $4, state = CASE WHEN "
                             "state = 0 AND done + $2 + failed + $3 >= total THEN 1 ELSE state END WHERE id = $1",
                             &j, NULL, "counting an item", NULL);
    return status;
}

enum fr_status fr__pg_queue_finish(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                   const struct fr_store_image *img, const struct fr_store_new_face *faces, int32_t n,
                                   const char *error, int64_t *ids_out, bool *skipped) {
    if (skipped) *skipped = false;
    enum fr_status status = fr__store_check_finish(node, item, img, faces, n, error);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = error ? fr__pg_begin(st) : fr__pg_begin_user(st, item->user);
    if (status == FR_OK) {
        status = finish_locked(st, node, item, img, faces, n, error, ids_out, skipped);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK && skipped) *skipped = false;
    return status;
}

enum fr_status fr__pg_job_cancel(struct fr_store *st, int64_t user, int64_t id) {
    fr__store_lock(st);
    enum fr_status status = fr__pg_begin(st);
    if (status == FR_OK) {
        struct fr__pg_params p;
        fr__pg_ids(&p, user, id);
        PGresult *r;
        status = fr__pg_exec(st, "SELECT 1 FROM jobs WHERE user_id = $1 AND id = $2 FOR UPDATE", &p, &r,
                             "looking up a job", NULL);
        if (status == FR_OK) {
            if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no job %lld", (long long)id);
            PQclear(r);
        }
        fr__pg_i64(&p, fr__store_now());
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE jobs SET state = 3, updated = $3 WHERE user_id = $1 AND id = $2 AND "
                                     "state = 0",
                                 &p, NULL, "cancelling a job", NULL);
        struct fr__pg_params q = {0};
        fr__pg_i64(&q, id);
        if (status == FR_OK)
            status = fr__pg_exec(st, "UPDATE job_items SET state = 4 WHERE job_id = $1 AND state = 0", &q, NULL,
                                 "cancelling a job", NULL);
        status = fr__pg_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* A list about one job of the user: FR_ERR_NOT_FOUND if it is not theirs. */
static enum fr_status job_rows(struct fr_store *st, int64_t user, int64_t id, const char *sql, int32_t limit,
                               size_t elem, fr__store_read_fn read, void **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    struct fr__pg_params p;
    fr__pg_ids(&p, user, id);
    fr__store_lock(st);
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT 1 FROM jobs WHERE user_id = $1 AND id = $2", &p, &r, "looking up a job", NULL);
    if (status == FR_OK) {
        if (PQntuples(r) == 0) status = fr__store_fail(FR_ERR_NOT_FOUND, "no job %lld", (long long)id);
        PQclear(r);
    }
    struct fr__pg_params q;
    fr__pg_ids(&q, id, limit);
    if (status == FR_OK) status = fr__pg_collect(st, sql, &q, elem, read, "reading a job", out, n);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__pg_job_failures(struct fr_store *st, int64_t user, int64_t id, int32_t limit,
                                   struct fr_store_job_failure **out, int32_t *n) {
    enum fr_status status = fr__store_start_list(out, n, limit);
    if (status != FR_OK) return status;
    return job_rows(st, user, id,
                    "SELECT path, coalesce(error, '') FROM job_items WHERE job_id = $1 AND state = 3 ORDER BY id "
                    "LIMIT $2",
                    limit, sizeof(**out), fr__store_read_failure, (void **)out, n);
}

enum fr_status fr__pg_job_nodes(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job_node **out,
                                int32_t *n) {
    return job_rows(st, user, id,
                    "SELECT node, count(*) FILTER (WHERE state = 2), count(*) FILTER (WHERE state = 3), "
                    "min(claimed), max(finished) FROM job_items WHERE job_id = $1 AND state IN (2, 3) AND $2 > 0 "
                    "GROUP BY node ORDER BY node COLLATE \"C\"",
                    1, sizeof(**out), fr__store_read_node, (void **)out, n);
}
