/* Fuzz target for the TurboJPEG path and the marker walk that finds the Exif orientation and the Adobe flag.
 * Whatever decodes must be a whole image whose every byte is readable (ASan
 * catches a short buffer); whatever fails must say why. The pixel limit
 * keeps mutated headers from asking for gigabytes. */
#include <stdint.h>
#include <stdlib.h>

#include "media/image.h"

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image_limits lim = {1 << 20, 1 << 20, {255, 255, 255}};
    rk_image img;
    char err[256];
    image_status st = image_decode(data, size, &lim, &img, err, sizeof err);
    if (st == IMAGE_OK) {
        if (img.width <= 0 || img.height <= 0 || (uint64_t)img.width * (uint64_t)img.height > lim.max_pixels) abort();
        unsigned s = 0;
        for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 3; i++) s += img.rgb[i];
        sink = s;
        rk_image_free(&img);
    } else if (img.rgb || err[0] == 0) {
        abort();
    }
    return 0;
}
