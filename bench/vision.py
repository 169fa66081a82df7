#!/usr/bin/env python3
"""The vision section of `make bench` (bench/run.sh).

    vision.py presets SHIPPED.json OUT.json   presets for the synthetic models
    vision.py report RESULTS_DIR              the table of vision-*.json results

The synthetic language model's vocabulary (models/synth.py) has three special
tokens and none of SmolVLM's image tokens, so the bench's presets are the
shipped smolvlm-256m one with every image token (the placeholder <image>,
<fake_token_around_image>, <global-img>, <row_R_col_C>) mapped to one special
token of that vocabulary: the prompt has as many tokens as real
SmolVLM-256M's. A second preset takes the image as one 512 px tile ("fit")
instead of SmolVLM's split into 4x4 tiles plus the global view, which is what
one encoder pass and a 64-token image cost.
"""
import json
import sys


def presets(shipped_path, out_path):
    shipped = {p["name"]: p for p in json.load(open(shipped_path))["presets"]}
    base = dict(shipped["smolvlm-256m"])
    base.pop("match", None)  # chosen by --preset only
    prompt = dict(base["prompt"])
    prompt.update(placeholder="<|endoftext|>", image_start="<|im_start|>", image_end="<|im_start|>",
                  global_tag="<|im_end|>", tile_tag="<|im_end|>")
    tiled = dict(base, name="smolvlm-256m-synth", prompt=prompt, verified=False,
                 description="smolvlm-256m with its image tokens mapped to special tokens of the synthetic vocabulary")
    one = {k: v for k, v in tiled.items() if k not in ("longest_edge", "max_edge")}
    one.update(name="smolvlm-256m-synth-1tile", resize="fit",
               description="smolvlm-256m-synth with the image as one 512 px tile (one encoder pass)")
    with open(out_path, "w") as f:
        json.dump({"presets": [tiled, one]}, f, indent=1)


def num(x):
    """Three significant figures at most, without exponents."""
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(results_dir):
    import glob
    import os
    rows = []
    for path in sorted(glob.glob(os.path.join(results_dir, "vision-*.json"))):
        j = json.load(open(path))
        v = j["vision"]
        name = os.path.basename(path)[len("vision-"):-len(".json")]
        split = f"{v['tile_rows']}x{v['tile_cols']}+1" if v["tile_rows"] else "1"
        rows.append([name, os.path.basename(j["model"]), os.path.basename(v["mmproj"]), v["preset"],
                     f"{v['width']}x{v['height']}", split, v["image_tokens"], v["prompt_tokens"],
                     num(v["prep_ms_median"]), num(v["encode_ms_median"]), num(v["encode_tile_ms_median"]),
                     num(v["first_image_ms"]),
                     f"{num(v['pp_image_ms_median'])} ({num(v['pp_image_tps_median'])})",
                     f"{num(v['pp_text_ms_median'])} ({num(v['pp_text_tps_median'])})",
                     num(v["tg_tps_median"]), num(j["load_ms"] + v["load_ms"]),
                     num((j["weight_bytes"] + v["weight_bytes"]) / 1e6), num(j["peak_rss_mb"]), j["threads"]])
    head = ["case", "LLM", "encoder", "preset", "image", "tiles", "image tok", "prompt tok", "decode+prep ms",
            "encode ms/image", "encode ms/tile", "first image ms (cold)", "prefill ms with image (tok/s)",
            "prefill ms text, same length (tok/s)", "decode tok/s after image", "load ms", "weights MB",
            "peak RSS MB", "threads"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 5 else "--:" for i in range(len(head))) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "presets":
        presets(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
