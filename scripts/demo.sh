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

for prompt in "Soap and education are not as sudden as" "Work consists of whatever a body is obliged" \
              "Q:	How many supply-siders does it take to"; do
  say "completion of: \"$prompt\" (greedy)"
  "$bin" run "$model" --raw --temp 0 -n 48 -p "$prompt"
done

say "\"The\" sampled at temperature 1.0 with three seeds (each reproducible)"
for seed in 1 2 3; do
  "$bin" run "$model" --raw --temp 1.0 --seed $seed -n 24 -p "The" -q
done

say "chat format (the model's own ChatML template)"
"$bin" run "$model" --temp 0 -n 64 -p "Tell me a fortune."

say "the same model behind the OpenAI and Ollama APIs: rkserve serve --models models"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --models models --port "$port" >/tmp/rkserve-demo-$$.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f /tmp/rkserve-demo-$$.log' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
echo "GET /api/tags:"
curl -s "http://127.0.0.1:$port/api/tags"; echo
echo "POST /v1/chat/completions:"
curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model": "fortune", "messages": [{"role": "user", "content": "Tell me a riddle."}], "temperature": 0}'
echo
echo "POST /api/generate (streamed NDJSON, last two lines):"
curl -sN "http://127.0.0.1:$port/api/generate" \
  -d '{"model": "fortune", "prompt": "Work consists of whatever a body is obliged", "raw": true, "options": {"temperature": 0}}' | tail -2
