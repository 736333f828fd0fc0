/* facerec gallery: the people gallery service the server and the CLI share.
 *
 * A gallery owns a store (facerec/store.h: SQLite, the durable truth) and,
 * per user, an in-memory embedding matrix (facerec/search.h: contiguous,
 * exact top-k) that mirrors that user's faces: face id -> (person id or 0,
 * embedding). A user's matrix is loaded from the store on first use
 * (fr_store_face_scan) or for every user at start (params.preload).
 *
 * Writes go to the store first and reach the matrix only after the store
 * committed, so a crash between the two loses nothing: the matrix is
 * rebuilt from the store at the next start. Every call that takes a user
 * works only on that user's rows; another user's person or face is
 * FR_ERR_NOT_FOUND, exactly like a missing one.
 *
 * Other processes (the CLI indexing into the data directory while a
 * server runs, or other servers on the same PostgreSQL database) are
 * noticed through fr_store_data_version() and the user's gallery_version:
 * when the version in the database differs from the one this gallery last
 * loaded or wrote, the user's matrix is reloaded before it is used. On
 * PostgreSQL, where other servers' change notices arrive asynchronously,
 * a write keeps the matrix only when fr_store_last_write says nobody else
 * wrote that user's gallery since the matrix was loaded.
 *
 * Similarity: fr_similarity(distance) of facerec/search.h, a logistic
 * curve that is 1 for identical descriptors, exactly 0.5 at the default
 * tolerance 0.6 and falls towards 0 beyond it. Distances are Euclidean
 * between face-api descriptors; "unknown" means no person of the user has
 * a face within params.threshold of the query.
 *
 * Thread-safety: every function may be called from any number of threads.
 * Each user's matrix sits behind a pthread rwlock: recognitions share it,
 * writes (enroll, index, cluster, merge, deletes) take it exclusively for
 * the store write and the matrix update together, so one user's writes
 * are serialised and never interleave with a read of a half-updated
 * matrix. Different users never wait for each other except inside the
 * store, which serialises its SQLite calls.
 *
 * Ownership: the gallery owns its store and matrices. Arrays returned
 * through out-parameters are fr_malloc'd and belong to the caller.
 *
 * Example:
 *     struct fr_gallery_params gp = fr_gallery_default_params();
 *     gp.store.data_dir = "/var/lib/facerec";
 *     struct fr_gallery *g;
 *     if (fr_gallery_new(&gp, &g, err, sizeof err) != FR_OK) ...
 *     int64_t bob;
 *     fr_gallery_person_add(g, user, "Bob", &bob);
 *     struct fr_store_new_face nf = { .face = &faces.faces[k] };
 *     fr_gallery_enroll(g, user, bob, NULL, &nf, 1, NULL);
 *     struct fr_gallery_match m[5];
 *     int32_t n;
 *     fr_gallery_recognize(g, user, descriptor, 5, m, &n);
 *     if (n == 0 || m[0].distance > gp.threshold) ... unknown ...
 *     fr_gallery_free(g);
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "facerec/face.h"
#include "facerec/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_GALLERY_MAX_K 100 /* candidates a recognition may ask for */
/* The largest cluster min_faces: clustering looks at 64 neighbours per face
 * (the face itself among them), so a core face needs fewer than that. */
#define FR_GALLERY_MAX_CLUSTER_MIN_FACES 63

struct fr_gallery_params {
    struct fr_store_params store;
    float threshold; /* recognize: a face farther than this from every person is unknown (0.6) */
    bool preload;    /* load every user's matrix in fr_gallery_new (false: on first use) */
    bool int8;       /* keep an int8 copy of each matrix for faster scans, re-ranked exactly (false) */
    int32_t k;       /* recognize: candidates per face when the caller does not say (3) */
    struct fr_gallery_cluster_params {
        int32_t min_faces;  /* a face with at least this many neighbours (itself included) founds a person (3) */
        float max_distance; /* neighbours are closer than this (0.5) */
    } cluster;          /* clustering's defaults, for callers that are not told otherwise */
};

struct fr_gallery;

FR_API struct fr_gallery_params fr_gallery_default_params(void);
/* Opens the store (creating and migrating it as needed). */
FR_API enum fr_status fr_gallery_new(const struct fr_gallery_params *p, struct fr_gallery **out, char *err,
                                     size_t errlen);
FR_API void fr_gallery_free(struct fr_gallery *g);
/* The gallery's store, for users, keys and reads that need no matrix
 * (person and face lists, thumbnails). Valid while the gallery lives. */
FR_API struct fr_store *fr_gallery_store(struct fr_gallery *g);
FR_API float fr_gallery_threshold(const struct fr_gallery *g);
/* The parameters the gallery was made with (store.data_dir is NULL): the
 * defaults of recognize's k and of clustering for routes and verbs. */
FR_API struct fr_gallery_params fr_gallery_get_params(const struct fr_gallery *g);

/* ---- people ---------------------------------------------------------------- */

FR_API enum fr_status fr_gallery_person_add(struct fr_gallery *g, int64_t user, const char *name, int64_t *id);
FR_API enum fr_status fr_gallery_person_rename(struct fr_gallery *g, int64_t user, int64_t id, const char *name);
/* Deletes the person and its faces (*n_faces, may be NULL, gets how many). */
FR_API enum fr_status fr_gallery_person_delete(struct fr_gallery *g, int64_t user, int64_t id, int64_t *n_faces);
/* Moves every face of `from` to `into` and deletes `from`; FR_ERR_INVALID
 * when into == from. */
FR_API enum fr_status fr_gallery_person_merge(struct fr_gallery *g, int64_t user, int64_t into, int64_t from);
FR_API enum fr_status fr_gallery_face_delete(struct fr_gallery *g, int64_t user, int64_t id);
/* Moves one face to person (> 0), or makes it unassigned (person == 0);
 * FR_ERR_NOT_FOUND when the face or the person is not the user's. */
FR_API enum fr_status fr_gallery_face_assign(struct fr_gallery *g, int64_t user, int64_t face, int64_t person);

/* ---- adding faces ------------------------------------------------------------ */

/* Adds faces (each with a descriptor) to person (> 0), with the image
 * row img (may be NULL) they came from, in one store transaction.
 * ids_out (n entries, may be NULL) gets the new face ids. */
FR_API enum fr_status fr_gallery_enroll(struct fr_gallery *g, int64_t user, int64_t person,
                                        const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                        int32_t n, int64_t *ids_out);
/* Adds an image's faces unassigned, as a photo library does. When the user
 * already has an image with img->sha256, nothing is written, *skipped is
 * set and *image_id is the existing image's id. n may be 0 (an image
 * without faces is recorded so that it is not processed again). */
FR_API enum fr_status fr_gallery_index(struct fr_gallery *g, int64_t user, const struct fr_store_image *img,
                                       const struct fr_store_new_face *faces, int32_t n, int64_t *ids_out,
                                       int64_t *image_id, bool *skipped);

/* Finishes a queued index item that node holds (fr_store_queue_finish):
 * the image and its faces are written with the item's completion in one
 * transaction and, on success, added to the user's matrix; with error set,
 * the item is recorded as failed. FR_ERR_NOT_FOUND when the item is no
 * longer node's (nothing written). */
FR_API enum fr_status fr_gallery_queue_finish(struct fr_gallery *g, const char *node, const struct fr_store_item *item,
                                              const struct fr_store_image *img, const struct fr_store_new_face *faces,
                                              int32_t n, const char *error, bool *skipped);

/* ---- recognition ---------------------------------------------------------------- */

struct fr_gallery_match {
    int64_t person;                   /* the person's id */
    int64_t face;                     /* its face nearest to the query */
    char name[FR_STORE_NAME_MAX + 1];
    float distance;                   /* Euclidean, descriptor space */
    float similarity;                 /* fr_similarity(distance), in [0, 1] */
};

/* The k (1..FR_GALLERY_MAX_K) people nearest to the descriptor, nearest
 * first, each by its nearest face; *n gets how many (fewer when the user
 * has fewer people). The query is unknown when *n == 0 or
 * out[0].distance > the gallery's threshold. */
FR_API enum fr_status fr_gallery_recognize(struct fr_gallery *g, int64_t user, const float *descriptor, int32_t k,
                                           struct fr_gallery_match *out, int32_t *n);

/* ---- clustering -------------------------------------------------------------------- */

struct fr_gallery_cluster_result {
    int32_t people_created; /* new people */
    int32_t created;        /* faces put into new people */
    int32_t joined;         /* faces that joined people that existed before */
    int32_t left;           /* faces still unassigned */
    int64_t job;            /* the job row that records this run (0 when it could not be written) */
};

FR_API struct fr_gallery_cluster_params fr_gallery_cluster_default_params(void);
/* Groups the user's unassigned faces, Immich-style and deterministically
 * (faces in id order): an unassigned face within max_distance of a face
 * that has a person joins the nearest such person; one with at least
 * min_faces neighbours founds a new person (named "unnamed-<face id>"),
 * which its neighbours then join; passes repeat until nothing changes.
 * Incremental: run it again after indexing more photos. Each run is
 * recorded as a job of kind "cluster" (fr_store_job_list): total = the
 * unassigned faces, done = the faces put into people; a failed run is a
 * failed job with the error as its detail. */
FR_API enum fr_status fr_gallery_cluster(struct fr_gallery *g, int64_t user, const struct fr_gallery_cluster_params *p,
                                         struct fr_gallery_cluster_result *res);

/* ---- thumbnails ----------------------------------------------------------------------- */

#define FR_GALLERY_THUMB_SIZE 160 /* pixels, the longer side */

/* A JPEG thumbnail of one face: the box (in the coordinates of an image
 * orig_width x orig_height, which img is a possibly downscaled decode of)
 * grown by a margin, cropped from img and resized so that its longer side
 * is FR_GALLERY_THUMB_SIZE. *jpeg is fr_malloc'd. */
FR_API enum fr_status fr_gallery_thumbnail(const struct fr_image *img, int32_t orig_width, int32_t orig_height,
                                           const float box[4], void **jpeg, size_t *len);

#ifdef __cplusplus
}
#endif
