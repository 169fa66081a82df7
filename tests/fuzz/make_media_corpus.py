#!/usr/bin/python3
"""Writes the seed corpora for fuzz_image_{jpeg,png,webp} and fuzz_base64:
tiny valid images of each variant the decoders handle (a few hundred bytes
each) plus truncated and corrupted copies, so mutations start from every
branch. Run with /usr/bin/python3 (needs PIL); output is deterministic."""
import base64
import io
import os
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def corpus(name):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    return d


def img(mode, w=8, h=6):
    im = Image.new("RGBA", (w, h))
    im.putdata([((x * 37) % 256, (y * 53) % 256, ((x + y) * 29) % 256, (x * y * 17) % 256)
                for y in range(h) for x in range(w)])
    return im.convert(mode)


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def exif(o):
    e = Image.Exif()
    e[0x0112] = o
    return e.tobytes()


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def variants(d, files):
    for name, data in files.items():
        write(d, name, data)
    first = next(iter(files.values()))
    write(d, "truncated_half", first[: len(first) // 2])
    flipped = bytearray(first)
    flipped[len(flipped) * 3 // 4] ^= 0x55
    write(d, "corrupt_tail", bytes(flipped))


d = corpus("fuzz_image_jpeg")
variants(d, {
    "rgb_420.jpg": save(img("RGB"), "JPEG", quality=50),
    "grey.jpg": save(img("L"), "JPEG", quality=50),
    "progressive_444.jpg": save(img("RGB"), "JPEG", quality=50, progressive=True, subsampling=0),
    "cmyk.jpg": save(img("CMYK", 4, 4), "JPEG", quality=50),
    "exif_orient6.jpg": save(img("RGB", 4, 3), "JPEG", quality=50, exif=exif(6)),
})


def png16(w, h):
    raw = b"".join(b"\0" + bytes((x * 31 + y * 7 + c) & 0xFF for x in range(w) for c in range(8)) for y in range(h))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


d = corpus("fuzz_image_png")
pal = img("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=5)
variants(d, {
    "rgb.png": save(img("RGB"), "PNG"),
    "rgba.png": save(img("RGBA"), "PNG"),
    "palette_trns.png": save(pal, "PNG", transparency=1),
    "grey_1bit.png": save(img("1"), "PNG"),
    "grey_alpha.png": save(img("LA"), "PNG"),
    "rgba16.png": png16(3, 3),
    "exif_orient8.png": save(img("RGB", 4, 3), "PNG", exif=exif(8)),
})

d = corpus("fuzz_image_webp")
variants(d, {
    "lossy.webp": save(img("RGB"), "WEBP", quality=30),
    "lossless.webp": save(img("RGB"), "WEBP", lossless=True),
    "alpha.webp": save(img("RGBA"), "WEBP", lossless=True),
    "lossy_alpha_exif.webp": save(img("RGBA", 4, 4), "WEBP", quality=30, exif=exif(3)),
})

d = corpus("fuzz_base64")
raw = bytes(range(0, 256, 3))
write(d, "standard_padded.txt", base64.b64encode(raw))
write(d, "urlsafe_unpadded.txt", base64.urlsafe_b64encode(raw[:20]).rstrip(b"="))
write(d, "wrapped_lines.txt", base64.encodebytes(raw * 2))
write(d, "png_data.txt", base64.b64encode(save(img("RGB", 2, 2), "PNG")))
write(d, "bad_char.txt", b"Zm9v!mFy")
write(d, "bad_padding.txt", b"Zg===")
