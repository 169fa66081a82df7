#!/usr/bin/env bash
# `make bench`: the CPU engine against llama.cpp (node-llama-cpp's prebuilt
# CPU library) on the same synthetic GGUF files with the same thread count,
# plus memory bandwidth and the decode roofline. See bench/README.md.
#
# usage: bench/run.sh BUILD_DIR
# env:   BENCH_THREADS (2), BENCH_REPS (3), BENCH_PP (512), BENCH_TG (128),
#        BENCH_ONLY (a regex over case names such as smollm2-135m-Q8_0)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: bench/run.sh BUILD_DIR}" && pwd)
THREADS=${BENCH_THREADS:-2}
REPS=${BENCH_REPS:-3}
PP=${BENCH_PP:-512}
TG=${BENCH_TG:-128}
ONLY=${BENCH_ONLY:-.}
MODELS=$BUILD/bench-models
OUT=$BUILD/bench-results
PY=/usr/bin/python3
RKSERVE=$BUILD/rkserve

[ -x "$RKSERVE" ] || { echo "bench: $RKSERVE is not built (run make first)" >&2; exit 1; }
mkdir -p "$MODELS" "$OUT"
rm -f "$OUT"/*.json "$OUT"/summary.md

# arch shape type, in the order they run
CASES=(
    "llama smollm2-135m Q8_0" "llama smollm2-135m Q4_0" "llama smollm2-135m F16"
    "qwen3 qwen3-0.6b Q8_0" "qwen3 qwen3-0.6b Q4_0" "qwen3 qwen3-0.6b F16"
)

echo "== rkserve bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "   threads $THREADS, reps $REPS, pp$PP, tg$TG (prompt 16)"

# Synthetic models are deterministic (seed 1), so a cached file is reused.
for c in "${CASES[@]}"; do
    read -r arch shape type <<<"$c"
    name=$shape-$type
    [[ $name =~ $ONLY ]] || continue
    f=$MODELS/$name.gguf
    if [ ! -s "$f" ]; then
        echo "-- generating $name"
        "$PY" "$ROOT/models/synth.py" --arch "$arch" --shape "$shape" --type "$type" --seed 1 -q --out "$f.tmp"
        mv "$f.tmp" "$f"
    fi
done

echo "-- memory bandwidth"
cc -std=c11 -D_GNU_SOURCE -O3 -Wall -Wextra -Werror -pthread "$ROOT/bench/membw.c" -o "$BUILD/membw"
"$BUILD/membw" --mb 256 --threads "$THREADS" --reps 5 | tee "$OUT/membw.json"

cases_json="["
for c in "${CASES[@]}"; do
    read -r arch shape type <<<"$c"
    name=$shape-$type
    [[ $name =~ $ONLY ]] || continue
    f=$MODELS/$name.gguf
    echo "-- $name: rkserve"
    "$RKSERVE" bench "$f" --prompt-tokens "$PP" --gen-tokens "$TG" --threads "$THREADS" --reps "$REPS" --json \
        >"$OUT/$name.rkserve.json" || { echo "   rkserve bench failed" >&2; rm -f "$OUT/$name.rkserve.json"; }
    echo "-- $name: llama.cpp"
    node "$ROOT/bench/llamacpp.mjs" "$f" --prompt-tokens "$PP" --gen-tokens "$TG" --threads "$THREADS" \
        --reps "$REPS" --json >"$OUT/$name.llamacpp.json" ||
        { echo "   llama.cpp bench failed" >&2; rm -f "$OUT/$name.llamacpp.json"; }
    [ "$cases_json" = "[" ] || cases_json+=","
    cases_json+="{\"name\":\"$name\",\"arch\":\"$arch\",\"shape\":\"$shape\",\"type\":\"$type\",\"model\":\"$f\",\"threads\":$THREADS}"
done
echo "$cases_json]" >"$OUT/cases.json"

echo
"$PY" "$ROOT/bench/report.py" "$OUT"
echo
echo "(JSON results and this table: $OUT)"
