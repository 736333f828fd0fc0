/* HEIC/HEIF and AVIF via libheif. libheif applies the container's
 * transforms (irot, imir, clean aperture), so the pixels come out upright
 * and EXIF orientation must not be applied again. */
#include <libheif/heif.h>
#include <math.h>
#include <string.h>

#include "image-impl.h"

/* ---- derived-image references ----
 *
 * libheif 1.15 decodes a grid or overlay by decoding the items its 'dimg'
 * references point to, recursively and without a cycle check: an item
 * that refers to itself overflows the stack (found by the fuzzer). So the
 * 'iref' box is read here first, and files whose derivation graph has a
 * cycle, is deeper than MAX_DERIVATION or has more than MAX_DIMG_REFS
 * references are refused before libheif sees them. */
#define MAX_DERIVATION 4
#define MAX_DIMG_REFS 1024

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The box at *pos within [*pos, end): its type and body; advances *pos.
 * False at the end or on a malformed header. */
static bool next_box(const uint8_t *buf, size_t end, size_t *pos, uint32_t *type, size_t *body, size_t *bend) {
    if (*pos + 8 > end) return false;
    uint64_t size = be32(buf + *pos);
    size_t hdr = 8;
    *type = be32(buf + *pos + 4);
    if (size == 1) {
        if (*pos + 16 > end) return false;
        size = (uint64_t)be32(buf + *pos + 8) << 32 | be32(buf + *pos + 12);
        hdr = 16;
    } else if (size == 0) {
        size = end - *pos;
    }
    if (size < hdr || size > end - *pos) return false;
    *body = *pos + hdr;
    *bend = *pos + (size_t)size;
    *pos = *bend;
    return true;
}

#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

struct dimg_edge {
    uint32_t from, to;
};

/* Collects the 'dimg' references of meta/iref; -1 when there are too many. */
static int32_t read_dimg(const uint8_t *buf, size_t len, struct dimg_edge *e) {
    size_t pos = 0, body, bend;
    uint32_t type;
    int32_t n = 0;
    while (next_box(buf, len, &pos, &type, &body, &bend)) {
        if (type != FOURCC('m', 'e', 't', 'a')) continue;
        size_t mpos = body + 4, mend = bend; /* full box: version and flags */
        while (next_box(buf, mend, &mpos, &type, &body, &bend)) {
            if (type != FOURCC('i', 'r', 'e', 'f') || body + 4 > bend) continue;
            int idsz = buf[body] == 0 ? 2 : 4;
            size_t rpos = body + 4, rend = bend;
            while (next_box(buf, rend, &rpos, &type, &body, &bend)) {
                if (type != FOURCC('d', 'i', 'm', 'g') || body + (size_t)idsz + 2 > bend) continue;
                uint32_t from = idsz == 2 ? (uint32_t)buf[body] << 8 | buf[body + 1] : be32(buf + body);
                size_t q = body + (size_t)idsz;
                uint32_t cnt = (uint32_t)buf[q] << 8 | buf[q + 1];
                q += 2;
                for (uint32_t k = 0; k < cnt && q + (size_t)idsz <= bend; k++, q += (size_t)idsz) {
                    if (n == MAX_DIMG_REFS) return -1;
                    e[n].from = from;
                    e[n].to = idsz == 2 ? (uint32_t)buf[q] << 8 | buf[q + 1] : be32(buf + q);
                    n++;
                }
            }
        }
    }
    return n;
}

/* True when following 'dimg' references can go deeper than MAX_DERIVATION
 * levels (which every cycle does): depth(item) = 1 + max depth(referenced),
 * relaxed over the edges until it settles or passes the limit. */
static bool derivation_too_deep(const struct dimg_edge *e, int32_t n, uint8_t *depth) {
    /* depth[i]: the depth found so far of e[i].from, through edge i. */
    memset(depth, 0, (size_t)n);
    for (int round = 0; round <= MAX_DERIVATION; round++) {
        bool changed = false;
        for (int32_t i = 0; i < n; i++) {
            uint8_t d = 0; /* depth of e[i].to: the largest depth recorded for it as a source */
            for (int32_t j = 0; j < n; j++)
                if (e[j].from == e[i].to && depth[j] > d) d = depth[j];
            if (d + 1 > depth[i]) {
                depth[i] = (uint8_t)(d + 1);
                changed = true;
            }
        }
        if (!changed) return false;
    }
    return true;
}

static enum fr_status check_derivations(const uint8_t *buf, size_t len, char *err, size_t errlen) {
    struct dimg_edge *e = fr_malloc(sizeof(*e) * MAX_DIMG_REFS);
    uint8_t *depth = fr_malloc(MAX_DIMG_REFS);
    enum fr_status st = FR_OK;
    if (!e || !depth) {
        fr_errf(err, errlen, "out of memory");
        st = FR_ERR_NOMEM;
        goto done;
    }
    int32_t n = read_dimg(buf, len, e);
    if (n < 0) {
        fr_errf(err, errlen, "HEIF/AVIF file with more than %d derived-image references", MAX_DIMG_REFS);
        st = FR_ERR_TOO_LARGE;
    } else if (n > 0 && derivation_too_deep(e, n, depth)) {
        fr_errf(err, errlen, "corrupt HEIF/AVIF container: derived images refer to each other in a cycle (or nest "
                             "deeper than %d)", MAX_DERIVATION);
        st = FR_ERR_IMAGE;
    }
done:
    fr_free(e);
    fr_free(depth);
    return st;
}

/* ---- HDR (PQ and HLG) to SDR ----
 *
 * libheif converts YCbCr to RGB but leaves the transfer curve alone, so an
 * HDR photo (iPhone and Android HDR HEIC/AVIF: PQ or HLG, usually BT.2020
 * primaries) would come out flat and washed out if its code values were
 * read as sRGB. Such images are decoded at their bit depth instead and
 * tone-mapped: to linear light relative to SDR reference white (203 nits
 * for PQ, BT.2408; 75% signal for HLG), BT.2020 to BT.709 primaries, a
 * soft knee that keeps everything below 80% of white as it is and rolls
 * brighter highlights off towards white, then the sRGB curve. */
enum hdr_kind { HDR_NONE, HDR_PQ, HDR_HLG };

static double pq_to_rel(double e) {
    const double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128, c1 = 3424.0 / 4096, c2 = 2413.0 / 4096 * 32,
                 c3 = 2392.0 / 4096 * 32;
    double p = pow(e, 1 / m2), n = p - c1 > 0 ? p - c1 : 0;
    return 10000.0 * pow(n / (c2 - c3 * p), 1 / m1) / 203.0;
}

static double hlg_to_rel(double e) {
    const double a = 0.17883277, b = 0.28466892, c = 0.55991073, white = 0.26496256; /* E at 75% signal */
    double lin = e <= 0.5 ? e * e / 3 : (exp((e - c) / a) + b) / 12;
    return lin / white;
}

static uint8_t knee_to_srgb(double v) {
    if (v <= 0) return 0;
    if (v > 0.8) v = 0.8 + 0.2 * (1 - exp(-(v - 0.8) / 0.2));
    double s = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055;
    return (uint8_t)(s * 255 + 0.5);
}

static enum fr_status tone_map(const struct heif_image *im, enum hdr_kind kind, bool bt2020, struct fr_image *img,
                               char *err, size_t errlen) {
    int stride = 0, bits = heif_image_get_bits_per_pixel_range(im, heif_channel_interleaved);
    const uint8_t *px = heif_image_get_plane_readonly(im, heif_channel_interleaved, &stride);
    if (!px || bits < 8 || bits > 16) {
        fr_errf(err, errlen, "HEIF/AVIF decoder returned no HDR pixels");
        return FR_ERR_IMAGE;
    }
    size_t levels = (size_t)1 << bits;
    double *lin = fr_malloc(levels * sizeof(double));
    if (!lin) {
        fr_errf(err, errlen, "out of memory");
        return FR_ERR_NOMEM;
    }
    for (size_t i = 0; i < levels; i++) {
        double e = (double)i / (double)(levels - 1);
        lin[i] = kind == HDR_PQ ? pq_to_rel(e) : hlg_to_rel(e);
    }
    /* BT.2020 to BT.709 (linear light). */
    static const double m[3][3] = { { 1.6605, -0.5876, -0.0728 }, { -0.1246, 1.1329, -0.0083 },
                                    { -0.0182, -0.1006, 1.1187 } };
    for (int32_t y = 0; y < img->height; y++) {
        const uint8_t *s = px + (size_t)y * (size_t)stride;
        uint8_t *d = img->data + (size_t)y * img->stride;
        for (int32_t x = 0; x < img->width; x++) {
            double c[3];
            for (int k = 0; k < 3; k++) {
                unsigned v = (unsigned)s[(x * 3 + k) * 2] | (unsigned)s[(x * 3 + k) * 2 + 1] << 8;
                c[k] = lin[v < levels ? v : levels - 1];
            }
            for (int k = 0; k < 3; k++)
                d[x * 3 + k] = knee_to_srgb(bt2020 ? m[k][0] * c[0] + m[k][1] * c[1] + m[k][2] * c[2] : c[k]);
        }
    }
    fr_free(lin);
    return FR_OK;
}

enum fr_status fr__decode_heif(const uint8_t *buf, size_t len, const struct fr_decode_params *p,
                               struct fr_raw_image *out, char *err, size_t errlen) {
    enum fr_status st = check_derivations(buf, len, err, errlen);
    if (st != FR_OK) return st;
    st = FR_ERR_IMAGE;
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *h = NULL;
    struct heif_image *im = NULL;
    struct fr_image *img = NULL;
    if (!ctx) {
        fr_errf(err, errlen, "cannot initialise the HEIF decoder");
        return FR_ERR_NOMEM;
    }
    /* libheif's own guard against huge images, on top of ours below. Coded
     * sizes are padded to whole coding blocks, so it gets some slack; our
     * exact check on the displayed size follows. */
    int64_t lim = (int64_t)p->max_dimension + 256;
    heif_context_set_maximum_image_size_limit(ctx, lim > 0x7fffffff ? 0x7fffffff : (int)lim);
    /* Grid tiles are decoded in this thread. libheif otherwise starts a
     * thread per tile, and a small hostile file with thousands of tiles
     * makes thread creation fail inside libheif, which then throws
     * std::system_error through C and aborts the process (found by the
     * fuzzer). facerec already decodes images in parallel on its workers. */
    heif_context_set_max_decoding_threads(ctx, 0);
    struct heif_error e = heif_context_read_from_memory_without_copy(ctx, buf, len, NULL);
    if (e.code != heif_error_Ok) {
        if (e.subcode == heif_suberror_Security_limit_exceeded) {
            fr_errf(err, errlen, "HEIF/AVIF image over the size limit (%d px per side): %s", p->max_dimension,
                    e.message);
            st = FR_ERR_TOO_LARGE;
        } else {
            fr_errf(err, errlen, "corrupt HEIF/AVIF container: %s", e.message);
        }
        goto done;
    }
    e = heif_context_get_primary_image_handle(ctx, &h);
    if (e.code != heif_error_Ok) {
        fr_errf(err, errlen, "HEIF/AVIF without a primary image: %s", e.message);
        goto done;
    }
    int w = heif_image_handle_get_width(h), hh = heif_image_handle_get_height(h);
    if ((st = fr__check_limits(w, hh, p, err, errlen)) != FR_OK) goto done;
    st = FR_ERR_IMAGE;
    enum hdr_kind hdr = HDR_NONE;
    bool bt2020 = false;
    struct heif_color_profile_nclx *nclx = NULL;
    if (heif_image_handle_get_nclx_color_profile(h, &nclx).code == heif_error_Ok && nclx) {
        if (nclx->transfer_characteristics == heif_transfer_characteristic_ITU_R_BT_2100_0_PQ) hdr = HDR_PQ;
        if (nclx->transfer_characteristics == heif_transfer_characteristic_ITU_R_BT_2100_0_HLG) hdr = HDR_HLG;
        bt2020 = nclx->color_primaries == heif_color_primaries_ITU_R_BT_2020_2_and_2100_0;
    }
    heif_nclx_color_profile_free(nclx);
    e = heif_decode_image(h, &im, heif_colorspace_RGB,
                          hdr != HDR_NONE ? heif_chroma_interleaved_RRGGBB_LE : heif_chroma_interleaved_RGB, NULL);
    if (e.code != heif_error_Ok) {
        fr_errf(err, errlen, "cannot decode HEIF/AVIF image: %s", e.message);
        if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype)
            st = FR_ERR_UNSUPPORTED;
        goto done;
    }
    int stride = 0;
    const uint8_t *px = heif_image_get_plane_readonly(im, heif_channel_interleaved, &stride);
    int iw = heif_image_get_width(im, heif_channel_interleaved), ih = heif_image_get_height(im, heif_channel_interleaved);
    if (!px || iw <= 0 || ih <= 0 || (st = fr__check_limits(iw, ih, p, err, errlen)) != FR_OK) {
        if (st == FR_OK || st == FR_ERR_IMAGE) fr_errf(err, errlen, "HEIF/AVIF decoder returned no pixels");
        if (st == FR_OK) st = FR_ERR_IMAGE;
        goto done;
    }
    img = fr_image_new(iw, ih);
    if (!img) {
        fr_errf(err, errlen, "out of memory for a %dx%d image", iw, ih);
        st = FR_ERR_NOMEM;
        goto done;
    }
    if (hdr != HDR_NONE) {
        if ((st = tone_map(im, hdr, bt2020, img, err, errlen)) != FR_OK) goto done;
    } else {
        for (int y = 0; y < ih; y++)
            memcpy(img->data + (size_t)y * img->stride, px + (size_t)y * stride, (size_t)iw * 3);
    }
    /* An embedded ICC profile ('prof' or 'rICC'); nclx colour (the usual
     * case) is what libheif's YCbCr to RGB conversion already used. */
    enum heif_color_profile_type pt = heif_image_handle_get_color_profile_type(h);
    size_t plen = heif_image_handle_get_raw_color_profile_size(h);
    if (hdr == HDR_NONE && (pt == heif_color_profile_type_prof || pt == heif_color_profile_type_rICC) && plen >= 132 &&
        plen <= ((size_t)16 << 20)) {
        uint8_t *prof = fr_malloc(plen);
        if (prof && heif_image_handle_get_raw_color_profile(h, prof).code == heif_error_Ok)
            out->icc = fr__icc_keep_rgb(prof, plen, &out->icc_len);
        fr_free(prof);
    }
    out->img = img;
    img = NULL;
    out->full_width = iw;
    out->full_height = ih;
    out->orientation = 1;
    st = FR_OK;
done:
    fr_image_free(img);
    if (im) heif_image_release(im);
    if (h) heif_image_handle_release(h);
    heif_context_free(ctx);
    return st;
}
