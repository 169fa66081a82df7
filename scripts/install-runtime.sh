#!/usr/bin/env bash
# Puts Rockchip's runtime libraries where rkserve finds them (librkllmrt.so
# for .rkllm language models, librknnrt.so for .rknn vision encoders), then
# runs `rkserve doctor` to check them against the board's NPU driver.
#
#   sudo scripts/install-runtime.sh --rkllm ./librkllmrt.so --rknn ./librknnrt.so
#   sudo scripts/install-runtime.sh --download            # the vendor's release builds
#   scripts/install-runtime.sh --root /tmp/img --rkllm lib.so   # into a staged tree
set -euo pipefail

RKLLM_VERSION=1.2.3   # rknn-llm release (tag release-vX.Y.Z)
RKNN_VERSION=2.3.2    # rknn-toolkit2 release (tag vX.Y.Z)
prefix=/usr
root=""
rkllm="" rknn=""
download=0 run_doctor=1
rkserve_bin=""

usage() {
  cat <<USAGE
usage: $0 [options]
  --rkllm FILE|URL       librkllmrt.so to install
  --rknn FILE|URL        librknnrt.so to install
  --download             fetch the vendor's builds for this CPU from GitHub
                         (rknn-llm $RKLLM_VERSION, rknn-toolkit2 $RKNN_VERSION) for any library not given
  --rkllm-version X.Y.Z  rknn-llm release for --download
  --rknn-version X.Y.Z   rknn-toolkit2 release for --download
  --prefix DIR           install into DIR/lib (default /usr)
  --root DIR             treat DIR as / (a staged image or test tree)
  --rkserve PATH         the rkserve binary that checks the result (default: rkserve on PATH)
  --no-doctor            do not run rkserve doctor afterwards
Exit status: 0 when installed and doctor finds nothing failing, 1 otherwise, 2 on usage errors.
USAGE
}

die() { echo "install-runtime: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --rkllm) rkllm=${2:?}; shift 2 ;;
    --rknn) rknn=${2:?}; shift 2 ;;
    --download) download=1; shift ;;
    --rkllm-version) RKLLM_VERSION=${2:?}; shift 2 ;;
    --rknn-version) RKNN_VERSION=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --root) root=${2%/}; shift 2 ;;
    --rkserve) rkserve_bin=${2:?}; shift 2 ;;
    --no-doctor) run_doctor=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-runtime: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$rkllm$rknn" ] || [ $download -eq 1 ] || { usage >&2; exit 2; }
[ -z "$root" ] || [ -d "$root" ] || die "--root $root: not a directory"

# the vendor publishes aarch64 and armhf builds
case $(uname -m) in
  aarch64|arm64) arch=aarch64 ;;
  armv7l|armv8l|armhf) arch=armhf ;;
  *) arch="" ;;
esac
if [ $download -eq 1 ]; then
  [ -n "$arch" ] || die "--download: the vendor builds are for aarch64 and armhf boards, this is $(uname -m); pass the files instead"
  [ -n "$rkllm" ] || rkllm="https://github.com/airockchip/rknn-llm/raw/release-v$RKLLM_VERSION/rkllm-runtime/Linux/librkllm_api/$arch/librkllmrt.so"
  [ -n "$rknn" ] || rknn="https://github.com/airockchip/rknn-toolkit2/raw/v$RKNN_VERSION/rknpu2/runtime/Linux/librknn_api/$arch/librknnrt.so"
fi

libdir="$root$prefix/lib"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

fetch() { # SRC DEST
  case $1 in
    http://*|https://*)
      echo "downloading $1"
      curl -fL --retry 3 -o "$2" "$1" || die "download failed: $1"
      ;;
    *)
      [ -f "$1" ] || die "$1: no such file"
      cp "$1" "$2"
      ;;
  esac
}

# A saved error page or a Git LFS pointer is not a library: check the ELF magic.
check_elf() { # FILE NAME
  [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = "177ELF" ] || die "$2 from the given source is not an ELF shared library"
}

install_one() { # SRC NAME
  local src=$1 name=$2 tmp="$work/$2"
  fetch "$src" "$tmp"
  check_elf "$tmp" "$name"
  mkdir -p "$libdir"
  local dest="$libdir/$name"
  if [ -e "$dest" ]; then
    if cmp -s "$tmp" "$dest"; then echo "unchanged $prefix/lib/$name"; return; fi
    cp -p "$dest" "$dest.old"
    echo "replaced  $prefix/lib/$name (previous one kept as $name.old)"
  else
    echo "installed $prefix/lib/$name"
  fi
  # copy next to the target, then rename: a running server never maps a half-written file
  install -m 0644 "$tmp" "$dest.new"
  mv -f "$dest.new" "$dest"
}

[ -z "$rkllm" ] || install_one "$rkllm" librkllmrt.so
[ -z "$rknn" ] || install_one "$rknn" librknnrt.so

if [ -z "$root" ] && command -v ldconfig >/dev/null && [ "$(id -u)" -eq 0 ]; then ldconfig; fi

[ $run_doctor -eq 1 ] || exit 0
if [ -z "$rkserve_bin" ]; then rkserve_bin=$(command -v rkserve || true); fi
if [ -z "$rkserve_bin" ]; then
  echo "install-runtime: rkserve is not installed yet; run 'rkserve doctor' after 'make install'"
  exit 0
fi
# doctor finds /usr/lib and /usr/local/lib by itself; point it at other prefixes
case $prefix in
  /usr|/usr/local) ;;
  *)
    if [ -e "$libdir/librkllmrt.so" ]; then export RKLLM_LIB="$prefix/lib/librkllmrt.so"; fi
    if [ -e "$libdir/librknnrt.so" ]; then export RKNN_LIB="$prefix/lib/librknnrt.so"; fi
    ;;
esac
echo
if [ -n "$root" ]; then "$rkserve_bin" doctor --root "$root"; else "$rkserve_bin" doctor; fi
