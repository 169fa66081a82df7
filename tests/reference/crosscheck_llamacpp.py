#!/usr/bin/env python3
"""Checks the reference itself: every synthetic test model is run through
llama.cpp (via node-llama-cpp's prebuilt library) and its next-token
log-probabilities must match the PyTorch reference's.

This pins down what the engine tests rely on: that synth.py writes files
llama.cpp reads as intended (names, shapes, block layouts, RoPE conventions)
and that reference.py computes what llama.cpp computes.

    crosscheck_llamacpp.py OUT_DIR [CASE ...] [--report]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cases  # noqa: E402
import reference  # noqa: E402
from reference import quants  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# Two checks per case, on max |log p_llama.cpp - log p_reference| over tokens
# with p > 1e-9 at every position:
#  strict: the first STRICT_TOKENS tokens, the reference rounding matmul inputs
#    as llama.cpp does at that batch size (8-bit blocks Q8_0/Q8_K for quantised
#    weights, BF16 for BF16). The two then agree to float32 rounding (measured
#    <= 5e-6), which shows the block layouts of models/quants.py are bit-exact.
#    F16 is left out: llama.cpp mixes F16 and F32 activations there.
#  loose: the whole prompt against the exact reference. llama.cpp switches to
#    other kernels for larger batches, so this is the drift a ggml-style engine
#    shows, measured per type (README.md); the bounds have a margin of ~2x.
#  Q4_1 / Q5_1 (value d*q + m; Q5_1 is also the Q5_K_M fallback): llama.cpp
#    dots them against Q8_1 activations, and its result differs from the
#    exact dot with Q8_0-rounded activations by up to 0.16 in log-probs
#    (measured), the difference coming from the m term alone: with every m
#    set to 0 the two agree to 6e-6. The strict check therefore runs on a copy
#    whose matrices have m = 0 while token_embd keeps its m; llama.cpp
#    dequantises that tensor directly, so d, m, qs and qh are all still
#    checked bit-exact.
#  The 896-wide cases get the loose check only: at that width F32 and Q8_0
#    files still agree to 6e-6, but on the quantised mixes some prompts drift
#    apart from the third position on by up to 0.13 (measured; no single
#    tensor class causes it alone), too much for a bit-exact claim. Every type
#    in them is checked strictly in a tiny case.
STRICT_TOKENS = 8
STRICT_BOUND = 1e-3
OFFSET_TYPES = ("Q4_1", "Q5_1")
LOOSE_ONLY_SHAPES = ("w896",)
LOOSE_BOUNDS = {"F32": 1e-4, "F16": 3e-2, "BF16": 1e-1, "Q8_0": 0.4, "Q4_0": 0.4, "Q4_1": 0.4,
                "Q5_0": 0.4, "Q5_1": 0.4, "Q2_K": 0.8, "Q3_K": 0.8, "Q4_K": 0.8, "Q5_K": 0.8, "Q6_K": 0.8,
                "mixed": 0.8, "Q4_K_M": 0.8, "Q5_K_M": 0.8}


def max_logp_diff(probs, ref_logp):
    p = np.asarray(probs, dtype=np.float64)
    keep = p > 1e-9
    d = np.where(keep, np.log(np.where(keep, p, 1.0)) - ref_logp, 0.0)
    return float(np.abs(d).max()), float((p.argmax(-1) == ref_logp.argmax(-1)).mean())


def zero_matrix_offsets(path):
    """The path of a copy of a GGUF with the m of every Q4_1 / Q5_1 block set
    to 0, except in token_embd.weight; the path itself if there are none."""
    import shutil
    from gguf_reader import GGUFFile
    g = GGUFFile(path)
    todo = [(name, info) for name, info in g.tensors.items()
            if quants.NAMES.get(info[1]) in OFFSET_TYPES and name != "token_embd.weight"]
    if not todo:
        return path
    out = path[:-len(".gguf")] + "-m0.gguf"
    shutil.copyfile(path, out)
    data = np.memmap(out, dtype=np.uint8, mode="r+")
    for name, (ne, ttype, off) in todo:
        rows = int(np.prod(ne[1:]))
        nbytes = rows * quants.row_bytes(ttype, ne[0])
        blocks = data[g.data_start + off:g.data_start + off + nbytes].reshape(-1, quants.block_bytes(ttype))
        blocks[:, 2:4] = 0                      # m follows d in both layouts
    data.flush()
    del data
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    todo = [cases.BY_NAME[n] for n in args.cases] if args.cases else cases.CASES
    jobs, paths = [], []
    strict_paths = []
    for c in todo:
        path = c.make(args.out_dir)
        paths.append(path)
        strict_paths.append(zero_matrix_offsets(path))
        n_vocab = reference.Model(path).n_vocab
        jobs.append({"model": path, "n_vocab": n_vocab, "tokens": c.prompt()})
        jobs.append({"model": strict_paths[-1], "n_vocab": n_vocab, "tokens": c.prompt()[:STRICT_TOKENS]})
    proc = subprocess.run(["node", os.path.join(HERE, "llamacpp_probs.mjs")], input=json.dumps(jobs),
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        print("FAIL: llama.cpp run failed (node-llama-cpp installed? see scripts/install-deps.sh)")
        return 1
    results = json.loads(proc.stdout)
    failed = 0
    for i, (c, path, strict_path) in enumerate(zip(todo, paths, strict_paths)):
        full, short = results[2 * i], results[2 * i + 1]
        tokens = c.prompt()
        exact = reference.Model(path)
        loose, top = max_logp_diff(full["probs"], torch.log_softmax(exact.forward(tokens), -1).numpy())
        ok = loose <= LOOSE_BOUNDS[c.ftype]
        line = f"{c.name:20s} loose {loose:.2e} (bound {LOOSE_BOUNDS[c.ftype]:g}, top-1 agreement {top:.3f})"
        if c.ftype != "F16" and c.shape not in LOOSE_ONLY_SHAPES:
            sim = reference.Model(strict_path, act_quant=True)
            strict, _ = max_logp_diff(short["probs"],
                                      torch.log_softmax(sim.forward(tokens[:STRICT_TOKENS]), -1).numpy())
            ok = ok and strict <= STRICT_BOUND
            line += f"  strict {strict:.2e} (bound {STRICT_BOUND:g}{', matrices m = 0' if strict_path != path else ''})"
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {line}")
    print(f"{len(todo) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
