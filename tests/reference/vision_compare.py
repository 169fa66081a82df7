#!/usr/bin/env python3
"""CPU vision encoder and image-in-prompt logits vs the float64 reference
(vision_reference.py), on synthetic projectors (models/synth_vision.py) and
synthetic language models (models/synth.py) of matching width.

Per case: encode two random images with the engine (tests/dump_vision) and
the reference, compare every embedding row; place both images at fixed
prompt positions, compare the logits at every position; check that the
engine's greedy generation with spans equals the reference's argmax chain,
and that a second identical request reuses the whole prompt but its last
token.

    vision_compare.py BUILD_DIR CASE [CASE ...] --dumper PATH
    vision_compare.py BUILD_DIR --all --dumper PATH
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
import vision_reference as vr  # noqa: E402

# (min cosine, max |engine - reference|) per tensor type, for the image
# embeddings (elements ~N(0, 1)) and the logits (std ~2.5). F32 holds the
# text engine's F32 bounds; F16 weights are exact in both, so F16 differs
# from F32 only by the f16 KV cache being off here (kv_f32) -- same bounds
# with a margin; Q8_0 rounds activations to 8-bit blocks before every product
# (as ggml does) in both the encoder and the language model.
BOUNDS = {
    "F32": {"embd": (0.999999, 2e-4), "logits": (0.999999, 2e-4)},
    "F16": {"embd": (0.999999, 5e-4), "logits": (0.999999, 5e-4)},
    "Q8_0": {"embd": (0.999, 0.25), "logits": (0.999, 0.6)},
}

# name: (projector shape, projector type, llm arch, llm type, batch)
CASES = {
    "vision-tiny-f32": ("tiny", "F32", "llama", "F32", 0),
    "vision-tiny-f16": ("tiny", "F16", "qwen2", "F16", 0),
    "vision-tiny-q8_0": ("tiny", "Q8_0", "llama", "Q8_0", 0),
    "vision-odd-f32-batch": ("odd", "F32", "qwen3", "F32", 7),
}
N_GREEDY = 8


def cos_and_max(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cos = float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    return cos, float(np.abs(a - b).max())


def make(build, name, script, *args):
    out = os.path.join(build, "tests", "reference-vision", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if not os.path.exists(out):
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "models", script), *args, "--out", out + ".tmp", "-q"],
                       check=True)
        os.replace(out + ".tmp", out)
    return out


def check_case(name, build, dumper, threads):
    shape, vtype, arch, ltype, batch = CASES[name]
    mmproj = make(build, f"{shape}-{vtype}-mmproj.gguf", "synth_vision.py", "--shape", shape, "--type", vtype,
                  "--n-embd", "64", "--seed", "11")
    llm = make(build, f"{arch}-tiny-{ltype}.gguf", "synth.py", "--arch", arch, "--shape", "tiny", "--type", ltype,
               "--seed", "5")
    vis = vr.Vision(mmproj)
    rng = np.random.default_rng(7)
    images, paths = [], []
    for i in range(2):
        px = rng.uniform(-1, 1, size=(3, vis.S, vis.S)).astype(np.float32)
        p = os.path.join(build, "tests", "reference-vision", f"{name}-img{i}.f32")
        px.tofile(p)
        images.append(px)
        paths.append(p)
    n_img = (vis.S // vis.P) ** 2 // vis.scale ** 2
    # text, image 0, text, image 1, text; placeholders are token 0
    pos = [3, 3 + n_img + 5]
    n = pos[1] + n_img + 6
    tokens = [int(t) for t in rng.integers(1, 500, size=n)]
    for p in pos:
        tokens[p:p + n_img] = [0] * n_img

    cmd = [dumper, mmproj, "--threads", str(threads), "--llm", llm, "--tokens", ",".join(map(str, tokens)),
           "--greedy", str(N_GREEDY)]
    for p, path in zip(pos, paths):
        cmd += ["--pixels", path, "--span", str(p)]
    if batch:
        cmd += ["--batch", str(batch)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout)
    ok = True
    lo_cos, hi_diff = BOUNDS[vtype]["embd"]
    ref_embd = []
    for i, px in enumerate(images):
        ref = vis.encode(px).numpy()
        ref_embd.append(ref)
        eng = np.array(out["embd"][i]).reshape(out["n_tokens"], out["n_embd"])
        assert eng.shape == ref.shape, (eng.shape, ref.shape)
        worst = min((cos_and_max(eng[t], ref[t]) for t in range(len(ref))), key=lambda cm: cm[0])
        cos, diff = worst[0], cos_and_max(eng, ref)[1]
        good = cos >= lo_cos and diff <= hi_diff
        ok &= good
        print(f"{name}: image {i} embeddings {ref.shape}: worst row cosine {cos:.8f} (>= {lo_cos}), "
              f"max |diff| {diff:.2e} (<= {hi_diff:.0e}) {'ok' if good else 'FAIL'}")

    model = vr.load_llm(llm)
    spans = [(p, ref_embd[i]) for i, p in enumerate(pos)]
    ref_logits = vr.llm_logits(model, tokens, spans).numpy()
    eng_logits = np.array(out["logits"])
    lo_cos, hi_diff = BOUNDS[ltype]["logits"]
    rows = [cos_and_max(eng_logits[t], ref_logits[t]) for t in range(n)]
    cos = min(c for c, _ in rows)
    diff = max(d for _, d in rows)
    good = cos >= lo_cos and diff <= hi_diff
    ok &= good
    print(f"{name}: logits at {n} positions (images at {pos}): worst cosine {cos:.8f} (>= {lo_cos}), "
          f"max |diff| {diff:.2e} (<= {hi_diff:.0e}) {'ok' if good else 'FAIL'}")
    # the image rows must matter: the same prompt with placeholder embeddings gives other logits
    plain = model.forward(tokens).numpy()
    changed = float(np.abs(plain[pos[0]:] - ref_logits[pos[0]:]).max())
    good = changed > 10 * hi_diff
    ok &= good
    print(f"{name}: logits move by {changed:.2f} when the images are replaced by placeholders "
          f"{'ok' if good else 'FAIL'}")

    if vtype == "F32" and ltype == "F32":
        ref_greedy = vr.llm_greedy(model, tokens, spans, N_GREEDY)
        good = out["greedy"] == ref_greedy
        ok &= good
        print(f"{name}: engine greedy {out['greedy']} vs reference {ref_greedy} {'ok' if good else 'FAIL'}")
    good = out["greedy_again"] == out["greedy"] and out["reused"] == [0, n - 1]
    ok &= good
    print(f"{name}: repeated request reuses {out['reused'][1]} of {n} prompt tokens across the images, "
          f"same tokens {'ok' if good else 'FAIL'}")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--dumper", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = list(CASES) if args.all else args.cases
    if not names:
        ap.error("name a case or --all")
    ok = True
    for name in names:
        ok &= check_case(name, args.build, args.dumper, args.threads)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
