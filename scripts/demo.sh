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

# The vision model the project trained (models/shapes): held-out images it
# never saw, each with the caption the dataset gives it and the model's answer.
shapes=$(ls models/shapes/*.gguf 2>/dev/null | grep -v mmproj | head -1 || true)
if [ -n "$shapes" ]; then
  say "a model that can see: $shapes (a tiny SmolVLM trained here) on held-out images"
  imgs=$(mktemp -d)
  trap 'kill $server 2>/dev/null; rm -rf /tmp/rkserve-demo-$$.log "$imgs"' EXIT
  /usr/bin/python3 models/shapes/data.py --out "$imgs" --n 4
  for i in 0 1 2 3; do
    f="$imgs/heldout-$i-0.png"
    truth=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[$i]['caption'])" "$imgs/answers.json")
    printf 'image %s, drawn as: %s\n  rkserve run --image: ' "$(basename "$f")" "$truth"
    "$bin" run "$shapes" --image "$f" -p "Describe the image." --temp 0 -n 40 -q
  done
  name=$(curl -s "http://127.0.0.1:$port/api/tags" | /usr/bin/python3 -c "import json,sys; print([m['name'] for m in json.load(sys.stdin)['models'] if 'shapes' in m['name']][0])")
  echo "POST /v1/chat/completions with two images (data: URIs), \"Compare the two images.\":"
  /usr/bin/python3 - "$imgs" "$name" <<'PY' | curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' -d @-
import base64, json, sys
d, name = sys.argv[1], sys.argv[2]
uri = lambda f: "data:image/png;base64," + base64.b64encode(open(f"{d}/{f}", "rb").read()).decode()
print(json.dumps({"model": name, "temperature": 0, "max_tokens": 60, "messages": [{"role": "user", "content": [
    {"type": "image_url", "image_url": {"url": uri("heldout-0-0.png")}},
    {"type": "image_url", "image_url": {"url": uri("heldout-0-1.png")}},
    {"type": "text", "text": "Compare the two images."}]}]}))
PY
  echo
fi
