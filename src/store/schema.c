/* The store's schema, as a list of migrations keyed by PRAGMA user_version.
 *
 * A new schema version is one more entry at the end of migrations[]: its
 * SQL runs in its own transaction together with the user_version bump, so
 * a crash mid-migration leaves the file at the previous version. Entries
 * are never edited once released; files written by a newer facerec (a
 * user_version past the last entry) are refused rather than guessed at. */
#include <stdio.h>
#include <string.h>

#include "store/store-impl.h"

/* Version 1. Cross-user integrity is in the schema itself: a face's person
 * and image are referenced by (id, user_id), so a face can never point at
 * another user's person or image whatever the code above does. Triggers
 * keep each user's counters and gallery_version in step with every change
 * to its people and faces, including the rows a cascade deletes. */
static const char schema_v1[] =
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  admin INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  gallery_version INTEGER NOT NULL DEFAULT 0,"
    "  n_people INTEGER NOT NULL DEFAULT 0,"
    "  n_faces INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE api_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  prefix TEXT NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL,"
    "  last_used INTEGER);"
    "CREATE INDEX api_keys_prefix ON api_keys(prefix);"
    "CREATE INDEX api_keys_user ON api_keys(user_id);"
    "CREATE TABLE people ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  UNIQUE (user_id, id));"
    "CREATE TABLE images ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  width INTEGER NOT NULL DEFAULT 0,"
    "  height INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (user_id, sha256),"
    "  UNIQUE (user_id, id));"
    "CREATE TABLE faces ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  person_id INTEGER,"
    "  image_id INTEGER,"
    "  box_x REAL NOT NULL, box_y REAL NOT NULL, box_w REAL NOT NULL, box_h REAL NOT NULL,"
    "  score REAL NOT NULL,"
    "  landmarks BLOB,"
    "  embedding BLOB NOT NULL CHECK (length(embedding) = 512),"
    "  thumbnail BLOB,"
    "  created INTEGER NOT NULL,"
    "  FOREIGN KEY (user_id, person_id) REFERENCES people(user_id, id) ON DELETE CASCADE,"
    "  FOREIGN KEY (user_id, image_id) REFERENCES images(user_id, id) ON DELETE CASCADE);"
    "CREATE INDEX faces_user_person ON faces(user_id, person_id, id);"
    "CREATE INDEX faces_user_image ON faces(user_id, image_id);"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  total INTEGER NOT NULL DEFAULT 0,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  failed INTEGER NOT NULL DEFAULT 0,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE INDEX jobs_user ON jobs(user_id, id);"
    "CREATE TRIGGER people_ai AFTER INSERT ON people BEGIN"
    "  UPDATE users SET n_people = n_people + 1, gallery_version = gallery_version + 1 WHERE id = NEW.user_id; END;"
    "CREATE TRIGGER people_ad AFTER DELETE ON people BEGIN"
    "  UPDATE users SET n_people = n_people - 1, gallery_version = gallery_version + 1 WHERE id = OLD.user_id; END;"
    "CREATE TRIGGER people_au AFTER UPDATE ON people BEGIN"
    "  UPDATE users SET gallery_version = gallery_version + 1 WHERE id = NEW.user_id; END;"
    "CREATE TRIGGER faces_ai AFTER INSERT ON faces BEGIN"
    "  UPDATE users SET n_faces = n_faces + 1, gallery_version = gallery_version + 1 WHERE id = NEW.user_id; END;"
    "CREATE TRIGGER faces_ad AFTER DELETE ON faces BEGIN"
    "  UPDATE users SET n_faces = n_faces - 1, gallery_version = gallery_version + 1 WHERE id = OLD.user_id; END;"
    "CREATE TRIGGER faces_au AFTER UPDATE ON faces BEGIN"
    "  UPDATE users SET gallery_version = gallery_version + 1 WHERE id = NEW.user_id; END;";

/* Version 2: the indexing queue. An index job's files are job_items
 * (state 0 pending, 1 claimed by `node` until lease_until, 2 done, 3
 * failed with `error`, 4 cancelled; times in unix ms); jobs.last_claim
 * rotates claims over the running jobs. */
static const char schema_v2[] =
    "ALTER TABLE jobs ADD COLUMN last_claim INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE job_items ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0,"
    "  node TEXT,"
    "  lease_until INTEGER NOT NULL DEFAULT 0,"
    "  claimed INTEGER NOT NULL DEFAULT 0,"
    "  finished INTEGER NOT NULL DEFAULT 0,"
    "  faces INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT);"
    "CREATE INDEX job_items_job ON job_items(job_id, state, id);"
    "CREATE INDEX job_items_node ON job_items(node, state);"
    "CREATE INDEX jobs_running ON jobs(state, kind, last_claim);";

const struct fr__store_migration fr__store_migrations[] = {
    {1, schema_v1},
    {2, schema_v2},
    /* {3, "ALTER TABLE ...;"}, */
};
const int32_t fr__store_n_migrations = (int32_t)(sizeof(fr__store_migrations) / sizeof(fr__store_migrations[0]));

int32_t fr__store_latest_version(void) { return fr__store_migrations[fr__store_n_migrations - 1].version; }

/* PRAGMA user_version of the open file. */
static enum fr_status read_version(struct fr_store *st, int32_t *v) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *v = (int32_t)sqlite3_column_int(s, 0);
        rc = SQLITE_OK;
    }
    enum fr_status status = rc == SQLITE_OK ? FR_OK : fr__store_db_fail(st, rc, "reading the schema version");
    sqlite3_finalize(s);
    return status;
}

static enum fr_status run_migration(struct fr_store *st, const struct fr__store_migration *m) {
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return fr__store_db_fail(st, rc, "starting a migration");
    /* Another process may have migrated while we waited for the lock. */
    int32_t v = 0;
    enum fr_status status = read_version(st, &v);
    if (status == FR_OK && v < m->version) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", (int)m->version);
        rc = sqlite3_exec(st->db, m->sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(st->db, bump, NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) status = fr__store_db_fail(st, rc, "migrating the schema");
    } else if (status == FR_OK) {
        rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) status = fr__store_db_fail(st, rc, "migrating the schema");
    }
    if (status != FR_OK && !sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

enum fr_status fr__store_migrate(struct fr_store *st, char *err, size_t errlen) {
    int32_t v = 0;
    enum fr_status status = read_version(st, &v);
    int32_t latest = fr__store_latest_version();
    if (status == FR_OK && v > latest)
        status = fr__store_fail(FR_ERR_UNSUPPORTED,
                                "%s: written by a newer facerec (schema version %d; this build knows up to %d)",
                                st->path, (int)v, (int)latest);
    if (status == FR_OK && v < 0) status = fr__store_fail(FR_ERR_FORMAT, "%s: bad schema version %d", st->path, (int)v);
    for (int32_t i = 0; status == FR_OK && i < fr__store_n_migrations; i++)
        if (fr__store_migrations[i].version > v) status = run_migration(st, &fr__store_migrations[i]);
    if (status == FR_OK) status = read_version(st, &st->version);
    if (status != FR_OK) fr_store_last_error(err, errlen);
    return status;
}
