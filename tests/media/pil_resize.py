#!/usr/bin/python3
"""Writes source images and PIL's resizes of them, for tests/unit/test_resize.c.

Usage: pil_resize.py OUTDIR. Sources are seeded random RGB images (noise,
which exposes every rounding step, and smooth gradients with hard edges,
where bicubic and lanczos overshoot and clip). manifest.txt lines:
  source-file src_w src_h filter dst_w dst_h expected-file
"""
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(42)

sources = {}
sources["noise"] = rng.integers(0, 256, size=(23, 37, 3), dtype=np.uint8)
y, x = np.mgrid[0:48, 0:64]
smooth = np.stack([x * 4, y * 5, np.where((x // 8 + y // 8) % 2 == 0, 0, 255)], -1)
sources["edges"] = np.clip(smooth, 0, 255).astype(np.uint8)
sources["column"] = rng.integers(0, 256, size=(9, 1, 3), dtype=np.uint8)
sources["row"] = rng.integers(0, 256, size=(1, 7, 3), dtype=np.uint8)

sizes = {
    "noise": [(16, 9), (10, 7), (29, 17), (80, 50), (111, 69), (37, 11), (20, 23), (1, 1), (36, 24), (64, 64)],
    "edges": [(32, 24), (17, 13), (100, 75), (63, 47), (64, 20), (5, 48), (512, 384)],
    "column": [(3, 4), (1, 20), (5, 9)],
    "row": [(2, 1), (7, 3), (13, 2)],
}
filters = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}

lines = []
for name, arr in sources.items():
    src = f"{name}.rgb"
    arr.tofile(os.path.join(out, src))
    im = Image.fromarray(arr, "RGB")
    for (w, h) in sizes[name]:
        for fname, f in filters.items():
            exp = f"{name}_{w}x{h}_{fname}.rgb"
            np.asarray(im.resize((w, h), f), dtype=np.uint8).tofile(os.path.join(out, exp))
            lines.append(f"{src} {im.width} {im.height} {fname} {w} {h} {exp}")
with open(os.path.join(out, "manifest.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
