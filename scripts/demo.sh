#!/usr/bin/env bash
# The main job: rkserve running the model the project trained itself
# (models/fortune), first completing passages it memorised, then answering a
# chat-formatted request, with speed figures from the engine.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
bin=$build/rkserve
model=models/fortune/fortune-llama.gguf
[ -x "$bin" ] || { echo "demo: $bin is missing; run make first" >&2; exit 1; }
[ -f "$model" ] || { echo "demo: $model is missing (see models/fortune/README.md)" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "rkserve $("$bin" --version | cut -d' ' -f2): $model"
"$bin" run "$model" --raw -p "x" -n 0 2>&1 >/dev/null | tail -1 || true

for prompt in "Fortune favors the" "A journey of a thousand miles" "The best way to"; do
  say "completion of: \"$prompt\" (greedy)"
  "$bin" run "$model" --raw --temp 0 -n 48 -p "$prompt"
done

say "the same prompt sampled at temperature 0.8 with two seeds"
for seed in 1 2; do
  "$bin" run "$model" --raw --temp 0.8 --seed $seed -n 32 -p "Fortune favors the" -q
done

say "chat format (the model's own ChatML template)"
"$bin" run "$model" --temp 0 -n 64 -p "Tell me a fortune."
