/* facerec status codes.
 *
 * Every fallible facerec function returns an enum fr_status. Zero is success,
 * negative values are errors. The list is an X-macro so that the enum and
 * fr_status_str() can never drift apart. */
#pragma once

#include "facerec/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_STATUS_MAP(X)                                                        \
    X(OK, 0, "success")                                                         \
    X(ERR_INVALID, -1, "invalid argument")                                      \
    X(ERR_NOMEM, -2, "out of memory")                                           \
    X(ERR_IO, -3, "i/o error")                                                  \
    X(ERR_FORMAT, -4, "malformed file")                                         \
    X(ERR_MODEL, -5, "model file missing or invalid")                           \
    X(ERR_SHAPE, -6, "tensor shape mismatch")                                   \
    X(ERR_IMAGE, -7, "image cannot be decoded")                                 \
    X(ERR_UNSUPPORTED, -8, "unsupported format or operation")                   \
    X(ERR_BACKEND, -9, "compute backend failure")                               \
    X(ERR_BUDGET, -10, "device memory budget exceeded")                         \
    X(ERR_TOO_LARGE, -11, "input exceeds a configured limit")                   \
    X(ERR_DEVICE, -12, "no usable compute device")                              \
    X(ERR_NOT_FOUND, -13, "not found")                                          \
    X(ERR_INTERNAL, -14, "internal error")                                      \
    X(ERR_BUSY, -15, "too many requests queued")                                \
    X(ERR_TIMEOUT, -16, "deadline exceeded")                                    \
    X(ERR_CANCELLED, -17, "cancelled")                                          \
    X(ERR_SHUTDOWN, -18, "shutting down")                                       \
    X(ERR_AUTH, -19, "missing or unknown API key")

enum fr_status {
#define FR__STATUS_ENUM(name, val, str) FR_##name = val,
    FR_STATUS_MAP(FR__STATUS_ENUM)
#undef FR__STATUS_ENUM
};

/* A static, human-readable description of st; never NULL. */
FR_API const char *fr_status_str(enum fr_status st);

/* The symbolic name of st ("ERR_MODEL"); never NULL. */
FR_API const char *fr_status_name(enum fr_status st);

#ifdef __cplusplus
}
#endif
