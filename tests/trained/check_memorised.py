#!/usr/bin/env python3
"""The trained fortune model through the C engine.

Passages: for each one in passages.json, `rkserve run MODEL --raw -p PROMPT
-n N --temp 0 --repeat-penalty 1` must print the source passage's
continuation; at least REQUIRED of them must. Prompts are the first 8 words
of passages the model memorised (models/fortune/make_passages.py checked each
with PyTorch greedy decoding), so a miss points at the engine: tokenizer,
RoPE order, GQA, F16 weights.

With --chat: each chat exchange the model was trained on, run through the
chat template (no --raw), must print exactly the memorised answer and stop
at <|im_end|> — all of them.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REQUIRED = 9


def run(cmd):
    """stdout, stderr, exit code of one rkserve run."""
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        return r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"), r.returncode
    except subprocess.TimeoutExpired:
        return "", "timed out after 120 s", -1


def report(i, label, ok, expected, out, err, rc):
    print(f"[{'ok' if ok else 'MISS'}] {i} {label}")
    if not ok:
        same = next((k for k, (x, y) in enumerate(zip(out, expected)) if x != y),
                    min(len(out), len(expected)))
        print(f"    expected {expected!r}")
        print(f"    got      {out!r} (exit {rc}, first difference at char {same})")
        if rc != 0:
            print("    stderr: " + err.strip()[-500:].replace("\n", "\n            "))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rkserve", required=True, help="path to the rkserve binary")
    ap.add_argument("--passages", default=os.path.join(HERE, "passages.json"))
    ap.add_argument("--model", help="GGUF to run (default: the one passages.json names)")
    ap.add_argument("--chat", action="store_true", help="check the chat exchanges instead")
    a = ap.parse_args()

    with open(a.passages, encoding="utf-8") as f:
        spec = json.load(f)
    model = a.model or os.path.join(ROOT, spec["model"])
    # greedy and nothing else: memorised text repeats words, which a repeat
    # penalty would push the model away from
    greedy = ["--temp", "0", "--repeat-penalty", "1"]
    hits = 0
    if a.chat:
        for i, c in enumerate(spec["chat"]):
            out, err, rc = run([a.rkserve, "run", model, "-p", c["user"],
                                "-n", str(c["n_predict"])] + greedy)
            # the answer, then the end of the turn (the CLI may end the line)
            ok = rc == 0 and out.rstrip("\n") == c["expected"]
            hits += ok
            report(i, f"chat {c['user']!r}", ok, c["expected"], out, err, rc)
        print(f"{hits}/{len(spec['chat'])} chat answers reproduced (need all)")
        return 0 if hits == len(spec["chat"]) else 1

    n = spec["n_predict"]
    for i, p in enumerate(spec["passages"]):
        out, err, rc = run([a.rkserve, "run", model, "--raw", "-p", p["prompt"], "-n", str(n)] + greedy)
        ok = rc == 0 and out.startswith(p["expected"])
        hits += ok
        report(i, f"{p['source']}: {p['prompt']!r}", ok, p["expected"], out, err, rc)
    print(f"{hits}/{len(spec['passages'])} passages reproduced (need {REQUIRED})")
    return 0 if hits >= REQUIRED else 1


if __name__ == "__main__":
    sys.exit(main())
