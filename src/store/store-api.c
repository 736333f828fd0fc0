/* The public store functions: each picks the implementation through the
 * store's interface table (SQLite or PostgreSQL, chosen by fr_store_new
 * from the data setting). */
#include <string.h>

#include "store/store-impl.h"

#define FR__STORE_VT_ENTRY_SQ(ret, name, params, args) .name = fr__sq_##name,
#define FR__STORE_VT_ENTRY_PG(ret, name, params, args) .name = fr__pg_##name,

const struct fr__store_vt fr__store_sqlite_vt = {
    .name = "sqlite",
    .free = fr__sq_free,
    .count_rows = fr__sq_count_rows,
    .users = &fr__store_sqlite_users,
    FR__STORE_OPS(FR__STORE_VT_ENTRY_SQ)
};

#ifdef FR_HAVE_LIBPQ
const struct fr__store_vt fr__store_pg_vt = {
    .name = "postgresql",
    .free = fr__pg_free,
    .count_rows = fr__pg_count_rows,
    .users = &fr__store_pg_users,
    FR__STORE_OPS(FR__STORE_VT_ENTRY_PG)
};
#endif

bool fr__store_is_url(const char *data_dir) {
    return data_dir && (!strncmp(data_dir, "postgresql://", 13) || !strncmp(data_dir, "postgres://", 11));
}

enum fr_status fr_store_new(const struct fr_store_params *p, struct fr_store **out, char *err, size_t errlen) {
    FR_ASSERT(p && out);
    if (fr__store_is_url(p->data_dir)) {
#ifdef FR_HAVE_LIBPQ
        return fr__pg_new(p, out, err, errlen);
#else
        *out = NULL;
        fr_errf(err, errlen, "this facerec was built without PostgreSQL (libpq)");
        return fr__store_fail(FR_ERR_UNSUPPORTED, "this facerec was built without PostgreSQL (libpq)");
#endif
    }
    return fr__sq_new(p, out, err, errlen);
}

void fr_store_free(struct fr_store *st) {
    if (st) st->vt->free(st);
}

const char *fr_store_path(struct fr_store *st) { return st->path; }

int32_t fr_store_schema_version(struct fr_store *st) { return st->version; }

#define FR__STORE_WRAPPER(ret, name, params, args)                                                                     \
    ret fr_store_##name params {                                                                                       \
        FR_ASSERT(st);                                                                                                 \
        return st->vt->name args;                                                                                      \
    }
FR__STORE_OPS(FR__STORE_WRAPPER)

static _Thread_local struct {
    int64_t user, before, after;
    bool set;
} last_write;

void fr__store_note_write(int64_t user, int64_t before, int64_t after) {
    last_write.user = user, last_write.before = before, last_write.after = after, last_write.set = true;
}

bool fr_store_last_write(struct fr_store *st, int64_t user, int64_t *before, int64_t *after) {
    (void)st;
    bool hit = last_write.set && last_write.user == user;
    if (hit) *before = last_write.before, *after = last_write.after;
    last_write.set = false;
    return hit;
}
