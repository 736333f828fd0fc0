/* The web app: static files compiled into the binary (web-assets.h), served
 * at "/" by the same daemon as the API.
 *
 * The files are not in the route table: their paths come from the build.
 * server.c asks fr__http_web_has() before it answers 404. Every answer
 * carries a strict Content-Security-Policy (scripts, styles and
 * connections only from this origin, no inline code, no framing) and
 * nosniff; the app itself renders every user string with textContent.
 * Caching is by ETag (the content's SHA-256): the browser revalidates each
 * load and gets a bodiless 304 while the binary is unchanged. */
#include <string.h>
#include <strings.h>

#include "http/server-impl.h"
#include "http/web-assets.h"

/* blob: for face thumbnails, which the app fetches with its key (an <img>
 * cannot send X-API-Key) and shows from object URLs; data: for uPlot's
 * canvas and the photo being recognized. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                          "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

static const struct fr__web_asset *find(const char *url) {
    if (!url) return NULL;
    if (!strcmp(url, "/")) url = "/index.html";
    for (size_t i = 0; i < fr__web_n_assets; i++)
        if (fr__web_assets[i].path && !strcmp(fr__web_assets[i].path, url)) return &fr__web_assets[i];
    return NULL;
}

bool fr__http_web_has(const char *url) { return find(url) != NULL; }

/* True when the If-None-Match list names etag (or is "*"). Weak
 * validators ("W/...") match too: a GET may use the weak comparison. */
static bool etag_matches(const char *inm, const char *etag) {
    if (!inm) return false;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        if (*p == '*') return true;
        if (!strncmp(p, "W/", 2)) p += 2;
        if (!strncmp(p, etag, el) && (p[el] == 0 || p[el] == ',' || p[el] == ' ' || p[el] == '\t')) return true;
        while (*p && *p != ',') p++;
    }
    return false;
}

static void add_headers(struct MHD_Response *r, const struct fr__web_asset *a) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    /* Revalidate every time: the ETag makes that a cheap 304, and a new
     * binary's files are seen at once. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
}

enum MHD_Result fr__http_web_answer(struct fr_http *h, struct MHD_Connection *c, struct fr__http_request *rq,
                                    const char *url, const char *method) {
    const struct fr__web_asset *a = find(url);
    rq->route_name = "/"; /* one metrics label for every file of the app */
    if (!a) return fr__http_respond_error(h, c, rq, 404, "not_found", "no such file");
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return fr__http_respond(h, c, rq, 405, fr__http_json_error("method_not_allowed", "use GET, HEAD"), "GET, HEAD",
                                0);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = etag_matches(inm, a->etag);
    /* The bytes are static: the response points at them, no copy. */
    struct MHD_Response *r = fresh ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
                                   : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return fr__http_respond(h, c, rq, 500, NULL, NULL, 0);
    if (!fresh) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    add_headers(r, a);
    return fr__http_queue(h, c, rq, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}
