/* Shared helpers for the unit tests. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Whole file as a NUL-terminated malloc'd buffer, its length (without the
 * NUL) in *len when len is not NULL; NULL when it cannot be read. */
static inline char *fr_test_read_file_len(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (s = malloc((size_t)n + 1)) != NULL) {
        if (fread(s, 1, (size_t)n, f) == (size_t)n) {
            s[n] = 0;
            if (len) *len = (size_t)n;
        } else {
            free(s), s = NULL;
        }
    }
    fclose(f);
    return s;
}

/* Whole file as a NUL-terminated malloc'd string, or NULL. */
static inline char *fr_test_read_file(const char *path) { return fr_test_read_file_len(path, NULL); }

/* POSIX 2008; declared again for the files built without a feature macro. */
char *mkdtemp(char *template_path);

/* A fresh directory /tmp/fr-<name>-XXXXXX, its path into dir; 0 on success. */
static inline int fr_test_mkdtemp(char *dir, size_t size, const char *name) {
    int n = snprintf(dir, size, "/tmp/fr-%s-XXXXXX", name);
    return n > 0 && (size_t)n < size && mkdtemp(dir) ? 0 : -1;
}

/* Removes a directory tree (a test's temporary one); 0 on success. */
static inline int fr_test_rm_rf(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}
