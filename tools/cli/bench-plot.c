/* facerec bench --plot: throughput and p95 latency against concurrency,
 * two panels sharing a log2 x axis, drawn with cairo into a PNG. */
#define _GNU_SOURCE /* M_PI */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define W 900
#define H 700
#define LEFT 90
#define RIGHT 30
#define TOP 60
#define GAP 70
#define BOTTOM 60

struct series {
    const struct bench_result *r;
    int32_t n;
    const char *label;
    double rgb[3];
};

/* A "nice" axis maximum: 1, 2 or 5 times a power of ten above v. */
static double nice_max(double v) {
    if (!(v > 0)) return 1;
    double p = pow(10, floor(log10(v)));
    for (int k = 0; k < 3; k++) {
        double m = (double[]){ 1, 2, 5 }[k] * p;
        if (m >= v * 1.05) return m;
    }
    return 10 * p;
}

static void text(cairo_t *cr, double x, double y, const char *s, double align_x, double align_y) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - e.width * align_x - e.x_bearing, y - e.height * align_y - e.y_bearing);
    cairo_show_text(cr, s);
}

/* One panel: value(r) for each series, against log2(concurrency). */
static void panel(cairo_t *cr, double y0, double h, const struct series *s, int ns, double (*value)(const struct bench_result *),
                  const char *ylabel, double cmin, double cmax) {
    double x0 = LEFT, w = W - LEFT - RIGHT;
    double vmax = 0;
    for (int k = 0; k < ns; k++)
        for (int32_t i = 0; i < s[k].n; i++) vmax = fmax(vmax, value(&s[k].r[i]));
    vmax = nice_max(vmax);
    double lx0 = log2(cmin), lx1 = log2(cmax);
    if (lx1 - lx0 < 1e-9) lx0 -= 1, lx1 += 1;
#define PX(c) (x0 + (log2(c) - lx0) / (lx1 - lx0) * w)
#define PY(v) (y0 + h - (v) / vmax * h)
    /* Grid and y ticks. */
    cairo_set_line_width(cr, 1);
    cairo_set_font_size(cr, 13);
    for (int t = 0; t <= 5; t++) {
        double v = vmax * t / 5, y = PY(v);
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, x0, y);
        cairo_line_to(cr, x0 + w, y);
        cairo_stroke(cr);
        char buf[32];
        snprintf(buf, sizeof buf, vmax >= 10 ? "%.0f" : "%.1f", v);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text(cr, x0 - 8, y, buf, 1.0, 0.5);
    }
    /* x ticks: every concurrency of the first series. */
    for (int32_t i = 0; i < s[0].n; i++) {
        double x = PX(s[0].r[i].concurrency);
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, x, y0);
        cairo_line_to(cr, x, y0 + h);
        cairo_stroke(cr);
        char buf[16];
        snprintf(buf, sizeof buf, "%d", (int)s[0].r[i].concurrency);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text(cr, x, y0 + h + 8, buf, 0.5, 0.0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_stroke(cr);
    /* The y label, rotated. */
    cairo_save(cr);
    cairo_translate(cr, 22, y0 + h / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_set_font_size(cr, 14);
    text(cr, 0, 0, ylabel, 0.5, 0.5);
    cairo_restore(cr);
    /* The series. */
    for (int k = 0; k < ns; k++) {
        cairo_set_source_rgb(cr, s[k].rgb[0], s[k].rgb[1], s[k].rgb[2]);
        cairo_set_line_width(cr, 2.5);
        for (int32_t i = 0; i < s[k].n; i++) {
            double x = PX(s[k].r[i].concurrency), y = PY(value(&s[k].r[i]));
            if (i == 0) cairo_move_to(cr, x, y);
            else cairo_line_to(cr, x, y);
        }
        cairo_stroke(cr);
        for (int32_t i = 0; i < s[k].n; i++) {
            cairo_arc(cr, PX(s[k].r[i].concurrency), PY(value(&s[k].r[i])), 4.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
#undef PX
#undef PY
}

/* fontconfig (behind cairo's text) keeps its configuration cached until
 * the process exits, by design; LeakSanitizer in the ASan build is told
 * so. Our own and cairo's memory are still checked. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static double v_tput(const struct bench_result *r) { return r->images_per_s; }
static double v_p95(const struct bench_result *r) { return r->p95_ms; }

int bench_plot(const char *path, const struct bench_result *a, int32_t na, const char *label_a,
               const struct bench_result *b, int32_t nb, const char *label_b, char *err, size_t errlen) {
    if (na < 1) {
        snprintf(err, errlen, "no levels to plot");
        return -1;
    }
    struct series s[2] = { { a, na, label_a, { 0.12, 0.40, 0.75 } }, { b, nb, label_b, { 0.85, 0.35, 0.10 } } };
    int ns = b && nb > 0 ? 2 : 1;
    double cmin = INFINITY, cmax = 0;
    for (int k = 0; k < ns; k++)
        for (int32_t i = 0; i < s[k].n; i++) {
            cmin = fmin(cmin, s[k].r[i].concurrency);
            cmax = fmax(cmax, s[k].r[i].concurrency);
        }
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    double ph = (H - TOP - GAP - BOTTOM) / 2.0;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 17);
    text(cr, W / 2.0, 22, "facerec bench: throughput and p95 latency against concurrency", 0.5, 0.5);
    panel(cr, TOP, ph, s, ns, v_tput, "throughput (images/s)", cmin, cmax);
    panel(cr, TOP + ph + GAP, ph, s, ns, v_p95, "p95 latency (ms)", cmin, cmax);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 14);
    text(cr, LEFT + (W - LEFT - RIGHT) / 2.0, H - 18, "concurrent clients (log scale)", 0.5, 0.5);
    /* Legend, top left of the first panel. */
    for (int k = 0; k < ns; k++) {
        double y = TOP + 16 + k * 20;
        cairo_set_source_rgb(cr, s[k].rgb[0], s[k].rgb[1], s[k].rgb[2]);
        cairo_rectangle(cr, LEFT + 12, y - 5, 22, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_font_size(cr, 13);
        text(cr, LEFT + 40, y, s[k].label, 0.0, 0.5);
    }
    cairo_surface_flush(sf);
    cairo_status_t st = cairo_surface_write_to_png(sf, path);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    cairo_debug_reset_static_data();
    if (st != CAIRO_STATUS_SUCCESS) {
        snprintf(err, errlen, "cannot write %s: %s", path, cairo_status_to_string(st));
        return -1;
    }
    return 0;
}
