#!/usr/bin/env bash
# The bench's code paths on the tiny test models, so they cannot rot between
# `make bench` runs: text pp/tg and the vision tests, as text and as JSON.
# Timings are not checked, only that every figure is reported.
#
# usage: bench/smoke.sh RKSERVE TEST_MODELS_DIR
set -euo pipefail

RKSERVE=${1:?usage: bench/smoke.sh RKSERVE TEST_MODELS_DIR}
MODELS=${2:?usage: bench/smoke.sh RKSERVE TEST_MODELS_DIR}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "bench smoke: $*" >&2; exit 1; }
expect() { # expect FILE REGEX...
    local f=$1
    shift
    for re in "$@"; do grep -Eq -- "$re" "$f" || { cat "$f" >&2; fail "no line matching '$re'"; }; done
}

# The synthetic vocabulary has no <image> token: a preset for it, as tests/e2e/vision.test.mjs uses.
cat >"$TMP/presets.json" <<'JSON'
{"presets": [{"name": "bench-tiny", "image_size": 64, "resize": "fit", "interpolation": "bicubic",
  "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "tokens_per_image": 16,
  "prompt": {"image_marker": "<img>", "placeholder": "<|endoftext|>"}, "inject": "replace"}]}
JSON

LLM=$MODELS/llama-f32.gguf
VISION=(--mmproj "$MODELS/vision-tiny-f16.gguf" --vision-presets "$TMP/presets.json" --preset bench-tiny)
NUM='[0-9]+\.[0-9]'

"$RKSERVE" bench "$LLM" -p 8 -n 4 --tg-prompt 4 -r 2 -t 2 >"$TMP/text.txt" || fail "text bench failed"
expect "$TMP/text.txt" "^rkserve cpu engine, 2 threads" "^  load $NUM+ ms, peak RSS $NUM+ MB" \
    "^  pp8: best $NUM+ tok/s, median $NUM" "^  tg4: best $NUM+ tok/s, median $NUM"

"$RKSERVE" bench "$LLM" "${VISION[@]}" -n 4 -r 2 -t 2 >"$TMP/vision.txt" || fail "vision bench failed"
expect "$TMP/vision.txt" "^rkserve cpu engine, 2 threads" \
    "^  vision: .*vision-tiny-f16.gguf \(cpu encoder, idefics3 projector, 64 px, 16 tokens per tile, $NUM+ MB of weights\), preset bench-tiny$" \
    "^  load $NUM+ ms, encoder $NUM+ ms, peak RSS $NUM+ MB$" \
    "^  image: generated, [0-9]+ bytes, 64x64 -> 1 tile, 16 image tokens in a prompt of [0-9]+$" \
    "^  first image, cold: $NUM+ ms$" "^  decode\+preprocess: median $NUM+ ms, best $NUM+$" \
    "^  encode: median -?$NUM+ ms per image, -?$NUM+ ms per tile, best -?$NUM+ per image$" \
    "^  pp[0-9]+ image: median $NUM+ ms \($NUM+ tok/s\), best $NUM+ ms$" \
    "^  pp[0-9]+ text: median $NUM+ ms \($NUM+ tok/s\), best $NUM+ ms$" \
    "^  tg4 after image: best $NUM+ tok/s, median $NUM+$"

# An image file instead of the generated one, and the JSON form.
/usr/bin/python3 -c "from PIL import Image; Image.new('RGB', (96, 48), (200, 30, 30)).save('$TMP/red.png')"
"$RKSERVE" bench "$LLM" "${VISION[@]}" --image "$TMP/red.png" -n 4 -r 2 -t 2 --json >"$TMP/vision.json" ||
    fail "vision bench --json failed"
/usr/bin/python3 - "$TMP/vision.json" <<'PY' || fail "the JSON result lacks figures"
import json, sys
j = json.load(open(sys.argv[1]))
v = j["vision"]
assert j["engine"] == "cpu" and j["threads"] == 2 and j["peak_rss_mb"] > 0, j
assert v["preset"] == "bench-tiny" and v["image"].endswith("red.png"), v
assert (v["width"], v["height"], v["tiles"], v["image_tokens"]) == (96, 48, 1, 16), v
assert v["prompt_tokens"] > v["image_tokens"] and v["weight_bytes"] > 0, v
for k in ("prep_ms", "encode_ms", "pp_image_ms", "pp_text_ms", "tg_tps"):
    assert len(v[k]) == 2, (k, v[k])
for k in ("prep_ms_median", "encode_ms_median", "encode_tile_ms_median", "pp_image_ms_median", "pp_image_tps_median",
          "pp_text_ms_median", "pp_text_tps_median", "tg_tps_median", "tg_tps_best", "first_image_ms", "load_ms"):
    assert isinstance(v[k], float), (k, v[k])
PY

# Refusals name the problem.
if "$RKSERVE" bench "$LLM" --mmproj "$MODELS/vision-tiny-f16.gguf" -n 4 -r 1 2>"$TMP/err.txt" >/dev/null; then
    fail "a model without a matching preset was benchmarked"
fi
expect "$TMP/err.txt" "no vision preset matches" "--preset NAME"
if "$RKSERVE" bench "$LLM" --image "$TMP/red.png" 2>"$TMP/err.txt" >/dev/null; then fail "--image without --mmproj accepted"; fi
expect "$TMP/err.txt" "need --mmproj"
echo "bench smoke: ok"
