/* The stateless image routes: POST /v1/detect, /v1/embed and /v1/verify.
 * They arrive after the scheduler ran (server.c submits the images): the
 * faces, with descriptors when the route asked for them, are in
 * rq->results, one per image of rq->images, and the answer is built from
 * them alone; nothing is stored. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>

#include "facerec/search.h"
#include "http/server-impl.h"

static cJSON *image_error(const struct fr__http_image *im) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (!o || !e || !cJSON_AddItemToObject(o, "error", e)) {
        cJSON_Delete(o);
        cJSON_Delete(e);
        return NULL;
    }
    cJSON_AddStringToObject(e, "code", fr__http_image_error_is_client(im->status) ? "invalid_image" : "internal");
    cJSON_AddStringToObject(e, "message", im->error ? im->error : fr_status_str(im->status));
    return o;
}

/* detect and embed: one slot per image, faces or an error. */
static enum MHD_Result answer_faces(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                    bool embedding) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!root || !arr || !cJSON_AddItemToObject(root, "images", arr)) {
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    }
    int32_t failed = 0, client_failed = 0;
    const struct fr__http_image *first_failed = NULL;
    for (int32_t i = 0; i < rq->n_results; i++) {
        const struct fr__http_image *im = &rq->results[i];
        cJSON *slot;
        if (im->status == FR_OK) {
            slot = fr__http_json_faces(&im->faces, embedding);
        } else {
            slot = image_error(im);
            failed++;
            client_failed += fr__http_image_error_is_client(im->status);
            if (!first_failed) first_failed = im;
        }
        if (slot && rq->timings) cJSON_AddItemToObject(slot, "timings", fr__http_json_timings(&im->timings));
        if (!slot || !cJSON_AddItemToArray(arr, slot)) {
            cJSON_Delete(slot);
            cJSON_Delete(root);
            return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
        }
    }
    unsigned status = 200;
    if (rq->n_results > 0 && failed == rq->n_results) {
        /* Every image failed: the request as a whole is an error, with the
         * per-image details kept. */
        status = client_failed ? 400 : 500;
        cJSON *e = cJSON_CreateObject();
        if (e) {
            cJSON_AddStringToObject(e, "code", client_failed ? "invalid_image" : "internal");
            char msg[512];
            snprintf(msg, sizeof(msg), "%s%s", rq->n_results > 1 ? "no image could be processed: " : "",
                     first_failed->error ? first_failed->error : fr_status_str(first_failed->status));
            cJSON_AddStringToObject(e, "message", msg);
            cJSON_AddItemToObject(root, "error", e);
        }
    }
    return fr__http_respond_doc(h, c, rq, status, root);
}

enum MHD_Result fr__http_detect(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    return answer_faces(h, c, rq, false);
}

enum MHD_Result fr__http_embed(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    return answer_faces(h, c, rq, true);
}

/* verify: the largest face of each image (or of the one image against the
 * given embedding). */
enum MHD_Result fr__http_verify(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq) {
    const struct fr__http_body *b = rq->images;
    const float *desc[2] = { NULL, b->has_embedding ? b->embedding : NULL };
    const struct fr_face *face[2] = { NULL, NULL };
    char msg[512];
    for (int32_t i = 0; i < rq->n_results; i++) {
        const struct fr__http_image *im = &rq->results[i];
        if (im->status != FR_OK) {
            snprintf(msg, sizeof(msg), "image %d: %s", (int)i + 1, im->error ? im->error : fr_status_str(im->status));
            bool client = fr__http_image_error_is_client(im->status);
            return fr__http_respond_error(h, c, rq, client ? 400 : 500, client ? "invalid_image" : "internal", msg);
        }
        int32_t k = fr_faces_largest(&im->faces);
        if (k < 0) {
            snprintf(msg, sizeof(msg), "image %d: no face found", (int)i + 1);
            return fr__http_respond_error(h, c, rq, 422, "no_face", msg);
        }
        face[i] = &im->faces.faces[k];
        desc[i] = face[i]->descriptor;
    }
    float d = fr_descriptor_distance(desc[0], desc[1]);
    cJSON *root = cJSON_CreateObject(), *faces = cJSON_CreateArray();
    if (!root || !faces || !cJSON_AddItemToObject(root, "faces", faces)) {
        cJSON_Delete(root);
        cJSON_Delete(faces);
        return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    }
    cJSON_AddItemToObject(root, "distance", fr__http_json_number(d));
    cJSON_AddItemToObject(root, "similarity", fr__http_json_number(fr_similarity(d)));
    cJSON_AddBoolToObject(root, "same_person", d <= h->p.tolerance);
    cJSON_AddItemToObject(root, "tolerance", fr__http_json_number(round(h->p.tolerance * 1e6) / 1e6));
    for (int32_t i = 0; i < rq->n_results; i++) {
        cJSON *f = fr__http_json_face(face[i], false);
        if (f) {
            cJSON_AddNumberToObject(f, "width", rq->results[i].faces.width);
            cJSON_AddNumberToObject(f, "height", rq->results[i].faces.height);
            if (rq->timings) cJSON_AddItemToObject(f, "timings", fr__http_json_timings(&rq->results[i].timings));
        }
        if (!f || !cJSON_AddItemToArray(faces, f)) {
            cJSON_Delete(f);
            cJSON_Delete(root);
            return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
        }
    }
    return fr__http_respond_doc(h, c, rq, 200, root);
}
