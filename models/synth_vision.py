#!/usr/bin/env python3
"""Writes SmolVLM / Idefics3 vision projectors (GGUF mmproj) with random
weights, for the CPU encoder's numerical tests (tiny shapes) and benchmarks
(SmolVLM-256M's real shapes). Weights are scaled so activations stay O(1)
through every block and the projected embeddings are of the size of the
language model's token embeddings.

    synth_vision.py --shape tiny --type F32 --n-embd 64 --seed 1 --out v.gguf
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmproj_writer  # noqa: E402

V = mmproj_writer.VPREFIX

SHAPES = {
    # 8x8 patches, pixel shuffle by 2 -> 16 image tokens of 4*64 wide
    "tiny": dict(image_size=64, patch_size=8, hidden_size=64, intermediate_size=128,
                 num_attention_heads=4, num_hidden_layers=2, scale_factor=2, layer_norm_eps=1e-6,
                 projection_dim=64),
    # non-square-friendly widths: head_dim 24, D*s*s = 432 (not a multiple of 256)
    "odd": dict(image_size=48, patch_size=6, hidden_size=48, intermediate_size=80,
                num_attention_heads=2, num_hidden_layers=1, scale_factor=4, layer_norm_eps=1e-5,
                projection_dim=64),
    # SmolVLM-256M-Instruct's vision_config and connector (512 px, 32x32 patches,
    # pixel shuffle by 4 -> 64 tokens), projecting to SmolLM2-135M's 576
    "smolvlm-256m": dict(image_size=512, patch_size=16, hidden_size=768, intermediate_size=3072,
                         num_attention_heads=12, num_hidden_layers=12, scale_factor=4,
                         layer_norm_eps=1e-6, projection_dim=576),
}


def random_tensors(hp, seed):
    rng = np.random.default_rng(seed)
    D, F, P, S = hp["hidden_size"], hp["intermediate_size"], hp["patch_size"], hp["image_size"]
    s, E = hp["scale_factor"], hp["projection_dim"]

    def normal(shape, std, mean=0.0):
        return (rng.standard_normal(shape, dtype=np.float32) * std + mean).astype(np.float32)

    t = {
        V + "embeddings.patch_embedding.weight": normal((D, 3, P, P), 1 / math.sqrt(3 * P * P)),
        V + "embeddings.patch_embedding.bias": normal((D,), 0.1),
        V + "embeddings.position_embedding.weight": normal(((S // P) ** 2, D), 0.5),
        V + "post_layernorm.weight": normal((D,), 0.1, 1.0),
        V + "post_layernorm.bias": normal((D,), 0.1),
        mmproj_writer.CONNECTOR: normal((E, D * s * s), 1 / math.sqrt(D * s * s)),
    }
    for i in range(hp["num_hidden_layers"]):
        p = f"{V}encoder.layers.{i}."
        for ln in ("layer_norm1", "layer_norm2"):
            t[p + ln + ".weight"] = normal((D,), 0.1, 1.0)
            t[p + ln + ".bias"] = normal((D,), 0.1)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[p + "self_attn." + proj + ".weight"] = normal((D, D), 1 / math.sqrt(D))
            t[p + "self_attn." + proj + ".bias"] = normal((D,), 0.1)
        t[p + "mlp.fc1.weight"] = normal((F, D), 1 / math.sqrt(D))
        t[p + "mlp.fc1.bias"] = normal((F,), 0.1)
        t[p + "mlp.fc2.weight"] = normal((D, F), 1 / math.sqrt(F))
        t[p + "mlp.fc2.bias"] = normal((D,), 0.1)
    return t


def hparams_for(shape, n_embd=None):
    hp = dict(SHAPES[shape])
    if n_embd:
        hp["projection_dim"] = n_embd
    hp["image_mean"] = [0.5, 0.5, 0.5]
    hp["image_std"] = [0.5, 0.5, 0.5]
    return hp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", required=True, choices=list(SHAPES))
    ap.add_argument("--type", default="F16", choices=list(mmproj_writer.FILE_TYPE))
    ap.add_argument("--n-embd", type=int, help="language model width (default: the shape's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    hp = hparams_for(args.shape, args.n_embd)
    t = random_tensors(hp, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    mmproj_writer.write_mmproj(args.out, t, hp, ftype=args.type, name=f"synthetic-idefics3-{args.shape}")
    if not args.quiet:
        n = sum(v.size for v in t.values())
        print(f"{args.out}: idefics3 {args.shape} {args.type}, {n / 1e6:.2f}M params")


if __name__ == "__main__":
    main()
