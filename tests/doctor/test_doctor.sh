#!/usr/bin/env bash
# rkserve doctor on saved board trees: verdict lines, exit codes, --json and
# --fix-freq (on a copy, never on this machine's /sys).
set -u
bin=$1 fixtures=$2 build=${3:-}
fails=0 passes=0
check() { # name, condition command...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
export RKSERVE_MODELS=/home/rock/models
unset RKLLM_LIB RKNN_LIB
doctor() { "$bin" doctor "$@" >"$out" 2>&1; }
has() { grep -Eq "$1" "$out"; }
hasnt() { ! grep -Eq "$1" "$out"; }

doctor --root "$fixtures/rk3588-healthy"; rc=$?
check "healthy: exit 0" test $rc -eq 0
check "healthy: soc" has '^ok +soc +Rockchip RK3588 \(Radxa ROCK 5B\)$'
check "healthy: kernel" has '^ok +kernel +Linux 6\.1\.84'
check "healthy: driver 0.9.8" has '^ok +driver +RKNPU driver 0\.9\.8 '
check "healthy: render node" has '^ok +device +/dev/dri/renderD129 '
check "healthy: rkllm version" has '^ok +librkllmrt\.so +/usr/lib/librkllmrt\.so, version 1\.2\.3$'
check "healthy: rknn version" has '^ok +librknnrt\.so +/usr/lib/librknnrt\.so, version 2\.3\.2 \(429f97ae6b@'
check "healthy: npu clock" has '^ok +npu +governor performance, 1000 of 1000 MHz'
check "healthy: ddr clock" has '^ok +ddr +governor performance, 2112 of 2112 MHz'
check "healthy: three cpu clusters" test "$(grep -Ec '^ok +cpu[046] ' "$out")" -eq 3
check "healthy: memory" has '^ok +memory +7\.6 GiB total, 6\.1 GiB available'
check "healthy: models" has '^ok +models +/home/rock/models: 2 model files'
check "healthy: no warn or fail" hasnt '^(warn|fail) '

doctor --root "$fixtures/rk3588-old-driver"; rc=$?
check "old driver: exit 1" test $rc -eq 1
check "old driver: driver fails" has '^fail +driver +RKNPU driver 0\.9\.6 .*needs >= 0\.9\.7'
check "old driver: fix names the 6.1 image" has 'fix: this 5\.x vendor kernel cannot take driver 0\.9\.7\+: flash an image with kernel 6\.1'
check "old driver: 5.10 kernel warned" has '^warn +kernel +Linux 5\.10\.110'
check "old driver: governors warned" test "$(grep -Ec '^warn +(npu|ddr|gpu|cpu[046]) ' "$out")" -eq 6
check "old driver: --fix-freq offered" has "fix: run 'sudo rkserve doctor --fix-freq'"

cp -a "$fixtures/rk3588-old-driver" "$tmp/fix"
"$bin" doctor --fix-freq --root "$tmp/fix" >"$out" 2>&1; rc=$?
check "fix-freq: exit 0" test $rc -eq 0
f=$tmp/fix/sys
check "fix-freq: cpu policies performance" test "$(cat "$f"/devices/system/cpu/cpufreq/policy{0,4,6}/scaling_governor | sort -u)" = performance
check "fix-freq: npu performance" test "$(cat "$f/class/devfreq/fdab0000.npu/governor")" = performance
check "fix-freq: ddr performance" test "$(cat "$f/class/devfreq/dmc/governor")" = performance
check "fix-freq: gpu without performance -> userspace at max" \
  test "$(cat "$f/class/devfreq/fb000000.gpu/governor") $(cat "$f/class/devfreq/fb000000.gpu/userspace/set_freq")" = "userspace 1000000000"
check "fix-freq: cpuidle state1 disabled" test "$(cat "$f"/devices/system/cpu/cpu*/cpuidle/state1/disable | sort -u)" = 1
check "fix-freq: says what it changed" has '^changed +/sys/devices/system/cpu/cpufreq/policy4/scaling_governor: schedutil -> performance$'
check "fix-freq: reports the gpu fallback" has '^changed +/sys/class/devfreq/fb000000.gpu/governor: simple_ondemand -> userspace at 1000000000$'
check "fix-freq: fourteen changes" test "$(grep -c '^changed ' "$out")" -eq 14
"$bin" doctor --fix-freq --root "$tmp/fix" >"$out" 2>&1
check "fix-freq again: nothing to change" test "$(grep -c '^changed ' "$out")" -eq 0
doctor --root "$tmp/fix"
check "after fix-freq: cpu and npu clocks ok" test "$(grep -Ec '^ok +(npu|ddr|cpu[046]) ' "$out")" -eq 5
check "fixture itself untouched" test "$(cat "$fixtures/rk3588-old-driver/sys/class/devfreq/dmc/governor")" = dmc_ondemand

doctor --root "$fixtures/rk3588-missing-lib"; rc=$?
check "missing lib: exit 1" test $rc -eq 1
check "missing lib: rkllm fails" has '^fail +librkllmrt\.so +not found'
check "missing lib: fix names the installer" has 'fix: install librkllmrt\.so with scripts/install-runtime\.sh'
check "missing lib: rknn found in /usr/local/lib" has '^ok +librknnrt\.so +/usr/local/lib/librknnrt\.so, version 2\.3\.2'
RKNN_LIB=/opt/x86 doctor --root "$fixtures/rk3588-missing-lib"
check "wrong architecture refused" has '^fail +librknnrt\.so +/opt/x86/librknnrt\.so is built for x86_64, this system is aarch64$'
RKLLM_LIB=/opt/broken/librkllmrt.so doctor --root "$fixtures/rk3588-missing-lib"
check "non-ELF download refused" has '^fail +librkllmrt\.so +/opt/broken/librkllmrt\.so is not an ELF shared library'
RKLLM_LIB=/nowhere/librkllmrt.so doctor --root "$fixtures/rk3588-missing-lib"
check "RKLLM_LIB to a missing file" has '^fail +librkllmrt\.so +RKLLM_LIB=/nowhere/librkllmrt\.so: no such file$'

doctor --root "$fixtures/pc"; rc=$?
check "pc: exit 1" test $rc -eq 1
check "pc: not a Rockchip board" has '^fail +soc +no device tree'
check "pc: libraries only warned" test "$(grep -Ec '^warn +librk(llm|nn)rt\.so +not found' "$out")" -eq 2
check "pc: models dir missing warned" has '^warn +models +/home/rock/models: No such file'

"$bin" doctor --json --root "$fixtures/rk3588-old-driver" >"$out"; rc=$?
check "json: exit 1" test $rc -eq 1
check "json: driver verdict" /usr/bin/python3 -c '
import json,sys
o=json.load(open(sys.argv[1]))
d={c["check"]:c for c in o["checks"]}
assert o["verdict"]=="fail" and o["npu_ready"] is False
assert d["driver"]["verdict"]=="fail" and "0.9.6" in d["driver"]["detail"] and "6.1" in d["driver"]["fix"]
assert d["librkllmrt.so"]["verdict"]=="ok" and "fix" not in d["librkllmrt.so"]
' "$out"

# this machine, with the emulators as the runtime: the loader really opens them
if [ -n "$build" ] && [ -f "$build/emulator/v1.2/librkllmrt.so" ] && [ -f "$build/emulator/rknn/librknnrt.so" ]; then
  RKLLM_LIB=$build/emulator/v1.2/librkllmrt.so RKNN_LIB=$build/emulator/rknn/librknnrt.so doctor
  check "emulated rkllm loads, version read" has '^ok +librkllmrt\.so +.*/emulator/v1\.2/librkllmrt\.so, version 1\.2\.3 '
  check "emulated rknn loads, version read" has '^ok +librknnrt\.so +.*/emulator/rknn/librknnrt\.so, version 2\.3\.2 '
  RKNN_LIB=$build/emulator/v1.2/librkllmrt.so doctor
  check "a library without rknn_init is refused" has '^fail +librknnrt\.so +.*librkllmrt\.so does not export rknn_init$'
fi

doctor --root /nonexistent-root; rc=$?
check "bad --root exits 2" test $rc -eq 2
doctor --bogus; rc=$?
check "unknown option exits 2" test $rc -eq 2
doctor --help; rc=$?
check "--help" bash -c "test $rc -eq 0 && grep -q -- '--fix-freq' '$out'"

echo "$passes checks passed, $fails failed"
exit $((fails > 0))
