#!/usr/bin/python3
"""Writes test images and what PIL decodes them to, for tests/unit/test_image.c.

Usage: make_images.py OUTDIR. Each manifest line is
  name  encoded-file  expected-file  width  height  bg_r bg_g bg_b
where expected-file is packed RGB as PIL sees the image: EXIF orientation
applied (ImageOps.exif_transpose) and alpha composited onto the background
with Image.alpha_composite, which is what the Hugging Face processors'
convert_to_rgb does. Images are random but seeded, so runs are identical.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1234)
manifest = []


def smooth(w, h, ch):
    # gradients plus noise: compressible, yet every pixel differs
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256] + [(x * y) % 256] * (ch - 3), -1)
    noise = rng.integers(-20, 21, size=(h, w, ch))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def expected(data, bg):
    im = Image.open(io.BytesIO(data))
    im = ImageOps.exif_transpose(im)
    if im.mode != "RGB":
        rgba = im.convert("RGBA")
        back = Image.new("RGBA", rgba.size, tuple(bg) + (255,))
        im = Image.alpha_composite(back, rgba).convert("RGB")
    return im


def add(name, data, bg=(255, 255, 255), exp=None):
    enc = f"{name}.bin"
    with open(os.path.join(out, enc), "wb") as f:
        f.write(data)
    im = exp if exp is not None else expected(data, bg)
    with open(os.path.join(out, f"{name}.rgb"), "wb") as f:
        f.write(np.asarray(im, dtype=np.uint8).tobytes())
    manifest.append(f"{name} {enc} {name}.rgb {im.width} {im.height} {bg[0]} {bg[1]} {bg[2]}")


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


rgb = Image.fromarray(smooth(33, 17, 3), "RGB")
rgba_arr = smooth(21, 14, 4)
rgba_arr[..., 3] = rng.integers(0, 256, size=rgba_arr.shape[:2])
rgba_arr[0, :, 3] = 0
rgba_arr[1, :, 3] = 255
rgba = Image.fromarray(rgba_arr, "RGBA")

# JPEG: chroma subsampling variants, grey, progressive, CMYK, orientations
add("jpeg_420", save(rgb, "JPEG", quality=90))
add("jpeg_444", save(rgb, "JPEG", quality=95, subsampling=0))
add("jpeg_422", save(rgb, "JPEG", quality=80, subsampling=1))
add("jpeg_grey", save(rgb.convert("L"), "JPEG", quality=90))
add("jpeg_progressive", save(rgb, "JPEG", quality=85, progressive=True))
add("jpeg_cmyk", save(rgb.convert("CMYK"), "JPEG", quality=95))
for o in range(1, 9):
    add(f"jpeg_orient{o}", save(rgb, "JPEG", quality=90, exif=exif_bytes(o)))

# PNG: every colour type and depth PIL writes, plus hand-made 16-bit RGB(A)
add("png_rgb", save(rgb, "PNG"))
add("png_rgba_white", save(rgba, "PNG"))
add("png_rgba_bg", save(rgba, "PNG"), bg=(10, 200, 30))
add("png_grey", save(rgb.convert("L"), "PNG"))
add("png_grey_alpha", save(rgba.convert("LA"), "PNG"), bg=(40, 50, 60))
add("png_1bit", save(rgb.convert("1"), "PNG"))
pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=13)
add("png_palette", save(pal, "PNG"))
add("png_palette_trns", save(pal, "PNG", transparency=3), bg=(0, 0, 255))
add("png_palette_4bit", save(pal, "PNG", bits=4))
add("png_orient6", save(rgb, "PNG", exif=exif_bytes(6)))


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png16(arr, color_type):
    h, w, ch = arr.shape
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


a16 = rng.integers(0, 65536, size=(9, 11, 3))
add("png_rgb16", png16(a16, 2), exp=Image.fromarray((a16 >> 8).astype(np.uint8), "RGB"))
a16a = rng.integers(0, 65536, size=(9, 11, 4))
hi = (a16a >> 8).astype(np.uint8)
bg16 = (90, 90, 200)
exp16 = Image.alpha_composite(Image.new("RGBA", (11, 9), bg16 + (255,)), Image.fromarray(hi, "RGBA")).convert("RGB")
add("png_rgba16", png16(a16a, 6), bg=bg16, exp=exp16)



def png_adam7(arr):
    # PIL writes no interlaced PNGs, so build one: the seven Adam7 passes,
    # each a sub-image of rows with filter type 0, in one zlib stream
    h, w, _ = arr.shape
    raw = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
        sub = arr[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


adam = np.asarray(rgb)
add("png_interlaced", png_adam7(adam), exp=Image.fromarray(adam, "RGB"))

# WebP: lossless, lossy, alpha, orientation
add("webp_lossless", save(rgb, "WEBP", lossless=True))
add("webp_lossy", save(rgb, "WEBP", quality=80))
add("webp_alpha", save(rgba, "WEBP", lossless=True), bg=(200, 100, 0))
add("webp_orient8", save(rgb, "WEBP", lossless=True, exif=exif_bytes(8)))

with open(os.path.join(out, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")

# Not in the manifest: inputs the decoder must refuse.
rgb.save(os.path.join(out, "image.gif"), "GIF")
frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
frames[0].save(os.path.join(out, "animated.webp"), "WEBP", save_all=True, append_images=frames[1:], lossless=True)
