/* The web app's files as compiled into the binary. The table is generated
 * at build time (src/http/embed-web.cmake writes web-assets.c in the build
 * directory from web/ and the npm libraries under web/node_modules), so
 * nothing is read from disk at run time and the app works offline. */
#pragma once

#include <stddef.h>

struct fr__web_asset {
    const char *path;            /* the URL path, "/index.html", "/vendor/uPlot.iife.min.js" */
    const char *content_type;    /* with "; charset=utf-8" for text */
    const unsigned char *data;   /* len bytes, static */
    size_t len;
    const char *etag;            /* a strong validator: the quoted first 32 hex digits of the SHA-256 */
};

/* Sorted by nothing in particular: the table is a few dozen entries. */
extern const struct fr__web_asset fr__web_assets[];
extern const size_t fr__web_n_assets;
