/* JPEG through TurboJPEG, which traps libjpeg's fatal errors internally
 * (setjmp) and reports them as return codes. Markers before the scan are
 * walked here for the Exif orientation and the Adobe CMYK inversion flag. */
#include "media/image_internal.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

typedef struct {
    int orientation;
    bool adobe; /* APP14 "Adobe": CMYK samples are stored inverted */
} jpeg_markers;

static void scan_markers(const uint8_t *d, size_t n, jpeg_markers *m)
{
    m->orientation = 1;
    m->adobe = false;
    bool have_exif = false;
    size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xFF) return;
        while (i < n && d[i] == 0xFF) i++; /* fill bytes */
        if (i >= n) return;
        uint8_t mk = d[i++];
        if (mk == 0xD9 || mk == 0xDA) return; /* EOI, start of scan */
        if ((mk >= 0xD0 && mk <= 0xD7) || mk == 0x01) continue; /* no length */
        if (i + 2 > n) return;
        size_t seg = (size_t)d[i] << 8 | d[i + 1];
        if (seg < 2 || seg > n - i) return;
        const uint8_t *p = d + i + 2;
        size_t plen = seg - 2;
        if (mk == 0xE1 && !have_exif && plen >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
            m->orientation = exif_orientation_tiff(p + 6, plen - 6);
            have_exif = true;
        } else if (mk == 0xEE && plen >= 5 && memcmp(p, "Adobe", 5) == 0) {
            m->adobe = true;
        }
        i += seg;
    }
}

static bool mentions_eof(const char *msg)
{
    static const char key[] = "premature end";
    for (const char *s = msg; *s; s++) {
        size_t k = 0;
        while (key[k] && s[k] && tolower((unsigned char)s[k]) == key[k]) k++;
        if (!key[k]) return true;
    }
    return false;
}

/* PIL's CMYK to RGB: r = (255 - k) - (c * (255 - k)) / 255, rounded. */
static uint8_t cmyk_channel(unsigned c, unsigned k)
{
    unsigned nk = 255 - k, t = c * nk + 128;
    return (uint8_t)(nk - (((t >> 8) + t) >> 8));
}

image_status image_decode_jpeg(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                               int *orientation, char *err, size_t errlen)
{
    if (len > (size_t)0xFFFFFFFFul)
        return image_fail(err, errlen, IMAGE_ERR_TOO_LARGE, "JPEG data over 4 GiB");
    jpeg_markers mk;
    scan_markers(data, len, &mk);
    *orientation = mk.orientation;

    tjhandle tj = tjInitDecompress();
    if (!tj) return image_fail(err, errlen, IMAGE_ERR_NOMEM, "cannot start the JPEG decoder");
    int w = 0, h = 0, subsamp = 0, cs = 0;
    image_status st = IMAGE_OK;
    uint8_t *cmyk = NULL;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        const char *msg = tjGetErrorStr2(tj);
        st = image_fail(err, errlen, mentions_eof(msg) || len < 64 ? IMAGE_ERR_TRUNCATED : IMAGE_ERR_CORRUPT,
                        "bad JPEG header: %s", msg);
        goto done;
    }
    if ((st = image_check_size("JPEG", (uint64_t)(w > 0 ? w : 0), (uint64_t)(h > 0 ? h : 0), lim, err, errlen)) != IMAGE_OK)
        goto done;
    bool is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    if (rk_image_alloc(out, w, h) != 0) {
        st = image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory for a %dx%d JPEG", w, h);
        goto done;
    }
    size_t npix = (size_t)w * (size_t)h;
    if (is_cmyk && !(cmyk = malloc(npix * 4))) {
        st = image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory for a %dx%d JPEG", w, h);
        goto done;
    }
    /* LIMITSCANS bounds the work a hostile progressive file can ask for */
    int rc = tjDecompress2(tj, data, (unsigned long)len, is_cmyk ? cmyk : out->rgb, w, 0, h,
                           is_cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_LIMITSCANS);
    if (rc != 0) {
        const char *msg = tjGetErrorStr2(tj);
        /* warnings (stray bytes, ...) still give a whole image, which PIL
         * also accepts; running out of data does not */
        if (tjGetErrorCode(tj) == TJERR_FATAL)
            st = image_fail(err, errlen, mentions_eof(msg) ? IMAGE_ERR_TRUNCATED : IMAGE_ERR_CORRUPT,
                            "corrupt JPEG data: %s", msg);
        else if (mentions_eof(msg))
            st = image_fail(err, errlen, IMAGE_ERR_TRUNCATED, "truncated JPEG data: %s", msg);
        if (st != IMAGE_OK) goto done;
    }
    if (is_cmyk) {
        for (size_t i = 0; i < npix; i++) {
            unsigned k = cmyk[i * 4 + 3];
            if (mk.adobe) k = 255 - k;
            for (int c = 0; c < 3; c++) {
                unsigned v = cmyk[i * 4 + c];
                if (mk.adobe) v = 255 - v;
                out->rgb[i * 3 + c] = cmyk_channel(v, k);
            }
        }
    }
done:
    free(cmyk);
    tjDestroy(tj);
    if (st != IMAGE_OK) rk_image_free(out);
    return st;
}
