/* Users and API keys, written once for both backends: generating keys,
 * their hash and public id, and the operations that add, import, revoke
 * and check them, and that read users. Each backend supplies only the row statements (struct
 * fr__store_users_i, in store.c and store-pg.c); the order of the steps,
 * the checks and the messages live here. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/store-impl.h"

/* ---- keys ---- */

void fr_store_sha256(const void *data, size_t len, uint8_t out[FR_STORE_HASH_LEN]) {
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != FR_STORE_HASH_LEN) {
        /* Only an allocation failure inside OpenSSL gets here; a zero hash
         * matches no key and no image. */
        memset(out, 0, FR_STORE_HASH_LEN);
        FR_LOGE("%s: SHA-256 failed", __func__);
    }
}

static void base64url(const uint8_t *in, size_t n, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = abc[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out[o++] = abc[(acc << (6 - bits)) & 63];
    out[o] = 0;
}

static bool is_b64url(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The public id a key is looked up by: the 8 characters after "fr_" for a
 * generated key; for any other (legacy) key, derived from its hash, so that
 * no part of a legacy secret is stored in the clear. */
void fr__store_key_prefix(const char *key, size_t len, const uint8_t hash[FR_STORE_HASH_LEN],
                          char prefix[FR_STORE_KEY_ID_LEN + 2]) {
    bool generated = len == FR_STORE_KEY_LEN && !strncmp(key, "fr_", 3) && key[3 + FR_STORE_KEY_ID_LEN] == '_';
    for (size_t i = 3; generated && i < len; i++)
        if (i != 3 + FR_STORE_KEY_ID_LEN && !is_b64url(key[i])) generated = false;
    if (generated) {
        memcpy(prefix, key + 3, FR_STORE_KEY_ID_LEN);
        prefix[FR_STORE_KEY_ID_LEN] = 0;
    } else {
        /* "~" cannot occur in a generated id, so the two kinds never mix. */
        char b[16];
        base64url(hash, 6, b);
        prefix[0] = '~';
        memcpy(prefix + 1, b, FR_STORE_KEY_ID_LEN);
        prefix[FR_STORE_KEY_ID_LEN + 1] = 0;
    }
}

enum fr_status fr__store_new_key(char *out) {
    uint8_t id[6], secret[32];
    if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
        return fr__store_fail(FR_ERR_IO, "no randomness for a new API key (OpenSSL RAND_bytes failed)");
    char a[16], b[48];
    base64url(id, sizeof(id), a);
    base64url(secret, sizeof(secret), b);
    int n = snprintf(out, FR_STORE_KEY_LEN + 1, "fr_%s_%s", a, b);
    FR_ASSERT(n == FR_STORE_KEY_LEN);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(b, sizeof(b));
    return FR_OK;
}

/* ---- the steps, over the backend's rows (lock held) ---- */

static const struct fr__store_users_i *rows(struct fr_store *st) { return st->vt->users; }

/* The id of the user with that name; FR_ERR_NOT_FOUND if none. */
static enum fr_status user_id(struct fr_store *st, const char *name, int64_t *id) {
    if (!fr__store_valid_name(name)) return fr__store_fail(FR_ERR_NOT_FOUND, "no user with that name");
    bool found = false;
    enum fr_status status = rows(st)->user_id(st, name, id, &found);
    if (status == FR_OK && !found) status = fr__store_fail(FR_ERR_NOT_FOUND, "no user named '%s'", name);
    return status;
}

static enum fr_status insert_user(struct fr_store *st, const char *name, bool admin, int64_t *id) {
    int64_t existing;
    enum fr_status status = user_id(st, name, &existing);
    if (status == FR_OK) return fr__store_fail(FR_ERR_INVALID, "user '%s' already exists", name);
    if (status != FR_ERR_NOT_FOUND) return status;
    bool taken = false;
    status = rows(st)->user_insert(st, name, admin, id, &taken);
    /* Another process added the name between our look-up and insert. */
    if (taken) status = fr__store_fail(FR_ERR_INVALID, "user '%s' already exists", name);
    return status;
}

static enum fr_status insert_key(struct fr_store *st, int64_t user, const char *key) {
    uint8_t hash[FR_STORE_HASH_LEN];
    char prefix[FR_STORE_KEY_ID_LEN + 2];
    size_t len = strlen(key);
    fr_store_sha256(key, len, hash);
    fr__store_key_prefix(key, len, hash, prefix);
    return rows(st)->key_insert(st, user, prefix, hash);
}

/* A new key for the user called name, made by user_add (creating the
 * user) or key_add (an existing one): one transaction. */
static enum fr_status add_key(struct fr_store *st, const char *name, bool create, bool admin, int64_t *id,
                              char key_out[FR_STORE_KEY_LEN + 1], char *err, size_t errlen) {
    FR_ASSERT(st && key_out);
    key_out[0] = 0;
    char key[FR_STORE_KEY_LEN + 1];
    enum fr_status status = fr__store_new_key(key);
    int64_t uid = 0;
    fr__store_lock(st);
    if (status == FR_OK) status = rows(st)->begin(st);
    if (status == FR_OK) {
        status = create ? insert_user(st, name, admin, &uid) : user_id(st, name, &uid);
        if (status == FR_OK) status = insert_key(st, uid, key);
        status = rows(st)->end(st, status);
    }
    fr__store_unlock(st);
    if (status == FR_OK) {
        memcpy(key_out, key, sizeof(key));
        if (id) *id = uid;
    } else fr_store_last_error(err, errlen);
    OPENSSL_cleanse(key, sizeof(key));
    return status;
}

/* ---- the public functions ---- */

enum fr_status fr_store_user_add(struct fr_store *st, const char *name, bool admin, int64_t *id,
                                 char key_out[FR_STORE_KEY_LEN + 1], char *err, size_t errlen) {
    FR_ASSERT(st && key_out);
    if (!fr__store_valid_name(name)) {
        key_out[0] = 0;
        enum fr_status status = fr__store_fail(
            FR_ERR_INVALID, "bad user name: 1 to %d bytes of UTF-8 without control characters", FR_STORE_NAME_MAX);
        fr_store_last_error(err, errlen);
        return status;
    }
    return add_key(st, name, true, admin, id, key_out, err, errlen);
}

enum fr_status fr_store_key_add(struct fr_store *st, const char *user_name, char key_out[FR_STORE_KEY_LEN + 1],
                                char *err, size_t errlen) {
    return add_key(st, user_name, false, false, NULL, key_out, err, errlen);
}

enum fr_status fr_store_key_import(struct fr_store *st, const char *user_name, const char *key, char *err,
                                   size_t errlen) {
    FR_ASSERT(st);
    enum fr_status status = FR_OK;
    if (!fr__store_valid_name(user_name))
        status = fr__store_fail(FR_ERR_INVALID, "bad user name for an imported key");
    else if (!fr__store_valid_legacy_key(key))
        status = fr__store_fail(FR_ERR_INVALID, "bad key for user '%s': 1 to %d printable characters without blanks",
                                user_name, FR__STORE_LEGACY_KEY_MAX);
    if (status != FR_OK) {
        fr_store_last_error(err, errlen);
        return status;
    }
    uint8_t hash[FR_STORE_HASH_LEN];
    fr_store_sha256(key, strlen(key), hash);
    const struct fr__store_users_i *k = rows(st);
    fr__store_lock(st);
    status = k->begin(st);
    if (status == FR_OK) {
        int64_t uid = 0, owner = 0;
        bool present = false;
        if (k->lock_import) status = k->lock_import(st);
        if (status == FR_OK) status = user_id(st, user_name, &uid);
        if (status == FR_ERR_NOT_FOUND) status = insert_user(st, user_name, false, &uid);
        if (status == FR_OK) status = k->key_owner(st, hash, &owner, &present);
        if (status == FR_OK && present && owner != uid)
            status = fr__store_fail(FR_ERR_INVALID, "the key given for user '%s' already belongs to another user",
                                    user_name);
        if (status == FR_OK && !present) status = insert_key(st, uid, key);
        status = k->end(st, status);
    }
    fr__store_unlock(st);
    if (status != FR_OK) fr_store_last_error(err, errlen);
    return status;
}

/* Deletes the keys of the user called name, or the user, in a transaction. */
static enum fr_status delete_on_user(struct fr_store *st, const char *name, bool keys_only) {
    FR_ASSERT(st);
    const struct fr__store_users_i *k = rows(st);
    fr__store_lock(st);
    enum fr_status status = k->begin(st);
    if (status == FR_OK) {
        int64_t uid = 0;
        status = user_id(st, name, &uid);
        if (status == FR_OK) status = k->user_delete(st, uid, keys_only);
        status = k->end(st, status);
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr_store_key_revoke_all(struct fr_store *st, const char *user_name) {
    return delete_on_user(st, user_name, true);
}

enum fr_status fr_store_user_remove(struct fr_store *st, const char *name) {
    /* The foreign keys cascade to keys, people, faces, images, jobs. */
    return delete_on_user(st, name, false);
}

enum fr_status fr_store_auth(struct fr_store *st, const char *key, struct fr_store_user *out) {
    FR_ASSERT(st && out);
    size_t len = key ? strnlen(key, FR__STORE_LEGACY_KEY_MAX + 1) : 0;
    if (len == 0 || len > FR__STORE_LEGACY_KEY_MAX) return fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    struct fr__store_key_search ks = {.found = false};
    char prefix[FR_STORE_KEY_ID_LEN + 2];
    fr_store_sha256(key, len, ks.hash);
    fr__store_key_prefix(key, len, ks.hash, prefix);
    fr__store_lock(st);
    enum fr_status status = rows(st)->key_scan(st, prefix, &ks);
    if (status == FR_OK && !ks.found) status = fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    if (status == FR_OK) {
        status = rows(st)->user_by_id(st, ks.user, out);
        if (status == FR_ERR_NOT_FOUND) status = fr__store_fail(FR_ERR_AUTH, "missing or unknown API key");
    }
    fr__store_unlock(st);
    return status;
}

enum fr_status fr_store_user_get(struct fr_store *st, const char *name, struct fr_store_user *out) {
    FR_ASSERT(st && out);
    if (!fr__store_valid_name(name)) return fr__store_fail(FR_ERR_NOT_FOUND, "no such user");
    fr__store_lock(st);
    enum fr_status status = rows(st)->user_by_name(st, name, out);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr_store_user_get_by_id(struct fr_store *st, int64_t id, struct fr_store_user *out) {
    FR_ASSERT(st && out);
    fr__store_lock(st);
    enum fr_status status = rows(st)->user_by_id(st, id, out);
    fr__store_unlock(st);
    return status;
}

enum fr_status fr_store_user_list(struct fr_store *st, struct fr_store_user **out, int32_t *n) {
    FR_ASSERT(st && out && n);
    *out = NULL;
    *n = 0;
    fr__store_lock(st);
    enum fr_status status = rows(st)->user_list(st, out, n);
    fr__store_unlock(st);
    return status;
}
