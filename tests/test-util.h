/* Shared helpers for the unit tests. */
#pragma once

#include <stdlib.h>

/* Models directory: $FACEREC_MODELS, else the checkout's models/. */
static inline const char *fr_test_models_dir(void) {
    const char *d = getenv("FACEREC_MODELS");
    return d && *d ? d : FR_SOURCE_DIR "/models";
}

/* ../shared/testdata/face_recognition relative to the checkout. */
static inline const char *fr_test_data_dir(void) {
    const char *d = getenv("FACEREC_TESTDATA");
    return d && *d ? d : FR_SOURCE_DIR "/../shared/testdata/face_recognition";
}
