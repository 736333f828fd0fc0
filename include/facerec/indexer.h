/* facerec indexer: one server's share of the queued index jobs.
 *
 * Index jobs (POST /v1/jobs, `facerec index --data postgresql://...`) are
 * rows in the store (facerec/store.h, "the indexing queue"). Every server
 * with an indexer takes part: each of its `workers` threads claims a
 * batch of items (with a lease), reads the files, runs them through the
 * scheduler as one request of the owning user (so queued work shares the
 * device fairly with live requests), and finishes each item: the image
 * and its faces are written, with their thumbnails, in the same
 * transaction that marks the item done (fr_gallery_queue_finish), and the
 * user's in-memory matrix takes them at once. A worker claims its next
 * batch only when its last one is written, so a server holds at most
 * workers x batch items; with two workers one batch computes while the
 * other is read and written. A heartbeat thread extends the server's
 * leases every lease_ms / 3; the items of a server that died (or hangs
 * past its lease) go to the others. An item that cannot be read or
 * decoded is finished as failed with the reason.
 *
 * On SQLite the one server is the only worker; the code path is the same.
 *
 * Thread-safety: the indexer runs its own threads; new and free from one
 * thread. fr_indexer_free stops claiming, lets the batches in flight
 * finish (the scheduler must still run), and returns.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "facerec/gallery.h"
#include "facerec/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_INDEXER_MAX_WORKERS 64 /* the most batches one server keeps in flight (workers) */

struct fr_indexer_params {
    const char *node;  /* this server's name in the jobs' progress; NULL or "": HOSTNAME-PID */
    int32_t workers;   /* batches in flight (2; 1..FR_INDEXER_MAX_WORKERS) */
    int32_t batch;     /* items per claim (8) */
    int32_t lease_ms;  /* a claim lapses this long after the last heartbeat (30000) */
    int32_t idle_ms;   /* an idle worker looks for work this often (200) */
};

struct fr_indexer;

FR_API struct fr_indexer_params fr_indexer_default_params(void);
/* Starts the workers; s and g are borrowed and must outlive the indexer. */
FR_API enum fr_status fr_indexer_new(const struct fr_indexer_params *p, struct fr_sched *s, struct fr_gallery *g,
                                     struct fr_indexer **out, char *err, size_t errlen);
FR_API void fr_indexer_free(struct fr_indexer *ix);
/* The node name in use. */
FR_API const char *fr_indexer_node(const struct fr_indexer *ix);

/* The image files under paths (files are taken as they are, directories
 * walked recursively for files that look like images, hidden ones
 * skipped), as absolute paths in *out (n entries; free each and the array
 * with fr_free). FR_ERR_NOT_FOUND naming the first path that does not
 * exist; FR_ERR_INVALID for a relative path. */
FR_API enum fr_status fr_indexer_collect(const char *const *paths, int32_t n, char ***out, int32_t *count, char *err,
                                         size_t errlen);

#ifdef __cplusplus
}
#endif
