/* The PostgreSQL store's schema and its migrations: the same tables as
 * SQLite's (schema.c) in PostgreSQL's types, plus the triggers that keep
 * the counters and send change notices. Opening a store read-write runs
 * the migrations it lacks (store-pg.c). */
#include "store/store-pg-impl.h"

/* Version 1: as SQLite's version 1 (schema.c), in PostgreSQL's types.
 * The triggers keep the counters and gallery_version in step and notify
 * channel "facerec" with the user's id (one notice per user and
 * transaction: PostgreSQL folds duplicates). */
static const char pg_schema_v1[] =
    "CREATE TABLE users ("
    "  id bigserial PRIMARY KEY,"
    "  name text NOT NULL UNIQUE,"
    "  admin boolean NOT NULL DEFAULT false,"
    "  created bigint NOT NULL,"
    "  gallery_version bigint NOT NULL DEFAULT 0,"
    "  n_people bigint NOT NULL DEFAULT 0,"
    "  n_faces bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE api_keys ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  prefix text NOT NULL,"
    "  hash bytea NOT NULL UNIQUE,"
    "  created bigint NOT NULL,"
    "  last_used bigint);"
    "CREATE INDEX api_keys_prefix ON api_keys(prefix);"
    "CREATE INDEX api_keys_user ON api_keys(user_id);"
    "CREATE TABLE people ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  created bigint NOT NULL,"
    "  updated bigint NOT NULL,"
    "  UNIQUE (user_id, id));"
    "CREATE TABLE images ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  sha256 bytea NOT NULL CHECK (length(sha256) = 32),"
    "  name text NOT NULL DEFAULT '',"
    "  bytes bigint NOT NULL DEFAULT 0,"
    "  width integer NOT NULL DEFAULT 0,"
    "  height integer NOT NULL DEFAULT 0,"
    "  created bigint NOT NULL,"
    "  UNIQUE (user_id, sha256),"
    "  UNIQUE (user_id, id));"
    "CREATE TABLE faces ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  person_id bigint,"
    "  image_id bigint,"
    "  box_x real NOT NULL, box_y real NOT NULL, box_w real NOT NULL, box_h real NOT NULL,"
    "  score real NOT NULL,"
    "  landmarks bytea,"
    "  embedding bytea NOT NULL CHECK (length(embedding) = 512),"
    "  thumbnail bytea,"
    "  created bigint NOT NULL,"
    "  FOREIGN KEY (user_id, person_id) REFERENCES people(user_id, id) ON DELETE CASCADE,"
    "  FOREIGN KEY (user_id, image_id) REFERENCES images(user_id, id) ON DELETE CASCADE);"
    "CREATE INDEX faces_user_person ON faces(user_id, person_id, id);"
    "CREATE INDEX faces_user_image ON faces(user_id, image_id);"
    "CREATE TABLE jobs ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  kind text NOT NULL,"
    "  state integer NOT NULL,"
    "  total bigint NOT NULL DEFAULT 0,"
    "  done bigint NOT NULL DEFAULT 0,"
    "  failed bigint NOT NULL DEFAULT 0,"
    "  detail text NOT NULL DEFAULT '',"
    "  created bigint NOT NULL,"
    "  updated bigint NOT NULL);"
    "CREATE INDEX jobs_user ON jobs(user_id, id);"
    "CREATE FUNCTION facerec_count() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE u bigint; d bigint := 0; BEGIN"
    "  IF TG_OP = 'DELETE' THEN u := OLD.user_id; d := -1; ELSE u := NEW.user_id; END IF;"
    "  IF TG_OP = 'INSERT' THEN d := 1; END IF;"
    "  IF TG_TABLE_NAME = 'people' THEN"
    "    UPDATE users SET n_people = n_people + d, gallery_version = gallery_version + 1 WHERE id = u;"
    "  ELSE"
    "    UPDATE users SET n_faces = n_faces + d, gallery_version = gallery_version + 1 WHERE id = u;"
    "  END IF;"
    "  PERFORM pg_notify('facerec', u::text);"
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER people_count AFTER INSERT OR UPDATE OR DELETE ON people"
    "  FOR EACH ROW EXECUTE FUNCTION facerec_count();"
    "CREATE TRIGGER faces_count AFTER INSERT OR UPDATE OR DELETE ON faces"
    "  FOR EACH ROW EXECUTE FUNCTION facerec_count();";

/* Version 2: the indexing queue, as SQLite's version 2. */
static const char pg_schema_v2[] =
    "ALTER TABLE jobs ADD COLUMN last_claim bigint NOT NULL DEFAULT 0;"
    "CREATE TABLE job_items ("
    "  id bigserial PRIMARY KEY,"
    "  job_id bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  path text NOT NULL,"
    "  state integer NOT NULL DEFAULT 0,"
    "  node text,"
    "  lease_until bigint NOT NULL DEFAULT 0,"
    "  claimed bigint NOT NULL DEFAULT 0,"
    "  finished bigint NOT NULL DEFAULT 0,"
    "  faces integer NOT NULL DEFAULT 0,"
    "  error text);"
    "CREATE INDEX job_items_job ON job_items(job_id, state, id);"
    "CREATE INDEX job_items_node ON job_items(node, state);"
    "CREATE INDEX jobs_running ON jobs(state, kind, last_claim);";

static const struct fr__store_migration pg_migrations[] = {
    {1, pg_schema_v1},
    {2, pg_schema_v2},
};
/* Serialises migrations of concurrent openers (any number: "fr" in ASCII). */
#define MIGRATION_LOCK "SELECT pg_advisory_xact_lock(26226)"

enum fr_status fr__pg_read_version(struct fr_store *st, int32_t *v) {
    PGresult *r;
    enum fr_status status =
        fr__pg_exec(st, "SELECT to_regclass('facerec_schema') IS NOT NULL", NULL, &r, "reading the schema version", NULL);
    if (status != FR_OK) return status;
    bool have = fr__pg_col_i64(r, 0, 0) != 0;
    PQclear(r);
    *v = 0;
    if (!have) return FR_OK;
    status = fr__pg_exec(st, "SELECT coalesce(max(version), 0) FROM facerec_schema", NULL, &r,
                         "reading the schema version", NULL);
    if (status != FR_OK) return status;
    *v = (int32_t)fr__pg_col_i64(r, 0, 0);
    PQclear(r);
    return FR_OK;
}

enum fr_status fr__pg_migrate(struct fr_store *st) {
    for (size_t i = 0; i < sizeof(pg_migrations) / sizeof(pg_migrations[0]); i++) {
        const struct fr__store_migration *m = &pg_migrations[i];
        enum fr_status status = fr__pg_begin(st);
        if (status != FR_OK) return status;
        status = fr__pg_exec(st, MIGRATION_LOCK, NULL, NULL, "locking for a migration", NULL);
        if (status == FR_OK)
            status = fr__pg_exec(st, "CREATE TABLE IF NOT EXISTS facerec_schema (version integer NOT NULL)", NULL,
                                 NULL, "migrating the schema", NULL);
        int32_t v = 0;
        if (status == FR_OK) status = fr__pg_read_version(st, &v);
        if (status == FR_OK && v > FR__PG_LATEST)
            status = fr__store_fail(FR_ERR_UNSUPPORTED,
                                    "%s: written by a newer facerec (schema version %d; this build knows up to %d)",
                                    st->path, (int)v, FR__PG_LATEST);
        if (status == FR_OK && v < m->version) {
            /* Several statements in one string: the simple protocol. */
            PGresult *r = PQexec(st->pg->conn, m->sql);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                status = fr__store_fail(FR_ERR_IO, "%s: migrating the schema to version %d: %s", st->path,
                                        (int)m->version, PQresultErrorMessage(r));
            PQclear(r);
            struct fr__pg_params p = {0};
            fr__pg_i64(&p, m->version);
            if (status == FR_OK)
                status = fr__pg_exec(st, "INSERT INTO facerec_schema(version) VALUES($1)", &p, NULL,
                                     "migrating the schema", NULL);
        }
        status = fr__pg_end(st, status);
        if (status != FR_OK) return status;
    }
    return fr__pg_read_version(st, &st->version);
}
