/* The indexing queue on SQLite (facerec/store.h, "the indexing queue").
 * One file has one writer at a time (BEGIN IMMEDIATE), so a claim needs no
 * row locks: the same statements as the PostgreSQL store's, less its FOR
 * UPDATE SKIP LOCKED. Statements here run rarely (per batch, per item),
 * so they are prepared per call rather than kept in the table. */
#include <stdio.h>
#include <string.h>

#include "store/store-impl.h"

/* A one-off statement; *s is NULL on failure (recorded). */
static enum fr_status prep(struct fr_store *st, const char *sql, sqlite3_stmt **s) {
    int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    if (rc != SQLITE_OK) {
        *s = NULL;
        return fr__store_db_fail(st, rc, "preparing a queue statement");
    }
    return FR_OK;
}

/* Runs a statement without rows and finalizes it. */
static enum fr_status run(struct fr_store *st, sqlite3_stmt *s, const char *what) {
    int rc = fr__store_step(st, s);
    enum fr_status status = rc == SQLITE_DONE ? FR_OK : fr__store_db_fail(st, rc, what);
    sqlite3_finalize(s);
    return status;
}

/* Prepares sql, binds the n integers v to ?1..?n, and runs it (no rows). */
static enum fr_status run_ints(struct fr_store *st, const char *sql, const char *what, int n, const int64_t *v) {
    sqlite3_stmt *s;
    enum fr_status status = prep(st, sql, &s);
    if (status != FR_OK) return status;
    for (int i = 0; i < n; i++) sqlite3_bind_int64(s, i + 1, v[i]);
    return run(st, s, what);
}

/* FR_OK when the user has job id, else FR_ERR_NOT_FOUND. */
static enum fr_status job_exists(struct fr_store *st, int64_t user, int64_t id) {
    sqlite3_stmt *s;
    enum fr_status status = prep(st, "SELECT 1 FROM jobs WHERE user_id = ?1 AND id = ?2", &s);
    if (status != FR_OK) return status;
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, id);
    int rc = fr__store_step(st, s);
    if (rc == SQLITE_DONE) status = fr__store_fail(FR_ERR_NOT_FOUND, "no job %lld", (long long)id);
    else if (rc != SQLITE_ROW) status = fr__store_db_fail(st, rc, "looking up a job");
    sqlite3_finalize(s);
    return status;
}

enum fr_status fr__sq_queue_add(struct fr_store *st, int64_t user, const char *detail, const char *const *paths,
                                int32_t n, int64_t *id) {
    enum fr_status status = fr__store_check_paths(paths, n);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    int64_t now = fr__store_now(), job = 0;
    status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s = NULL;
        status = prep(st,
                      "INSERT INTO jobs(user_id, kind, state, total, done, failed, detail, created, updated) "
                      "VALUES(?1, 'index', ?2, ?3, 0, 0, ?4, ?5, ?5)",
                      &s);
        if (status == FR_OK) {
            sqlite3_bind_int64(s, 1, user);
            sqlite3_bind_int(s, 2, n == 0 ? 1 : 0);
            sqlite3_bind_int64(s, 3, n);
            fr__sq_bind_cut(s, 4, detail ? detail : "", FR__STORE_DETAIL_MAX);
            sqlite3_bind_int64(s, 5, now);
            status = fr__sq_no_user(st, run(st, s, "queueing a job"), user);
            s = NULL;
            job = sqlite3_last_insert_rowid(st->db);
        }
        if (status == FR_OK) status = prep(st, "INSERT INTO job_items(job_id, user_id, path) VALUES(?1, ?2, ?3)", &s);
        for (int32_t i = 0; status == FR_OK && i < n; i++) {
            sqlite3_reset(s);
            sqlite3_bind_int64(s, 1, job);
            sqlite3_bind_int64(s, 2, user);
            sqlite3_bind_text(s, 3, paths[i], -1, SQLITE_STATIC);
            int rc = fr__store_step(st, s);
            if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "queueing a file");
        }
        sqlite3_finalize(s);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK && id) *id = job;
    return status;
}

enum fr_status fr__sq_queue_claim(struct fr_store *st, const char *node, int32_t max, int64_t lease_ms,
                                  struct fr_store_item **out, int32_t *n) {
    enum fr_status status = fr__store_start_claim(out, n, node, max, lease_ms);
    if (status != FR_OK) return status;
    struct fr_store_item *items = fr_calloc((size_t)max, sizeof(*items));
    if (!items) return fr__store_fail(FR_ERR_NOMEM, "out of memory claiming items");
    fr__store_lock(st);
    int64_t now = fr__store_now_ms(), job = 0;
    int32_t got = 0;
    status = fr__store_begin(st);
    if (status == FR_OK) {
        /* Among running jobs with claimable items: the one whose user was
         * claimed from longest ago, then that user's job claimed longest ago. */
        sqlite3_stmt *s = NULL;
        status = prep(st,
                      "SELECT j.id FROM jobs j WHERE j.state = 0 AND j.kind = 'index' AND EXISTS (SELECT 1 FROM "
                      "job_items i WHERE i.job_id = j.id AND (i.state = 0 OR (i.state = 1 AND i.lease_until < ?1))) "
                      "ORDER BY (SELECT max(k.last_claim) FROM jobs k WHERE k.user_id = j.user_id AND "
                      "k.kind = 'index'), j.last_claim, j.id LIMIT 1",
                      &s);
        if (status == FR_OK) {
            sqlite3_bind_int64(s, 1, now);
            int rc = fr__store_step(st, s);
            if (rc == SQLITE_ROW) job = sqlite3_column_int64(s, 0);
            else if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "choosing a job");
            sqlite3_finalize(s);
        }
        if (status == FR_OK && job) {
            status = prep(st,
                          "SELECT id, job_id, user_id, path FROM job_items WHERE job_id = ?1 AND (state = 0 OR "
                          "(state = 1 AND lease_until < ?2)) ORDER BY id LIMIT ?3",
                          &s);
            if (status == FR_OK) {
                sqlite3_bind_int64(s, 1, job);
                sqlite3_bind_int64(s, 2, now);
                sqlite3_bind_int(s, 3, max);
                struct fr__store_row row = fr__sq_row(s);
                int rc;
                while ((rc = fr__store_step(st, s)) == SQLITE_ROW && got < max)
                    fr__store_read_item(&row, &items[got++]);
                if (rc != SQLITE_DONE && rc != SQLITE_ROW) status = fr__store_db_fail(st, rc, "claiming items");
                sqlite3_finalize(s);
            }
            s = NULL;
            if (status == FR_OK)
                status = prep(st,
                              "UPDATE job_items SET state = 1, node = ?2, lease_until = ?3, claimed = ?4 "
                              "WHERE id = ?1",
                              &s);
            for (int32_t i = 0; status == FR_OK && i < got; i++) {
                sqlite3_reset(s);
                sqlite3_bind_int64(s, 1, items[i].id);
                sqlite3_bind_text(s, 2, node, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, now + lease_ms);
                sqlite3_bind_int64(s, 4, now);
                int rc = fr__store_step(st, s);
                if (rc != SQLITE_DONE) status = fr__store_db_fail(st, rc, "claiming items");
            }
            sqlite3_finalize(s);
            if (status == FR_OK)
                status = run_ints(st, "UPDATE jobs SET last_claim = ?2 WHERE id = ?1", "claiming items", 2,
                                  (int64_t[]){job, now});
        }
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK || got == 0) {
        fr_free(items);
        return status;
    }
    *out = items;
    *n = got;
    return FR_OK;
}

enum fr_status fr__sq_queue_heartbeat(struct fr_store *st, const char *node, int64_t lease_ms) {
    enum fr_status status = fr__store_check_heartbeat(node, lease_ms);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__store_begin(st);
    if (status == FR_OK) {
        sqlite3_stmt *s;
        status = prep(st, "UPDATE job_items SET lease_until = ?2 WHERE node = ?1 AND state = 1", &s);
        if (status == FR_OK) {
            sqlite3_bind_text(s, 1, node, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, fr__store_now_ms() + lease_ms);
            status = run(st, s, "extending leases");
        }
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* The body of finishing: the lock and transaction are held. */
static enum fr_status finish_locked(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                    const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                    int32_t n, const char *error, int64_t *ids_out, bool *skipped) {
    sqlite3_stmt *s;
    enum fr_status status =
        prep(st, "SELECT 1 FROM job_items WHERE id = ?1 AND user_id = ?2 AND state = 1 AND node = ?3", &s);
    if (status != FR_OK) return status;
    sqlite3_bind_int64(s, 1, item->id);
    sqlite3_bind_int64(s, 2, item->user);
    sqlite3_bind_text(s, 3, node, -1, SQLITE_STATIC);
    int rc = fr__store_step(st, s);
    if (rc == SQLITE_DONE)
        status = fr__store_fail(FR_ERR_NOT_FOUND, "item %lld is no longer held by %s", (long long)item->id, node);
    else if (rc != SQLITE_ROW) status = fr__store_db_fail(st, rc, "finishing an item");
    sqlite3_finalize(s);
    if (status != FR_OK) return status;
    int64_t now = fr__store_now_ms(), image = 0;
    if (!error) {
        struct fr_store_image have;
        status = fr__sq_image_find_locked(st, item->user, img->sha256, &have);
        if (status == FR_OK) {
            if (skipped) *skipped = true;
            n = 0;
        } else if (status == FR_ERR_NOT_FOUND) {
            status = fr__sq_upsert_image(st, item->user, img, &image);
            for (int32_t i = 0; status == FR_OK && i < n; i++)
                status = fr__sq_insert_face(st, item->user, 0, image, &faces[i], now / 1000,
                                            ids_out ? &ids_out[i] : NULL);
        }
    }
    if (status == FR_OK)
        status = prep(st, "UPDATE job_items SET state = ?2, error = ?3, faces = ?4, finished = ?5 WHERE id = ?1", &s);
    if (status == FR_OK) {
        sqlite3_bind_int64(s, 1, item->id);
        sqlite3_bind_int(s, 2, error ? 3 : 2);
        if (error) fr__sq_bind_cut(s, 3, error, FR__STORE_ERROR_MAX);
        sqlite3_bind_int(s, 4, error ? 0 : n);
        sqlite3_bind_int64(s, 5, now);
        status = run(st, s, "finishing an item");
    }
    if (status == FR_OK)
        status = run_ints(st,
                          "UPDATE jobs SET done = done + ?2, failed = failed + ?3, updated = ?4, state = CASE WHEN "
                          "state = 0 AND done + ?2 + failed + ?3 >= total THEN 1 ELSE state END WHERE id = ?1",
                          "counting an item", 4, (int64_t[]){item->job, error ? 0 : 1, error ? 1 : 0, now / 1000});
    return status;
}

enum fr_status fr__sq_queue_finish(struct fr_store *st, const char *node, const struct fr_store_item *item,
                                   const struct fr_store_image *img, const struct fr_store_new_face *faces, int32_t n,
                                   const char *error, int64_t *ids_out, bool *skipped) {
    if (skipped) *skipped = false;
    enum fr_status status = fr__store_check_finish(node, item, img, faces, n, error);
    if (status != FR_OK) return status;
    fr__store_lock(st);
    status = fr__store_begin(st);
    if (status == FR_OK) {
        status = finish_locked(st, node, item, img, faces, n, error, ids_out, skipped);
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK && skipped) *skipped = false;
    return status;
}

enum fr_status fr__sq_job_get(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job *out) {
    fr__store_lock(st);
    sqlite3_stmt *s;
    enum fr_status status = prep(st, FR__STORE_JOB_SELECT " WHERE user_id = ?1 AND id = ?2", &s);
    if (status == FR_OK) {
        sqlite3_bind_int64(s, 1, user);
        sqlite3_bind_int64(s, 2, id);
        char missing[FR__STORE_MSG_LEN], what[FR__STORE_MSG_LEN];
        fr__store_row_msgs("job", id, missing, what);
        status = fr__store_read_one(st, s, fr__store_read_job, out, missing, what);
        sqlite3_finalize(s);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_job_cancel(struct fr_store *st, int64_t user, int64_t id) {
    fr__store_lock(st);
    enum fr_status status = fr__store_begin(st);
    if (status == FR_OK) {
        status = job_exists(st, user, id);
        if (status == FR_OK)
            status = run_ints(st, "UPDATE jobs SET state = 3, updated = ?3 WHERE user_id = ?1 AND id = ?2 AND state = 0",
                              "cancelling a job", 3, (int64_t[]){user, id, fr__store_now()});
        if (status == FR_OK)
            status = run_ints(st, "UPDATE job_items SET state = 4 WHERE job_id = ?1 AND state = 0", "cancelling a job",
                              1, (int64_t[]){id});
        status = fr__store_end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

/* A list about one job of the user: FR_ERR_NOT_FOUND if it is not theirs. */
static enum fr_status job_rows(struct fr_store *st, int64_t user, int64_t id, const char *sql, int32_t limit,
                               size_t elem, fr__store_read_fn read, void **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    fr__store_lock(st);
    enum fr_status status = job_exists(st, user, id);
    sqlite3_stmt *s;
    if (status == FR_OK) status = prep(st, sql, &s);
    if (status == FR_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int(s, 2, limit);
        status = fr__store_collect(st, s, elem, read, "reading a job", out, n);
        sqlite3_finalize(s);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr__sq_job_failures(struct fr_store *st, int64_t user, int64_t id, int32_t limit,
                                   struct fr_store_job_failure **out, int32_t *n) {
    enum fr_status status = fr__store_start_list(out, n, limit);
    if (status != FR_OK) return status;
    return job_rows(st, user, id, "SELECT path, error FROM job_items WHERE job_id = ?1 AND state = 3 ORDER BY id "
                                  "LIMIT ?2",
                    limit, sizeof(**out), fr__store_read_failure, (void **)out, n);
}

enum fr_status fr__sq_job_nodes(struct fr_store *st, int64_t user, int64_t id, struct fr_store_job_node **out,
                                int32_t *n) {
    return job_rows(st, user, id,
                    "SELECT node, sum(state = 2), sum(state = 3), min(claimed), max(finished) FROM job_items "
                    "WHERE job_id = ?1 AND state IN (2, 3) AND ?2 > 0 GROUP BY node ORDER BY node",
                    1, sizeof(**out), fr__store_read_node, (void **)out, n);
}
