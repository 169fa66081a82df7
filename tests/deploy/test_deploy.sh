#!/usr/bin/env bash
# Deployment files: make install into a staging DESTDIR, the systemd unit,
# the environment file against `rkserve serve --help`, the compose file, the
# Dockerfile's sources, and scripts/install-runtime.sh on a fake board root.
set -u
bin=$1 src=$2 build=$3
fails=0 passes=0
check() { # name, condition command...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
has() { grep -Eq -- "$1" "$out"; }

# --- environment file: every RKSERVE_* option serve accepts is documented
"$bin" serve --help >"$tmp/help"
opts=$(grep -o 'env RKSERVE_[A-Z_]*' "$tmp/help" | cut -c5- | sort -u)
check "serve --help lists options" test "$(echo "$opts" | wc -l)" -ge 10
missing=""
for o in $opts; do grep -Eq "^#?$o=" "$src/deploy/rkserve.env" || missing="$missing $o"; done
check "rkserve.env has every option (missing:$missing)" test -z "$missing"
check "rkserve.env sets nothing by default" bash -c "! grep -Ev '^(#|$)' '$src/deploy/rkserve.env'"

# --- make install into a staging directory
DESTDIR=$tmp/stage cmake --install "$build" --prefix /usr/local >"$out" 2>&1; rc=$?
check "install /usr/local: exit 0" test $rc -eq 0
s=$tmp/stage
check "binary installed" test -x "$s/usr/local/bin/rkserve"
check "installed binary runs" bash -c "'$s/usr/local/bin/rkserve' --version | grep -q '^rkserve '"
check "unit installed" test -f "$s/usr/local/lib/systemd/system/rkserve.service"
check "unit runs the installed binary" grep -qx 'ExecStart=/usr/local/bin/rkserve serve' "$s/usr/local/lib/systemd/system/rkserve.service"
check "environment file in /etc/default" cmp -s "$s/etc/default/rkserve" "$src/deploy/rkserve.env"
check "runtime installer installed" test -x "$s/usr/local/share/rkserve/install-runtime.sh"
check "compose and Dockerfile installed" test -f "$s/usr/local/share/rkserve/deploy/compose.yaml" -a -f "$s/usr/local/share/rkserve/deploy/Dockerfile"
check "docs installed" test -f "$s/usr/local/share/doc/rkserve/README.md"
echo "RKSERVE_PORT=9000" >"$s/etc/default/rkserve"
DESTDIR=$tmp/stage cmake --install "$build" --prefix /usr/local >"$out" 2>&1
check "reinstall keeps an edited /etc/default/rkserve" grep -qx 'RKSERVE_PORT=9000' "$s/etc/default/rkserve"
DESTDIR=$tmp/opt cmake --install "$build" --prefix /opt/rkserve >"$out" 2>&1; rc=$?
check "install /opt/rkserve: exit 0" test $rc -eq 0
check "unit follows the prefix" grep -qx 'ExecStart=/opt/rkserve/bin/rkserve serve' "$tmp/opt/opt/rkserve/lib/systemd/system/rkserve.service"
check "no /etc file outside /usr prefixes" test ! -e "$tmp/opt/etc/default/rkserve"

# --- the unit, as systemd reads it
unit=$src/deploy/rkserve.service
check "unit: dedicated user" grep -qx 'User=rkserve' "$unit"
check "unit: models under /var/lib/rkserve" grep -qx 'Environment=RKSERVE_MODELS=/var/lib/rkserve/models' "$unit"
check "unit: prompt caches under /var/lib/rkserve" grep -qx 'Environment=RKSERVE_CACHE_DIR=/var/lib/rkserve/cache' "$unit"
check "unit: restarts on failure" grep -qx 'Restart=on-failure' "$unit"
check "unit: NPU nodes allowed" bash -c "grep -qx 'DeviceAllow=char-drm rw' '$unit' && grep -qx 'DeviceAllow=/dev/rknpu rw' '$unit' && ! grep -q '^PrivateDevices=yes' '$unit'"
if command -v systemd-analyze >/dev/null; then
  sed "s|^ExecStart=.*|ExecStart=$bin serve|" "$unit" >"$tmp/rkserve.service"
  systemd-analyze verify "$tmp/rkserve.service" >"$out" 2>&1
  check "systemd-analyze verify is clean" bash -c "! grep -q 'rkserve.service' '$out'"
fi

# --- compose and Dockerfile
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  check "compose: host network, NPU devices, models volume" /usr/bin/python3 -c '
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["services"]["rkserve"]
assert s["network_mode"] == "host"
assert "/dev/dri:/dev/dri" in s["devices"]
assert any(v.endswith(":/models") for v in s["volumes"])
assert s["environment"]["RKSERVE_MODELS"] == "/models"
assert "ports" not in s   # port mapping does not exist with host networking
' "$src/deploy/compose.yaml"
fi
missing=""
for f in $(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$src/deploy/Dockerfile"); do [ -e "$src/$f" ] || missing="$missing $f"; done
check "Dockerfile copies only what exists (missing:$missing)" test -z "$missing"
check "Dockerfile is multi-stage from bookworm" test "$(grep -c '^FROM debian:\${DEBIAN}' "$src/deploy/Dockerfile")" -eq 2
check "Dockerfile ships no vendor library" bash -c "! grep -Eq '^(COPY|ADD) .*librk' '$src/deploy/Dockerfile'"

# --- install-runtime.sh on a fake board
if command -v shellcheck >/dev/null; then
  check "install-runtime.sh passes shellcheck" shellcheck "$src/scripts/install-runtime.sh"
fi
board=$tmp/board
cp -a "$src/tests/doctor/fixtures/rk3588-healthy" "$board"
rm -f "$board"/usr/lib/librk*.so
fake() { # FILE TEXT: an aarch64 ELF header followed by a version string
  { printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\003\000\267\000'; head -c 44 /dev/zero; printf '%s\000' "$2"; } >"$1"
}
fake "$tmp/librkllmrt.so" "rkllm-runtime version: 1.2.3"
fake "$tmp/librknnrt.so" "librknnrt version: 2.3.2 (429f97ae6b@2025-04-09T09:09:27)"
export RKSERVE_MODELS=/home/rock/models
unset RKLLM_LIB RKNN_LIB
ir=$src/scripts/install-runtime.sh
bash "$ir" --root "$board" --rkllm "$tmp/librkllmrt.so" --rknn "$tmp/librknnrt.so" --rkserve "$bin" >"$out" 2>&1; rc=$?
check "install-runtime: exit 0" test $rc -eq 0
check "install-runtime: rkllm in /usr/lib" cmp -s "$tmp/librkllmrt.so" "$board/usr/lib/librkllmrt.so"
check "install-runtime: rknn in /usr/lib" cmp -s "$tmp/librknnrt.so" "$board/usr/lib/librknnrt.so"
check "install-runtime: says what it installed" has '^installed /usr/lib/librkllmrt\.so$'
check "install-runtime: doctor sees rkllm 1.2.3" has '^ok +librkllmrt\.so +/usr/lib/librkllmrt\.so, version 1\.2\.3$'
check "install-runtime: doctor sees rknn 2.3.2" has '^ok +librknnrt\.so +/usr/lib/librknnrt\.so, version 2\.3\.2'
bash "$ir" --root "$board" --rkllm "$tmp/librkllmrt.so" --rkserve "$bin" >"$out" 2>&1
check "install-runtime: same file again is unchanged" has '^unchanged /usr/lib/librkllmrt\.so$'
mkdir -p "$tmp/new"; fake "$tmp/new/librkllmrt.so" "rkllm-runtime version: 1.3.0"
bash "$ir" --root "$board" --rkllm "$tmp/new/librkllmrt.so" --rkserve "$bin" >"$out" 2>&1
check "install-runtime: replacing keeps the old one" bash -c "grep -q '^replaced  /usr/lib/librkllmrt.so' '$out' && cmp -s '$tmp/librkllmrt.so' '$board/usr/lib/librkllmrt.so.old'"
check "install-runtime: doctor sees the new version" has 'version 1\.3\.0$'
printf '<html>404</html>\n' >"$tmp/page.so"
bash "$ir" --root "$board" --rknn "$tmp/page.so" --no-doctor >"$out" 2>&1; rc=$?
check "install-runtime: an error page is refused" bash -c "test $rc -eq 1 && grep -q 'not an ELF shared library' '$out'"
check "install-runtime: refused file left the old one" cmp -s "$tmp/librknnrt.so" "$board/usr/lib/librknnrt.so"
bash "$ir" --root "$board" --prefix /opt/rk --rknn "$tmp/librknnrt.so" --rkllm "$tmp/librkllmrt.so" --rkserve "$bin" >"$out" 2>&1; rc=$?
check "install-runtime: --prefix installs in PREFIX/lib" test -f "$board/opt/rk/lib/librknnrt.so"
check "install-runtime: doctor is pointed at PREFIX" has '^ok +librknnrt\.so +/opt/rk/lib/librknnrt\.so'
rm -f "$board"/usr/lib/librk*
old=$(cat "$board/sys/kernel/debug/rknpu/version"); echo "RKNPU driver: v0.9.6" >"$board/sys/kernel/debug/rknpu/version"
bash "$ir" --root "$board" --rkllm "$tmp/librkllmrt.so" --rknn "$tmp/librknnrt.so" --rkserve "$bin" >"$out" 2>&1; rc=$?
check "install-runtime: exit 1 when doctor finds an old driver" bash -c "test $rc -eq 1 && grep -Eq '^fail +driver' '$out'"
echo "$old" >"$board/sys/kernel/debug/rknpu/version"
bash "$ir" >"$out" 2>&1; rc=$?
check "install-runtime: nothing to do is a usage error" test $rc -eq 2

echo "$passes checks passed, $fails failed"
exit $((fails > 0))
