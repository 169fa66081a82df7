#!/usr/bin/python3
"""Reference preprocessing for tests/unit/test_vision_preset.c, written from
the processors' published facts with PIL and numpy, independently of the C
code: Idefics3/SmolVLM tiling (transformers' image_processing_smolvlm: longest
edge to size.longest_edge with the other edge made even, capped at 4096,
then up to multiples of the tile side, crops row by row, plus the whole
image resized to one tile), CLIP-style shortest-edge resize + centre crop,
Janus-style longest-edge resize + expand2square, and plain resize. Pixels
are rescaled in float64, cast to float32 and normalised in float32, as
numpy does in those processors.

Usage: vision_ref.py OUTDIR PRESETS.json... ; writes for each job a PNG
input, the reference tiles (int32 n_tiles rows cols size, then float32
data) and manifest.txt lines "preset png ref".
"""
import json
import math
import os
import struct
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
presets = {}
for path in sys.argv[2:]:
    for p in json.load(open(path))["presets"]:
        presets[p["name"]] = p

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}


def normalise(im, p):
    a = np.asarray(im, dtype=np.uint8)
    x = (a.astype(np.float64) * p.get("rescale", 1 / 255)).astype(np.float32)
    x = (x - np.array(p["mean"], dtype=np.float32)) / np.array(p["std"], dtype=np.float32)
    if p.get("channel_order", "rgb") == "bgr":
        x = x[..., ::-1]
    if p.get("layout", "nchw") == "nchw":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x, dtype=np.float32)


def tile(im, p):
    f = FILTERS[p["interpolation"]]
    s = p["image_size"]
    w, h = im.size
    # size.longest_edge: rescale to max len, other side even
    ar = w / h
    if w >= h:
        w = p["longest_edge"]
        h = int(w / ar)
        h += h % 2
    else:
        h = p["longest_edge"]
        w = int(h * ar)
        w += w % 2
    h, w = max(h, 1), max(w, 1)
    cap = p.get("max_edge", 4096)
    ar = w / h
    if w >= h and w > cap:
        w = cap
        h = int(w / ar)
    elif h > w and h > cap:
        h = cap
        w = int(h * ar)
    h, w = max(h, 1), max(w, 1)
    im = im.resize((w, h), f)
    # resize for the vision encoder: multiples of the tile side
    ar = w / h
    if w >= h:
        w = math.ceil(w / s) * s
        h = math.ceil(int(w / ar) / s) * s
    else:
        h = math.ceil(h / s) * s
        w = math.ceil(int(h * ar) / s) * s
    im = im.resize((w, h), f)
    if h > s or w > s:
        rows, cols = h // s, w // s
        a = np.asarray(im)
        tiles = [Image.fromarray(a[r * s:(r + 1) * s, c * s:(c + 1) * s]) for r in range(rows) for c in range(cols)]
        tiles.append(im.resize((s, s), f))
        return tiles, rows, cols
    return [im], 0, 0


def crop(im, p):
    s = p["image_size"]
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(s * long / short)
    nw, nh = (s, new_long) if w <= h else (new_long, s)
    im = im.resize((nw, nh), FILTERS[p["interpolation"]])
    top, left = (nh - s) // 2, (nw - s) // 2
    return [im.crop((left, top, left + s, top + s))], 0, 0


def pad(im, p):
    s = p["image_size"]
    w, h = im.size
    m = max(w, h)
    nw, nh = max(int(w / m * s), 1), max(int(h / m * s), 1)
    im = im.resize((nw, nh), FILTERS[p["interpolation"]])
    sq = Image.new("RGB", (s, s), tuple(p.get("background", [255, 255, 255])))
    sq.paste(im, ((s - nw) // 2, (s - nh) // 2))
    return [sq], 0, 0


def fit(im, p):
    return [im.resize((p["image_size"], p["image_size"]), FILTERS[p["interpolation"]])], 0, 0


MODES = {"tile": tile, "crop": crop, "pad": pad, "fit": fit}

rng = np.random.default_rng(5)
jobs = [
    ("smolvlm-256m", 300, 200),   # 2048x1366 -> 2048x1536: 4 x 3 tiles of 512 + global
    ("shapes", 37, 23),
    ("shapes", 64, 64),
    ("test-tile-small", 50, 81),  # portrait
    ("test-tile-small", 20, 20),
    ("test-tile-small", 97, 31),
    ("test-tile-single", 45, 30),
    ("test-crop", 40, 25),
    ("test-crop", 19, 33),
    ("test-pad-bgr-nhwc", 30, 17),
    ("test-pad-bgr-nhwc", 11, 29),
]
lines = []
for i, (name, w, h) in enumerate(jobs):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * 13 + y * 7) % 256], -1)
    a = np.clip(a + rng.integers(-25, 26, size=a.shape), 0, 255).astype(np.uint8)
    src = Image.fromarray(a, "RGB")
    png = f"job{i}.png"
    src.save(os.path.join(out, png))
    p = presets[name]
    tiles, rows, cols = MODES[p["resize"]](src, p)
    s = p["image_size"]
    ref = f"job{i}.ref"
    with open(os.path.join(out, ref), "wb") as f:
        f.write(struct.pack("<4i", len(tiles), rows, cols, s))
        for t in tiles:
            assert t.size == (s, s)
            f.write(normalise(t, p).tobytes())
    lines.append(f"{name} {png} {ref}")
with open(os.path.join(out, "manifest.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
