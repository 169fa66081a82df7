#!/usr/bin/env bash
# The rkserve command line: help, version, errors, one-shot and interactive runs.
set -u
bin=$1 models=$2
fails=0 passes=0
check() { # name, condition command...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
out=$(mktemp); err=$(mktemp); trap 'rm -f "$out" "$err"' EXIT
model=$models/llama-f32.gguf

"$bin" --version >"$out"; check "--version" grep -q '^rkserve [0-9]' "$out"
"$bin" --help >"$out"; check "--help lists run" grep -q 'run' "$out"
"$bin" run --help >"$out"; check "run --help lists options" grep -q -- '--top-p' "$out"
"$bin" nosuchcmd 2>"$err"; rc=$?
check "unknown command exits 2" test $rc -eq 2
check "unknown command is named" grep -q "unknown command 'nosuchcmd'" "$err"
"$bin" run /nonexistent.gguf -p hi 2>"$err"; rc=$?
check "missing model fails" test $rc -eq 1
check "missing model message" grep -q 'No such file' "$err"
"$bin" run "$model" -p hi --temp abc 2>"$err"; rc=$?
check "bad number is refused" test $rc -eq 2

# one-shot, greedy: reproducible, exactly -n tokens reported
"$bin" run "$model" --raw -p "abc" -n 8 --temp 0 >"$out" 2>"$err"
check "raw run succeeds" test $? -eq 0
check "timings on stderr" grep -q 'decode 8 tokens' "$err"
first=$(cat "$out")
"$bin" run "$model" --raw -p "abc" -n 8 --temp 0 -q >"$out" 2>/dev/null
check "greedy is reproducible" test "$first" = "$(cat "$out")"
"$bin" run "$model" --raw -p "abc" -n 8 --temp 1 --seed 5 -q >"$out" 2>/dev/null; a=$(cat "$out")
"$bin" run "$model" --raw -p "abc" -n 8 --temp 1 --seed 5 -q >"$out" 2>/dev/null
check "a fixed seed is reproducible" test "$a" = "$(cat "$out")"

# interactive: two turns reuse the conversation, /clear resets, /bye leaves
printf 'hello\nand again\n/clear\n"""\nline one\nline two\n"""\n/bye\n' |
  "$bin" run "$model" -n 4 --temp 0 >"$out" 2>"$err"
check "chat exits cleanly" test $? -eq 0
check "chat answered three times" test "$(grep -c 'decode 4 tokens' "$err")" -eq 3
check "second turn reused the first" grep -qv '(0 reused)' <(sed -n 2p <(grep 'prompt' "$err"))
check "typed text is not echoed back" bash -c "! grep -q 'and again' '$out'"
check "/clear acknowledged" grep -q 'Cleared the conversation' "$out"
check "turn after /clear starts clean" grep -q '(0 reused)' <(sed -n 3p <(grep 'prompt' "$err"))

# names: through a running server when one answers, else from the models directory
dir=$(mktemp -d); srvlog=$(mktemp)
ln -s "$(realpath "$model")" "$dir/llama-f32.gguf"; echo '{"name": "llama:cli"}' >"$dir/llama-f32.json"
export RKSERVE_HOST=127.0.0.1:1 RKSERVE_MODELS=$dir  # port 1: nothing listens
"$bin" run "$model" -p "hello" -n 6 --temp 0 -q >"$out" 2>/dev/null; local_answer=$(cat "$out")
"$bin" run llama:cli -p "hello" -n 6 --temp 0 -q >"$out" 2>"$err"
check "a name runs in process when no server answers" test "$local_answer" = "$(cat "$out")"
"$bin" run nosuch:model -p hi 2>"$err"; rc=$?
check "an unknown name fails" test $rc -eq 1
check "an unknown name is explained" grep -q "neither a file nor a model" "$err"
"$bin" serve --host 127.0.0.1 --port 0 --models "$dir" --threads 1 2>"$srvlog" & srv=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$srvlog")
  [ -n "$port" ] && break; sleep 0.05
done
export RKSERVE_HOST=127.0.0.1:$port
"$bin" run llama:cli -p "hello" -n 6 --temp 0 >"$out" 2>"$err"
check "a name goes to the running server" test "$local_answer" = "$(cat "$out")"
check "server timings are shown" grep -q 'decode 6 tokens' "$err"
check "the server loaded it" grep -q 'llama:cli' <("$bin" ps)
printf 'hello\nand again\n/clear\nhello\n/bye\n' | "$bin" run llama:cli -n 4 --temp 0 >"$out" 2>"$err"
check "remote chat exits cleanly" test $? -eq 0
check "remote chat answered three times" test "$(grep -c 'decode 4 tokens' "$err")" -eq 3
check "remote /clear acknowledged" grep -q 'Cleared the conversation' "$out"
"$bin" run nosuch:model -p hi 2>"$err"; rc=$?
check "the server's 404 is reported" bash -c "test $rc -eq 1 && grep -q 'not found' '$err'"
"$bin" run llama:cli -p hi --image /nonexistent.png 2>"$err"; rc=$?
check "an unreadable image is refused before sending" bash -c "test $rc -eq 1 && grep -q nonexistent.png '$err'"
kill $srv; wait $srv
check "server stopped cleanly" test $? -eq 0

# images: --image and /image, in process and through a server, give the same answer
vdir=$(mktemp -d)
ln -s "$(realpath "$models/llama-f32.gguf")" "$vdir/seer.gguf"
ln -s "$(realpath "$models/vision-tiny-f16.gguf")" "$vdir/mmproj-seer.gguf"
echo '{"name": "seer:cli", "vision": {"preset": "cli-tiny"}}' >"$vdir/seer.json"
cat >"$vdir/presets.json" <<'JSON'
{"presets": [{"name": "cli-tiny", "image_size": 64, "resize": "fit", "interpolation": "bicubic",
  "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "tokens_per_image": 16,
  "prompt": {"image_marker": "<img>", "placeholder": "<|endoftext|>"}, "inject": "replace"}]}
JSON
/usr/bin/python3 -c "
from PIL import Image, ImageDraw
for name, colour in (('red', 'red'), ('blue', 'blue')):
    im = Image.new('RGB', (50, 40), 'white'); ImageDraw.Draw(im).ellipse([5, 5, 40, 35], fill=colour); im.save('$vdir/' + name + '.png')
"
export RKSERVE_VISION_PRESETS=$vdir/presets.json RKSERVE_HOST=127.0.0.1:1
"$bin" run "$vdir/seer.gguf" --image "$vdir/red.png" -p "look" -n 6 --temp 0 -q >"$out" 2>"$err"
check "--image runs in process" test $? -eq 0
red_local=$(cat "$out")
"$bin" run "$vdir/seer.gguf" --image "$vdir/blue.png" -p "look" -n 6 --temp 0 -q >"$out" 2>/dev/null
check "another image, another answer" test "$red_local" != "$(cat "$out")"
"$bin" run "$vdir/seer.gguf" --image /nonexistent.png -p "look" 2>"$err"; rc=$?
check "a missing image file fails" bash -c "test $rc -eq 1 && grep -q nonexistent.png '$err'"
"$bin" run "$model" --image "$vdir/red.png" -p "look" 2>"$err"; rc=$?
check "a model without an encoder says so" bash -c "test $rc -eq 1 && grep -q 'cannot read images' '$err'"
printf '/image %s\nlook\n/bye\n' "$vdir/red.png" | "$bin" run "$vdir/seer.gguf" -n 6 --temp 0 -q >"$out" 2>"$err"
check "/image attaches to the next message" grep -q "Added image" "$out"
check "/image answer equals --image's" grep -qF -- "$red_local" "$out"
"$bin" serve --host 127.0.0.1 --port 0 --models "$vdir" --threads 1 --vision-presets "$vdir/presets.json" 2>"$srvlog" & srv=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$srvlog")
  [ -n "$port" ] && break; sleep 0.05
done
export RKSERVE_HOST=127.0.0.1:$port
"$bin" run seer:cli --image "$vdir/red.png" -p "look" -n 6 --temp 0 --repeat-penalty 1 -q >"$out" 2>"$err"
red_remote=$(cat "$out")
"$bin" run "$vdir/seer.gguf" --image "$vdir/red.png" -p "look" -n 6 --temp 0 --repeat-penalty 1 -q >"$out" 2>/dev/null
check "the server reads the image as run does" test "$red_remote" = "$(cat "$out")"
kill $srv; wait $srv
rm -rf "$dir" "$srvlog" "$vdir"

echo "$passes checks passed, $fails failed"
exit $((fails > 0))
